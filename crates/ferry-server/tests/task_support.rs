//! Server-wide default task support, per-component overrides, and sync
//! handlers running as tasks on the blocking pool.

mod support;

use support::Peer;

use ferry_server::{Args, PromptDef, ResourceDef, Server, TaskSupport, ToolDef};
use serde_json::{json, Value};

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct N {
    n: u64,
}

fn server(default: TaskSupport) -> Server {
    Server::builder("ts", "1")
        .default_task_support(default)
        .tool(ToolDef::new("inherits").handler(|| async { "inherited" }))
        .tool(ToolDef::new("never").task_support(TaskSupport::Forbidden).handler(|| async { "never" }))
        // A sync, CPU-bound function: runs on the blocking pool, also as a task.
        .tool(ToolDef::new("fib").task_support(TaskSupport::Optional).blocking_handler(|Args(a): Args<N>| {
            fn fib(n: u64) -> u64 {
                if n < 2 {
                    n
                } else {
                    fib(n - 1) + fib(n - 2)
                }
            }
            fib(a.n)
        }))
        .prompt(PromptDef::new("p").task_support(TaskSupport::Optional).handler(|| async { "prompt text".to_string() }))
        .resource(
            ResourceDef::new("x://r", "r")
                .task_support(TaskSupport::Optional)
                .handler(|| async { "resource text".to_string() }),
        )
        .build()
        .unwrap()
}

fn support_of(tools: &Value, name: &str) -> Value {
    tools["result"]["tools"].as_array().unwrap().iter().find(|t| t["name"] == name).unwrap()["execution"]["taskSupport"]
        .clone()
}

#[tokio::test]
async fn components_inherit_the_server_default_unless_they_override_it() {
    let mut p = Peer::session(server(TaskSupport::Optional)).await;
    let tools = p.request("tools/list", json!({})).await;
    assert_eq!(support_of(&tools, "inherits"), "optional");
    assert_eq!(support_of(&tools, "never"), "forbidden");
    let created = p.request("tools/call", json!({"name": "inherits", "task": {}})).await;
    assert_eq!(created["result"]["task"]["status"], "working");

    let mut p = Peer::session(server(TaskSupport::Required)).await;
    let tools = p.request("tools/list", json!({})).await;
    assert_eq!(support_of(&tools, "inherits"), "required");
    let direct = p.request("tools/call", json!({"name": "inherits"})).await;
    assert_eq!(direct["error"]["code"], -32601);
}

#[tokio::test]
async fn sync_handlers_run_as_tasks() {
    let mut p = Peer::session(server(TaskSupport::Forbidden)).await;
    let created = p.request("tools/call", json!({"name": "fib", "arguments": {"n": 20}, "task": {"ttl": 5000}})).await;
    let id = created["result"]["task"]["taskId"].as_str().unwrap().to_string();
    assert_eq!(created["result"]["task"]["ttl"], 5000);
    let result = p.request("tasks/result", json!({"taskId": id})).await;
    assert_eq!(result["result"]["content"][0]["text"], "6765");
    let direct = p.request("tools/call", json!({"name": "fib", "arguments": {"n": 10}})).await;
    assert_eq!(direct["result"]["content"][0]["text"], "55");
}

#[tokio::test]
async fn prompts_and_resources_run_as_tasks() {
    let mut p = Peer::session(server(TaskSupport::Forbidden)).await;
    let created = p.request("prompts/get", json!({"name": "p", "task": {}})).await;
    let id = created["result"]["task"]["taskId"].as_str().unwrap().to_string();
    let result = p.request("tasks/result", json!({"taskId": id})).await;
    assert_eq!(result["result"]["messages"][0]["content"]["text"], "prompt text");
    assert_eq!(result["result"]["_meta"]["io.modelcontextprotocol/related-task"]["taskId"], json!(id));

    let created = p.request("resources/read", json!({"uri": "x://r", "task": {}})).await;
    let id = created["result"]["task"]["taskId"].as_str().unwrap().to_string();
    let result = p.request("tasks/result", json!({"taskId": id})).await;
    assert_eq!(result["result"]["contents"][0]["text"], "resource text");
    assert_eq!(result["result"]["contents"][0]["uri"], "x://r");
}

/// Counts runs in progress and the most seen at once.
#[derive(Default)]
struct Occupancy {
    now: std::sync::atomic::AtomicUsize,
    peak: std::sync::atomic::AtomicUsize,
}

#[ferry_server::tool(concurrency = 1, task = "optional")]
async fn one_at_a_time(occupancy: ferry_server::State<std::sync::Arc<Occupancy>>) -> String {
    use std::sync::atomic::Ordering::SeqCst;
    let now = occupancy.now.fetch_add(1, SeqCst) + 1;
    occupancy.peak.fetch_max(now, SeqCst);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    occupancy.now.fetch_sub(1, SeqCst);
    "done".to_string()
}

#[tokio::test]
async fn a_tool_with_a_concurrency_limit_runs_that_many_at_once_direct_or_as_tasks() {
    let occupancy = std::sync::Arc::new(Occupancy::default());
    let server = Server::builder("limited", "1").state(occupancy.clone()).tool(one_at_a_time_tool()).build().unwrap();
    let mut p = Peer::session(server).await;
    // Three direct calls and three tasks, all sent before any answer.
    let mut direct = Vec::new();
    for _ in 0..3 {
        direct.push(p.send("tools/call", json!({"name": "one_at_a_time", "arguments": {}})).await);
    }
    let mut created = Vec::new();
    for _ in 0..3 {
        created.push(p.send("tools/call", json!({"name": "one_at_a_time", "arguments": {}, "task": {}})).await);
    }
    let mut tasks = Vec::new();
    let mut answered = 0;
    while answered < direct.len() + created.len() {
        let m = p.recv().await;
        let Some(id) = m["id"].as_i64() else { continue };
        answered += 1;
        if created.contains(&id) {
            tasks.push(m["result"]["task"]["taskId"].as_str().unwrap().to_string());
        } else {
            assert_eq!(m["result"]["content"][0]["text"], "done", "{m}");
        }
    }
    for id in tasks {
        let r = p.request("tasks/result", json!({"taskId": id})).await;
        assert_eq!(r["result"]["content"][0]["text"], "done", "{r}");
    }
    assert_eq!(occupancy.peak.load(std::sync::atomic::Ordering::SeqCst), 1, "never two at once");
}
