//! Tasks Form B (extension `io.modelcontextprotocol/tasks` on the stateless
//! 2026-07-28 protocol) over real Streamable HTTP: discovery, server-decided
//! task creation, DetailedTask with inlined outcomes, acknowledging cancel,
//! capability gating, routing headers and version errors.

use crate::common::*;
use serde_json::{json, Value};
use std::time::Duration;

/// The demo without quick answers: every task-optional call from a client with the
/// extension becomes a task, however quick (these tests are about the task flow).
async fn tasks_demo() -> TestServer {
    TestServer::demo_with(|c| c.quick_answer = Duration::ZERO).await
}

/// Check the shape of a Form B Task object (also the flat CreateTaskResult).
fn assert_form_b_task(t: &Value) {
    assert!(t["taskId"].as_str().is_some_and(|id| !id.is_empty()), "taskId: {t}");
    assert!(is_rfc3339(&t["createdAt"]), "createdAt: {t}");
    assert!(is_rfc3339(&t["lastUpdatedAt"]), "lastUpdatedAt: {t}");
    assert!(t["ttlMs"].is_u64() || t["ttlMs"].is_null(), "ttlMs is an integer or null: {t}");
    assert!(t.get("pollIntervalMs").is_none_or(Value::is_u64), "pollIntervalMs is an integer: {t}");
    for legacy in ["ttl", "pollInterval", "task", "requestState"] {
        assert!(t.get(legacy).is_none(), "no {legacy} in Form B: {t}");
    }
}

fn assert_server_info(result: &Value) {
    assert_eq!(result["_meta"][SERVER_INFO]["name"], "ferry-demo", "serverInfo in _meta: {result}");
}

/// A modern tools/call that creates a task; returns its id.
async fn create(m: &Modern, name: &str, args: Value) -> String {
    let r = m.call(name, args).await;
    assert_eq!(r["resultType"], "task", "{r}");
    r["taskId"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn server_discover_advertises_versions_and_the_tasks_extension() {
    let srv = tasks_demo().await;
    let r = srv.modern_plain().ok("server/discover", json!({})).await;
    let versions: Vec<&str> = r["supportedVersions"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(versions.contains(&"2026-07-28"), "{r}");
    assert!(versions.contains(&"2025-11-25"), "{r}");
    assert_eq!(r["capabilities"]["extensions"][TASKS_EXT], json!({}));
    assert!(r["capabilities"].get("tasks").is_none(), "no legacy tasks capability: {r}");
    assert!(r["capabilities"]["tools"].is_object());
    assert_eq!(r["resultType"], "complete");
    assert_server_info(&r);
}

#[tokio::test]
async fn server_discover_without_meta_is_a_bad_request_and_opens_no_session() {
    let srv = tasks_demo().await;
    let r = post_raw(&http_client(), &srv.url, &JSON_HEADERS, rpc(1, "server/discover", json!({})).to_string()).await;
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.error()["code"], -32602, "{r:?}");
    assert!(r.headers.get("mcp-session-id").is_none());
}

#[tokio::test]
async fn methods_removed_in_2026_07_28_are_method_not_found() {
    let srv = tasks_demo().await;
    let m = srv.modern_tasks();
    for method in ["ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe"] {
        let r = m.send(method, json!({"level": "info", "uri": "ferry://demo/readme"})).await;
        assert_eq!(r.status, 404, "{method}: {r:?}");
        assert_eq!(r.error()["code"], -32601, "{method}: {r:?}");
    }
}

#[tokio::test]
async fn optional_tool_with_the_extension_returns_a_flat_task() {
    let srv = tasks_demo().await;
    let m = srv.modern_tasks();
    let r = m.call("sleep", json!({"ms": 50})).await;
    assert_eq!(r["resultType"], "task");
    assert_form_b_task(&r);
    assert_eq!(r["status"], "working");
    assert_eq!(r["ttlMs"], json!(3_600_000));
    assert_eq!(r["pollIntervalMs"], json!(10), "a tool with no history: the adaptive minimum");
    assert!(r.get("content").is_none(), "{r}");
    assert_server_info(&r);
    // Strongly consistent: gettable at once.
    let got = m.get_task(r["taskId"].as_str().unwrap()).await;
    assert_eq!(got["taskId"], r["taskId"]);
}

#[tokio::test]
async fn by_default_a_quick_optional_tool_is_answered_directly() {
    let srv = TestServer::demo().await;
    let m = srv.modern_tasks();
    // The default quick-answer window is short: on a loaded machine one call may miss it,
    // so of many calls of a tool that ends at once, some must be answered directly.
    let mut direct = 0;
    for _ in 0..50 {
        let r = m.call("add", json!({"a": 2, "b": 3})).await;
        if r["resultType"] == "complete" {
            assert_eq!(text(&r), "5", "{r}");
            assert!(r.get("taskId").is_none(), "{r}");
            assert_server_info(&r);
            direct += 1;
        } else {
            assert_eq!(r["resultType"], "task", "{r}");
        }
    }
    assert!(direct > 0, "no call of 50 was answered directly");
    // One that takes longer than the window is answered with its task.
    let r = m.call("sleep", json!({"ms": 2000})).await;
    assert_eq!(r["resultType"], "task", "{r}");
}

#[tokio::test]
async fn optional_tool_without_the_extension_runs_synchronously() {
    let srv = tasks_demo().await;
    let r = srv.modern_plain().call("sleep", json!({"ms": 5})).await;
    assert_eq!(r["resultType"], "complete");
    assert_eq!(text(&r), "slept 5");
    assert!(r.get("taskId").is_none());
    assert_server_info(&r);
}

#[tokio::test]
async fn forbidden_tool_with_the_extension_runs_synchronously() {
    let srv = tasks_demo().await;
    let r = srv.modern_tasks().call("no_task", json!({"x": 5})).await;
    assert_eq!(r["resultType"], "complete");
    assert_eq!(text(&r), "10");
}

#[tokio::test]
async fn must_task_without_the_extension_is_missing_capability_with_http_400() {
    let srv = tasks_demo().await;
    let r = srv.modern_plain().send("tools/call", json!({"name": "must_task", "arguments": {"x": 1}})).await;
    assert_eq!(r.status, 400, "{r:?}");
    let e = r.error();
    assert_eq!(e["code"], -32021);
    assert_eq!(e["data"]["requiredCapabilities"]["extensions"][TASKS_EXT], json!({}));
}

#[tokio::test]
async fn must_task_with_the_extension_completes_with_the_result_inlined() {
    let srv = tasks_demo().await;
    let m = srv.modern_tasks();
    let id = create(&m, "must_task", json!({"x": 21})).await;
    let done = m.wait_status(&id, "completed").await;
    assert_eq!(text(&done["result"]), "42");
}

#[tokio::test]
async fn tasks_get_of_a_completed_task_inlines_the_result() {
    let srv = tasks_demo().await;
    let m = srv.modern_tasks();
    let id = create(&m, "add", json!({"a": 2, "b": 3})).await;
    let done = m.wait_status(&id, "completed").await;
    assert_form_b_task(&done);
    assert_eq!(done["resultType"], "complete", "tasks/get is never resultType task: {done}");
    assert_eq!(text(&done["result"]), "5");
    assert_ne!(done["result"]["isError"], true);
    assert!(done.get("error").is_none());
    assert!(done["result"].get("_meta").is_none_or(|m| m.get(RELATED_TASK).is_none()), "{done}");
    assert_server_info(&done);
}

#[tokio::test]
async fn tasks_get_while_working_has_no_outcome() {
    let srv = tasks_demo().await;
    let m = srv.modern_tasks();
    let id = create(&m, "sleep", json!({"ms": 600_000})).await;
    let t = m.get_task(&id).await;
    assert_eq!(t["status"], "working");
    assert_form_b_task(&t);
    for k in ["result", "error", "inputRequests"] {
        assert!(t.get(k).is_none(), "{k}: {t}");
    }
    m.ok("tasks/cancel", json!({"taskId": id})).await;
}

#[tokio::test]
async fn tool_error_task_is_completed_with_an_is_error_result() {
    let srv = tasks_demo().await;
    let m = srv.modern_tasks();
    let id = create(&m, "fail", json!({"message": "nope"})).await;
    let done = m.wait_task(&id, "terminal", |t| t["status"] != "working").await;
    assert_eq!(done["status"], "completed", "a tool isError is `completed` in Form B: {done}");
    assert_eq!(done["result"]["isError"], true);
    assert_eq!(text(&done["result"]), "nope");
    assert!(done.get("error").is_none(), "{done}");
}

#[tokio::test]
async fn json_rpc_error_task_is_failed_with_the_error_inlined() {
    let srv = TestServer::start(rpc_error_server().configure(|c| c.quick_answer = Duration::ZERO)).await;
    let m = srv.modern_tasks();
    let id = create(&m, "rpc_error", json!({})).await;
    let failed = m.wait_task(&id, "terminal", |t| t["status"] != "working").await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"]["code"], -32603);
    assert_eq!(failed["error"]["message"], "database on fire");
    assert!(failed.get("result").is_none(), "{failed}");
    assert!(failed["statusMessage"].is_string());
    assert_eq!(failed["resultType"], "complete");
}

#[tokio::test]
async fn tasks_cancel_acknowledges_then_the_task_is_cancelled() {
    let srv = tasks_demo().await;
    let m = srv.modern_tasks();
    let id = create(&m, "sleep", json!({"ms": 600_000})).await;
    let ack = m.ok("tasks/cancel", json!({"taskId": id})).await;
    assert_eq!(ack["resultType"], "complete");
    let keys: Vec<&String> = ack.as_object().unwrap().keys().filter(|k| *k != "_meta").collect();
    assert_eq!(keys, vec!["resultType"], "an empty ack: {ack}");
    let t = m.wait_status(&id, "cancelled").await;
    for k in ["result", "error", "inputRequests"] {
        assert!(t.get(k).is_none(), "{k}: {t}");
    }
}

#[tokio::test]
async fn tasks_cancel_of_a_terminal_task_is_acknowledged() {
    let srv = tasks_demo().await;
    let m = srv.modern_tasks();
    let id = create(&m, "add", json!({"a": 1, "b": 1})).await;
    m.wait_status(&id, "completed").await;
    let ack = m.ok("tasks/cancel", json!({"taskId": id})).await;
    assert_eq!(ack["resultType"], "complete");
    assert_eq!(m.get_task(&id).await["status"], "completed", "a terminal task does not change");
}

#[tokio::test]
async fn unknown_task_id_is_invalid_params() {
    let srv = tasks_demo().await;
    let m = srv.modern_tasks();
    for method in ["tasks/get", "tasks/cancel", "tasks/update"] {
        let r = m.send(method, json!({"taskId": "00000000000000000000000000", "inputResponses": {}})).await;
        assert_eq!(r.error()["code"], -32602, "{method}: {r:?}");
    }
}

#[tokio::test]
async fn tasks_result_and_tasks_list_are_method_not_found_with_http_404() {
    let srv = tasks_demo().await;
    let m = srv.modern_tasks();
    let id = create(&m, "add", json!({"a": 1, "b": 1})).await;
    for (method, params) in [("tasks/result", json!({"taskId": id})), ("tasks/list", json!({}))] {
        let r = m.send(method, params).await;
        assert_eq!(r.status, 404, "{method}: {r:?}");
        assert_eq!(r.error()["code"], -32601, "{method}");
    }
}

#[tokio::test]
async fn tasks_methods_without_the_extension_are_missing_capability() {
    let srv = tasks_demo().await;
    let id = create(&srv.modern_tasks(), "sleep", json!({"ms": 600_000})).await;
    let plain = srv.modern_plain();
    for method in ["tasks/get", "tasks/cancel", "tasks/update"] {
        let r = plain.send(method, json!({"taskId": id, "inputResponses": {}})).await;
        assert_eq!(r.status, 400, "{method}: {r:?}");
        assert_eq!(r.error()["code"], -32021, "{method}");
        assert_eq!(r.error()["data"]["requiredCapabilities"]["extensions"][TASKS_EXT], json!({}));
    }
    srv.modern_tasks().ok("tasks/cancel", json!({"taskId": id})).await;
}

#[tokio::test]
async fn unknown_method_on_the_modern_wire_is_http_404() {
    let srv = tasks_demo().await;
    let r = srv.modern_plain().send("no/such/method", json!({})).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error()["code"], -32601);
}

#[tokio::test]
async fn tasks_get_with_a_mismatched_mcp_name_is_header_mismatch() {
    let srv = tasks_demo().await;
    let m = srv.modern_tasks();
    let id = create(&m, "add", json!({"a": 1, "b": 1})).await;
    let r = m.send_with("tasks/get", json!({"taskId": id}), &[("mcp-name", Some("some-other-task"))]).await;
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.error()["code"], -32020);
}

#[tokio::test]
async fn tasks_get_without_mcp_name_is_header_mismatch() {
    let srv = tasks_demo().await;
    let m = srv.modern_tasks();
    let id = create(&m, "add", json!({"a": 1, "b": 1})).await;
    for method in ["tasks/get", "tasks/cancel", "tasks/update"] {
        let r = m.send_with(method, json!({"taskId": id, "inputResponses": {}}), &[("mcp-name", None)]).await;
        assert_eq!(r.status, 400, "{method}: {r:?}");
        assert_eq!(r.error()["code"], -32020, "{method}");
    }
}

#[tokio::test]
async fn mismatched_mcp_method_or_tool_name_is_header_mismatch() {
    let srv = tasks_demo().await;
    let m = srv.modern_plain();
    let r = m.send_with("tools/list", json!({}), &[("mcp-method", Some("tools/call"))]).await;
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.error()["code"], -32020);
    let r = m
        .send_with("tools/call", json!({"name": "add", "arguments": {"a": 1, "b": 1}}), &[("mcp-name", Some("sleep"))])
        .await;
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.error()["code"], -32020);
}

#[tokio::test]
async fn protocol_version_header_mismatch_is_header_mismatch() {
    let srv = tasks_demo().await;
    let m = srv.modern_plain();
    let r = m.send_with("tools/list", json!({}), &[("mcp-protocol-version", Some("2025-11-25"))]).await;
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.error()["code"], -32020);
    let r = m.send_with("tools/list", json!({}), &[("mcp-protocol-version", None)]).await;
    assert_eq!(r.status, 400, "missing header: {r:?}");
    assert_eq!(r.error()["code"], -32020);
}

#[tokio::test]
async fn unsupported_meta_protocol_version_is_unsupported_version_with_the_supported_list() {
    let srv = tasks_demo().await;
    let m = srv.modern_plain();
    let params = json!({"_meta": {"io.modelcontextprotocol/protocolVersion": "2099-01-01"}});
    // The header agrees with `_meta` (a disagreeing one is a header mismatch, tested below).
    for header in [Some("2099-01-01")] {
        let r = m.send_with("tools/list", params.clone(), &[("mcp-protocol-version", header)]).await;
        assert_eq!(r.status, 400, "{header:?}: {r:?}");
        let e = r.error();
        assert_eq!(e["code"], -32022, "{header:?}: {e}");
        let supported = e["data"]["supported"].as_array().expect("data.supported");
        assert!(supported.contains(&json!("2026-07-28")), "{e}");
        assert!(supported.contains(&json!("2025-11-25")), "the same list as server/discover: {e}");
        assert_eq!(e["data"]["requested"], "2099-01-01", "{header:?}: {e}");
    }
}

#[tokio::test]
async fn modern_request_without_client_capabilities_is_invalid_params() {
    let srv = tasks_demo().await;
    let body = rpc(1, "tools/list", json!({"_meta": {"io.modelcontextprotocol/protocolVersion": MODERN}}));
    let mut headers = JSON_HEADERS.to_vec();
    headers.extend([("mcp-protocol-version", MODERN), ("mcp-method", "tools/list")]);
    let r = post_raw(&http_client(), &srv.url, &headers, body.to_string()).await;
    assert_eq!(r.error()["code"], -32602, "{r:?}");
}

#[tokio::test]
async fn legacy_params_task_is_ignored_on_the_modern_wire() {
    let srv = tasks_demo().await;
    // A sync-only tool is never promoted by params.task.
    let r = srv
        .modern_tasks()
        .ok("tools/call", json!({"name": "no_task", "arguments": {"x": 2}, "task": {"ttl": 1000}}))
        .await;
    assert_eq!(r["resultType"], "complete", "{r}");
    assert_eq!(text(&r), "4");
    // Without the extension params.task creates no task either.
    let r =
        srv.modern_plain().ok("tools/call", json!({"name": "add", "arguments": {"a": 1, "b": 2}, "task": {}})).await;
    assert_eq!(r["resultType"], "complete", "{r}");
    assert_eq!(text(&r), "3");
    // With the extension the server decides; params.task.ttl is not honoured.
    let r = srv
        .modern_tasks()
        .ok("tools/call", json!({"name": "add", "arguments": {"a": 1, "b": 2}, "task": {"ttl": 1234}}))
        .await;
    assert_eq!(r["resultType"], "task", "{r}");
    assert_eq!(r["ttlMs"], json!(3_600_000), "{r}");
}

#[tokio::test]
async fn prompts_and_resources_never_become_tasks_on_the_modern_wire() {
    let srv = tasks_demo().await;
    let m = srv.modern_tasks();
    let p = m.ok("prompts/get", json!({"name": "greet", "arguments": {"name": "Cy"}, "task": {}})).await;
    assert_eq!(p["resultType"], "complete");
    assert_eq!(p["messages"][0]["content"]["text"], "Please greet Cy warmly.");
    let r = m.ok("resources/read", json!({"uri": "ferry://demo/readme", "task": {}})).await;
    assert_eq!(r["resultType"], "complete");
    assert!(r["contents"][0]["text"].is_string());
}

#[tokio::test]
async fn every_modern_result_has_result_type_and_server_info() {
    let srv = tasks_demo().await;
    let m = srv.modern_tasks();
    let id = create(&m, "add", json!({"a": 1, "b": 1})).await;
    m.wait_status(&id, "completed").await;
    let calls = [
        ("server/discover", json!({})),
        ("tools/list", json!({})),
        ("prompts/list", json!({})),
        ("resources/list", json!({})),
        ("resources/templates/list", json!({})),
        ("tools/call", json!({"name": "no_task", "arguments": {"x": 1}})),
        ("tools/call", json!({"name": "fail", "arguments": {"message": "x"}})),
        ("prompts/get", json!({"name": "greet", "arguments": {"name": "A"}})),
        ("resources/read", json!({"uri": "ferry://demo/readme"})),
        (
            "completion/complete",
            json!({"ref": {"type": "ref/prompt", "name": "greet"}, "argument": {"name": "name", "value": ""}}),
        ),
        ("tasks/get", json!({"taskId": id})),
        ("tasks/cancel", json!({"taskId": id})),
        ("tasks/update", json!({"taskId": id, "inputResponses": {}})),
    ];
    for (method, params) in calls {
        // `fail` is task-capable: with the extension it becomes a task, without it is answered.
        let task_capable = params["name"] == "fail";
        let r = m.ok(method, params.clone()).await;
        assert_eq!(r["resultType"], if task_capable { "task" } else { "complete" }, "{method}: {r}");
        assert_server_info(&r);
        let r = srv.modern_plain().send(method, params).await;
        let r = if method.starts_with("tasks/") { r.error().clone() } else { r.result().clone() };
        if !method.starts_with("tasks/") {
            assert_eq!(r["resultType"], "complete", "{method} without the extension: {r}");
            assert_server_info(&r);
        }
    }
}

#[tokio::test]
async fn modern_tasks_are_reachable_from_any_connection() {
    let srv = tasks_demo().await;
    let id = create(&srv.modern_tasks(), "add", json!({"a": 5, "b": 5})).await;
    let other = srv.modern_tasks();
    let done = other.wait_status(&id, "completed").await;
    assert_eq!(text(&done["result"]), "10");
}

#[tokio::test]
async fn modern_and_session_tasks_do_not_see_each_other() {
    let srv = tasks_demo().await;
    let m = srv.modern_tasks();
    let s = srv.session().await;
    let modern_id = create(&m, "sleep", json!({"ms": 600_000})).await;
    let session_task = s.call_task("sleep", json!({"ms": 600_000})).await;
    let session_id = session_task["taskId"].as_str().unwrap();
    assert_eq!(s.err("tasks/get", json!({"taskId": modern_id})).await["code"], -32602);
    assert_eq!(m.send("tasks/get", json!({"taskId": session_id})).await.error()["code"], -32602);
    assert_eq!(s.ok("tasks/list", json!({})).await["tasks"].as_array().unwrap().len(), 1);
    m.ok("tasks/cancel", json!({"taskId": modern_id})).await;
    s.ok("tasks/cancel", json!({"taskId": session_id})).await;
}

#[tokio::test]
async fn initialize_with_modern_meta_is_method_not_found() {
    let srv = tasks_demo().await;
    let r = srv.modern_plain().send("initialize", json!({"protocolVersion": "2026-07-28", "capabilities": {}})).await;
    assert_eq!(r.error()["code"], -32601, "{r:?}");
    assert!(r.headers.get("mcp-session-id").is_none());
}

#[tokio::test]
async fn missing_routing_headers_are_header_mismatch() {
    let srv = tasks_demo().await;
    let m = srv.modern_plain();
    let r = m.send_with("tools/list", json!({}), &[("mcp-method", None)]).await;
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.error()["code"], -32020, "{r:?}");
    for (method, params) in [
        ("tools/call", json!({"name": "add", "arguments": {"a": 1, "b": 2}})),
        ("prompts/get", json!({"name": "greet", "arguments": {"name": "A"}})),
        ("resources/read", json!({"uri": "ferry://demo/readme"})),
    ] {
        let r = m.send_with(method, params, &[("mcp-name", None)]).await;
        assert_eq!(r.status, 400, "{method}: {r:?}");
        assert_eq!(r.error()["code"], -32020, "{method}: {r:?}");
    }
}

#[tokio::test]
async fn an_unknown_header_version_that_disagrees_with_meta_is_header_mismatch() {
    let srv = tasks_demo().await;
    let r =
        srv.modern_plain().send_with("tools/list", json!({}), &[("mcp-protocol-version", Some("1999-01-01"))]).await;
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.error()["code"], -32020, "{r:?}");
}

#[tokio::test]
async fn a_2026_07_28_header_on_a_body_without_meta_is_a_bad_request() {
    let srv = tasks_demo().await;
    let headers = [
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/list"),
    ];
    let r = post_raw(&http_client(), &srv.url, &headers, rpc(5, "tools/list", json!({})).to_string()).await;
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.error()["code"], -32602, "{r:?}");
    assert_eq!(r.body()["id"], 5, "{r:?}");
}

#[tokio::test]
async fn a_header_that_disagrees_with_an_unsupported_meta_version_is_header_mismatch() {
    let srv = tasks_demo().await;
    let m = srv.modern_plain();
    let mut params = m.params(json!({}));
    params["_meta"]["io.modelcontextprotocol/protocolVersion"] = json!("2099-01-01");
    let r = m.send_with("tools/list", params, &[]).await;
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.error()["code"], -32020, "header 2026-07-28 vs _meta 2099-01-01: {r:?}");
}
