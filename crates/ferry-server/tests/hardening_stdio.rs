//! stdio with a hostile client: an oversized line is skipped without being held in
//! memory and answered with an error naming the limit; a message nested too deep is
//! refused before it is parsed. The server goes on serving the lines that follow.
//! (One test: the heap count below is process-wide.)

use ferry_server::{Server, ToolDef};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[global_allocator]
static HEAP: ferry_protocol::heap_count::CountingAlloc = ferry_protocol::heap_count::CountingAlloc;

const MIB: usize = 1 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_too_deep_lines_are_refused_and_the_next_line_is_served() {
    let server = Server::builder("s", "1")
        .tool(ToolDef::new("hi").handler(|| async { "hi" }))
        .configure(|c| c.max_body_bytes = MIB)
        .build()
        .unwrap();
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    let (r, w) = tokio::io::split(theirs);
    tokio::spawn(async move { server.serve_io(r, w).await });
    let (r, mut tx) = tokio::io::split(ours);
    let mut rx = BufReader::new(r).lines();
    let mut recv = async || -> Value {
        let line = tokio::time::timeout(Duration::from_secs(30), rx.next_line()).await.expect("in time");
        serde_json::from_str(&line.expect("read").expect("open")).expect("JSON")
    };

    // 40 MiB on one line (the limit is 1 MiB), written from one reused 1 MiB buffer.
    let base = ferry_protocol::heap_count::mark();
    let chunk = vec![b'x'; MIB];
    tx.write_all(br#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":""#).await.unwrap();
    for _ in 0..40 {
        tx.write_all(&chunk).await.unwrap();
    }
    tx.write_all(b"\"}}\n").await.unwrap();
    let refused = recv().await;
    let peak = ferry_protocol::heap_count::peak_since(base);
    assert_eq!(refused["error"]["code"], -32600, "{refused}");
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(&format!("larger than {MIB} bytes")), "{refused}");
    // The line never sat in memory: the writer's buffer, the line limit (twice, for
    // the buffer's growth) and the pipe are all there is.
    assert!(peak < 6 * MIB, "the server held {peak} bytes while skipping a 40 MiB line");

    tx.write_all(b"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}\n").await.unwrap();
    let pong = recv().await;
    assert_eq!(pong, json!({"jsonrpc": "2.0", "id": 2, "result": {}}));

    let deep =
        format!(r#"{{"jsonrpc":"2.0","id":3,"method":"ping","params":{{"a":{}{}}}}}"#, "[".repeat(80), "]".repeat(80));
    tx.write_all(format!("{deep}\n").as_bytes()).await.unwrap();
    let refused = recv().await;
    assert_eq!(refused["id"], 3, "{refused}");
    assert_eq!(refused["error"]["code"], -32600, "{refused}");
    assert_eq!(refused["error"]["data"], json!({"limit": "maxDepth", "max": 64}), "{refused}");

    let call = json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {"name": "hi",
        "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {}}}});
    tx.write_all(format!("{call}\n").as_bytes()).await.unwrap();
    let answer = recv().await;
    assert_eq!(answer["result"]["content"][0]["text"], "hi", "{answer}");
}
