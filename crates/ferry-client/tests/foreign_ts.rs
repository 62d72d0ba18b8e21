//! The client against a foreign server: the TypeScript SDK 1.32.2 server with its
//! own task store (`interop/ts-tasks-server.mjs`), speaking 2025-11-25 only.
//!
//! Needs Node.js >= 20 and npm; `interop/serve-ts.sh` installs the pinned SDK on first use.

use ferry_client::{CallToolResult, Client, ClientError, ClientOptions, TaskStatus};
use futures::StreamExt;
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

struct Foreign {
    child: Child,
    url: String,
}

impl Drop for Foreign {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Option<Foreign> {
    if Command::new("node").arg("--version").output().is_err() {
        // Interop needs a JavaScript peer. CI always has Node and must run this; on a
        // machine without Node, say so loudly instead of failing the whole suite.
        let why = "needs Node.js >= 20 and npm on PATH (apt-get install nodejs npm)";
        if std::env::var_os("CI").is_some() {
            panic!("interop test {why}");
        }
        eprintln!("SKIPPED interop test: it {why}");
        return None;
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop/serve-ts.sh");
    let mut child = Command::new("bash")
        .arg(script)
        .arg("0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("interop/serve-ts.sh");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let url = loop {
        let line = lines.next().expect("the TS server exited").expect("line");
        if let Some(url) = line.strip_prefix("listening on ") {
            break url.trim().to_string();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    Some(Foreign { child, url })
}

fn text(r: &CallToolResult) -> &str {
    r.content[0].as_text().unwrap_or_default()
}

#[tokio::test]
async fn ferry_client_drives_tasks_on_the_typescript_sdk_server() {
    let Some(server) = start() else { return };
    // Auto mode: the probe finds no 2026-07-28 support and falls back to a 2025-11-25 session.
    let c = Client::connect_http(&server.url, ClientOptions::default()).await.unwrap();
    assert!(!c.is_modern());
    assert_eq!(c.protocol_version(), "2025-11-25");
    assert_eq!(c.server_info()["name"], "ts-sdk-demo");
    assert_eq!(c.list_tools().await.unwrap().len(), 6);

    assert_eq!(text(&c.call_tool("add", json!({"a": 2, "b": 3})).await.unwrap()), "5");
    let task = c.call_tool_task("add", json!({"a": 20, "b": 22})).await.unwrap();
    assert!(task.id().is_some());
    assert_eq!(text(&task.await.unwrap()), "42");

    let task = c.call_tool_task("progress", json!({"steps": 3, "delay_ms": 50})).await.unwrap();
    let states: Vec<_> = task.status().map(|s| s.unwrap()).collect().await;
    assert_eq!(states.last().unwrap().status, TaskStatus::Completed, "{states:?}");
    assert_eq!(text(&task.result().await.unwrap()), "done 3");

    let task = c.call_tool_task("sleep", json!({"ms": 60_000})).await.unwrap();
    assert_eq!(task.cancel().await.unwrap().status, TaskStatus::Cancelled);
    assert!(matches!(task.result().await, Err(ClientError::TaskCancelled(_))));

    let task = c.call_tool_task("must_task", json!({"x": 5})).await.unwrap();
    assert_eq!(text(&task.await.unwrap()), "10");
    assert!(matches!(c.call_tool_task("no_task", json!({"x": 5})).await, Err(ClientError::TaskForbidden(_))));

    // The TS server declares tasks for tools/call only.
    assert!(matches!(c.get_prompt_task("any", json!({})).await, Err(ClientError::NoTaskSupport(_))));

    let (tasks, _) = c.list_tasks(None).await.unwrap();
    assert!(tasks.len() >= 4, "{tasks:?}");
    c.close().await;
}
