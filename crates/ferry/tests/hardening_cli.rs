//! `ferry serve` takes its bounds for untrusted clients from flags (and env vars):
//! connections, header timeout, JSON shape.

mod support;

use serde_json::{json, Value};
use std::time::Duration;
use support::serve;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn post(url: &str, body: &str) -> Value {
    let client = reqwest::Client::new();
    let resp = client.post(url).header("content-type", "application/json").body(body.to_string()).send().await;
    resp.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn serve_applies_the_limit_flags() {
    let s = serve(&["--max-connections", "2", "--header-timeout-ms", "300", "--max-json-depth", "3"]);
    let addr = s.url.trim_start_matches("http://").trim_end_matches("/mcp").to_string();
    // Three times as many half-sent heads as connections allowed: all are closed in turn.
    let mut attackers = Vec::new();
    for _ in 0..6 {
        let mut c = TcpStream::connect(&addr).await.unwrap();
        c.write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n").await.unwrap();
        attackers.push(c);
    }
    for mut c in attackers {
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(30), c.read_to_end(&mut rest)).await;
        assert!(closed.is_ok(), "the server closes a connection that never finishes its head");
    }
    let body = post(&s.url, r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"a":[[1]]}}"#).await;
    assert_eq!(body["error"]["data"], json!({"limit": "maxDepth", "max": 3}), "{body}");
    let body = post(&s.url, r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#).await;
    assert_eq!(body["result"], json!({}), "{body}");
}

#[test]
fn serve_refuses_a_request_state_secret_too_short_to_seal_anything() {
    let out = std::process::Command::new(support::FERRY)
        .args(["serve", "--addr", "127.0.0.1:0", "--stdio"])
        .env("FERRY_REQUEST_STATE_SECRET", "too short")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("request-state secret has 9 bytes; it needs at least 32"), "{err}");
    let file = std::env::temp_dir().join(format!("ferry-secret-{}", std::process::id()));
    std::fs::write(&file, [7u8; 32]).unwrap();
    let s = support::serve(&["--request-state-secret-file", file.to_str().unwrap()]);
    assert!(s.url.ends_with("/mcp"), "a 32-byte secret from a file is taken");
    let _ = std::fs::remove_file(file);
}
