//! The session table under pressure: per-client limits, half-open sessions that
//! expire, and a full table that makes room instead of refusing everyone.

mod common;

/// These suites run on the embedded engine.
const BACKEND: common::Backend = common::Backend::Memory;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;

/// An `initialize` without `notifications/initialized`: a half-open session (its id), or the refusal.
async fn half_open(url: &str, token: Option<&str>) -> Result<String, Reply> {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let mut headers = JSON_HEADERS.to_vec();
    if let Some(b) = &bearer {
        headers.push(("authorization", b.as_str()));
    }
    let init = rpc(1, "initialize", json!({"protocolVersion": LATEST, "capabilities": {}}));
    let r = post_raw(&http_client(), url, &headers, init.to_string()).await;
    match r.headers.get("mcp-session-id").and_then(|v| v.to_str().ok()) {
        Some(id) if r.status == 200 => Ok(id.to_string()),
        _ => Err(r),
    }
}

/// Whether the session `id` is still in the table (a notification: it does not finish a handshake).
async fn alive(url: &str, id: &str, token: Option<&str>) -> bool {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let mut headers = JSON_HEADERS.to_vec();
    headers.push(("mcp-session-id", id));
    if let Some(b) = &bearer {
        headers.push(("authorization", b.as_str()));
    }
    let note = json!({"jsonrpc": "2.0", "method": "notifications/still-there"});
    match post_raw(&http_client(), url, &headers, note.to_string()).await.status {
        202 => true,
        404 => false,
        other => panic!("unexpected status {other}"),
    }
}

/// The demo with bearer tokens naming subjects (`Bearer alice` is alice).
async fn with_subjects(f: impl FnOnce(&mut ferry_server::ServerConfig)) -> TestServer {
    let builder = demo::builder()
        .configure(f)
        .authenticate(|h| h.get("authorization")?.to_str().ok()?.strip_prefix("Bearer ").map(str::to_string));
    TestServer::start(builder).await
}

/// An established session of `token`'s subject.
async fn established(url: &str, token: &str) -> String {
    let id = half_open(url, Some(token)).await.unwrap_or_else(|r| panic!("initialize refused: {r:?}"));
    let bearer = format!("Bearer {token}");
    let mut headers = JSON_HEADERS.to_vec();
    headers.extend([("mcp-session-id", id.as_str()), ("authorization", bearer.as_str())]);
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(post_raw(&http_client(), url, &headers, note.to_string()).await.status, 202);
    id
}

#[tokio::test]
async fn a_client_beyond_its_session_limit_gets_429_with_a_clear_error() {
    let srv = TestServer::demo_with(|c| c.max_sessions_per_client = 2).await;
    let a = srv.session().await;
    let _b = srv.session().await;
    let r = half_open(&srv.url, None).await.expect_err("a third session for the same address is refused");
    assert_eq!(r.status, 429, "{r:?}");
    assert!(r.headers.get("retry-after").is_some(), "{r:?}");
    assert_eq!(r.body()["id"], 1, "{r:?}");
    assert_eq!(r.error()["code"], -32029, "{r:?}");
    let message = r.error()["message"].as_str().unwrap();
    assert!(message.contains("Too many sessions for this client") && message.contains("DELETE"), "{message}");
    assert!(r.headers.get("mcp-session-id").is_none(), "{r:?}");
    // Ending one makes room for this client again.
    assert_eq!(a.delete().await, 200);
    let c = srv.session().await;
    assert_eq!(c.ok("ping", json!({})).await, json!({}));
}

#[tokio::test]
async fn a_flood_of_half_open_sessions_from_one_client_does_not_lock_out_others() {
    let srv = with_subjects(|c| {
        c.max_sessions = 6;
        c.max_sessions_per_client = 4;
    })
    .await;
    let mut refused = 0;
    for _ in 0..20 {
        match half_open(&srv.url, Some("mallory")).await {
            Ok(_) => {}
            Err(r) => {
                assert_eq!(r.status, 429, "{r:?}");
                refused += 1;
            }
        }
    }
    assert_eq!(refused, 16, "mallory holds 4 sessions at most");
    // Alice gets in: her sessions take the places of mallory's half-open ones.
    let alice: Vec<String> =
        futures::future::join_all((0..4).map(|_| established(&srv.url, "alice"))).await.into_iter().collect();
    for id in &alice {
        assert!(alive(&srv.url, id, Some("alice")).await);
    }
}

#[tokio::test]
async fn a_full_table_evicts_the_least_recently_used_session_preferring_half_open_ones() {
    let srv = TestServer::demo_with(|c| {
        c.max_sessions = 3;
        c.max_sessions_per_client = 0;
    })
    .await;
    let a = srv.session().await;
    let b = srv.session().await;
    let c = srv.session().await;
    // b is the least recently used.
    assert_eq!(a.ok("ping", json!({})).await, json!({}));
    assert_eq!(c.ok("ping", json!({})).await, json!({}));
    let d = srv.session().await;
    assert_eq!(b.send("ping", json!({})).await.status, 404, "b was evicted");
    for s in [&a, &c, &d] {
        assert_eq!(s.ok("ping", json!({})).await, json!({}));
    }
    // A half-open session goes first, though it was used last.
    let h = half_open(&srv.url, None).await.expect("room is made");
    assert_eq!(a.send("ping", json!({})).await.status, 404, "a was the least recently used");
    assert!(alive(&srv.url, &h, None).await);
    let e = srv.session().await;
    assert!(!alive(&srv.url, &h, None).await, "the half-open one made room");
    for s in [&c, &d, &e] {
        assert_eq!(s.ok("ping", json!({})).await, json!({}));
    }
}

#[tokio::test]
async fn a_table_full_of_sessions_with_calls_running_is_503() {
    use ferry_server::{Context, ToolDef};
    let holds = ToolDef::new("hold").handler(|cx: Context| async move {
        cx.info("holding");
        tokio::time::sleep(Duration::from_secs(600)).await;
        "released"
    });
    let srv = TestServer::start(demo::builder().tool(holds).configure(|c| {
        c.max_sessions = 1;
        c.max_sessions_per_client = 0;
    }))
    .await;
    let busy = srv.session().await;
    let mut headers = JSON_HEADERS.to_vec();
    headers.extend([("mcp-session-id", busy.id.as_str()), ("mcp-protocol-version", LATEST)]);
    let mut call = busy.http.post(&busy.url).body(rpc(7, "tools/call", json!({"name": "hold"})).to_string());
    for (k, v) in headers {
        call = call.header(k, v);
    }
    // Once the log message is here, the call runs.
    let mut stream = SseReader::new(call.send().await.unwrap());
    let said = stream.next_within_deadline("the log message").await.expect("a message");
    assert_eq!(said["params"]["data"], "holding", "{said}");

    let r = half_open(&srv.url, None).await.expect_err("no session can be evicted");
    assert_eq!(r.status, 503, "{r:?}");
    assert!(r.headers.get("retry-after").is_some(), "{r:?}");
    assert_eq!(r.error()["code"], -32029, "{r:?}");
    assert!(r.error()["message"].as_str().unwrap().contains("busy"), "{r:?}");
    assert_eq!(busy.ok("ping", json!({})).await, json!({}), "the busy session is unharmed");
}

#[tokio::test]
async fn a_half_open_session_expires_and_an_established_one_stays() {
    let srv = TestServer::demo_with(|c| c.session_handshake_timeout = Duration::from_millis(200)).await;
    let s = srv.session().await;
    let h = half_open(&srv.url, None).await.expect("opened");
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while alive(&srv.url, &h, None).await {
        assert!(tokio::time::Instant::now() < deadline, "the half-open session never expired");
        tokio::time::sleep(POLL).await;
    }
    // Older than the half-open one, but established: still there.
    assert_eq!(s.ok("ping", json!({})).await, json!({}));
    let _: Value = s.call("add", json!({"a": 1, "b": 2})).await;
}
