//! The demo binary over real stdio (`demo --stdio`): newline-delimited JSON-RPC
//! on the child's stdin and stdout.

mod common;

/// These suites run on the embedded engine.
const BACKEND: common::Backend = common::Backend::Memory;

use common::DEADLINE;
use serde_json::{json, Value};
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// The client end of a `demo --stdio` child process.
struct StdioPeer {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    next: i64,
    /// Messages that were not the response being waited for.
    other: Vec<Value>,
}

impl StdioPeer {
    fn spawn() -> StdioPeer {
        let mut child = Command::new(env!("CARGO_BIN_EXE_demo"))
            .arg("--stdio")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn demo --stdio");
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        StdioPeer { child, stdin, stdout, next: 1, other: Vec::new() }
    }

    async fn spawn_initialized(version: &str) -> (StdioPeer, Value) {
        let mut p = Self::spawn();
        let init = p
            .request(
                "initialize",
                json!({"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "stdio-test", "version": "1"}}),
            )
            .await;
        p.send_line(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string()).await;
        (p, init)
    }

    async fn send_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(line.as_bytes()).await.expect("write");
        stdin.write_all(b"\n").await.expect("write");
        stdin.flush().await.expect("flush");
    }

    async fn recv(&mut self) -> Value {
        let line = tokio::time::timeout(DEADLINE, self.stdout.next_line())
            .await
            .expect("a message within 10 s")
            .expect("read stdout")
            .expect("the server is still running");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line}"))
    }

    /// Send a request; its response (other messages are kept in `other`).
    async fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next;
        self.next += 1;
        self.send_line(&common::rpc(id, method, params).to_string()).await;
        loop {
            let v = self.recv().await;
            if v["id"] == json!(id) && (v.get("result").is_some() || v.get("error").is_some()) {
                return v;
            }
            self.other.push(v);
        }
    }

    async fn ok(&mut self, method: &str, params: Value) -> Value {
        let r = self.request(method, params).await;
        assert!(r.get("error").is_none(), "{method}: {r}");
        r["result"].clone()
    }

    /// Close stdin and wait for the process to exit.
    async fn finish(mut self) -> std::process::ExitStatus {
        drop(self.stdin.take());
        tokio::time::timeout(DEADLINE, self.child.wait()).await.expect("exits after EOF").expect("wait")
    }
}

#[tokio::test]
async fn stdio_initialize_negotiates_2025_11_25() {
    let (p, init) = StdioPeer::spawn_initialized("2025-11-25").await;
    assert_eq!(init["result"]["protocolVersion"], "2025-11-25");
    assert_eq!(init["result"]["serverInfo"]["name"], "ferry-demo");
    assert!(init["result"]["capabilities"]["tasks"]["requests"]["tools"]["call"].is_object());
    assert!(p.finish().await.success());
}

#[tokio::test]
async fn stdio_second_initialize_is_invalid_request() {
    let (mut p, _) = StdioPeer::spawn_initialized("2025-11-25").await;
    let again = p.request("initialize", json!({"protocolVersion": "2025-11-25", "capabilities": {}})).await;
    assert_eq!(again["error"]["code"], -32600, "{again}");
    assert!(p.finish().await.success());
}

#[tokio::test]
async fn stdio_tools_list_lists_the_demo_tools_with_task_support() {
    let (mut p, _) = StdioPeer::spawn_initialized("2025-11-25").await;
    let r = p.ok("tools/list", json!({})).await;
    let names: Vec<&str> = r["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, common::DEMO_TOOLS);
    assert_eq!(r["tools"][4]["execution"]["taskSupport"], "required");
    assert!(p.finish().await.success());
}

#[tokio::test]
async fn stdio_direct_call_returns_the_result() {
    let (mut p, _) = StdioPeer::spawn_initialized("2025-11-25").await;
    let r = p.ok("tools/call", json!({"name": "add", "arguments": {"a": 19, "b": 23}})).await;
    assert_eq!(common::text(&r), "42");
    let r = p.ok("tools/call", json!({"name": "fail", "arguments": {"message": "no"}})).await;
    assert_eq!(r["isError"], true);
    assert!(p.finish().await.success());
}

#[tokio::test]
async fn stdio_progress_notifications_precede_the_result() {
    let (mut p, _) = StdioPeer::spawn_initialized("2025-11-25").await;
    let r = p
        .ok(
            "tools/call",
            json!({"name": "progress", "arguments": {"steps": 2, "delay_ms": 1}, "_meta": {"progressToken": 9}}),
        )
        .await;
    assert_eq!(common::text(&r), "done 2");
    let progress: Vec<&Value> = p.other.iter().filter(|m| m["method"] == "notifications/progress").collect();
    assert_eq!(progress.len(), 2, "{:?}", p.other);
    assert!(progress.iter().all(|m| m["params"]["progressToken"] == 9));
    assert!(p.finish().await.success());
}

#[tokio::test]
async fn stdio_form_a_task_round_trip() {
    let (mut p, _) = StdioPeer::spawn_initialized("2025-11-25").await;
    let created = p.ok("tools/call", json!({"name": "sleep", "arguments": {"ms": 100}, "task": {"ttl": 30_000}})).await;
    let id = created["task"]["taskId"].as_str().expect("a nested task").to_string();
    assert_eq!(created["task"]["status"], "working");
    assert_eq!(created["task"]["ttl"], json!(30_000));
    let got = p.ok("tasks/get", json!({"taskId": id})).await;
    assert_eq!(got["taskId"], id.as_str());
    let result = p.ok("tasks/result", json!({"taskId": id})).await;
    assert_eq!(common::text(&result), "slept 100");
    assert_eq!(result["_meta"][common::RELATED_TASK]["taskId"], id.as_str());
    assert_eq!(p.ok("tasks/get", json!({"taskId": id})).await["status"], "completed");
    let list = p.ok("tasks/list", json!({})).await;
    assert_eq!(list["tasks"][0]["taskId"], id.as_str());
    // Status notifications arrive on stdout too.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !p.other.iter().any(|m| {
        m["method"] == "notifications/tasks/status"
            && m["params"]["taskId"] == id.as_str()
            && m["params"]["status"] == "completed"
    }) {
        assert!(tokio::time::Instant::now() < deadline, "no completed status notification: {:?}", p.other);
        let m = p.recv().await;
        p.other.push(m);
    }
    assert!(p.finish().await.success());
}

#[tokio::test]
async fn stdio_modern_request_works_without_initialize() {
    let mut p = StdioPeer::spawn();
    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                      "io.modelcontextprotocol/clientCapabilities": {"extensions": {common::TASKS_EXT: {}}}});
    let r = p.ok("tools/call", json!({"name": "no_task", "arguments": {"x": 8}, "_meta": meta})).await;
    assert_eq!(r["resultType"], "complete");
    assert_eq!(common::text(&r), "16");
    assert_eq!(r["_meta"][common::SERVER_INFO]["name"], "ferry-demo");
    // A tool that outlasts the quick-answer window (on by default), so it becomes a task.
    let created = p.ok("tools/call", json!({"name": "sleep", "arguments": {"ms": 50}, "_meta": meta})).await;
    assert_eq!(created["resultType"], "task");
    let id = created["taskId"].as_str().unwrap().to_string();
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let t = p.ok("tasks/get", json!({"taskId": id, "_meta": meta})).await;
        if t["status"] == "completed" {
            assert_eq!(common::text(&t["result"]), "slept 50");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{t}");
        tokio::time::sleep(common::POLL).await;
    }
    let discover = p.ok("server/discover", json!({"_meta": meta})).await;
    assert_eq!(discover["capabilities"]["extensions"][common::TASKS_EXT], json!({}));
    assert!(p.finish().await.success());
}

#[tokio::test]
async fn stdio_malformed_line_is_parse_error_with_null_id_and_the_server_keeps_working() {
    let (mut p, _) = StdioPeer::spawn_initialized("2025-11-25").await;
    p.send_line("{this is not json").await;
    let err = p.recv().await;
    assert_eq!(err["error"]["code"], -32700, "{err}");
    assert_eq!(err["id"], Value::Null);
    assert!(err.as_object().unwrap().contains_key("id"), "id is present, as null: {err}");
    p.send_line("[1, 2]").await;
    assert_eq!(p.recv().await["error"]["code"], -32600);
    assert_eq!(p.ok("ping", json!({})).await, json!({}));
    let r = p.ok("tools/call", json!({"name": "add", "arguments": {"a": 1, "b": 1}})).await;
    assert_eq!(common::text(&r), "2");
    assert!(p.finish().await.success());
}

#[tokio::test]
async fn stdio_blank_lines_are_ignored() {
    let (mut p, _) = StdioPeer::spawn_initialized("2025-11-25").await;
    p.send_line("").await;
    p.send_line("   ").await;
    assert_eq!(p.ok("ping", json!({})).await, json!({}));
    assert!(p.other.is_empty(), "nothing answers a blank line: {:?}", p.other);
    assert!(p.finish().await.success());
}

#[tokio::test]
async fn stdio_eof_ends_the_process_cleanly() {
    let p = StdioPeer::spawn();
    let status = p.finish().await;
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn stdio_eof_after_requests_flushes_their_responses_then_exits() {
    let mut p = StdioPeer::spawn();
    let init = common::rpc(1, "initialize", json!({"protocolVersion": "2025-11-25", "capabilities": {}}));
    p.send_line(&init.to_string()).await;
    p.send_line(&common::rpc(2, "tools/call", json!({"name": "sleep", "arguments": {"ms": 50}})).to_string()).await;
    drop(p.stdin.take());
    let mut got = Vec::new();
    while let Ok(Some(line)) = tokio::time::timeout(DEADLINE, p.stdout.next_line()).await.expect("output or EOF") {
        got.push(serde_json::from_str::<Value>(&line).unwrap());
    }
    assert!(got.iter().any(|m| m["id"] == 2 && common::text(&m["result"]) == "slept 50"), "{got:?}");
    let status = tokio::time::timeout(DEADLINE, p.child.wait()).await.unwrap().unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn stdio_eof_with_a_blocked_tasks_result_still_exits() {
    let (mut p, _) = StdioPeer::spawn_initialized("2025-11-25").await;
    let created = p.ok("tools/call", json!({"name": "sleep", "arguments": {"ms": 600_000}, "task": {}})).await;
    let id = created["task"]["taskId"].as_str().unwrap().to_string();
    p.send_line(&common::rpc(99, "tasks/result", json!({"taskId": id})).to_string()).await;
    p.send_line(&common::rpc(100, "tools/call", json!({"name": "sleep", "arguments": {"ms": 600_000}})).to_string())
        .await;
    let status = p.finish().await;
    assert!(status.success(), "{status:?}");
}
