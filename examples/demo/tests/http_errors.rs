//! Error paths of the Streamable HTTP transport and of dispatch: status codes,
//! JSON-RPC error codes, and a server that keeps working after garbage.

mod common;

/// These suites run on the embedded engine.
const BACKEND: common::Backend = common::Backend::Memory;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test]
async fn malformed_json_is_http_400_parse_error() {
    let srv = TestServer::demo().await;
    let r = post_raw(&http_client(), &srv.url, &JSON_HEADERS, "{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\": ").await;
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.error()["code"], -32700);
    assert_eq!(r.body()["id"], Value::Null);
    assert_eq!(r.body()["jsonrpc"], "2.0");
}

#[tokio::test]
async fn batch_array_is_http_400_invalid_request() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let batch = json!([rpc(1, "ping", json!({})), rpc(2, "ping", json!({}))]);
    let r = s.post(&batch).await;
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.error()["code"], -32600);
}

#[tokio::test]
async fn oversized_body_is_http_413() {
    let srv = TestServer::demo_with(|c| c.max_body_bytes = 512).await;
    let s = srv.session().await;
    let big = "x".repeat(2048);
    let r = s.send("tools/call", json!({"name": "fail", "arguments": {"message": big}})).await;
    assert_eq!(r.status, 413, "{r:?}");
    // A body within the limit still works.
    assert_eq!(s.call("add", json!({"a": 1, "b": 2})).await["result"]["content"][0]["text"], "3");
}

#[tokio::test]
async fn wrong_content_type_is_http_415() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let body = rpc(1, "ping", json!({})).to_string();
    let headers = [
        ("content-type", "text/plain"),
        ("accept", "application/json, text/event-stream"),
        ("mcp-session-id", s.id.as_str()),
    ];
    let r = post_raw(&s.http, &s.url, &headers, body.clone()).await;
    assert_eq!(r.status, 415, "{r:?}");
    let r = post_raw(&s.http, &s.url, &[("accept", "application/json")], body).await;
    assert_eq!(r.status, 415, "no content type at all: {r:?}");
}

#[tokio::test]
async fn content_type_must_be_exactly_application_json() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let body = rpc(1, "ping", json!({})).to_string();
    let with = |ct: &'static str| {
        vec![("content-type", ct), ("accept", "application/json, text/event-stream"), ("mcp-session-id", s.id.as_str())]
    };
    for bad in ["application/jsonx", "application/json-patch+json", "text/json", "application/json; charset=latin1"] {
        let r = post_raw(&s.http, &s.url, &with(bad), body.clone()).await;
        assert_eq!(r.status, 415, "{bad}: {r:?}");
        assert_eq!(r.error()["code"], -32600, "{bad}: {r:?}");
        assert!(r.error()["message"].as_str().unwrap().contains("Unsupported Media Type"), "{r:?}");
    }
    for good in ["application/json; charset=utf-8", "Application/JSON", "application/json;charset=\"UTF-8\""] {
        let r = post_raw(&s.http, &s.url, &with(good), body.clone()).await;
        assert_eq!(r.status, 200, "{good}: {r:?}");
        assert_eq!(r.result(), &json!({}));
    }
}

#[tokio::test]
async fn a_post_that_accepts_neither_json_nor_sse_is_http_406() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let body = rpc(1, "ping", json!({})).to_string();
    let with = |accept: &'static str| {
        vec![("content-type", "application/json"), ("accept", accept), ("mcp-session-id", s.id.as_str())]
    };
    for bad in ["text/html", "application/xml, text/plain", "application/json;q=0", "application/jsonx"] {
        let r = post_raw(&s.http, &s.url, &with(bad), body.clone()).await;
        assert_eq!(r.status, 406, "{bad}: {r:?}");
        assert!(r.error()["message"].as_str().unwrap().contains("Not Acceptable"), "{r:?}");
    }
    // Wildcards and either type alone are fine; `*/*` gets plain JSON.
    for good in ["*/*", "application/*", "application/json", "text/html, application/json;q=0.5"] {
        let r = post_raw(&s.http, &s.url, &with(good), body.clone()).await;
        assert_eq!(r.status, 200, "{good}: {r:?}");
        assert_eq!(r.content_type(), "application/json", "{good}");
        assert_eq!(r.result(), &json!({}));
    }
}

#[tokio::test]
async fn a_client_that_accepts_only_sse_gets_even_a_quick_answer_as_a_stream() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let headers =
        [("content-type", "application/json"), ("accept", "text/event-stream"), ("mcp-session-id", s.id.as_str())];
    let r = post_raw(
        &s.http,
        &s.url,
        &headers,
        rpc(5, "tools/call", json!({"name": "add", "arguments": {"a": 2, "b": 3}})).to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.is_sse(), "{r:?}");
    assert_eq!(r.body()["id"], 5);
    assert_eq!(text(r.result()), "5");
}

#[tokio::test]
async fn a_request_with_a_null_id_is_invalid_not_a_notification() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let r = s.post(&json!({"jsonrpc": "2.0", "id": null, "method": "ping"})).await;
    assert_eq!(r.status, 400, "answered, not accepted as a notification: {r:?}");
    assert_eq!(r.error()["code"], -32600, "{r:?}");
    assert_eq!(r.body()["id"], Value::Null, "{r:?}");
    // Notifications (no id at all) still are.
    assert_eq!(s.notify("notifications/whatever", json!({})).await, 202);
}

#[tokio::test]
async fn a_protocol_version_header_no_session_can_have_is_http_400() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    assert_eq!(s.version, LATEST);
    // Unknown versions are unsupported (-32022); a 2026-07-28 request must say so in `_meta` (-32602).
    for (bad, code) in [("2099-01-01", -32022), ("garbage", -32022), ("2026-07-28", -32602)] {
        let mut headers = JSON_HEADERS.to_vec();
        headers.extend([("mcp-session-id", s.id.as_str()), ("mcp-protocol-version", bad)]);
        let r = post_raw(&s.http, &s.url, &headers, rpc(9, "tools/list", json!({})).to_string()).await;
        assert_eq!(r.status, 400, "{bad}: {r:?}");
        assert_eq!(r.body()["id"], 9, "{r:?}");
        assert_eq!(r.error()["code"], code, "{r:?}");
        assert!(r.error()["message"].as_str().unwrap().contains(bad), "{r:?}");
    }
    // The same for GET and DELETE; the session is unharmed.
    let get = s
        .http
        .get(&s.url)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &s.id)
        .header("mcp-protocol-version", "2099-01-01")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status().as_u16(), 400);
    let delete = s.http.delete(&s.url).header("mcp-session-id", &s.id).header("mcp-protocol-version", "1999-01-01");
    assert_eq!(delete.send().await.unwrap().status().as_u16(), 400);
    assert_eq!(s.ok("ping", json!({})).await, json!({}));
}

#[tokio::test]
async fn another_supported_protocol_version_header_is_accepted_in_a_session() {
    // The official conformance suite (server-sse-multiple-streams) sends 2025-03-26 on a
    // 2025-11-25 session: supported, so answered, in the session's own version.
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let mut headers = JSON_HEADERS.to_vec();
    headers.extend([("mcp-session-id", s.id.as_str()), ("mcp-protocol-version", "2025-03-26")]);
    let r = post_raw(&s.http, &s.url, &headers, rpc(9, "tools/list", json!({})).to_string()).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body()["result"]["tools"].is_array(), "{r:?}");
}

#[tokio::test]
async fn missing_session_id_is_http_400() {
    let srv = TestServer::demo().await;
    let _s = srv.session().await;
    let r = post_raw(&http_client(), &srv.url, &JSON_HEADERS, rpc(1, "tools/list", json!({})).to_string()).await;
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.error()["code"], -32600);
}

#[tokio::test]
async fn unknown_session_id_is_http_404() {
    let srv = TestServer::demo().await;
    let mut headers = JSON_HEADERS.to_vec();
    headers.push(("mcp-session-id", "no-such-session"));
    let r = post_raw(&http_client(), &srv.url, &headers, rpc(1, "tools/list", json!({})).to_string()).await;
    assert_eq!(r.status, 404, "{r:?}");
}

#[tokio::test]
async fn get_stream_without_session_is_400_and_with_unknown_session_404() {
    let srv = TestServer::demo().await;
    let http = http_client();
    let r = http.get(&srv.url).header("accept", "text/event-stream").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let r = http
        .get(&srv.url)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", "no-such-session")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
}

#[tokio::test]
async fn delete_ends_the_session_then_it_is_404() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    assert_eq!(s.ok("ping", json!({})).await, json!({}));
    assert_eq!(s.delete().await, 200);
    let r = s.send("tools/list", json!({})).await;
    assert_eq!(r.status, 404, "{r:?}");
    assert_eq!(s.delete().await, 404, "a second DELETE finds nothing");
}

#[tokio::test]
async fn delete_leaves_other_sessions_alone() {
    let srv = TestServer::demo().await;
    let a = srv.session().await;
    let b = srv.session().await;
    assert_eq!(a.delete().await, 200);
    assert_eq!(b.ok("ping", json!({})).await, json!({}));
}

#[tokio::test]
async fn unknown_tool_is_invalid_params() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let r = s.call("no_such_tool", json!({})).await;
    assert_eq!(r["error"]["code"], -32602, "{r}");
    assert!(r["error"]["message"].as_str().unwrap().contains("no_such_tool"));
}

#[tokio::test]
async fn wrong_argument_types_are_a_tool_error_naming_the_problem() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let r = s.call("add", json!({"a": "two", "b": 3})).await;
    assert!(r.get("error").is_none(), "validation errors are tool results: {r}");
    assert_eq!(r["result"]["isError"], true);
    let msg = text(&r["result"]);
    assert!(msg.contains("Invalid arguments for tool 'add'"), "{msg}");
    assert!(msg.contains("invalid type"), "{msg}");

    let r = s.call("add", json!({"a": 1})).await;
    assert_eq!(r["result"]["isError"], true);
    assert!(text(&r["result"]).contains("missing field `b`"), "{r}");
}

#[tokio::test]
async fn wrong_argument_types_on_a_task_request_are_a_tool_error_without_a_task() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let r = s.ok("tools/call", json!({"name": "sleep", "arguments": {"ms": "soon"}, "task": {}})).await;
    assert!(r.get("task").is_none(), "{r}");
    assert_eq!(r["isError"], true);
    assert!(text(&r).contains("Invalid arguments for tool 'sleep'"));
}

#[tokio::test]
async fn arguments_that_are_not_an_object_are_invalid_params() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let e = s.err("tools/call", json!({"name": "add", "arguments": [1, 2]})).await;
    assert_eq!(e["code"], -32602, "{e}");
    let e = s.err("tools/call", json!({"arguments": {}})).await;
    assert_eq!(e["code"], -32602, "missing name: {e}");
}

#[tokio::test]
async fn unknown_method_is_method_not_found() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let r = s.send("no/such/method", json!({})).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.error()["code"], -32601);
}

#[tokio::test]
async fn notifications_and_stray_responses_are_accepted_with_202() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    assert_eq!(s.notify("notifications/whatever", json!({})).await, 202);
    let stray = json!({"jsonrpc": "2.0", "id": "ferry-999", "result": {}});
    assert_eq!(s.post(&stray).await.status, 202);
    assert_eq!(s.ok("ping", json!({})).await, json!({}));
}

#[tokio::test]
async fn garbage_gets_errors_and_never_breaks_the_server() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let bodies: Vec<String> = vec![
        "".into(),
        "null".into(),
        "42".into(),
        "\"text\"".into(),
        "{}".into(),
        "[]".into(),
        json!({"jsonrpc": "1.0", "id": 1, "method": "ping"}).to_string(),
        json!({"jsonrpc": "2.0", "id": 1}).to_string(),
        json!({"jsonrpc": "2.0", "id": 1, "method": 5}).to_string(),
        json!({"jsonrpc": "2.0", "id": {"x": 1}, "method": "ping"}).to_string(),
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": "str"}).to_string(),
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": [1, 2]}).to_string(),
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": null}).to_string(),
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": 7}}).to_string(),
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "add", "task": 5}}).to_string(),
        json!({"jsonrpc": "2.0", "id": 1, "method": "tasks/get", "params": {"taskId": 5}}).to_string(),
        json!({"jsonrpc": "2.0", "id": 1, "method": "tasks/list", "params": {"cursor": {"a": 1}}}).to_string(),
        json!({"jsonrpc": "2.0", "id": 1, "method": "resources/read", "params": {"uri": null}}).to_string(),
        json!({"jsonrpc": "2.0", "id": 1, "method": "logging/setLevel", "params": {"level": "loud"}}).to_string(),
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
               "params": {"name": "add", "arguments": {}, "_meta": {"io.modelcontextprotocol/protocolVersion": 5}}})
        .to_string(),
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
               "params": {"name": "add", "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}})
        .to_string(),
        "\u{feff}{".into(),
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}{".into(),
    ];
    let mut headers = JSON_HEADERS.to_vec();
    headers.push(("mcp-session-id", s.id.as_str()));
    for body in &bodies {
        let r = post_raw(&s.http, &s.url, &headers, body.clone()).await;
        assert!(r.status == 400 || r.status == 200 || r.status == 202, "{body}: {r:?}");
        if r.status != 202 {
            assert!(r.body().get("error").is_some(), "{body}: an error, got {r:?}");
        }
    }
    assert_eq!(s.ok("ping", json!({})).await, json!({}), "the session still works");
    assert_eq!(s.call("add", json!({"a": 1, "b": 1})).await["result"]["content"][0]["text"], "2");
}

#[tokio::test]
async fn other_http_methods_are_405() {
    let srv = TestServer::demo().await;
    let r = http_client().put(&srv.url).body("{}").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 405);
    let r = http_client().get(&srv.url).header("accept", "application/json").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 405, "GET without Accept: text/event-stream");
}

#[tokio::test]
async fn foreign_origin_is_forbidden() {
    let srv = TestServer::demo().await;
    let mut headers = JSON_HEADERS.to_vec();
    headers.push(("origin", "http://evil.example"));
    let r = post_raw(&http_client(), &srv.url, &headers, rpc(1, "ping", json!({})).to_string()).await;
    assert_eq!(r.status, 403, "{r:?}");
}

#[tokio::test]
async fn notifications_cancelled_cancels_an_in_flight_plain_sleep() {
    let srv = TestServer::demo().await;
    let s = std::sync::Arc::new(srv.session().await);
    let id = s.next_id();
    let caller = {
        let s = s.clone();
        tokio::spawn(async move {
            s.post(&rpc(id, "tools/call", json!({"name": "sleep", "arguments": {"ms": 600_000}}))).await
        })
    };
    // The request may not have arrived yet: repeat the cancellation until the call ends.
    let reply = tokio::time::timeout(DEADLINE, async {
        loop {
            assert_eq!(s.notify("notifications/cancelled", json!({"requestId": id, "reason": "test"})).await, 202);
            if caller.is_finished() {
                return caller.await.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the cancelled call ends");
    assert_eq!(reply.status, 200, "{reply:?}");
    let body = reply.body();
    assert!(body.get("result").is_none(), "a cancelled call has no result: {body}");
    assert_eq!(body["error"]["code"], -32800, "{body}");
    assert_eq!(body["id"], json!(id), "the error names the cancelled request: {body}");
    // The session is fine afterwards.
    assert_eq!(s.ok("ping", json!({})).await, json!({}));
}

#[tokio::test]
async fn notifications_cancelled_from_another_session_does_not_cancel() {
    let srv = TestServer::demo().await;
    let a = srv.session().await;
    let b = srv.session().await;
    let id = a.next_id();
    let body = rpc(id, "tools/call", json!({"name": "sleep", "arguments": {"ms": 300}}));
    let call = a.post(&body);
    let other = async {
        for _ in 0..5 {
            b.notify("notifications/cancelled", json!({"requestId": id})).await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let (reply, ()) = tokio::join!(call, other);
    assert_eq!(text(reply.result()), "slept 300");
}

#[tokio::test]
async fn failed_initialize_hands_out_no_session_id() {
    let srv = TestServer::demo().await;
    let r = post_raw(
        &http_client(),
        &srv.url,
        &JSON_HEADERS,
        rpc(1, "initialize", json!({"capabilities": {}})).to_string(),
    )
    .await;
    assert_eq!(r.error()["code"], -32602, "{r:?}");
    assert!(r.headers.get("mcp-session-id").is_none(), "no id for a session that was never opened: {r:?}");
}

#[tokio::test]
async fn unsupported_protocol_version_header_on_a_session_is_http_400() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let mut headers = JSON_HEADERS.to_vec();
    headers.extend([("mcp-session-id", s.id.as_str()), ("mcp-protocol-version", "1999-01-01")]);
    let r = post_raw(&s.http, &s.url, &headers, rpc(1, "tools/list", json!({})).to_string()).await;
    assert_eq!(r.status, 400, "{r:?}");
}

#[tokio::test]
async fn initialize_on_an_initialized_session_is_http_400() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let init = rpc(
        77,
        "initialize",
        json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "again", "version": "1"}}),
    );
    let r = s.post(&init).await;
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.body()["id"], 77, "{r:?}");
    assert_eq!(r.error()["code"], -32600, "{r:?}");
    // The session is unharmed.
    assert_eq!(s.ok("ping", json!({})).await, json!({}));
}
