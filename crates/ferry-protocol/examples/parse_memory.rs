//! Peak heap of parsing hostile messages: bodies just under the 4 MiB HTTP limit,
//! and the largest the default [`ParseLimits`] let through, parsed without limits
//! (`Message::parse`) and with the defaults (`Message::parse_limited`).
//!
//! `cargo run --release -p ferry-protocol --example parse_memory`

use ferry_protocol::{Message, ParseLimits};

#[global_allocator]
static HEAP: ferry_protocol::heap_count::CountingAlloc = ferry_protocol::heap_count::CountingAlloc;

const BODY: usize = 4 * 1024 * 1024 - 1024;

/// A `tools/call` whose argument `a` is `open item,item,... close`, with `count`
/// items or as many as fit in `BODY` bytes. `item` may use `{i}` for a counter.
fn call(open: &str, item: &str, close: &str, count: usize) -> Vec<u8> {
    let mut s =
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"x","arguments":{{"a":{open}"#);
    let mut i = 0;
    while i < count && s.len() + item.len() + 16 < BODY {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&item.replace("{i}", &format!("{i:x}")));
        i += 1;
    }
    s.push_str(close);
    s.push_str("}}}");
    s.into_bytes()
}

fn measure(name: &str, bytes: &[u8], limits: &ParseLimits) {
    let base = ferry_protocol::heap_count::mark();
    let parsed = Message::parse_limited(bytes, limits);
    let peak = ferry_protocol::heap_count::peak_since(base);
    let outcome = match &parsed {
        Ok(_) => "parsed".to_string(),
        Err(e) => format!("refused ({})", e.code),
    };
    drop(parsed);
    println!(
        "{name:<46} body {:>6.2} MiB  peak {:>6.1} MiB  ({:>4.1}x)  {outcome}",
        bytes.len() as f64 / 1048576.0,
        peak as f64 / 1048576.0,
        peak as f64 / bytes.len() as f64
    );
}

fn main() {
    let at_limit = ParseLimits::default().max_values - 8;
    // Name, the argument's shape, and how many values each item counts for.
    let shapes = [
        ("array of 0", "[", "0", "]", 1),
        ("array of []", "[", "[]", "]", 2),
        ("array of [0]", "[", "[0]", "]", 2),
        ("object of small members", "{", r#""{i}":0"#, "}", 1),
        ("array of {\"k\":0}", "[", r#"{"k":0}"#, "]", 2),
    ];
    for (name, open, item, close, values) in shapes {
        let full = call(open, item, close, usize::MAX);
        measure(&format!("{name}, 4 MiB, no limits"), &full, &ParseLimits::UNLIMITED);
        measure(&format!("{name}, 4 MiB, default limits"), &full, &ParseLimits::default());
        measure(
            &format!("{name}, at the default limit"),
            &call(open, item, close, at_limit / values),
            &ParseLimits::default(),
        );
    }
    let text = "x".repeat(BODY - 200);
    let string = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"s":"{text}"}}}}"#);
    measure("one long string, default limits", string.as_bytes(), &ParseLimits::default());
}
