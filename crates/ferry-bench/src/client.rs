//! What the bench modes share: the server child process, its RSS, and a minimal
//! MCP client over raw HTTP (so the client's own machinery is not what is measured).

use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Errors of the bench.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

const ACCEPT: &str = "application/json, text/event-stream";
/// The stateless protocol version (tasks Form B).
pub const MODERN: &str = "2026-07-28";

/// A child process, killed when dropped.
pub struct ServerProcess(pub Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Resident set size of a process in KiB (from `/proc`).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()
}

/// A free loopback address.
pub fn free_addr() -> Result<String, Error> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    Ok(format!("127.0.0.1:{port}"))
}

/// This binary as `serve ADDR EXTRA...` (the demo on the embedded engine), its
/// stdout piped when `stdout` is true.
pub fn spawn_server(addr: &str, extra: &[&str], stdout: bool) -> Result<ServerProcess, Error> {
    let child = Command::new(std::env::current_exe()?)
        .arg("serve")
        .arg(addr)
        .args(extra)
        .stdout(if stdout { Stdio::piped() } else { Stdio::null() })
        .stderr(Stdio::null())
        .spawn()?;
    Ok(ServerProcess(child))
}

/// Wait until something answers HTTP at `url` (at most 10 s).
pub async fn wait_for(http: &reqwest::Client, url: &str) -> Result<(), Error> {
    let started = Instant::now();
    while http.post(url).header("content-type", "application/json").body("{}").send().await.is_err() {
        if started.elapsed() > Duration::from_secs(10) {
            return Err("server did not start".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Wait until an MCP server at `url` accepts `initialize` (a Redis front end
/// answers HTTP only once it reached Redis); an error after `within`.
pub async fn wait_initialized(http: &reqwest::Client, url: &Arc<String>, within: Duration) -> Result<(), Error> {
    let started = Instant::now();
    while Client::new(http, url).initialize().await.is_err() {
        if started.elapsed() > within {
            return Err(format!("the server at {url} did not start within {} s", within.as_secs()).into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// `ferry serve|worker` options for a bench deployment on Redis: its own key prefix,
/// and bounds far above what one bench client submits.
pub fn bench_store_args<'a>(redis: &'a str, prefix: &'a str) -> [&'a str; 10] {
    [
        "--redis",
        redis,
        "--prefix",
        prefix,
        "--concurrency",
        "64",
        "--max-live-tasks",
        "1000000",
        "--max-live-tasks-per-client",
        "1000000",
    ]
}

/// One MCP client: a session (2025-11-25) after [`initialize`](Client::initialize),
/// stateless 2026-07-28 requests without.
pub struct Client {
    /// The HTTP client (shared connection pool).
    pub http: reqwest::Client,
    /// The MCP endpoint.
    pub url: Arc<String>,
    /// The session id, once initialized.
    pub session: Option<String>,
    /// The last request id.
    pub next: u64,
}

impl Client {
    /// A client of `url` with no session.
    pub fn new(http: &reqwest::Client, url: &Arc<String>) -> Self {
        Client { http: http.clone(), url: url.clone(), session: None, next: 0 }
    }

    /// Send one request; the HTTP response, its body not read yet.
    pub async fn send(&mut self, method: &str, params: Value, name: Option<&str>) -> Result<reqwest::Response, Error> {
        self.next += 1;
        let body = json!({"jsonrpc": "2.0", "id": self.next, "method": method, "params": params});
        let mut req =
            self.http.post(self.url.as_str()).header("content-type", "application/json").header("accept", ACCEPT);
        if let Some(s) = &self.session {
            req = req.header("mcp-session-id", s).header("mcp-protocol-version", "2025-11-25");
        } else if method != "initialize" {
            req = req.header("mcp-protocol-version", MODERN).header("mcp-method", method);
            if let Some(n) = name {
                req = req.header("mcp-name", n);
            }
        }
        let resp = req.json(&body).send().await?;
        if let Some(s) = resp.headers().get("mcp-session-id") {
            self.session = Some(s.to_str()?.to_string());
        }
        Ok(resp)
    }

    /// `req` with this client's session headers; an error without a session.
    fn in_session(&self, req: reqwest::RequestBuilder) -> Result<reqwest::RequestBuilder, Error> {
        let session = self.session.as_deref().ok_or("no session")?;
        Ok(req.header("mcp-session-id", session).header("mcp-protocol-version", "2025-11-25"))
    }

    /// The session's standalone stream (`GET`), where a 2025-11-25 server sends
    /// what is not a response (`notifications/tasks/status`).
    pub async fn standalone(&self) -> Result<reqwest::Response, Error> {
        let get = self.http.get(self.url.as_str()).header("accept", "text/event-stream");
        let resp = self.in_session(get)?.send().await?;
        if !resp.status().is_success() {
            return Err(format!("GET stream refused: {}", resp.status()).into());
        }
        Ok(resp)
    }

    /// Send one request; its result (an error for a JSON-RPC error).
    pub async fn post(&mut self, method: &str, params: Value, name: Option<&str>) -> Result<Value, Error> {
        let resp = self.send(method, params, name).await?;
        let sse = resp.headers().get("content-type").is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        let text = resp.text().await?;
        let v: Value = if sse {
            let last = text.lines().filter_map(|l| l.strip_prefix("data: ")).next_back().ok_or("empty SSE stream")?;
            serde_json::from_str(last)?
        } else {
            serde_json::from_str(&text)?
        };
        match v.get("result") {
            Some(r) => Ok(r.clone()),
            None => Err(format!("{method} failed: {v}").into()),
        }
    }

    /// Open a 2025-11-25 session.
    pub async fn initialize(&mut self) -> Result<(), Error> {
        self.post(
            "initialize",
            json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}),
            None,
        )
        .await?;
        Ok(())
    }

    /// Finish the handshake: `notifications/initialized` in the session (answered `202`).
    pub async fn initialized(&self) -> Result<(), Error> {
        let post =
            self.http.post(self.url.as_str()).header("content-type", "application/json").header("accept", ACCEPT);
        let body = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
        let resp = self.in_session(post)?.body(body).send().await?;
        if !resp.status().is_success() {
            return Err(format!("notifications/initialized refused: {}", resp.status()).into());
        }
        Ok(())
    }

    /// A session's whole life: `initialize`, `notifications/initialized`, `DELETE`.
    pub async fn session_life(&mut self) -> Result<(), Error> {
        self.initialize().await?;
        self.initialized().await?;
        let session = self.session.take().ok_or("no session")?;
        let resp = self.http.delete(self.url.as_str()).header("mcp-session-id", session).send().await?;
        if !resp.status().is_success() {
            return Err(format!("DELETE of the session refused: {}", resp.status()).into());
        }
        Ok(())
    }

    /// Start a task that runs `ms` milliseconds (the demo's `sleep`, Form A, TTL `ttl_ms`)
    /// and leave it running; its id.
    pub async fn start_sleep(&mut self, ms: u64, ttl_ms: u64) -> Result<String, Error> {
        let created = self
            .post("tools/call", json!({"name": "sleep", "arguments": {"ms": ms}, "task": {"ttl": ttl_ms}}), None)
            .await?;
        Ok(created["task"]["taskId"].as_str().ok_or("no task id")?.to_string())
    }

    /// End the session (HTTP DELETE), if there is one.
    pub async fn close(&mut self) -> Result<(), Error> {
        if let Some(s) = self.session.take() {
            self.http.delete(self.url.as_str()).header("mcp-session-id", s).send().await?;
        }
        Ok(())
    }

    /// Form A: tools/call add + params.task, one tasks/get, tasks/result (blocking).
    pub async fn round_trip_a(&mut self) -> Result<(), Error> {
        let created = self
            .post("tools/call", json!({"name": "add", "arguments": {"a": 2, "b": 3}, "task": {"ttl": 10000}}), None)
            .await?;
        let id = created["task"]["taskId"].as_str().ok_or("no task id")?.to_string();
        self.post("tasks/get", json!({"taskId": id}), None).await?;
        let result = self.post("tasks/result", json!({"taskId": id}), None).await?;
        if result["content"][0]["text"] != "5" {
            return Err(format!("unexpected result {result}").into());
        }
        Ok(())
    }

    /// Form A as issue 11 measures it: tools/call add + params.task (TTL `ttl_ms`), then
    /// tasks/result (blocks until the end). Two requests.
    pub async fn round_trip_a_blocking(&mut self, ttl_ms: u64) -> Result<(), Error> {
        let created = self
            .post("tools/call", json!({"name": "add", "arguments": {"a": 2, "b": 3}, "task": {"ttl": ttl_ms}}), None)
            .await?;
        let id = created["task"]["taskId"].as_str().ok_or("no task id")?.to_string();
        let result = self.post("tasks/result", json!({"taskId": id}), None).await?;
        if result["content"][0]["text"] != "5" {
            return Err(format!("unexpected result {result}").into());
        }
        Ok(())
    }

    /// Form B: tools/call add (a task), then tasks/get every `poll` until completed
    /// (the result inlined); `Duration::ZERO` polls back to back. Returns the number
    /// of tasks/get requests.
    pub async fn round_trip_b(&mut self, poll: Duration) -> Result<u64, Error> {
        let meta = json!({
            "io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": {"extensions": {"io.modelcontextprotocol/tasks": {}}},
        });
        let created = self
            .post("tools/call", json!({"name": "add", "arguments": {"a": 2, "b": 3}, "_meta": meta}), Some("add"))
            .await?;
        // A server with quick answers (`--quick-answer-ms`) may answer with the result itself.
        if created["resultType"] == "complete" {
            if created["content"][0]["text"] != "5" {
                return Err(format!("unexpected result {created}").into());
            }
            return Ok(0);
        }
        let id = created["taskId"].as_str().ok_or("no task id")?.to_string();
        let mut polls = 0;
        loop {
            let t = self.post("tasks/get", json!({"taskId": id, "_meta": meta}), Some(&id)).await?;
            polls += 1;
            match t["status"].as_str() {
                Some("completed") => {
                    if t["result"]["content"][0]["text"] != "5" {
                        return Err(format!("unexpected result {t}").into());
                    }
                    return Ok(polls);
                }
                Some("working") if poll.is_zero() => tokio::task::yield_now().await,
                Some("working") => tokio::time::sleep(poll).await,
                other => return Err(format!("unexpected status {other:?}").into()),
            }
        }
    }

    /// A plain tools/call (no task) in the session.
    pub async fn plain_call(&mut self) -> Result<(), Error> {
        let result = self.post("tools/call", json!({"name": "add", "arguments": {"a": 2, "b": 3}}), None).await?;
        if result["content"][0]["text"] != "5" {
            return Err(format!("unexpected result {result}").into());
        }
        Ok(())
    }
}
