//! Jobs: durable background work a handler enqueues on the task engine, run with the
//! job's retries, after an optional delay, once per idempotency key, unseen by clients.

use crate::common::*;
use ferry_server::{Args, Context, State, ToolDef, ToolError};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// What the jobs did: (job, argument, attempt, wall-clock ms when it ran).
type Ledger = mpsc::UnboundedSender<(String, String, u32, u64)>;

#[derive(serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
struct Note {
    text: String,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Order {
    job: String,
    text: String,
    #[serde(default)]
    delay_ms: u64,
    #[serde(default)]
    key: Option<String>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

async fn start() -> (TestServer, mpsc::UnboundedReceiver<(String, String, u32, u64)>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let attempts = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let builder = demo::builder()
        .state(tx as Ledger)
        .state(attempts)
        .job(ToolDef::new("record").handler(|Args(n): Args<Note>, ledger: State<Ledger>| async move {
            let _ = ledger.send(("record".into(), n.text, 1, now_ms()));
            "recorded"
        }))
        // Fails twice, then works: its retries carry it through.
        .job(ToolDef::new("flaky").retries(3).handler(
            |Args(n): Args<Note>, ledger: State<Ledger>, attempts: State<Arc<std::sync::atomic::AtomicU32>>| async move {
                let attempt = attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                let _ = ledger.send(("flaky".into(), n.text, attempt, now_ms()));
                if attempt < 3 {
                    return Err(ToolError::retryable(format!("attempt {attempt} failed")));
                }
                Ok("finally")
            },
        ))
        .tool(ToolDef::new("order").handler(|Args(o): Args<Order>, cx: Context| async move {
            let mut job = cx.jobs().enqueue(&o.job, Note { text: o.text }).delay(Duration::from_millis(o.delay_ms));
            if let Some(k) = o.key {
                job = job.key(k);
            }
            job.await.map_err(|e| ToolError::new(e.to_string()))
        }));
    (TestServer::start(builder).await, rx)
}

async fn next_run(rx: &mut mpsc::UnboundedReceiver<(String, String, u32, u64)>) -> (String, String, u32, u64) {
    tokio::time::timeout(Duration::from_secs(30), rx.recv()).await.expect("a job ran").expect("ledger open")
}

fn text(r: &Value) -> String {
    r["content"][0]["text"].as_str().unwrap_or_else(|| panic!("{r}")).to_string()
}

#[tokio::test]
async fn a_handler_enqueues_a_job_that_runs_in_the_background() {
    let (srv, mut rx) = start().await;
    let s = srv.session().await;
    let id = text(&s.ok("tools/call", json!({"name": "order", "arguments": {"job": "record", "text": "hi"}})).await);
    assert_eq!(next_run(&mut rx).await.1, "hi");
    // Clients never see jobs: not listed, not fetchable, not callable.
    let e = s.err("tasks/get", json!({"taskId": id})).await;
    assert_eq!(e["code"], -32602, "{e}");
    let tools = s.ok("tools/list", json!({})).await;
    assert!(!tools["tools"].as_array().unwrap().iter().any(|t| t["name"] == "record"), "{tools}");
    let r = s.call("record", json!({"text": "x"})).await;
    assert_eq!(r["error"]["code"], -32602, "{r}");
}

#[tokio::test]
async fn a_failing_job_is_retried_as_its_definition_says() {
    let (srv, mut rx) = start().await;
    let s = srv.session().await;
    s.ok("tools/call", json!({"name": "order", "arguments": {"job": "flaky", "text": "f"}})).await;
    let attempts: Vec<u32> =
        [next_run(&mut rx).await, next_run(&mut rx).await, next_run(&mut rx).await].into_iter().map(|r| r.2).collect();
    assert_eq!(attempts, [1, 2, 3]);
}

#[tokio::test]
async fn a_delayed_job_does_not_start_before_its_time() {
    let (srv, mut rx) = start().await;
    let s = srv.session().await;
    let asked = now_ms();
    s.ok("tools/call", json!({"name": "order", "arguments": {"job": "record", "text": "later", "delay_ms": 400}}))
        .await;
    let (_, what, _, ran_at) = next_run(&mut rx).await;
    assert_eq!(what, "later");
    assert!(ran_at >= asked + 400, "ran {} ms after it was asked for, before its 400 ms delay", ran_at - asked);
}

#[tokio::test]
async fn one_idempotency_key_enqueues_one_job() {
    let (srv, mut rx) = start().await;
    let s = srv.session().await;
    let order = json!({"name": "order", "arguments": {"job": "record", "text": "once", "key": "k-1", "delay_ms": 200}});
    let first = text(&s.ok("tools/call", order.clone()).await);
    let second = text(&s.ok("tools/call", order).await);
    assert_eq!(first, second, "the second enqueue names the first job");
    assert_eq!(next_run(&mut rx).await.1, "once");
    // Another key is another job.
    let other = json!({"name": "order", "arguments": {"job": "record", "text": "twice", "key": "k-2"}});
    assert_ne!(text(&s.ok("tools/call", other).await), first);
    assert_eq!(next_run(&mut rx).await.1, "twice", "and nothing else ran in between");
}

#[tokio::test]
async fn an_unknown_job_is_a_clear_error() {
    let (srv, _rx) = start().await;
    let s = srv.session().await;
    let r = s.ok("tools/call", json!({"name": "order", "arguments": {"job": "nope", "text": ""}})).await;
    assert_eq!(r["isError"], true, "{r}");
    assert!(text(&r).contains("no job named 'nope'"), "{r}");
}
