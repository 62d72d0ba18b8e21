//! What parsing a hostile message costs in memory, counted by a global allocator.
//! (One test: the count is process-wide, so nothing else may run alongside.)

use ferry_protocol::{ErrorCode, Message, ParseLimits};
use std::alloc::{GlobalAlloc, Layout, System};
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

/// The peak of heap bytes allocated while `f` runs (beyond those live before), and its result.
fn peak<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let base = NOW.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    let out = f();
    (PEAK.load(Ordering::SeqCst) - base, out)
}

/// A `tools/call` whose arguments hold an array of `n` zeros.
fn zeros(n: usize) -> Vec<u8> {
    let mut s = br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x","arguments":{"a":["#.to_vec();
    s.extend(std::iter::repeat_n(*b"0,", n).flatten());
    s.pop();
    s.extend_from_slice(b"]}}}");
    s
}

#[test]
fn hostile_bodies_cost_little_to_refuse_and_accepted_ones_are_not_copied() {
    const MIB: usize = 1 << 20;
    // Just under the HTTP body limit: 2M values, refused before anything is allocated.
    let body = zeros(2 * MIB - 64);
    assert!(body.len() < 4 * MIB);
    let (cost, parsed) = peak(|| Message::parse_limited(&body, &ParseLimits::default()));
    let e = parsed.expect_err("over the limit");
    assert_eq!(e.code, ErrorCode::INVALID_REQUEST);
    assert!(e.message.contains("more than 100000 JSON values"), "{e:?}");
    assert!(cost < MIB / 4, "refusing cost {cost} bytes");

    let deep =
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":"m","params":{{"a":{}{}}}}}"#, "[".repeat(65), "]".repeat(65));
    let e = Message::parse_limited(deep.as_bytes(), &ParseLimits::default()).expect_err("too deep");
    assert!(e.message.contains("nested deeper than 64 levels"), "{e:?}");

    // An accepted message keeps its params as parsed: classifying it must not
    // rebuild them (which held two copies at once).
    let body = zeros(500_000);
    let (tree, value) = peak(|| serde_json::from_slice::<serde_json::Value>(&body).expect("JSON"));
    drop(value);
    let (cost, parsed) = peak(|| Message::parse_limited(&body, &ParseLimits::UNLIMITED));
    assert!(matches!(parsed, Ok(Message::Request(_))));
    assert!(cost < tree + MIB, "parsing a message cost {cost} bytes, its JSON tree alone {tree}");
}
