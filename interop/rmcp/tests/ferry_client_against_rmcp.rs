//! `ferry-client` against a server on rmcp 3.11 with tasks (`interop_rmcp::serve`, rmcp's
//! `TaskManager`) over Streamable HTTP: calls, task calls with progress (status messages),
//! cancel, tool errors; on 2026-07-28 (where rmcp has tasks) and on a 2025-11-25 session
//! (where it has none).

#[path = "../../../crates/ferry-client/tests/support/mod.rs"]
mod support;

use ferry_client::{Client, ClientError, ClientOptions, Mode, TaskStatus};
use serde_json::json;
use support::{follow, text};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn ferry_client_drives_rmcp_tasks_on_2026_07_28() {
    let stop = CancellationToken::new();
    let url = interop_rmcp::serve(stop.clone()).await.unwrap();
    let c = Client::connect_http(&url, ClientOptions::default()).await.unwrap();
    assert!(c.is_modern(), "Auto finds 2026-07-28 on rmcp");
    assert_eq!(c.server_info()["name"], interop_rmcp::NAME);
    assert_eq!(c.list_tools().await.unwrap().len(), 5);

    assert_eq!(text(&c.call_tool("add", json!({"a": 2, "b": 3})).await.unwrap()), "5");
    // rmcp makes a task of every other call when the client declares the extension;
    // call_tool follows it to its end.
    assert_eq!(text(&c.call_tool("slow_add", json!({"a": 2, "b": 3})).await.unwrap()), "5");

    let task = c.call_tool_task("slow_add", json!({"a": 20, "b": 22, "ms": 50})).await.unwrap();
    assert!(task.id().is_some());
    assert_eq!(text(&task.result().await.unwrap()), "42");

    let task = c.call_tool_task("steps", json!({"count": 4})).await.unwrap();
    let (end, steps) = follow(&task).await;
    assert_eq!(end, TaskStatus::Completed);
    assert!(steps >= 1, "no state carried a step");
    assert_eq!(text(&task.result().await.unwrap()), "counted 4");

    let task = c.call_tool_task("sleep", json!({"ms": 60_000})).await.unwrap();
    task.cancel().await.unwrap();
    assert_eq!(follow(&task).await.0, TaskStatus::Cancelled);
    assert!(matches!(task.result().await, Err(ClientError::TaskCancelled(_))));

    let task = c.call_tool_task("fail", json!({"message": "boom"})).await.unwrap();
    let r = task.result().await.unwrap();
    assert!(r.is_error && text(&r) == "boom", "{r:?}");

    // A tool the server runs at once: the handle holds the result.
    let task = c.call_tool_task("add", json!({"a": 1, "b": 1})).await.unwrap();
    assert!(task.id().is_none());
    assert_eq!(text(&task.result().await.unwrap()), "2");
    // Bad arguments are refused before any task exists.
    assert!(matches!(c.call_tool_task("sleep", json!({})).await, Err(ClientError::Rpc(_))));
    c.close().await;
    stop.cancel();
}

#[tokio::test]
async fn ferry_client_calls_rmcp_on_a_2025_11_25_session() {
    let stop = CancellationToken::new();
    let url = interop_rmcp::serve(stop.clone()).await.unwrap();
    let c = Client::connect_http(&url, ClientOptions::default().mode(Mode::Handshake)).await.unwrap();
    assert_eq!(c.protocol_version(), "2025-11-25");
    assert!(c.session_id().is_some(), "rmcp keeps a session for initialize");
    assert_eq!(c.list_tools().await.unwrap().len(), 5);
    assert_eq!(text(&c.call_tool("add", json!({"a": 2, "b": 3})).await.unwrap()), "5");
    assert_eq!(text(&c.call_tool("slow_add", json!({"a": 2, "b": 3, "ms": 10})).await.unwrap()), "5");
    let r = c.call_tool("fail", json!({"message": "boom"})).await.unwrap();
    assert!(r.is_error && text(&r) == "boom", "{r:?}");
    // rmcp has no 2025-11-25 tasks: no `tasks` capability, so the client refuses locally.
    assert!(matches!(c.call_tool_task("slow_add", json!({"a": 1, "b": 1})).await, Err(ClientError::NoTaskSupport(_))));
    c.close().await;
    stop.cancel();
}

/// rmcp's server answers the `tasks/*` requests (raw HTTP) as the spec says, and as Ferry does.
#[tokio::test]
async fn rmcp_answers_the_tasks_requests_like_ferry() {
    let stop = CancellationToken::new();
    let url = interop_rmcp::serve(stop.clone()).await.unwrap();
    let rmcp = support::probe_form_b(&url, "sleep", json!({"ms": 60_000})).await;
    let server = demo::server();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ferry = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { server.serve_listener(listener).await });
    let ferry = support::probe_form_b(&ferry, "sleep", json!({"ms": 60_000})).await;
    let expected = [
        "get: 200 \"complete\"",
        "get without Mcp-Name: 400 -32020",
        "get with another Mcp-Name: 400 -32020",
        "get without the extension: 400 -32021",
        "get of an unknown task: 200 -32602",
        "tasks/result: 404 -32601",
        "tasks/list: 404 -32601",
        "cancel: 200 \"complete\"",
        "cancel again: 200 \"complete\"",
    ];
    assert_eq!(rmcp, expected);
    assert_eq!(ferry, expected);
    stop.cancel();
}
