//! Form B quick answers (`ServerConfig::quick_answer`, on by default): a task-optional
//! 2026-07-28 call whose task ends within the window is answered with the result itself;
//! one still running when the window closes gets its task, as with the window at zero.

mod support;

use support::{modern_meta as meta, Peer};

use ferry_server::{Server, ServerConfig, TaskSupport, ToolDef, ToolError, DEFAULT_QUICK_ANSWER};
use serde_json::{json, Value};
use std::time::Duration;

fn server(window: Duration) -> Server {
    with_tools(Server::builder("quick", "1").configure(|c| c.quick_answer = window))
}

fn with_tools(b: ferry_server::ServerBuilder) -> Server {
    b.tool(ToolDef::new("add").task_support(TaskSupport::Optional).handler(|| async { "5" }))
        .tool(ToolDef::new("refuse").task_support(TaskSupport::Optional).handler(|| async {
            Err::<String, _>(ToolError::Rpc(ferry_protocol::ErrorObject::invalid_params("no such thing")))
        }))
        .tool(ToolDef::new("required").task_support(TaskSupport::Required).handler(|| async { "5" }))
        // Runs until cancelled: its task cannot end within any window.
        .tool(ToolDef::new("forever").task_support(TaskSupport::Optional).handler(std::future::pending::<String>))
        .build()
        .unwrap()
}

fn tasks_caps() -> Value {
    json!({"extensions": {"io.modelcontextprotocol/tasks": {}}})
}

async fn call(p: &mut Peer, tool: &str) -> Value {
    p.request("tools/call", json!({"name": tool, "arguments": {}, "_meta": meta(tasks_caps())})).await
}

#[tokio::test]
async fn a_task_that_ends_within_the_window_is_answered_with_its_result() {
    // A window far longer than the tools need, so the answer does not depend on timing.
    let mut p = Peer::connect(server(Duration::from_secs(60)));
    let r = call(&mut p, "add").await;
    assert_eq!(r["result"]["resultType"], "complete", "{r}");
    assert_eq!(r["result"]["content"][0]["text"], "5", "{r}");
    assert!(r["result"].get("taskId").is_none(), "{r}");
    // A failed task answers with its JSON-RPC error, as the direct call would.
    let r = call(&mut p, "refuse").await;
    assert_eq!(r["error"]["code"], -32602, "{r}");
    assert_eq!(r["error"]["message"], "no such thing", "{r}");
    // A tool that only runs as a task still answers with its task.
    let r = call(&mut p, "required").await;
    assert_eq!(r["result"]["resultType"], "task", "{r}");
}

#[tokio::test]
async fn a_task_still_running_when_the_window_closes_is_answered_with_the_task() {
    let mut p = Peer::connect(server(Duration::from_millis(20)));
    let r = call(&mut p, "forever").await;
    assert_eq!(r["result"]["resultType"], "task", "{r}");
    let id = r["result"]["taskId"].as_str().unwrap().to_string();
    let got = p.request("tasks/get", json!({"taskId": id, "_meta": meta(tasks_caps())})).await;
    assert_eq!(got["result"]["status"], "working", "{got}");
}

#[tokio::test]
async fn without_a_window_every_such_call_is_answered_with_its_task() {
    let mut p = Peer::connect(server(Duration::ZERO));
    let r = call(&mut p, "add").await;
    assert_eq!(r["result"]["resultType"], "task", "{r}");
}

#[test]
fn quick_answers_are_on_by_default() {
    assert_eq!(ServerConfig::default().quick_answer, DEFAULT_QUICK_ANSWER);
    assert!(!DEFAULT_QUICK_ANSWER.is_zero());
}

#[tokio::test]
async fn a_default_server_answers_an_instant_tool_with_its_result() {
    // The default window is short, so one call on a loaded machine may miss it: some of
    // many calls of a tool that ends at once must be answered directly (with the window
    // at zero none is, see above).
    let mut p = Peer::connect(with_tools(Server::builder("quick", "1")));
    let mut direct = 0;
    for _ in 0..50 {
        let r = call(&mut p, "add").await;
        match r["result"]["resultType"].as_str() {
            Some("complete") => {
                assert_eq!(r["result"]["content"][0]["text"], "5", "{r}");
                direct += 1;
            }
            Some("task") => assert!(r["result"]["taskId"].is_string(), "{r}"),
            _ => panic!("unexpected answer {r}"),
        }
    }
    assert!(direct > 0, "no call of 50 was answered directly");
}
