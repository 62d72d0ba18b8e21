//! An answer nobody can receive any more is not worth finishing: when the client
//! of a plain JSON answer, or of a stream it cannot resume, goes away, the call is
//! cancelled. A resumable stream's call goes on (the client may come back).

mod support;

use support::{modern_meta, stateless_call};

use ferry_server::{Context, LoggingLevel, Server, ToolDef};
use futures::StreamExt;
use serde_json::{json, Value};
use std::time::Duration;
use tokio::sync::mpsc;

/// Reports when the handler holding it stops, however it stops.
struct Stopped(mpsc::UnboundedSender<&'static str>);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.send("stopped");
    }
}

/// A server whose `hang` tool says "started", optionally logs, then waits ten minutes.
async fn serve() -> (String, mpsc::UnboundedReceiver<&'static str>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let server = Server::builder("abandoned", "1")
        .tool(ToolDef::new("hang").handler(move |cx: Context| {
            let (tx, guard) = (tx.clone(), Stopped(tx.clone()));
            async move {
                let _ = tx.send("started");
                cx.log(LoggingLevel::Info, "working on it");
                tokio::time::sleep(Duration::from_secs(600)).await;
                drop(guard);
                "finished"
            }
        }))
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { server.serve_listener(listener).await });
    (url, rx)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<&'static str>) -> &'static str {
    tokio::time::timeout(Duration::from_secs(20), rx.recv()).await.expect("in time").expect("open")
}

fn call(log_level: Option<&str>) -> Value {
    let mut meta = modern_meta(json!({}));
    if let Some(l) = log_level {
        meta["io.modelcontextprotocol/logLevel"] = json!(l);
    }
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "hang", "arguments": {}, "_meta": meta}})
}

#[tokio::test]
async fn a_json_answer_s_client_going_away_cancels_the_call() {
    let (url, mut events) = serve().await;
    let request = stateless_call(&url, "hang", &call(None)).header("accept", "application/json").send();
    let pending = tokio::spawn(request);
    assert_eq!(next(&mut events).await, "started");
    pending.abort(); // the client gives up: its connection closes
    assert_eq!(next(&mut events).await, "stopped");
}

#[tokio::test]
async fn a_stream_nobody_can_resume_ends_its_call_when_its_reader_goes() {
    let (url, mut events) = serve().await;
    // Stateless: the log message makes the answer a stream, which has no session to be resumed in.
    let resp = stateless_call(&url, "hang", &call(Some("info"))).send().await.unwrap();
    assert_eq!(next(&mut events).await, "started");
    let mut body = resp.bytes_stream();
    let first = body.next().await.expect("an event").unwrap();
    assert!(String::from_utf8_lossy(&first).contains("working on it"));
    drop(body);
    assert_eq!(next(&mut events).await, "stopped");
}
