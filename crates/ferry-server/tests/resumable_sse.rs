//! Resumable SSE response streams (SEP-1699) over real Streamable HTTP: the
//! priming event, event ids, `Context::close_stream`, a dropped connection, and
//! `GET` with `Last-Event-ID` delivering the rest of the answer.

#[path = "support/sse.rs"]
mod sse;
mod support;

use sse::{parse_events, read_events, SseEvent};
use support::{modern_meta, stateless_call};

use ferry_server::{Context, ResourceDef, Server, ToolDef, ToolError};
use futures::StreamExt;
use serde_json::{json, Value};
use std::time::Duration;

fn server() -> Server {
    Server::builder("resume", "1")
        .tool(ToolDef::new("reconnect").handler(|cx: Context| async move {
            cx.info("before");
            let closed = cx.close_stream();
            tokio::time::sleep(Duration::from_millis(200)).await;
            cx.info("after");
            format!("closed: {closed}")
        }))
        .tool(ToolDef::new("quiet_close").handler(|cx: Context| async move {
            let closed = cx.close_stream();
            tokio::time::sleep(Duration::from_millis(100)).await;
            format!("quietly closed: {closed}")
        }))
        .resource(ResourceDef::new("mem://board", "board").handler(|| async { String::from("board") }))
        .tool(ToolDef::new("touch").handler(|cx: Context| async move {
            cx.notify_resource_updated("mem://board").await.map_err(ToolError::from)?;
            Ok::<_, ToolError>("touched")
        }))
        .tool(ToolDef::new("touch_600").handler(|cx: Context| async move {
            for _ in 0..600 {
                cx.notify_resource_updated("mem://board").await.map_err(ToolError::from)?;
            }
            Ok::<_, ToolError>("touched 600 times")
        }))
        .tool(ToolDef::new("slow").handler(|cx: Context| async move {
            cx.info("started");
            tokio::time::sleep(Duration::from_millis(400)).await;
            "slow done"
        }))
        .build()
        .unwrap()
}

async fn http_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { server().serve_listener(listener).await });
    url
}

struct Session {
    http: reqwest::Client,
    url: String,
    id: String,
    version: &'static str,
}

impl Session {
    async fn open(url: &str, version: &'static str) -> Session {
        let http = reqwest::Client::new();
        let resp = http
            .post(url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .json(&json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let id = resp.headers()["mcp-session-id"].to_str().unwrap().to_string();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["result"]["protocolVersion"], version, "{body}");
        Session { http, url: url.to_string(), id, version }
    }

    /// A POST of one request in this session, accepting `accept`.
    async fn post(&self, accept: &str, id: i64, method: &str, params: Value) -> reqwest::Response {
        self.http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", accept)
            .header("mcp-session-id", &self.id)
            .header("mcp-protocol-version", self.version)
            .json(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .send()
            .await
            .unwrap()
    }

    /// A tool call that may be answered on a stream.
    async fn call(&self, id: i64, tool: &str) -> reqwest::Response {
        let params = json!({"name": tool, "arguments": {}});
        self.post("application/json, text/event-stream", id, "tools/call", params).await
    }

    /// A request answered with JSON.
    async fn request(&self, id: i64, method: &str, params: Value) -> Value {
        self.post("application/json", id, method, params).await.json().await.unwrap()
    }

    /// A GET: the standalone stream, or with `last_event_id` the rest of a stream.
    async fn get(&self, last_event_id: Option<&str>) -> reqwest::Response {
        let mut req = self
            .http
            .get(&self.url)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", &self.id)
            .header("mcp-protocol-version", self.version);
        if let Some(last) = last_event_id {
            req = req.header("last-event-id", last);
        }
        req.send().await.unwrap()
    }

    /// The standalone stream (`GET` without `Last-Event-ID`).
    async fn listen(&self) -> reqwest::Response {
        let resp = self.get(None).await;
        assert_eq!(resp.status(), 200);
        resp
    }

    async fn resume(&self, last_event_id: &str) -> reqwest::Response {
        self.get(Some(last_event_id)).await
    }
}

fn is_sse(resp: &reqwest::Response) -> bool {
    resp.headers().get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|c| c.starts_with("text/event-stream"))
}

/// `<stream>-<n>` → (stream, n).
fn split_id(id: &str) -> (String, u64) {
    let (s, n) = id.split_once('-').expect("id of the form <stream>-<n>");
    (s.to_string(), n.parse().expect("numeric event number"))
}

#[tokio::test]
async fn a_stream_the_server_closes_is_finished_on_a_get_with_last_event_id() {
    let url = http_server().await;
    let s = Session::open(&url, "2025-11-25").await;
    let resp = s.call(7, "reconnect").await;
    assert!(is_sse(&resp));
    let (events, ended) = read_events(resp, None).await;
    assert!(ended);
    // Priming first: an id, the reconnection delay, empty data.
    assert_eq!(events.len(), 2, "{events:?}");
    let priming = &events[0];
    assert_eq!(priming.data.as_deref(), Some(""), "{events:?}");
    assert_eq!(priming.retry.as_deref(), Some("1000"));
    let (stream, n) = split_id(priming.id.as_deref().expect("priming id"));
    assert_eq!(n, 0);
    // Then the log message with the next id; the connection ends without the response.
    assert_eq!(events[1].json()["params"]["data"], "before");
    let last = events[1].id.clone().expect("event id");
    assert_eq!(split_id(&last), (stream.clone(), 1));

    let resumed = s.resume(&last).await;
    assert_eq!(resumed.status(), 200);
    assert!(is_sse(&resumed));
    let (rest, ended) = read_events(resumed, None).await;
    assert!(ended, "a resumed stream ends after the response");
    assert_eq!(rest.len(), 2, "{rest:?}");
    assert_eq!(rest[0].json()["params"]["data"], "after");
    assert_eq!(split_id(rest[0].id.as_deref().unwrap()), (stream.clone(), 2));
    let answer = rest[1].json();
    assert_eq!(answer["id"], 7);
    assert_eq!(answer["result"]["content"][0]["text"], "closed: true", "{answer}");
    assert_eq!(split_id(rest[1].id.as_deref().unwrap()), (stream, 3));
}

#[tokio::test]
async fn closing_before_any_message_sends_the_priming_event_alone() {
    let url = http_server().await;
    let s = Session::open(&url, "2025-11-25").await;
    let resp = s.call(8, "quiet_close").await;
    assert!(is_sse(&resp), "closing the stream turns a quiet answer into a stream");
    let (events, ended) = read_events(resp, None).await;
    assert!(ended);
    assert_eq!(events.len(), 1, "{events:?}");
    let priming = events[0].id.clone().unwrap();
    let (rest, _) = read_events(s.resume(&priming).await, None).await;
    assert_eq!(rest.len(), 1, "{rest:?}");
    assert_eq!(rest[0].json()["result"]["content"][0]["text"], "quietly closed: true");
}

#[tokio::test]
async fn an_answer_survives_a_dropped_connection_and_can_be_replayed_from_any_event() {
    let url = http_server().await;
    let s = Session::open(&url, "2025-11-25").await;
    let (events, ended) = read_events(s.call(9, "slow").await, Some(2)).await;
    assert!(!ended);
    assert_eq!(events[1].json()["params"]["data"], "started");
    let priming = events[0].id.clone().unwrap();
    // The connection is gone (`events`' response dropped); the handler goes on.
    tokio::time::sleep(Duration::from_millis(50)).await;

    // From the priming event: everything after it, the missed message included.
    let (rest, ended) = read_events(s.resume(&priming).await, None).await;
    assert!(ended);
    assert_eq!(rest.len(), 2, "{rest:?}");
    assert_eq!(rest[0].json()["params"]["data"], "started");
    assert_eq!(rest[1].json()["result"]["content"][0]["text"], "slow done");

    // While it lingers, the finished stream can be read again from the last message seen.
    let (again, _) = read_events(s.resume(rest[0].id.as_deref().unwrap()).await, None).await;
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(again[0].json()["id"], 9);
}

#[tokio::test]
async fn unknown_or_foreign_last_event_ids_are_bad_requests() {
    let url = http_server().await;
    let s = Session::open(&url, "2025-11-25").await;
    for bad in ["999-1", "nonsense", "1-x"] {
        let resp = s.resume(bad).await;
        assert_eq!(resp.status(), 400, "{bad}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], -32600, "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("Last-Event-ID"), "{body}");
    }
    // A stream of one session cannot be read from another.
    let (events, _) = read_events(s.call(10, "reconnect").await, None).await;
    let other = Session::open(&url, "2025-11-25").await;
    let resp = other.resume(events[1].id.as_deref().unwrap()).await;
    assert_eq!(resp.status(), 400);
    // The owner still can.
    let (rest, _) = read_events(s.resume(events[1].id.as_deref().unwrap()).await, None).await;
    assert_eq!(rest.last().unwrap().json()["result"]["content"][0]["text"], "closed: true");
}

#[tokio::test]
async fn older_clients_get_plain_streams_that_the_server_cannot_close() {
    let url = http_server().await;
    let s = Session::open(&url, "2025-06-18").await;
    let resp = s.call(11, "reconnect").await;
    assert!(is_sse(&resp));
    let (events, ended) = read_events(resp, None).await;
    assert!(ended);
    assert!(events.iter().all(|e| e.id.is_none() && e.retry.is_none()), "{events:?}");
    let texts: Vec<Value> = events.iter().map(SseEvent::json).collect();
    assert_eq!(texts.len(), 3, "{texts:?}");
    assert_eq!(texts[2]["result"]["content"][0]["text"], "closed: false", "{texts:?}");
}

#[tokio::test]
async fn stateless_requests_cannot_be_resumed_and_are_not_closed() {
    let url = http_server().await;
    let call = json!({"jsonrpc": "2.0", "id": 12, "method": "tools/call",
        "params": {"name": "quiet_close", "arguments": {}, "_meta": modern_meta(json!({}))}});
    let resp = stateless_call(&url, "quiet_close", &call).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(!is_sse(&resp), "nothing was said: a plain JSON answer");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["result"]["content"][0]["text"], "quietly closed: false", "{body}");
}

/// Reads events off a live stream as they come.
struct Reader {
    body: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<axum::body::Bytes>> + Send>>,
    buf: String,
    ready: std::collections::VecDeque<SseEvent>,
}

impl Reader {
    fn new(resp: reqwest::Response) -> Reader {
        Reader { body: Box::pin(resp.bytes_stream()), buf: String::new(), ready: Default::default() }
    }

    /// The next event, or `None` when the stream ended.
    async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(e) = self.ready.pop_front() {
                return Some(e);
            }
            match tokio::time::timeout(Duration::from_secs(10), self.body.next()).await.expect("SSE stream stalled") {
                Some(Ok(bytes)) => {
                    self.buf.push_str(&String::from_utf8_lossy(&bytes));
                    self.ready.extend(parse_events(&mut self.buf));
                }
                Some(Err(e)) => panic!("stream error: {e}"),
                None => return None,
            }
        }
    }
}

#[tokio::test]
async fn the_standalone_stream_keeps_what_comes_while_its_reader_is_away() {
    let url = http_server().await;
    let s = Session::open(&url, "2025-11-25").await;
    s.request(1, "resources/subscribe", json!({"uri": "mem://board"})).await;
    let mut live = Reader::new(s.listen().await);
    let priming = live.next().await.unwrap();
    assert!(priming.retry.is_some() && priming.data.as_deref() == Some(""), "{priming:?}");
    let (stream, at) = split_id(priming.id.as_deref().unwrap());
    assert_eq!(at, 0);

    s.request(2, "tools/call", json!({"name": "touch", "arguments": {}})).await;
    let first = live.next().await.unwrap();
    assert_eq!(first.json()["method"], "notifications/resources/updated", "{first:?}");
    assert_eq!(split_id(first.id.as_deref().unwrap()), (stream.clone(), 1));
    drop(live); // the connection is lost

    for id in 3..5 {
        s.request(id, "tools/call", json!({"name": "touch", "arguments": {}})).await;
    }
    // Coming back with the last id seen: what was sent meanwhile, then live again.
    let mut resumed = Reader::new(s.resume(first.id.as_deref().unwrap()).await);
    for n in 2..4 {
        let e = resumed.next().await.unwrap();
        assert_eq!(split_id(e.id.as_deref().unwrap()), (stream.clone(), n));
        assert_eq!(e.json()["params"]["uri"], "mem://board");
    }
    s.request(5, "tools/call", json!({"name": "touch", "arguments": {}})).await;
    assert_eq!(split_id(resumed.next().await.unwrap().id.as_deref().unwrap()), (stream.clone(), 4));

    // A new GET takes over: the old reader ends, the new one starts after what was sent.
    let mut newer = Reader::new(s.listen().await);
    assert!(resumed.next().await.is_none(), "one standalone reader at a time");
    let priming = newer.next().await.unwrap();
    assert_eq!(split_id(priming.id.as_deref().unwrap()), (stream.clone(), 4));
    s.request(6, "tools/call", json!({"name": "touch", "arguments": {}})).await;
    assert_eq!(split_id(newer.next().await.unwrap().id.as_deref().unwrap()), (stream.clone(), 5));

    // Ending the session ends the stream.
    let resp = s.http.delete(&s.url).header("mcp-session-id", &s.id).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(newer.next().await.is_none());
}

#[tokio::test]
async fn the_standalone_stream_keeps_only_its_latest_events() {
    let url = http_server().await;
    let s = Session::open(&url, "2025-11-25").await;
    s.request(1, "resources/subscribe", json!({"uri": "mem://board"})).await;
    let mut live = Reader::new(s.listen().await);
    let priming = live.next().await.unwrap();
    drop(live);
    // A second session hears the same updates in the same step: once it has all 600, so has the log.
    let watcher = Session::open(&url, "2025-11-25").await;
    watcher.request(1, "resources/subscribe", json!({"uri": "mem://board"})).await;
    let mut watching = Reader::new(watcher.listen().await);
    watching.next().await.unwrap(); // priming
    let r = s.request(2, "tools/call", json!({"name": "touch_600", "arguments": {}})).await;
    assert_eq!(r["result"]["content"][0]["text"], "touched 600 times", "{r}");
    for _ in 0..600 {
        watching.next().await.unwrap();
    }
    let mut resumed = Reader::new(s.resume(priming.id.as_deref().unwrap()).await);
    // The first 88 of the 600 were dropped (512 are kept): the reader goes on from the oldest kept.
    let first = resumed.next().await.unwrap();
    assert_eq!(split_id(first.id.as_deref().unwrap()).1, 89, "{first:?}");
    let mut last = first;
    while split_id(last.id.as_deref().unwrap()).1 < 600 {
        last = resumed.next().await.unwrap();
    }
}

#[tokio::test]
async fn older_clients_get_a_plain_standalone_stream() {
    let url = http_server().await;
    let s = Session::open(&url, "2025-06-18").await;
    s.request(1, "resources/subscribe", json!({"uri": "mem://board"})).await;
    let mut live = Reader::new(s.listen().await);
    s.request(2, "tools/call", json!({"name": "touch", "arguments": {}})).await;
    let e = live.next().await.unwrap();
    assert_eq!(e.json()["method"], "notifications/resources/updated", "{e:?}");
    assert!(e.id.is_none() && e.retry.is_none(), "{e:?}");
}

#[tokio::test]
async fn a_stream_nobody_reads_keeps_only_its_latest_events_and_always_the_response() {
    let server = Server::builder("bounded", "1")
        .configure(|c| c.max_stream_buffer_bytes = 8 * 1024)
        .tool(ToolDef::new("flood").handler(|cx: Context| async move {
            cx.close_stream(); // the client is away while the handler talks
            for i in 0..5000 {
                cx.info(format!("line {i}"));
            }
            "flooded"
        }))
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { server.serve_listener(listener).await });
    let s = Session::open(&url, "2025-11-25").await;
    let (events, ended) = read_events(s.call(3, "flood").await, None).await;
    assert!(ended);
    assert_eq!(events.len(), 1, "the priming event alone: {events:?}");
    // Once a resumption ends with the response, the log is complete: the next one reads
    // what it kept (the earlier ones may have followed the handler live).
    let priming = events[0].id.as_deref().unwrap();
    loop {
        let (rest, _) = read_events(s.resume(priming).await, None).await;
        if rest.last().is_some_and(|e| e.json()["id"] == 3) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (rest, ended) = read_events(s.resume(priming).await, None).await;
    assert!(ended);
    let answer = rest.last().unwrap().json();
    assert_eq!(answer["result"]["content"][0]["text"], "flooded", "{answer}");
    // 8 KiB hold about a hundred of the 5000 messages: the latest ones, in order, from the oldest kept.
    let lines: Vec<u64> = rest
        .iter()
        .filter_map(|e| e.json()["params"]["data"].as_str().and_then(|d| d.strip_prefix("line ")?.parse().ok()))
        .collect();
    assert!(!lines.is_empty() && lines.len() < 200, "{} kept", lines.len());
    assert_eq!(*lines.last().unwrap(), 4999);
    assert!(lines.windows(2).all(|w| w[1] == w[0] + 1), "{lines:?}");
    let first = split_id(rest[0].id.as_deref().unwrap()).1;
    assert!(first > 4000, "numbers skip what was dropped: {first}");
}
