//! What one client can make the task store hold, and the races at the end of a task.

use crate::common::*;
use ferry_server::engine::TaskLimits;
use serde_json::{json, Value};

async fn limited(limits: TaskLimits) -> TestServer {
    TestServer::start_limited(demo::builder(), limits).await
}

fn sleeping_task(ms: u64) -> Value {
    json!({"name": "sleep", "arguments": {"ms": ms}, "task": {"ttl": 60_000}})
}

fn assert_limit(e: &Value, scope: &str) {
    assert_eq!(e["code"], -32029, "{e}");
    assert_eq!(e["data"]["scope"], scope, "{e}");
}

#[tokio::test]
async fn one_client_cannot_lock_the_others_out() {
    let srv = limited(TaskLimits { max_live: 5, max_live_per_owner: 3, ..Default::default() }).await;
    // Without credentials, clients are told apart by their address.
    let greedy = Session::open_from_address(&srv.url, "127.0.0.1".parse().unwrap()).await;
    let polite = Session::open_from_address(&srv.url, "127.0.0.2".parse().unwrap()).await;
    let mut mine = Vec::new();
    for _ in 0..3 {
        mine.push(greedy.ok("tools/call", sleeping_task(30_000)).await["task"]["taskId"].clone());
    }
    let refused = greedy.err("tools/call", sleeping_task(30_000)).await;
    assert_limit(&refused, "owner");
    assert!(refused["message"].as_str().unwrap().contains("unfinished tasks"), "{refused}");
    // Another client still gets its share, up to the server's bound.
    polite.ok("tools/call", sleeping_task(30_000)).await;
    polite.ok("tools/call", sleeping_task(30_000)).await;
    assert_limit(&polite.err("tools/call", sleeping_task(30_000)).await, "server");
    // A cancelled (ended) task gives its slot back at once.
    greedy.ok("tasks/cancel", json!({"taskId": mine[0]})).await;
    polite.ok("tools/call", sleeping_task(30_000)).await;
    for id in &mine[1..] {
        greedy.ok("tasks/cancel", json!({"taskId": id})).await;
    }
}

#[tokio::test]
async fn a_modern_call_to_an_optional_tool_runs_directly_when_tasks_are_out_of_room() {
    let srv = limited(TaskLimits { max_live_per_owner: 1, ..Default::default() }).await;
    let m = srv.modern_tasks();
    let first = m.ok("tools/call", json!({"name": "sleep", "arguments": {"ms": 30_000}})).await;
    assert_eq!(first["resultType"], "task", "{first}");
    // This client's share is used up: an optional tool still answers, directly.
    let direct = m.ok("tools/call", json!({"name": "add", "arguments": {"a": 2, "b": 3}})).await;
    assert_eq!(direct["resultType"], "complete", "{direct}");
    assert_eq!(text(&direct), "5");
    // A tool that only runs as a task is refused with the limit.
    let refused = m.send("tools/call", json!({"name": "must_task", "arguments": {"x": 1}})).await;
    assert_limit(refused.error(), "owner");
    m.ok("tasks/cancel", json!({"taskId": first["taskId"]})).await;
}

#[tokio::test]
async fn what_a_tool_does_not_take_is_not_stored_and_big_arguments_are_refused() {
    let srv = limited(TaskLimits { max_argument_bytes: 2_000, ..Default::default() }).await;
    let s = srv.session().await;
    let junk = "x".repeat(10_000);
    // `add` takes a and b: the rest is dropped before the task is stored.
    let r = s.ok("tools/call", json!({"name": "add", "arguments": {"a": 1, "b": 2, "junk": junk}, "task": {}})).await;
    let id = r["task"]["taskId"].as_str().unwrap().to_string();
    assert_eq!(text(&s.ok("tasks/result", json!({"taskId": id})).await), "3");
    // `fail` takes a message: a big one is refused as too large.
    let refused = s.err("tools/call", json!({"name": "fail", "arguments": {"message": junk}, "task": {}})).await;
    assert_limit(&refused, "size");
}

#[tokio::test]
async fn a_cancel_racing_completion_never_reports_success_for_a_finished_task() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let (mut cancelled, mut refused) = (0, 0);
    for _ in 0..150 {
        let r = s.ok("tools/call", json!({"name": "add", "arguments": {"a": 1, "b": 1}, "task": {}})).await;
        let id = r["task"]["taskId"].clone();
        let reply = s.send("tasks/cancel", json!({"taskId": id})).await;
        match reply.body().get("error") {
            Some(e) => {
                assert_eq!(e["code"], -32602, "{e}");
                refused += 1;
            }
            None => {
                assert_eq!(reply.result()["status"], "cancelled", "a successful cancel says cancelled");
                assert_eq!(s.get_task(id.as_str().unwrap()).await["status"], "cancelled", "and it stays so");
                cancelled += 1;
            }
        }
    }
    assert_eq!(cancelled + refused, 150);
}

#[tokio::test]
async fn sessions_of_one_address_share_its_quota() {
    let srv = limited(TaskLimits { max_live_per_owner: 2, ..Default::default() }).await;
    let (first, second) = (srv.session().await, srv.session().await);
    let a = first.ok("tools/call", sleeping_task(30_000)).await["task"]["taskId"].clone();
    let b = second.ok("tools/call", sleeping_task(30_000)).await["task"]["taskId"].clone();
    // A third session from the same address gains nothing.
    assert_limit(&srv.session().await.err("tools/call", sleeping_task(30_000)).await, "owner");
    first.ok("tasks/cancel", json!({"taskId": a})).await;
    second.ok("tasks/cancel", json!({"taskId": b})).await;
}
