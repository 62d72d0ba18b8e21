//! What parsing a hostile message costs in memory, counted by a global allocator.
//! (One test: the count is process-wide, so nothing else may run alongside.)

use ferry_protocol::{ErrorCode, Message, ParseLimits};

#[global_allocator]
static HEAP: ferry_protocol::heap_count::CountingAlloc = ferry_protocol::heap_count::CountingAlloc;

/// The peak of heap bytes allocated while `f` runs (beyond those live before), and its result.
fn peak<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let base = ferry_protocol::heap_count::mark();
    let out = f();
    (ferry_protocol::heap_count::peak_since(base), out)
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
