//! Streamable HTTP with hostile clients at the connection level: half-sent request
//! heads (slowloris), idle keep-alive connections, more connections than allowed,
//! slow bodies, many bodies in flight, and bodies whose JSON would be costly to parse.
//! No timing assertions: what must end is polled for with a generous cap.

mod support;

use ferry_server::transport::{ConnectionLimits, HttpOptions};
use ferry_server::{Context, LoggingLevel, Server, ToolDef};
use futures::StreamExt;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;
use support::{modern_meta, stateless_call};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What must happen eventually happens within this.
const CAP: Duration = Duration::from_secs(30);

const PING: &str = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;

/// A server with a `hi` tool and a `slow` one (logs, so its answer is an SSE
/// stream, then answers after `ms`), serving within `limits`.
async fn serve(limits: ConnectionLimits, max_body: Option<usize>) -> (SocketAddr, String) {
    let server = Server::builder("hardening", "1")
        .tool(ToolDef::new("hi").handler(|| async { "hi" }))
        .tool(ToolDef::new("slow").handler(|cx: Context, args: ferry_server::Args<Value>| async move {
            cx.log(LoggingLevel::Info, "started");
            tokio::time::sleep(Duration::from_millis(args.0["ms"].as_u64().unwrap_or(0))).await;
            "done"
        }))
        .configure(|c| {
            if let Some(max) = max_body {
                c.max_body_bytes = max;
            }
        })
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let options = HttpOptions { limits, ..HttpOptions::default() };
    tokio::spawn(async move { server.serve_listener_with(listener, options).await });
    (addr, format!("http://{addr}/mcp"))
}

/// A plain, well-behaved `ping` (no session needed).
fn ping(url: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new().post(url).header("content-type", "application/json").body(PING)
}

/// A `ping` from another loopback address (another client, as far as per-client bounds go).
fn ping_from(url: &str, address: &str) -> reqwest::RequestBuilder {
    let client =
        reqwest::Client::builder().local_address(address.parse::<std::net::IpAddr>().unwrap()).build().unwrap();
    client.post(url).header("content-type", "application/json").body(PING)
}

/// Read until the server closes the connection; what it sent meanwhile.
async fn until_closed(conn: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(CAP, read).await.expect("the server closes the connection");
    String::from_utf8_lossy(&seen).into_owned()
}

fn head(content_length: usize) -> String {
    format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {content_length}\r\n\r\n"
    )
}

#[tokio::test]
async fn half_sent_heads_are_closed_and_a_well_behaved_request_is_served() {
    let limits = ConnectionLimits {
        max_connections: Some(8),
        header_read_timeout: Duration::from_millis(300),
        ..ConnectionLimits::default()
    };
    let (addr, url) = serve(limits, None).await;
    // Five times the connection limit, each stuck in the middle of its head.
    let mut attackers = Vec::new();
    for _ in 0..40 {
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty").await.unwrap();
        attackers.push(c);
    }
    // Behind them in the backlog, a legitimate request.
    let legit = tokio::spawn(ping(&url).send());
    futures::future::join_all(attackers.iter_mut().map(until_closed)).await;
    let resp = tokio::time::timeout(CAP, legit).await.expect("served").unwrap().unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["result"], json!({}), "{body}");
}

#[tokio::test]
async fn an_oversized_head_is_refused_with_431_without_waiting_for_its_end() {
    let limits = ConnectionLimits {
        header_read_timeout: Duration::from_secs(600),
        max_header_bytes: 16 * 1024,
        ..ConnectionLimits::default()
    };
    let (addr, _) = serve(limits, None).await;
    let mut c = TcpStream::connect(addr).await.unwrap();
    let mut head = String::from("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for i in 0..1000 {
        head.push_str(&format!("X-Filler-{i}: {}\r\n", "y".repeat(100)));
    }
    let _ = c.write_all(head.as_bytes()).await; // the server may close before it is all sent
    let seen = until_closed(&mut c).await;
    assert!(seen.starts_with("HTTP/1.1 431"), "{seen}");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_its_response() {
    let limits = ConnectionLimits { header_read_timeout: Duration::from_millis(300), ..ConnectionLimits::default() };
    let (addr, _) = serve(limits, None).await;
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(format!("{}{PING}", head(PING.len())).as_bytes()).await.unwrap();
    let seen = until_closed(&mut c).await;
    assert!(seen.starts_with("HTTP/1.1 200") && seen.contains(r#""result":{}"#), "{seen}");
}

#[tokio::test]
async fn past_the_connection_limit_new_connections_wait_for_a_free_slot() {
    let limits = ConnectionLimits { max_connections: Some(2), ..ConnectionLimits::default() };
    let (addr, url) = serve(limits, None).await;
    let idle = [TcpStream::connect(addr).await.unwrap(), TcpStream::connect(addr).await.unwrap()];
    let mut legit = tokio::spawn(ping(&url).send());
    // Both slots are taken: the request waits (a slow machine only makes this pass more easily).
    assert!(tokio::time::timeout(Duration::from_millis(500), &mut legit).await.is_err(), "served past the limit");
    drop(idle);
    let resp = tokio::time::timeout(CAP, legit).await.expect("served once a slot is free").unwrap().unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn a_live_sse_stream_outlasts_the_header_timeout() {
    let limits = ConnectionLimits { header_read_timeout: Duration::from_millis(200), ..ConnectionLimits::default() };
    let (_, url) = serve(limits, None).await;
    let mut meta = modern_meta(json!({}));
    meta["io.modelcontextprotocol/logLevel"] = json!("info");
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "slow", "arguments": {"ms": 1500}, "_meta": meta}});
    let resp = stateless_call(&url, "slow", &call).send().await.unwrap();
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut events = String::new();
    let mut body = resp.bytes_stream();
    while let Some(chunk) = tokio::time::timeout(CAP, body.next()).await.expect("in time") {
        events.push_str(&String::from_utf8_lossy(&chunk.expect("the stream is not cut")));
    }
    assert!(events.contains("started") && events.contains(r#""text":"done""#), "{events}");
}

#[tokio::test]
async fn a_body_slower_than_the_body_timeout_is_refused_with_408() {
    let limits = ConnectionLimits { body_read_timeout: Duration::from_millis(300), ..ConnectionLimits::default() };
    let (addr, _) = serve(limits, None).await;
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(format!("{}{}", head(PING.len()), &PING[..10]).as_bytes()).await.unwrap();
    let seen = until_closed(&mut c).await;
    assert!(seen.starts_with("HTTP/1.1 408"), "{seen}");
    assert!(seen.contains("body_read_timeout"), "{seen}");
}

/// Largest body of the body-budget tests.
const MAX_BODY: usize = 64 * 1024;

/// A server whose body budget is `bodies` largest bodies, and a connection from
/// 127.0.0.1 holding a body of all but 36 bytes of one that never ends.
async fn hogged_body_budget(bodies: usize) -> (String, TcpStream) {
    let limits = ConnectionLimits {
        max_inflight_body_bytes: bodies * MAX_BODY,
        body_budget_wait: Duration::from_millis(200),
        ..ConnectionLimits::default()
    };
    let (addr, url) = serve(limits, Some(MAX_BODY)).await;
    let mut hog = TcpStream::connect(addr).await.unwrap();
    hog.write_all(format!("{}{}", head(MAX_BODY - 6), " ".repeat(MAX_BODY - 36)).as_bytes()).await.unwrap();
    (url, hog)
}

/// Send `request` until it is answered `503` (the hog's bytes take a moment to arrive).
async fn until_503(request: impl Fn() -> reqwest::RequestBuilder) -> reqwest::Response {
    for _ in 0..100 {
        let resp = request().send().await.unwrap();
        if resp.status() == 503 {
            return resp;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no 503 while the budget is held");
}

#[tokio::test]
async fn bodies_in_flight_beyond_the_budget_are_refused_with_503_and_retry_after() {
    // A body that takes all but 36 bytes of the budget and never ends: the 40-byte
    // ping cannot get its bytes in (from another address: the hog holds the whole
    // budget, not only its own share).
    let (url, hog) = hogged_body_budget(1).await;
    let resp = until_503(|| ping_from(&url, "127.0.0.2")).await;
    assert_eq!(resp.headers()["retry-after"], "1");
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap_or_default().contains("max_inflight_body_bytes"), "{body}");
    drop(hog); // its bytes go back to the budget
    let mut served = false;
    for _ in 0..100 {
        if ping(&url).send().await.unwrap().status() == 200 {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(served, "served again once the budget is free");
}

#[tokio::test]
async fn bodies_too_deep_or_with_too_many_values_are_refused_before_parsing() {
    let (_, url) = serve(ConnectionLimits::default(), None).await;
    let deep =
        format!(r#"{{"jsonrpc":"2.0","id":5,"method":"ping","params":{{"a":{}{}}}}}"#, "[".repeat(70), "]".repeat(70));
    let resp = ping(&url).body(deep).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["id"], 5, "{body}");
    assert_eq!(body["error"]["code"], -32600, "{body}");
    assert_eq!(body["error"]["data"], json!({"limit": "maxDepth", "max": 64}), "{body}");

    // Just under the 4 MiB body limit: two million numbers.
    let mut many = String::from(r#"{"jsonrpc":"2.0","id":6,"method":"ping","params":{"a":["#);
    many.push_str(&"0,".repeat(2_000_000));
    many.push_str("0]}}");
    let resp = ping(&url).body(many).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["id"], 6, "{body}");
    assert_eq!(body["error"]["data"], json!({"limit": "maxValues", "max": 100_000}), "{body}");
}

#[tokio::test]
async fn one_client_address_cannot_take_every_connection() {
    // A header timeout beyond the wait cap: only the per-client limit can close the fourth.
    let limits = ConnectionLimits {
        max_connections_per_client: Some(3),
        header_read_timeout: CAP * 4,
        ..ConnectionLimits::default()
    };
    let (addr, url) = serve(limits, None).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n").await.unwrap();
        held.push(c);
    }
    // A fourth from the same address is closed at once, without an answer.
    let mut fourth = TcpStream::connect(addr).await.unwrap();
    let _ = fourth.write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n").await;
    assert_eq!(until_closed(&mut fourth).await, "");
    // Another address is served.
    let other =
        reqwest::Client::builder().local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap()).build().unwrap();
    let resp = other.post(&url).header("content-type", "application/json").body(PING).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    // When one of the three goes, the address may connect again.
    drop(held.pop());
    let deadline = tokio::time::Instant::now() + CAP;
    loop {
        if ping(&url).send().await.is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the address never got a slot back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn one_client_holds_at_most_its_share_of_the_body_budget() {
    // A budget of four bodies: a client's share is a quarter, one whole body.
    let (url, hog) = hogged_body_budget(4).await;
    let body: Value = until_503(|| ping(&url)).await.json().await.unwrap(); // the hog's own address
    assert_eq!(body["error"]["code"], -32029, "{body}");
    assert_eq!(body["error"]["data"]["scope"], "owner", "{body}");
    // The rest of the budget is there for everyone else.
    assert_eq!(ping_from(&url, "127.0.0.2").send().await.unwrap().status(), 200);
    drop(hog);
}
