//! The client against a second foreign server: one on the official Python SDK
//! (`mcp` 2.3.0, `interop/python/peer_server.py`), which speaks both 2025-11-25
//! and 2026-07-28 but has no tasks. The only independent implementation of the
//! stateless protocol the client can meet, over HTTP and stdio.
//!
//! Needs Python >= 3.10 with venv; `interop/python/run.sh` installs the pinned SDK on first use.

mod support;

use ferry_client::{CallToolResult, Client, ClientError, ClientOptions, Mode};
use serde_json::json;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::python;

fn run_sh() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop/python/run.sh")
}

struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The Python server on HTTP; its URL once it accepts connections.
fn serve_http() -> (Peer, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new("bash")
        .arg(run_sh())
        .args(["peer_server.py", "http", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("interop/python/run.sh");
    let peer = Peer(child);
    // The first run installs the SDK: allow for it.
    let deadline = Instant::now() + Duration::from_secs(180);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the Python server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    (peer, format!("http://127.0.0.1:{port}/mcp"))
}

fn text(r: &CallToolResult) -> &str {
    r.content[0].as_text().unwrap_or_default()
}

fn options(mode: Mode) -> ClientOptions {
    ClientOptions::default().mode(mode).on_elicit(|request| async move {
        assert!(request["message"].as_str().is_some_and(|m| m.contains("name")), "{request}");
        Ok(json!({"action": "accept", "content": {"name": "Ada"}}))
    })
}

/// What the client must do with the Python server, in either era.
async fn scenario(c: &Client, label: &str) {
    assert_eq!(c.server_info()["name"], "python-peer", "{label}");
    let tools = c.list_tools().await.unwrap();
    assert_eq!(tools.len(), 3, "{label}: {tools:?}");
    assert_eq!(text(&c.call_tool("add", json!({"a": 2, "b": 3})).await.unwrap()), "5", "{label}");
    assert_eq!(text(&c.call_tool("count", json!({"steps": 3})).await.unwrap()), "counted to 3", "{label}");
    // Elicitation: a request to the client (2025-11-25) or an input_required round (2026-07-28).
    assert_eq!(text(&c.call_tool("ask_name", json!({})).await.unwrap()), "Hello, Ada!", "{label}");
    let prompt = c.get_prompt("greet", json!({"name": "Grace"})).await.unwrap();
    assert!(prompt.messages[0].content.as_text().unwrap_or_default().contains("Grace"), "{label}");
    let res = c.read_resource("peer://greeting/Ada").await.unwrap();
    assert_eq!(res.contents[0].text.as_deref(), Some("Hello, Ada!"), "{label}: {res:?}");
    // No tasks there: a clear, typed refusal.
    match c.call_tool_task("add", json!({"a": 1, "b": 1})).await {
        Err(ClientError::NoTaskSupport(_)) => {}
        Ok(_) => panic!("{label}: a task on a server without tasks"),
        Err(e) => panic!("{label}: {e:?}"),
    }
    match c.call_tool("nope", json!({})).await {
        Err(ClientError::Rpc(e)) => assert_eq!(e.code, -32602, "{label}: {e:?}"),
        Ok(r) => assert!(r.is_error, "{label}: an unknown tool fails: {r:?}"),
        Err(e) => panic!("{label}: {e:?}"),
    }
    c.close().await;
}

#[tokio::test]
async fn ferry_client_works_with_the_python_sdk_server_over_http_in_both_eras() {
    if !python() {
        return;
    }
    let (_peer, url) = serve_http();
    let c = Client::connect_http(&url, options(Mode::Auto)).await.unwrap();
    assert!(c.is_modern(), "Auto finds 2026-07-28 on the Python server");
    scenario(&c, "http/auto").await;
    let c = Client::connect_http(&url, options(Mode::Handshake)).await.unwrap();
    assert_eq!(c.protocol_version(), "2025-11-25");
    scenario(&c, "http/handshake").await;
}

#[tokio::test]
async fn ferry_client_works_with_the_python_sdk_server_over_stdio_in_both_eras() {
    if !python() {
        return;
    }
    for mode in [Mode::Auto, Mode::Handshake] {
        let mut cmd = tokio::process::Command::new("bash");
        cmd.arg(run_sh()).args(["peer_server.py", "stdio"]).stderr(Stdio::null());
        let c = Client::connect_stdio(cmd, options(mode)).await.unwrap();
        scenario(&c, &format!("stdio/{mode:?}")).await;
    }
}
