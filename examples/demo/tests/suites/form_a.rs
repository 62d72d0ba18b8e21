//! Tasks Form A (2025-11-25, SEP-1686) over real Streamable HTTP: task-augmented
//! requests, `tasks/get|result|list|cancel`, TTLs, status and progress
//! notifications on the GET stream, and isolation between sessions.

use crate::common::*;
use ferry_server::{TaskSupport, ToolDef};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::Notify;

/// Check the shape of a Form A Task object.
fn assert_form_a_task(t: &Value) {
    assert!(t["taskId"].as_str().is_some_and(|id| !id.is_empty()), "taskId: {t}");
    assert!(
        ["working", "input_required", "completed", "failed", "cancelled"].contains(&t["status"].as_str().unwrap_or("")),
        "status: {t}"
    );
    assert!(is_rfc3339(&t["createdAt"]), "createdAt: {t}");
    assert!(is_rfc3339(&t["lastUpdatedAt"]), "lastUpdatedAt: {t}");
    assert!(t["ttl"].is_number() || t["ttl"].is_null(), "ttl is required: {t}");
    assert!(t.get("pollInterval").is_none_or(Value::is_number), "pollInterval: {t}");
    for legacy_b in ["ttlMs", "pollIntervalMs", "resultType"] {
        assert!(t.get(legacy_b).is_none(), "no Form B field {legacy_b} in Form A: {t}");
    }
}

fn related(result: &Value) -> &Value {
    &result["_meta"][RELATED_TASK]["taskId"]
}

#[tokio::test]
async fn task_augmented_call_returns_a_nested_working_task() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let r = s.ok("tools/call", json!({"name": "sleep", "arguments": {"ms": 50}, "task": {}})).await;
    let t = &r["task"];
    assert_form_a_task(t);
    assert_eq!(t["status"], "working");
    assert_eq!(t["ttl"], json!(3_600_000), "the default TTL");
    assert_eq!(t["pollInterval"], json!(10), "a tool with no history: the adaptive minimum");
    assert!(r.get("resultType").is_none(), "no resultType on the handshake wire: {r}");
    assert!(r.get("taskId").is_none(), "the task is nested, not flat: {r}");
    assert!(r.get("content").is_none(), "{r}");
}

#[tokio::test]
async fn tasks_get_reports_the_task_until_completed() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let t = s.call_task("add", json!({"a": 2, "b": 3})).await;
    let id = t["taskId"].as_str().unwrap();
    let got = s.get_task(id).await;
    assert_form_a_task(&got);
    assert_eq!(got["taskId"], id);
    assert_eq!(got["createdAt"], t["createdAt"]);
    let done = s.wait_status(id, "completed").await;
    assert_form_a_task(&done);
    assert!(done.get("_meta").is_none_or(|m| m.get(RELATED_TASK).is_none()), "no related-task meta on get: {done}");
    assert!(done.get("result").is_none(), "Form A does not inline results: {done}");
}

#[tokio::test]
async fn tasks_result_blocks_until_terminal_and_carries_related_task_meta() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let t = s.call_task("sleep", json!({"ms": 200})).await;
    let id = t["taskId"].as_str().unwrap();
    let r = s.ok("tasks/result", json!({"taskId": id})).await;
    assert_eq!(text(&r), "slept 200");
    assert_ne!(r["isError"], true);
    assert_eq!(related(&r), id);
    assert_eq!(s.get_task(id).await["status"], "completed", "terminal once tasks/result answered");
}

#[tokio::test]
async fn add_as_task_results_in_the_sum() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let t = s.call_task("add", json!({"a": 20, "b": 22})).await;
    let r = s.ok("tasks/result", json!({"taskId": t["taskId"]})).await;
    assert_eq!(text(&r), "42");
    assert_eq!(related(&r), &t["taskId"]);
}

#[tokio::test]
async fn must_task_as_task_doubles_x() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let t = s.call_task("must_task", json!({"x": 4})).await;
    let r = s.ok("tasks/result", json!({"taskId": t["taskId"]})).await;
    assert_eq!(text(&r), "8");
}

#[tokio::test]
async fn must_task_without_params_task_is_method_not_found() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let e = s.err("tools/call", json!({"name": "must_task", "arguments": {"x": 1}})).await;
    assert_eq!(e["code"], -32601, "{e}");
}

#[tokio::test]
async fn no_task_with_params_task_is_method_not_found() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let e = s.err("tools/call", json!({"name": "no_task", "arguments": {"x": 1}, "task": {}})).await;
    assert_eq!(e["code"], -32601, "{e}");
}

#[tokio::test]
async fn fail_as_task_is_failed_and_tasks_result_returns_the_is_error_result() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let t = s.call_task("fail", json!({"message": "it broke"})).await;
    let id = t["taskId"].as_str().unwrap();
    let failed = s.wait_task(id, "a terminal status", |t| t["status"] != "working").await;
    assert_eq!(failed["status"], "failed", "a tool isError is `failed` in Form A: {failed}");
    assert!(failed["statusMessage"].as_str().is_some_and(|m| !m.is_empty()), "diagnostic statusMessage: {failed}");
    let r = s.ok("tasks/result", json!({"taskId": id})).await;
    assert_eq!(r["isError"], true);
    assert_eq!(text(&r), "it broke");
    assert_eq!(related(&r), id);
}

#[tokio::test]
async fn json_rpc_error_in_a_task_is_failed_and_tasks_result_returns_that_error() {
    let srv = TestServer::start(rpc_error_server()).await;
    let s = srv.session().await;
    let t = s.call_task("rpc_error", json!({})).await;
    let id = t["taskId"].as_str().unwrap();
    let failed = s.wait_task(id, "a terminal status", |t| t["status"] != "working").await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["statusMessage"], "database on fire");
    let e = s.err("tasks/result", json!({"taskId": id})).await;
    assert_eq!(e["code"], -32603);
    assert_eq!(e["message"], "database on fire");
}

#[tokio::test]
async fn progress_as_task_shows_its_status_message_in_tasks_get() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let t = s.call_task("progress", json!({"steps": 3, "delay_ms": 20})).await;
    let id = t["taskId"].as_str().unwrap();
    let seen = s
        .wait_task(id, "a progress status message", |t| {
            t["statusMessage"].as_str().is_some_and(|m| m.starts_with("step "))
        })
        .await;
    assert!(seen["statusMessage"].as_str().unwrap().ends_with("/3"), "{seen}");
    let r = s.ok("tasks/result", json!({"taskId": id})).await;
    assert_eq!(text(&r), "done 3");
    let done = s.get_task(id).await;
    assert_eq!(done["statusMessage"], "step 3/3");
    assert_eq!(done["_meta"]["ferrymcp.dev/progress"]["progress"], json!(3.0));
}

#[tokio::test]
async fn prompts_get_as_task_returns_the_prompt_through_tasks_result() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let r = s.ok("prompts/get", json!({"name": "greet", "arguments": {"name": "Ada"}, "task": {"ttl": 60_000}})).await;
    assert_form_a_task(&r["task"]);
    let id = r["task"]["taskId"].as_str().unwrap();
    let got = s.ok("tasks/result", json!({"taskId": id})).await;
    assert_eq!(got["messages"][0]["content"]["text"], "Please greet Ada warmly.");
    assert_eq!(related(&got), id);
}

#[tokio::test]
async fn resources_read_as_task_returns_the_contents_through_tasks_result() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    for (uri, expected) in [("ferry://demo/readme", None), ("ferry://demo/greeting/Bo", Some("Hello, Bo!"))] {
        let r = s.ok("resources/read", json!({"uri": uri, "task": {}})).await;
        assert_form_a_task(&r["task"]);
        let id = r["task"]["taskId"].as_str().unwrap();
        let got = s.ok("tasks/result", json!({"taskId": id})).await;
        assert_eq!(got["contents"][0]["uri"], uri);
        if let Some(e) = expected {
            assert_eq!(got["contents"][0]["text"], e);
        }
        assert_eq!(related(&got), id);
    }
}

#[tokio::test]
async fn tasks_list_shows_own_tasks() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let a = s.call_task("add", json!({"a": 1, "b": 1})).await;
    let b = s.call_task("sleep", json!({"ms": 1})).await;
    let list = s.ok("tasks/list", json!({})).await;
    let ids: Vec<&Value> = list["tasks"].as_array().unwrap().iter().map(|t| &t["taskId"]).collect();
    assert_eq!(ids, vec![&a["taskId"], &b["taskId"]], "in creation order: {list}");
    for t in list["tasks"].as_array().unwrap() {
        assert_form_a_task(t);
    }
    assert!(list.get("nextCursor").is_none());
}

#[tokio::test]
async fn tasks_list_paginates_with_a_small_page_size() {
    let srv = TestServer::demo_with(|c| c.page_size = 2).await;
    let s = srv.session().await;
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(s.call_task("add", json!({"a": i, "b": 0})).await["taskId"].clone());
    }
    let mut listed = Vec::new();
    let mut cursor = Value::Null;
    let mut pages = 0;
    loop {
        let page = s.ok("tasks/list", json!({"cursor": cursor})).await;
        pages += 1;
        let tasks = page["tasks"].as_array().unwrap();
        assert!(tasks.len() <= 2, "{page}");
        listed.extend(tasks.iter().map(|t| t["taskId"].clone()));
        match page.get("nextCursor") {
            Some(c) => cursor = c.clone(),
            None => break,
        }
        assert!(pages < 10, "pagination ends");
    }
    assert_eq!(listed, created);
    assert_eq!(pages, 3);
}

#[tokio::test]
async fn tasks_list_with_an_invalid_cursor_is_invalid_params() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    assert_eq!(s.err("tasks/list", json!({"cursor": "bogus"})).await["code"], -32602);
    assert_eq!(s.err("tasks/list", json!({"cursor": "99999999"})).await["code"], -32602);
}

#[tokio::test]
async fn tasks_cancel_of_a_running_sleep_is_cancelled_and_stays_cancelled() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let t = s.call_task("sleep", json!({"ms": 600_000})).await;
    let id = t["taskId"].as_str().unwrap();
    let c = s.ok("tasks/cancel", json!({"taskId": id})).await;
    assert_form_a_task(&c);
    assert_eq!(c["status"], "cancelled", "cancelled before the response: {c}");
    assert_eq!(c["taskId"], id);
    assert!(c["statusMessage"].is_string());
    for _ in 0..3 {
        assert_eq!(s.get_task(id).await["status"], "cancelled");
    }
    let e = s.err("tasks/result", json!({"taskId": id})).await;
    // Not an internal error: the task is fine, it just has no result (invalid params, as
    // cancelling a terminal task is); the message says why.
    assert_eq!(e["code"], -32602, "a cancelled task has no result: {e}");
    assert!(e["message"].as_str().unwrap().contains("cancelled"), "{e}");
    assert_eq!(e["data"][RELATED_TASK]["taskId"], id, "{e}");
}

/// A tool that ignores cancellation and finishes when the test says so.
struct Gate {
    started: AtomicBool,
    release: Notify,
    finished: AtomicBool,
}

#[tokio::test]
async fn cancelled_task_stays_cancelled_when_its_handler_finishes_anyway() {
    let gate =
        Arc::new(Gate { started: AtomicBool::new(false), release: Notify::new(), finished: AtomicBool::new(false) });
    let g = gate.clone();
    let server =
        demo::builder().tool(ToolDef::new("gated").task_support(TaskSupport::Optional).handler(move || async move {
            g.started.store(true, Ordering::SeqCst);
            g.release.notified().await;
            g.finished.store(true, Ordering::SeqCst);
            "finished anyway"
        }));
    let srv = TestServer::start(server).await;
    let s = srv.session().await;
    let t = s.call_task("gated", json!({})).await;
    let id = t["taskId"].as_str().unwrap();
    poll(|| gate.started.load(Ordering::SeqCst), "the handler to start").await;
    assert_eq!(s.ok("tasks/cancel", json!({"taskId": id})).await["status"], "cancelled");
    gate.release.notify_one();
    poll(|| gate.finished.load(Ordering::SeqCst), "the handler to finish").await;
    // Whatever the worker does with the late result, the task stays cancelled.
    for _ in 0..5 {
        assert_eq!(s.get_task(id).await["status"], "cancelled");
        tokio::time::sleep(POLL).await;
    }
    assert!(s.send("tasks/result", json!({"taskId": id})).await.body().get("error").is_some());
}

async fn poll(cond: impl Fn() -> bool, what: &str) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(POLL).await;
    }
}

#[tokio::test]
async fn tasks_cancel_of_a_terminal_task_is_invalid_params() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let t = s.call_task("add", json!({"a": 1, "b": 2})).await;
    let id = t["taskId"].as_str().unwrap();
    s.wait_status(id, "completed").await;
    let e = s.err("tasks/cancel", json!({"taskId": id})).await;
    assert_eq!(e["code"], -32602, "{e}");
    assert!(e["message"].as_str().unwrap().contains("completed"), "{e}");
    assert_eq!(s.get_task(id).await["status"], "completed");

    let c = s.call_task("sleep", json!({"ms": 600_000})).await;
    let cid = c["taskId"].as_str().unwrap();
    s.ok("tasks/cancel", json!({"taskId": cid})).await;
    assert_eq!(s.err("tasks/cancel", json!({"taskId": cid})).await["code"], -32602, "cancelling twice");
}

#[tokio::test]
async fn unknown_task_id_is_invalid_params_for_get_result_and_cancel() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    for method in ["tasks/get", "tasks/result", "tasks/cancel"] {
        let e = s.err(method, json!({"taskId": "00000000000000000000000000"})).await;
        assert_eq!(e["code"], -32602, "{method}: {e}");
        let e = s.err(method, json!({})).await;
        assert_eq!(e["code"], -32602, "{method} without taskId: {e}");
    }
}

#[tokio::test]
async fn requested_ttl_is_honoured() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let r = s.ok("tools/call", json!({"name": "add", "arguments": {"a": 1, "b": 1}, "task": {"ttl": 45_000}})).await;
    assert_eq!(r["task"]["ttl"], json!(45_000));
    let id = r["task"]["taskId"].as_str().unwrap();
    s.ok("tasks/result", json!({"taskId": id})).await;
    // Kept 45 s from when it ended; `ttl` counts from creation, so it adds the run time.
    let t = s.get_task(id).await;
    let ran = ms_between(&t["createdAt"], &t["lastUpdatedAt"]);
    assert_eq!(t["ttl"], json!(45_000 + ran), "{t}");
}

fn ms_between(from: &Value, to: &Value) -> u64 {
    let parse = |v: &Value| {
        time::OffsetDateTime::parse(v.as_str().unwrap(), &time::format_description::well_known::Rfc3339).unwrap()
    };
    (parse(to) - parse(from)).whole_milliseconds() as u64
}

#[tokio::test]
async fn a_task_outlives_a_ttl_shorter_than_its_run() {
    let srv = TestServer::demo_with(|c| c.min_ttl_ms = 100).await;
    let s = srv.session().await;
    let r = s.ok("tools/call", json!({"name": "sleep", "arguments": {"ms": 1500}, "task": {"ttl": 100}})).await;
    let id = r["task"]["taskId"].as_str().unwrap().to_string();
    assert_eq!(r["task"]["ttl"], json!(100));
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert_eq!(s.get_task(&id).await["status"], "working", "six TTLs later it still runs");
    let result = s.ok("tasks/result", json!({"taskId": id})).await;
    assert_eq!(result["content"][0]["text"], "slept 1500", "{result}");
    assert_eq!(s.get_task(&id).await["status"], "completed");
}

#[tokio::test]
async fn a_tiny_ttl_is_raised_to_the_minimum() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    for tiny in [json!(1), json!(1.5), json!(0)] {
        let r = s.ok("tools/call", json!({"name": "add", "arguments": {"a": 1, "b": 1}, "task": {"ttl": tiny}})).await;
        assert_eq!(r["task"]["ttl"], json!(1000), "{r}");
    }
}

#[tokio::test]
async fn requested_ttl_is_capped_at_the_maximum() {
    let srv = TestServer::demo_with(|c| c.max_ttl_ms = 120_000).await;
    let s = srv.session().await;
    let r = s
        .ok("tools/call", json!({"name": "add", "arguments": {"a": 1, "b": 1}, "task": {"ttl": 9_000_000_000u64}}))
        .await;
    assert_eq!(r["task"]["ttl"], json!(120_000));
    let t = s.get_task(r["task"]["taskId"].as_str().unwrap()).await;
    let ran = if t["status"] == "working" { 0 } else { ms_between(&t["createdAt"], &t["lastUpdatedAt"]) };
    assert_eq!(t["ttl"], json!(120_000 + ran), "{t}");
}

#[tokio::test]
async fn task_with_a_tiny_ttl_disappears_after_it_expires() {
    let srv = TestServer::demo_with(|c| c.min_ttl_ms = 100).await;
    let s = srv.session().await;
    let r = s.ok("tools/call", json!({"name": "add", "arguments": {"a": 1, "b": 1}, "task": {"ttl": 100}})).await;
    let id = r["task"]["taskId"].as_str().unwrap().to_string();
    assert_eq!(r["task"]["ttl"], json!(100));
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let gone = loop {
        let reply = s.send("tasks/get", json!({"taskId": id})).await;
        if reply.body().get("error").is_some() {
            break reply.error().clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "the task never expired");
        tokio::time::sleep(POLL).await;
    };
    assert_eq!(gone["code"], -32602);
    assert_eq!(s.err("tasks/result", json!({"taskId": id})).await["code"], -32602);
    let list = s.ok("tasks/list", json!({})).await;
    assert!(list["tasks"].as_array().unwrap().iter().all(|t| t["taskId"] != id.as_str()), "{list}");
}

#[tokio::test]
async fn status_notifications_arrive_on_the_get_stream() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let mut stream = s.stream().await;
    let t = s.call_task("add", json!({"a": 1, "b": 2})).await;
    let id = t["taskId"].clone();
    let n = stream
        .wait_for("a completed status notification", |m| {
            m["method"] == "notifications/tasks/status"
                && m["params"]["taskId"] == id
                && m["params"]["status"] == "completed"
        })
        .await;
    assert_form_a_task(&n["params"]);
    assert!(n.get("id").is_none(), "a notification: {n}");
    assert!(n["params"].get("_meta").is_none_or(|m| m.get(RELATED_TASK).is_none()), "{n}");
}

#[tokio::test]
async fn progress_notifications_with_the_requests_token_arrive_on_the_get_stream() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let mut stream = s.stream().await;
    let r = s
        .ok(
            "tools/call",
            json!({"name": "progress", "arguments": {"steps": 3, "delay_ms": 10}, "task": {},
                   "_meta": {"progressToken": "tok-7"}}),
        )
        .await;
    let id = r["task"]["taskId"].clone();
    let last = stream
        .wait_for("the last progress notification", |m| {
            m["method"] == "notifications/progress" && m["params"]["progress"] == json!(3.0)
        })
        .await;
    assert_eq!(last["params"]["progressToken"], "tok-7");
    assert_eq!(last["params"]["total"], json!(3.0));
    assert_eq!(last["params"]["message"], "step 3/3");
    assert_eq!(last["params"]["_meta"][RELATED_TASK]["taskId"], id);
    for p in stream.seen.iter().filter(|m| m["method"] == "notifications/progress") {
        assert_eq!(p["params"]["progressToken"], "tok-7", "{p}");
    }
    stream
        .wait_for("completion", |m| {
            m["method"] == "notifications/tasks/status"
                && m["params"]["taskId"] == id
                && m["params"]["status"] == "completed"
        })
        .await;
}

#[tokio::test]
async fn status_notifications_go_only_to_the_owning_session() {
    let srv = TestServer::demo().await;
    let a = srv.session().await;
    let b = srv.session().await;
    let mut a_stream = a.stream().await;
    let mut b_stream = b.stream().await;
    let t = a.call_task("add", json!({"a": 1, "b": 2})).await;
    let mine = b.call_task("add", json!({"a": 3, "b": 4})).await;
    let id = t["taskId"].clone();
    a_stream.wait_for("A's completion", |m| m["params"]["taskId"] == id && m["params"]["status"] == "completed").await;
    // B's own task completing proves B's stream is flowing; A's task never shows up there.
    let mine_id = mine["taskId"].clone();
    b_stream
        .wait_for("B's completion", |m| m["params"]["taskId"] == mine_id && m["params"]["status"] == "completed")
        .await;
    assert!(b_stream.seen.iter().all(|m| m["params"]["taskId"] != id), "{:?}", b_stream.seen);
}

#[tokio::test]
async fn another_session_cannot_get_result_cancel_or_list_the_task() {
    let srv = TestServer::demo().await;
    let owner = srv.session().await;
    let other = srv.session().await;
    let t = owner.call_task("sleep", json!({"ms": 600_000})).await;
    let id = t["taskId"].as_str().unwrap();
    for method in ["tasks/get", "tasks/result", "tasks/cancel"] {
        let e = other.err(method, json!({"taskId": id})).await;
        assert_eq!(e["code"], -32602, "{method}: {e}");
    }
    let list = other.ok("tasks/list", json!({})).await;
    assert_eq!(list["tasks"], json!([]), "{list}");
    // Untouched for its owner.
    assert_eq!(owner.get_task(id).await["status"], "working");
    assert_eq!(owner.ok("tasks/list", json!({})).await["tasks"][0]["taskId"], id);
    owner.ok("tasks/cancel", json!({"taskId": id})).await;
}

#[tokio::test]
async fn task_ids_are_distinct() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let mut ids = HashSet::new();
    for _ in 0..20 {
        let t = s.call_task("add", json!({"a": 0, "b": 0})).await;
        let id = t["taskId"].as_str().unwrap().to_string();
        assert!(id.len() >= 20, "long enough to be unguessable: {id}");
        assert!(ids.insert(id));
    }
}

#[tokio::test]
async fn tasks_methods_are_not_found_on_2025_06_18_sessions() {
    let srv = TestServer::demo().await;
    let s = Session::open_with(&srv.url, "2025-06-18", json!({})).await;
    for method in ["tasks/get", "tasks/result", "tasks/cancel", "tasks/list"] {
        let e = s.err(method, json!({"taskId": "x"})).await;
        assert_eq!(e["code"], -32601, "{method}: {e}");
    }
}

#[tokio::test]
async fn tasks_update_is_not_a_form_a_method() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let t = s.call_task("add", json!({"a": 0, "b": 0})).await;
    let e = s.err("tasks/update", json!({"taskId": t["taskId"], "inputResponses": {}})).await;
    assert_eq!(e["code"], -32601);
}

#[tokio::test]
async fn form_b_extension_declared_in_initialize_is_ignored() {
    let srv = TestServer::demo().await;
    let s = Session::open_with(&srv.url, LATEST, json!({"extensions": {TASKS_EXT: {}}})).await;
    let r = s.call("sleep", json!({"ms": 1})).await;
    assert_eq!(text(&r["result"]), "slept 1", "no task without params.task: {r}");
    assert!(r["result"].get("resultType").is_none());
}
