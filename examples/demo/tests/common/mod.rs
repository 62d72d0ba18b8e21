//! Shared by the demo's integration tests: a raw MCP test client over real
//! Streamable HTTP (reqwest against an in-process server on a loopback port),
//! an SSE parser, and polling helpers with generous deadlines.
//!
//! Nothing here asserts on timing: waiting is always "poll until, or fail after
//! a deadline of several seconds".
#![allow(dead_code)]

use ferry_server::ServerBuilder;
use futures::{Stream, StreamExt};
use serde_json::{json, Map, Value};
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The modern protocol version.
pub const MODERN: &str = "2026-07-28";
/// The newest handshake version.
pub const LATEST: &str = "2025-11-25";
/// The tasks extension id.
pub const TASKS_EXT: &str = "io.modelcontextprotocol/tasks";
/// The related-task `_meta` key.
pub const RELATED_TASK: &str = "io.modelcontextprotocol/related-task";
/// The server-info `_meta` key on modern results.
pub const SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

/// How long any wait may take before a test fails.
pub const DEADLINE: Duration = Duration::from_secs(10);
/// Pause between polls.
pub const POLL: Duration = Duration::from_millis(20);

/// The demo's six tools, in registration order.
pub const DEMO_TOOLS: [&str; 6] = ["add", "sleep", "fail", "progress", "must_task", "no_task"];

/// The task backend a test binary runs its suites on (each root file sets `BACKEND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded in-memory engine.
    Memory,
    /// Redis (found or started by `ferry_redis::testing`), on a fresh key prefix.
    Redis,
}

/// Deletes a test's Redis keys when dropped.
struct Purge(String);

impl Drop for Purge {
    fn drop(&mut self) {
        let url = ferry_redis::testing::redis_url();
        if let Ok(mut conn) = redis::Client::open(url).and_then(|c| c.get_connection()) {
            let keys: Vec<String> =
                redis::cmd("KEYS").arg(format!("{}:*", self.0)).query(&mut conn).unwrap_or_default();
            if !keys.is_empty() {
                let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query(&mut conn);
            }
        }
    }
}

/// A server on a loopback port, stopped when dropped.
pub struct TestServer {
    pub url: String,
    task: JoinHandle<()>,
    _purge: Option<Purge>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    /// Build `builder` on this binary's backend and serve it over Streamable HTTP on 127.0.0.1:0.
    pub async fn start(builder: ServerBuilder) -> TestServer {
        Self::start_limited(builder, ferry_server::engine::TaskLimits::default()).await
    }

    /// [`start`](Self::start) with a task store bounded by `limits`.
    pub async fn start_limited(builder: ServerBuilder, limits: ferry_server::engine::TaskLimits) -> TestServer {
        let (builder, purge) = match crate::BACKEND {
            Backend::Memory => {
                let config = ferry_server::engine::MemoryConfig { limits, ..Default::default() };
                (builder.backend(Arc::new(ferry_server::engine::MemoryBackend::new(config))), None)
            }
            Backend::Redis => {
                let prefix = format!("ferry-test-demo-{}", ferry_server::engine::new_task_id());
                let config = ferry_redis::RedisConfig::new(ferry_redis::testing::redis_url())
                    .prefix(prefix.clone())
                    .limits(limits);
                let backend = ferry_redis::RedisBackend::connect(config).await.expect("Redis backend");
                (builder.backend(Arc::new(backend)), Some(Purge(prefix)))
            }
        };
        let server = builder.build().expect("valid test server");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        let task = tokio::spawn(async move {
            server.serve_listener(listener).await.expect("serve");
        });
        TestServer { url: format!("http://{addr}/mcp"), task, _purge: purge }
    }

    /// The demo server with default settings.
    pub async fn demo() -> TestServer {
        Self::start(demo::builder()).await
    }

    /// The demo server with changed settings.
    pub async fn demo_with(f: impl FnOnce(&mut ferry_server::ServerConfig)) -> TestServer {
        Self::start(demo::builder().configure(f)).await
    }

    /// A fresh 2025-11-25 session.
    pub async fn session(&self) -> Session {
        Session::open(&self.url).await
    }

    /// A 2026-07-28 client declaring the tasks extension.
    pub fn modern_tasks(&self) -> Modern {
        Modern::new(&self.url, true)
    }

    /// A 2026-07-28 client not declaring the tasks extension.
    pub fn modern_plain(&self) -> Modern {
        Modern::new(&self.url, false)
    }
}

/// The demo plus a task-capable tool whose outcome is a JSON-RPC error.
pub fn rpc_error_server() -> ServerBuilder {
    use ferry_server::protocol::ErrorObject;
    use ferry_server::{TaskSupport, ToolDef, ToolError};
    demo::builder().tool(
        ToolDef::new("rpc_error")
            .task_support(TaskSupport::Optional)
            .handler(|| async { Err::<String, _>(ToolError::rpc(ErrorObject::internal("database on fire"))) }),
    )
}

/// An HTTP client for the tests (with a safety-net timeout).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(20)).build().expect("reqwest client")
}

/// A JSON-RPC request object.
pub fn rpc(id: i64, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

/// One HTTP answer: status, headers and the JSON-RPC messages in its body
/// (one for `application/json`, any number for `text/event-stream`).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub messages: Vec<Value>,
    pub raw: String,
}

impl Reply {
    /// Read a whole response.
    pub async fn read(resp: reqwest::Response) -> Reply {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        if is_sse(&headers) {
            let mut sse = SseReader::new(resp);
            let mut messages = Vec::new();
            while let Some(v) = tokio::time::timeout(DEADLINE, sse.next()).await.expect("SSE stream ends within 10 s") {
                messages.push(v);
            }
            return Reply { status, headers, messages, raw: String::new() };
        }
        let raw = resp.text().await.expect("response body");
        let messages = if raw.trim().is_empty() {
            Vec::new()
        } else {
            vec![serde_json::from_str(&raw).unwrap_or_else(|e| panic!("body is not JSON ({e}): {raw}"))]
        };
        Reply { status, headers, messages, raw }
    }

    pub fn content_type(&self) -> &str {
        self.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    pub fn is_sse(&self) -> bool {
        is_sse(&self.headers)
    }

    /// The JSON-RPC response in the body (the last message with a result or an error).
    pub fn body(&self) -> &Value {
        self.messages
            .iter()
            .rev()
            .find(|m| m.get("result").is_some() || m.get("error").is_some())
            .unwrap_or_else(|| panic!("no JSON-RPC response in {self:?}"))
    }

    /// The result, failing the test on an error.
    pub fn result(&self) -> &Value {
        let b = self.body();
        assert!(b.get("error").is_none(), "expected a result, got {b}");
        &b["result"]
    }

    /// The error, failing the test on a result.
    pub fn error(&self) -> &Value {
        let b = self.body();
        assert!(b.get("result").is_none(), "expected an error, got {b}");
        &b["error"]
    }

    /// Messages other than the response (notifications, requests to the client).
    pub fn others(&self) -> Vec<&Value> {
        self.messages.iter().filter(|m| m.get("method").is_some()).collect()
    }
}

fn is_sse(headers: &reqwest::header::HeaderMap) -> bool {
    headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.to_ascii_lowercase().starts_with("text/event-stream"))
}

/// Reads JSON-RPC messages off a `text/event-stream` body as they arrive.
pub struct SseReader {
    stream: Pin<Box<dyn Stream<Item = reqwest::Result<Vec<u8>>> + Send>>,
    buf: Vec<u8>,
    ready: VecDeque<Value>,
}

impl SseReader {
    pub fn new(resp: reqwest::Response) -> SseReader {
        SseReader {
            stream: Box::pin(resp.bytes_stream().map(|c| c.map(|b| b.to_vec()))),
            buf: Vec::new(),
            ready: VecDeque::new(),
        }
    }

    /// The next message; `None` when the stream ends.
    pub async fn next(&mut self) -> Option<Value> {
        loop {
            if let Some(v) = self.ready.pop_front() {
                return Some(v);
            }
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\n\n") {
                let event: Vec<u8> = self.buf.drain(..end + 2).collect();
                if let Some(v) = parse_event(&String::from_utf8_lossy(&event)) {
                    self.ready.push_back(v);
                }
                continue;
            }
            match self.stream.next().await {
                Some(Ok(chunk)) => {
                    self.buf.extend(chunk.into_iter().filter(|&b| b != b'\r'));
                }
                Some(Err(e)) => panic!("SSE stream failed: {e}"),
                None => {
                    // A last event without its blank line.
                    let rest = std::mem::take(&mut self.buf);
                    return parse_event(&String::from_utf8_lossy(&rest));
                }
            }
        }
    }

    /// The next message within the deadline (fails the test otherwise).
    pub async fn next_within_deadline(&mut self, what: &str) -> Option<Value> {
        tokio::time::timeout(DEADLINE, self.next()).await.unwrap_or_else(|_| panic!("timed out waiting for {what}"))
    }
}

/// The JSON of one SSE event's `data:` lines (comments, keep-alives and the empty
/// priming event of a resumable stream give `None`).
pub fn parse_event(event: &str) -> Option<Value> {
    let data: Vec<&str> =
        event.lines().filter_map(|l| l.strip_prefix("data:")).map(|d| d.strip_prefix(' ').unwrap_or(d)).collect();
    let text = data.join("\n");
    if text.is_empty() {
        return None;
    }
    Some(serde_json::from_str(&text).unwrap_or_else(|e| panic!("SSE data is not JSON ({e}): {text}")))
}

/// Parse a whole SSE body.
pub fn parse_sse(text: &str) -> Vec<Value> {
    text.replace('\r', "").split("\n\n").filter_map(parse_event).collect()
}

/// POST raw bytes to `url` with these headers.
pub async fn post_raw(http: &reqwest::Client, url: &str, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Reply {
    let mut rb = http.post(url).body(body.into());
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    Reply::read(rb.send().await.expect("POST")).await
}

/// The usual headers of a JSON POST.
pub const JSON_HEADERS: [(&str, &str); 2] =
    [("content-type", "application/json"), ("accept", "application/json, text/event-stream")];

/// A 2025-11-25 (or older) session: the client side of `initialize` plus the session id.
pub struct Session {
    pub http: reqwest::Client,
    pub url: String,
    pub id: String,
    pub version: String,
    /// The `initialize` result.
    pub init: Value,
    next: AtomicI64,
}

impl Session {
    /// `initialize` at 2025-11-25 with no client capabilities.
    pub async fn open(url: &str) -> Session {
        Self::open_with(url, LATEST, json!({})).await
    }

    /// `initialize` asking for `version` with `capabilities`; checks the negotiated version is
    /// a handshake version and sends `notifications/initialized`.
    pub async fn open_with(url: &str, version: &str, capabilities: Value) -> Session {
        Self::open_from(url, version, capabilities, http_client()).await
    }

    /// A 2025-11-25 session from another loopback address (another client, as far as
    /// per-client bounds go).
    pub async fn open_from_address(url: &str, address: std::net::IpAddr) -> Session {
        let http =
            reqwest::Client::builder().timeout(DEADLINE * 2).local_address(address).build().expect("reqwest client");
        Self::open_from(url, LATEST, json!({}), http).await
    }

    async fn open_from(url: &str, version: &str, capabilities: Value, http: reqwest::Client) -> Session {
        let body = rpc(
            0,
            "initialize",
            json!({"protocolVersion": version, "capabilities": capabilities,
                   "clientInfo": {"name": "demo-tests", "version": "1"}}),
        );
        let reply = post_raw(&http, url, &JSON_HEADERS, body.to_string()).await;
        assert_eq!(reply.status, 200, "initialize: {reply:?}");
        let id = reply
            .headers
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("initialize gives an Mcp-Session-Id: {reply:?}"))
            .to_string();
        let init = reply.result().clone();
        let negotiated = init["protocolVersion"].as_str().expect("protocolVersion").to_string();
        let s = Session { http, url: url.to_string(), id, version: negotiated, init, next: AtomicI64::new(1) };
        let status = s.notify("notifications/initialized", json!({})).await;
        assert_eq!(status, 202, "notifications/initialized is accepted");
        s
    }

    fn headers(&self) -> Vec<(&str, &str)> {
        let mut h = JSON_HEADERS.to_vec();
        h.push(("mcp-session-id", self.id.as_str()));
        h.push(("mcp-protocol-version", self.version.as_str()));
        h
    }

    pub fn next_id(&self) -> i64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// POST any JSON value on this session.
    pub async fn post(&self, body: &Value) -> Reply {
        post_raw(&self.http, &self.url, &self.headers(), body.to_string()).await
    }

    /// Send a request; the whole HTTP answer.
    pub async fn send(&self, method: &str, params: Value) -> Reply {
        self.post(&rpc(self.next_id(), method, params)).await
    }

    /// Send a request; its JSON-RPC response.
    pub async fn request(&self, method: &str, params: Value) -> Value {
        let reply = self.send(method, params).await;
        assert_eq!(reply.status, 200, "{method}: {reply:?}");
        reply.body().clone()
    }

    /// Send a request that must succeed; its result.
    pub async fn ok(&self, method: &str, params: Value) -> Value {
        let reply = self.send(method, params).await;
        assert_eq!(reply.status, 200, "{method}: {reply:?}");
        reply.result().clone()
    }

    /// Send a request that must fail; its error object.
    pub async fn err(&self, method: &str, params: Value) -> Value {
        self.send(method, params).await.error().clone()
    }

    /// `tools/call` answered directly.
    pub async fn call(&self, name: &str, arguments: Value) -> Value {
        self.request("tools/call", json!({"name": name, "arguments": arguments})).await
    }

    /// Task-augmented `tools/call`; returns the `task` of the CreateTaskResult.
    pub async fn call_task(&self, name: &str, arguments: Value) -> Value {
        let r = self.ok("tools/call", json!({"name": name, "arguments": arguments, "task": {}})).await;
        assert!(r["task"]["taskId"].is_string(), "CreateTaskResult: {r}");
        r["task"].clone()
    }

    /// A notification; the HTTP status.
    pub async fn notify(&self, method: &str, params: Value) -> u16 {
        let body = json!({"jsonrpc": "2.0", "method": method, "params": params});
        self.post(&body).await.status
    }

    /// `tasks/get` result.
    pub async fn get_task(&self, task_id: &str) -> Value {
        self.ok("tasks/get", json!({"taskId": task_id})).await
    }

    /// Poll `tasks/get` until `done(task)`, up to the deadline.
    pub async fn wait_task(&self, task_id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let t = self.get_task(task_id).await;
            if done(&t) {
                return t;
            }
            assert!(Instant::now() < deadline, "task {task_id}: timed out waiting for {what}; last: {t}");
            tokio::time::sleep(POLL).await;
        }
    }

    /// Poll `tasks/get` until the status is `status`.
    pub async fn wait_status(&self, task_id: &str, status: &str) -> Value {
        self.wait_task(task_id, status, |t| t["status"] == status).await
    }

    /// Open the standalone GET SSE stream and collect what arrives on it.
    pub async fn stream(&self) -> Notifications {
        let resp = self
            .http
            .get(&self.url)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", &self.id)
            .header("mcp-protocol-version", &self.version)
            .send()
            .await
            .expect("GET");
        assert_eq!(resp.status().as_u16(), 200, "GET stream opens");
        assert!(is_sse(resp.headers()), "GET stream is SSE: {:?}", resp.headers());
        Notifications::collect(SseReader::new(resp))
    }

    /// End the session with DELETE; the HTTP status.
    pub async fn delete(&self) -> u16 {
        self.http.delete(&self.url).header("mcp-session-id", &self.id).send().await.expect("DELETE").status().as_u16()
    }
}

/// Messages arriving on an SSE stream, collected in the background.
pub struct Notifications {
    rx: mpsc::UnboundedReceiver<Value>,
    /// Everything received so far.
    pub seen: Vec<Value>,
    task: JoinHandle<()>,
}

impl Drop for Notifications {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Notifications {
    pub fn collect(mut sse: SseReader) -> Notifications {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Some(v) = sse.next().await {
                if tx.send(v).is_err() {
                    return;
                }
            }
        });
        Notifications { rx, seen: Vec::new(), task }
    }

    /// The first message (seen before or arriving within the deadline) matching `pred`.
    pub async fn wait_for(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(v) = self.seen.iter().find(|v| pred(v)) {
            return v.clone();
        }
        let deadline = Instant::now() + DEADLINE;
        loop {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(v)) => {
                    self.seen.push(v.clone());
                    if pred(&v) {
                        return v;
                    }
                }
                Ok(None) => panic!("stream ended while waiting for {what}; seen: {:?}", self.seen),
                Err(_) => panic!("timed out waiting for {what}; seen: {:?}", self.seen),
            }
        }
    }
}

/// A 2026-07-28 (stateless) client: every request carries `_meta` with the
/// protocol version and client capabilities, and the routing headers.
pub struct Modern {
    pub http: reqwest::Client,
    pub url: String,
    /// The client capabilities sent with each request.
    pub caps: Value,
    next: AtomicI64,
}

impl Modern {
    pub fn new(url: &str, tasks: bool) -> Modern {
        let caps = if tasks { json!({"extensions": {TASKS_EXT: {}}}) } else { json!({}) };
        Modern { http: http_client(), url: url.to_string(), caps, next: AtomicI64::new(1) }
    }

    /// `_meta` for a request with these capabilities.
    pub fn meta_for(caps: &Value) -> Value {
        json!({
            "io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": caps,
            "io.modelcontextprotocol/clientInfo": {"name": "demo-tests", "version": "1"},
        })
    }

    /// `params` with this client's `_meta` merged in.
    pub fn params(&self, params: Value) -> Value {
        let mut p = match params {
            Value::Object(m) => m,
            Value::Null => Map::new(),
            other => panic!("params must be an object: {other}"),
        };
        let meta = p.entry("_meta").or_insert_with(|| json!({}));
        if let (Some(m), Value::Object(ours)) = (meta.as_object_mut(), Self::meta_for(&self.caps)) {
            for (k, v) in ours {
                m.entry(k).or_insert(v);
            }
        }
        Value::Object(p)
    }

    /// The headers a well-behaved client sends for `method` with `params`.
    pub fn routing_headers(method: &str, params: &Value) -> Vec<(String, String)> {
        let mut h =
            vec![("mcp-protocol-version".to_string(), MODERN.to_string()), ("mcp-method".into(), method.into())];
        let name = match method {
            "tools/call" | "prompts/get" => params.get("name"),
            "resources/read" => params.get("uri"),
            m if m.starts_with("tasks/") => params.get("taskId"),
            _ => None,
        };
        if let Some(n) = name.and_then(Value::as_str) {
            h.push(("mcp-name".into(), n.into()));
        }
        h
    }

    /// Send `method` with routing headers; `overrides` replace (`Some`) or drop (`None`) headers.
    pub async fn send_with(&self, method: &str, params: Value, overrides: &[(&str, Option<&str>)]) -> Reply {
        let params = self.params(params);
        let mut headers = Self::routing_headers(method, &params);
        for (name, value) in overrides {
            headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
            if let Some(v) = value {
                headers.push((name.to_string(), v.to_string()));
            }
        }
        let mut all: Vec<(&str, &str)> = JSON_HEADERS.to_vec();
        all.extend(headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        post_raw(&self.http, &self.url, &all, rpc(id, method, params).to_string()).await
    }

    pub async fn send(&self, method: &str, params: Value) -> Reply {
        self.send_with(method, params, &[]).await
    }

    /// A request that must succeed with HTTP 200; its result.
    pub async fn ok(&self, method: &str, params: Value) -> Value {
        let reply = self.send(method, params).await;
        assert_eq!(reply.status, 200, "{method}: {reply:?}");
        reply.result().clone()
    }

    /// `tools/call`; its result.
    pub async fn call(&self, name: &str, arguments: Value) -> Value {
        self.ok("tools/call", json!({"name": name, "arguments": arguments})).await
    }

    /// `tasks/get` result.
    pub async fn get_task(&self, task_id: &str) -> Value {
        self.ok("tasks/get", json!({"taskId": task_id})).await
    }

    /// Poll `tasks/get` until `done(task)`, up to the deadline.
    pub async fn wait_task(&self, task_id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let t = self.get_task(task_id).await;
            if done(&t) {
                return t;
            }
            assert!(Instant::now() < deadline, "task {task_id}: timed out waiting for {what}; last: {t}");
            tokio::time::sleep(POLL).await;
        }
    }

    pub async fn wait_status(&self, task_id: &str, status: &str) -> Value {
        self.wait_task(task_id, status, |t| t["status"] == status).await
    }
}

/// Whether `s` is an RFC 3339 timestamp.
pub fn is_rfc3339(s: &Value) -> bool {
    s.as_str().is_some_and(|s| time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok())
}

/// The text of the first content item of a CallToolResult.
pub fn text(result: &Value) -> &str {
    result["content"][0]["text"].as_str().unwrap_or_else(|| panic!("no text content in {result}"))
}
