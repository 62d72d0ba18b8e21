//! The client against FastMCP servers with background tasks (`interop/python/fastmcp_server.py`):
//! FastMCP 3.4.11 (tasks of 2025-11-25 on Docket) and FastMCP 4.1.6 with `fastmcp-tasks`
//! 4.1.4 (the 2026-07-28 tasks extension), each pinned in its own virtualenv
//! (`interop/python/requirements-fastmcp{3,4}.txt`). Calls, task calls, progress, cancel.
//!
//! Needs Python >= 3.10 with venv; `interop/python/run.sh --env …` installs the pins on first use.

mod support;

use ferry_client::{Client, ClientError, ClientOptions, Mode, TaskStatus};
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use support::{follow, python, text};

struct Peer {
    child: Child,
    url: String,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The FastMCP server of virtualenv `env` (`fastmcp3`, `fastmcp4`) on a free port.
fn start(env: &str) -> Peer {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop/python/run.sh");
    let mut child = Command::new("bash")
        .arg(script)
        .args(["--env", env, "fastmcp_server.py", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("interop/python/run.sh");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut log = Vec::new();
    let url = loop {
        let line = lines.next().unwrap_or_else(|| panic!("the {env} server exited:\n{}", log.join("\n"))).unwrap();
        if let Some(url) = line.strip_prefix("listening on ") {
            break url.trim().to_string();
        }
        log.push(line);
    };
    std::thread::spawn(move || lines.for_each(drop));
    Peer { child, url }
}

/// What both servers do alike: plain calls, task calls with progress, cancel, tool errors.
async fn common(c: &Client, label: &str) {
    assert_eq!(c.list_tools().await.unwrap().len(), 6, "{label}");
    assert_eq!(text(&c.call_tool("add", json!({"a": 2, "b": 3})).await.unwrap()), "5", "{label}");
    // Task-optional, called plainly (FastMCP 4 may still make it a task; the client follows it).
    assert_eq!(text(&c.call_tool("slow_add", json!({"a": 2, "b": 3})).await.unwrap()), "5", "{label}");
    assert_eq!(text(&c.call_tool("report", json!({"count": 2})).await.unwrap()), "reported 2", "{label}");

    let task = c.call_tool_task("slow_add", json!({"a": 20, "b": 22, "ms": 50})).await.unwrap();
    assert!(task.id().is_some(), "{label}");
    assert_eq!(follow(&task).await.0, TaskStatus::Completed, "{label}");
    assert_eq!(text(&task.result().await.unwrap()), "42", "{label}");

    // Progress of a task reaches the requestor as its status message.
    let task = c.call_tool_task("steps", json!({"count": 5})).await.unwrap();
    let (end, steps) = follow(&task).await;
    assert_eq!(end, TaskStatus::Completed, "{label}");
    assert!(steps >= 1, "{label}: no state carried a step");
    assert_eq!(text(&task.result().await.unwrap()), "counted 5", "{label}");

    let task = c.call_tool_task("sleep", json!({"ms": 60_000})).await.unwrap();
    assert_eq!(task.cancel().await.unwrap().status, TaskStatus::Cancelled, "{label}");
    assert!(matches!(task.result().await, Err(ClientError::TaskCancelled(_))), "{label}");

    // A tool error ends the task `failed` on 2025-11-25 and `completed` on 2026-07-28; the
    // result is the tool's, with isError, either way.
    let task = c.call_tool_task("fail", json!({"message": "boom"})).await.unwrap();
    let ended = if c.is_modern() { TaskStatus::Completed } else { TaskStatus::Failed };
    assert_eq!(follow(&task).await.0, ended, "{label}");
    let r = task.result().await.unwrap();
    assert!(r.is_error && text(&r) == "boom", "{label}: {r:?}");

    let prompt = c.get_prompt("greet", json!({"name": "Ada"})).await.unwrap();
    assert!(prompt.messages[0].content.as_text().unwrap_or_default().contains("Ada"), "{label}");
}

#[tokio::test]
async fn ferry_client_drives_fastmcp3_tasks_on_2025_11_25() {
    if !python() {
        return;
    }
    let peer = start("fastmcp3");
    for mode in [Mode::Auto, Mode::Handshake] {
        // Auto: server/discover is refused (HTTP 400 without a session), so the client falls back.
        let c = Client::connect_http(&peer.url, ClientOptions::default().mode(mode)).await.unwrap();
        let label = format!("fastmcp3/{mode:?}");
        assert_eq!(c.protocol_version(), "2025-11-25", "{label}");
        assert_eq!(c.server_info()["name"], "fastmcp-3-peer", "{label}");
        common(&c, &label).await;
        assert!(matches!(c.call_tool_task("add", json!({"a": 1, "b": 1})).await, Err(ClientError::TaskForbidden(_))));

        // Deviations (INTEROP.md): tasks/result on a working task is -32602 instead of
        // waiting, and tasks/list is always empty.
        let task = c.call_tool_task("sleep", json!({"ms": 60_000})).await.unwrap();
        let id = task.id().unwrap().to_string();
        match c.request("tasks/result", json!({"taskId": id})).await {
            Err(ClientError::Rpc(e)) => assert_eq!(e.code, -32602, "{label}: {e:?}"),
            other => panic!("{label}: tasks/result on a working task: {other:?}"),
        }
        assert!(task.get().await.is_ok(), "{label}: the task is there");
        let (listed, _) = c.list_tasks(None).await.unwrap();
        assert!(listed.is_empty(), "{label}: FastMCP 3 lists tasks now: {listed:?}");
        task.cancel().await.unwrap();
        c.close().await;
    }
}

#[tokio::test]
async fn ferry_client_drives_fastmcp4_tasks_on_2026_07_28() {
    if !python() {
        return;
    }
    let peer = start("fastmcp4");
    let c = Client::connect_http(&peer.url, ClientOptions::default()).await.unwrap();
    assert!(c.is_modern(), "Auto finds 2026-07-28 on FastMCP 4");
    assert_eq!(c.server_info()["name"], "fastmcp-4-peer");
    common(&c, "fastmcp4/2026-07-28").await;
    // A tool that never runs as a task answers at once; the handle holds the result.
    let task = c.call_tool_task("add", json!({"a": 1, "b": 1})).await.unwrap();
    assert!(task.id().is_none());
    assert_eq!(text(&task.result().await.unwrap()), "2");
    c.close().await;

    // The handshake era: plain calls work; FastMCP 4 offers no tasks there.
    let c = Client::connect_http(&peer.url, ClientOptions::default().mode(Mode::Handshake)).await.unwrap();
    assert_eq!(c.protocol_version(), "2025-11-25");
    assert_eq!(text(&c.call_tool("slow_add", json!({"a": 2, "b": 3})).await.unwrap()), "5");
    assert!(matches!(c.call_tool_task("slow_add", json!({"a": 1, "b": 1})).await, Err(ClientError::NoTaskSupport(_))));
    c.close().await;
}

/// What FastMCP 3 (the Python SDK 1.x under it) does with a session-less `server/discover`,
/// without Python: HTTP 400 carrying a fresh `Mcp-Session-Id`. The client falls back to
/// `initialize` and takes its session from that answer alone.
#[tokio::test]
async fn a_session_id_on_a_refused_discover_is_not_the_session() {
    use axum::response::IntoResponse;
    let router = demo::server().router().layer(axum::middleware::from_fn(
        |req: axum::extract::Request, next: axum::middleware::Next| async move {
            if req.headers().get("mcp-method").is_some_and(|m| m == "server/discover") {
                let body = r#"{"jsonrpc":"2.0","id":"server-error","error":{"code":-32600,"message":"Bad Request: Missing session ID"}}"#;
                let headers = [("content-type", "application/json"), ("mcp-session-id", "not-a-session")];
                return (axum::http::StatusCode::BAD_REQUEST, headers, body).into_response();
            }
            next.run(req).await
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let c = Client::connect_http(&url, ClientOptions::default()).await.unwrap();
    assert_eq!(c.protocol_version(), "2025-11-25");
    assert_ne!(c.session_id().as_deref(), Some("not-a-session"));
    assert_eq!(text(&c.call_tool("add", json!({"a": 2, "b": 3})).await.unwrap()), "5");
}

/// How FastMCP 4's tasks extension answers the `tasks/*` requests (raw HTTP). The spec
/// (SEP-2663 with SEP-2243) wants a `tasks/get` without `Mcp-Name` refused with 400/-32020;
/// fastmcp-tasks 4.1.4 answers it (INTEROP.md). Ferry and rmcp answer an unknown task with
/// HTTP 200; FastMCP with 400.
#[tokio::test]
async fn fastmcp4_answers_the_tasks_requests_as_recorded() {
    if !python() {
        return;
    }
    let peer = start("fastmcp4");
    let seen = support::probe_form_b(&peer.url, "sleep", json!({"ms": 60_000})).await;
    let recorded = [
        "get: 200 \"complete\"",
        "get without Mcp-Name: 200 \"complete\"",
        "get with another Mcp-Name: 400 -32020",
        "get without the extension: 400 -32021",
        "get of an unknown task: 400 -32602",
        "tasks/result: 404 -32601",
        "tasks/list: 404 -32601",
        "cancel: 200 \"complete\"",
        "cancel again: 200 \"complete\"",
    ];
    assert_eq!(seen, recorded);
}
