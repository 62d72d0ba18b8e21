//! The client's stdio transport bounds the lines it reads from a server: a 40 MiB
//! line is skipped as it arrives (never held whole), and the messages after it are
//! read as usual. (One test: the heap count below is process-wide.)

use ferry_client::{Client, ClientOptions};
use serde_json::json;
use std::alloc::{GlobalAlloc, Layout, System};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;
static NOW: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = NOW.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        NOW.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

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
    let base = NOW.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    let client = Client::connect_stdio(cmd, ClientOptions::default().max_message_bytes(MIB)).await.expect("connect");
    let peak = PEAK.load(Ordering::SeqCst) - base;
    assert!(peak < 8 * MIB, "the client held {peak} bytes while skipping a 40 MiB line");
    let result = client.call_tool("add", json!({"a": 2, "b": 3})).await.expect("call");
    assert_eq!(result.content[0].as_text(), Some("5"));
    client.close().await;
}
