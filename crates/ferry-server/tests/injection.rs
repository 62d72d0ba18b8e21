//! Dependency injection: providers with cleanup, state, and the guarantee that
//! callers can neither see nor supply injected parameters.

mod support;

use support::Peer;

use ferry_server::{Args, BuildError, Context, Dep, Provided, Server, State, TaskSupport, ToolDef};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Echo {
    text: String,
}

/// A fake connection pool that records what happened to it.
struct Conn {
    id: usize,
}

#[derive(Default)]
struct Log(Mutex<Vec<String>>);

impl Log {
    fn push(&self, s: String) {
        self.0.lock().unwrap().push(s);
    }
    fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

fn server(log: Arc<Log>, made: Arc<AtomicUsize>) -> Server {
    let log2 = log.clone();
    Server::builder("di", "1")
        .state(String::from("the real state"))
        .provider(move |_cx: Context| {
            let log = log2.clone();
            let made = made.clone();
            async move {
                let id = made.fetch_add(1, Ordering::SeqCst) + 1;
                log.push(format!("open {id}"));
                let log = log.clone();
                Ok(Provided::new(Conn { id }).on_cleanup(move |c: Arc<Conn>| async move {
                    log.push(format!("close {}", c.id));
                }))
            }
        })
        .tool(ToolDef::new("echo").handler(
            |Args(e): Args<Echo>, state: State<String>, conn: Dep<Conn>, again: Dep<Conn>| async move {
                format!("{} | {} | conn {} | same {}", e.text, *state, conn.id, again.id == conn.id)
            },
        ))
        .tool(ToolDef::new("slow").task_support(TaskSupport::Optional).handler({
            let log = log.clone();
            move |conn: Dep<Conn>| async move {
                tokio::time::sleep(Duration::from_millis(50)).await;
                log.push(format!("used {}", conn.id));
                "ok"
            }
        }))
        .build()
        .unwrap()
}

#[tokio::test]
async fn injected_parameters_are_not_in_the_schema() {
    let mut p = Peer::session(server(Default::default(), Default::default())).await;
    let tools = p.request("tools/list", json!({})).await;
    let echo = tools["result"]["tools"].as_array().unwrap().iter().find(|t| t["name"] == "echo").unwrap().clone();
    let props = echo["inputSchema"]["properties"].as_object().unwrap();
    assert_eq!(props.keys().collect::<Vec<_>>(), vec!["text"]);
    let slow = tools["result"]["tools"].as_array().unwrap().iter().find(|t| t["name"] == "slow").unwrap().clone();
    assert_eq!(slow["inputSchema"], json!({"type": "object", "properties": {}}));
}

#[tokio::test]
async fn callers_cannot_override_injected_values() {
    let log = Arc::new(Log::default());
    let made = Arc::new(AtomicUsize::new(0));
    let mut p = Peer::session(server(log.clone(), made.clone())).await;
    let r = p
        .call("echo", json!({"text": "hi", "state": "forged", "conn": {"id": 99}, "again": 7, "ctx": {}, "cx": null}))
        .await;
    assert_eq!(r["result"]["content"][0]["text"], "hi | the real state | conn 1 | same true");
    // The provider ran once (both Dep<Conn> share it) and never saw the forged values.
    assert_eq!(made.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn provider_cleanup_runs_after_each_direct_call() {
    let log = Arc::new(Log::default());
    let mut p = Peer::session(server(log.clone(), Default::default())).await;
    p.call("echo", json!({"text": "a"})).await;
    p.call("echo", json!({"text": "b"})).await;
    assert_eq!(log.all(), vec!["open 1", "close 1", "open 2", "close 2"]);
}

#[tokio::test]
async fn provider_lives_until_the_background_task_has_finished() {
    let log = Arc::new(Log::default());
    let mut p = Peer::session(server(log.clone(), Default::default())).await;
    let created = p.request("tools/call", json!({"name": "slow", "arguments": {}, "task": {"ttl": 60000}})).await;
    let id = created["result"]["task"]["taskId"].as_str().unwrap().to_string();
    let result = p.request("tasks/result", json!({"taskId": id})).await;
    assert_eq!(result["result"]["content"][0]["text"], "ok");
    // Cleanup runs after the handler; give the worker a moment to finish it.
    for _ in 0..500 {
        if log.all().len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(log.all(), vec!["open 1", "used 1", "close 1"]);
}

#[tokio::test]
async fn invalid_arguments_never_reach_providers() {
    let log = Arc::new(Log::default());
    let made = Arc::new(AtomicUsize::new(0));
    let mut p = Peer::session(server(log.clone(), made.clone())).await;
    let r = p.call("echo", json!({"text": 5})).await;
    assert_eq!(r["result"]["isError"], true);
    assert!(r["result"]["content"][0]["text"].as_str().unwrap().contains("Invalid arguments"));
    assert_eq!(made.load(Ordering::SeqCst), 0);
}

#[test]
fn a_missing_provider_is_a_build_error() {
    let err = Server::builder("s", "1")
        .tool(ToolDef::new("t").handler(|c: Dep<Conn>| async move { c.id as u64 }))
        .build()
        .err()
        .unwrap();
    assert!(matches!(err, BuildError::MissingProvider { ref component, .. } if component == "tool 't'"));
    assert!(err.to_string().contains("no provider"), "{err}");
}

#[test]
fn missing_state_and_duplicate_names_are_build_errors() {
    let err = Server::builder("s", "1")
        .tool(ToolDef::new("t").handler(|s: State<u32>| async move { *s }))
        .build()
        .err()
        .unwrap();
    assert!(matches!(err, BuildError::MissingState { .. }));
    let err = Server::builder("s", "1")
        .tool(ToolDef::new("t").handler(|| async { 1 }))
        .tool(ToolDef::new("t").handler(|| async { 2 }))
        .build()
        .err()
        .unwrap();
    assert_eq!(err, BuildError::Duplicate { kind: "tool", name: "t".into() });
    let err = Server::builder("s", "1").tool(ToolDef::new("nothing")).build().err().unwrap();
    assert!(matches!(err, BuildError::NoHandler { .. }));
}
