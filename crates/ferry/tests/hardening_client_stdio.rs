//! The client's stdio transport bounds the lines it reads from a server: a 40 MiB
//! line is skipped as it arrives (never held whole), and the messages after it are
//! read as usual. (One test: the heap count below is process-wide.)

use ferry_client::{Client, ClientOptions};
use serde_json::json;
use std::process::Stdio;

#[global_allocator]
static HEAP: ferry_protocol::heap_count::CountingAlloc = ferry_protocol::heap_count::CountingAlloc;

const MIB: usize = 1 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_line_from_the_server_is_skipped_without_being_buffered() {
    // A server that first prints 40 MiB of `x` on one line, then serves as usual.
    let mut cmd = tokio::process::Command::new("sh");
    cmd.args([
        "-c",
        r#"head -c 41943040 /dev/zero | tr '\0' x; echo; exec "$0" serve --stdio"#,
        env!("CARGO_BIN_EXE_ferry"),
    ])
    .stderr(Stdio::null());
    let base = ferry_protocol::heap_count::mark();
    let client = Client::connect_stdio(cmd, ClientOptions::default().max_message_bytes(MIB)).await.expect("connect");
    let peak = ferry_protocol::heap_count::peak_since(base);
    assert!(peak < 8 * MIB, "the client held {peak} bytes while skipping a 40 MiB line");
    let result = client.call_tool("add", json!({"a": 2, "b": 3})).await.expect("call");
    assert_eq!(result.content[0].as_text(), Some("5"));
    client.close().await;
}
