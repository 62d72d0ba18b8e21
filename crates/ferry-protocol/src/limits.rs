//! Bounds on the shape of a JSON-RPC message, checked on its bytes before it is parsed.
//!
//! Parsing JSON into [`serde_json::Value`] costs far more memory than the text:
//! an array of small numbers takes about 2 bytes a value on the wire and 32 to 64
//! in memory, so a 4 MiB body of `0,0,0,...` grows to some 160 MiB. A server that
//! reads messages from untrusted clients bounds how many values a message may hold
//! and how deeply it may nest, with [`Message::parse_limited`](crate::Message::parse_limited).
//! The check is one pass over the bytes (strings are skipped, nothing is allocated),
//! so an oversized message is refused before it costs anything.

use crate::jsonrpc::ErrorObject;
use serde_json::json;

/// Bounds on one message's JSON, for input from untrusted peers.
///
/// ```
/// use ferry_protocol::{Message, ParseLimits};
/// let limits = ParseLimits { max_depth: 4, max_values: 100 };
/// let deep = br#"{"jsonrpc":"2.0","id":1,"method":"m","params":{"a":[[[1]]]}}"#;
/// let e = Message::parse_limited(deep, &limits).unwrap_err();
/// assert_eq!(e.code, -32600);
/// assert!(e.message.contains("nested deeper than 4"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseLimits {
    /// Deepest nesting of arrays and objects; the message object itself is level 1.
    /// Default 64.
    pub max_depth: usize,
    /// Most values held by the message's arrays and objects, at all levels: array
    /// items plus object members (an empty array or object counts as one).
    /// Default 100,000, which bounds a parsed message to some 10 MB beyond its strings.
    pub max_values: usize,
}

impl Default for ParseLimits {
    fn default() -> Self {
        Self { max_depth: 64, max_values: 100_000 }
    }
}

impl ParseLimits {
    /// No bounds beyond serde_json's own (it refuses nesting deeper than 128).
    pub const UNLIMITED: ParseLimits = ParseLimits { max_depth: usize::MAX, max_values: usize::MAX };

    /// Check `bytes` against the limits: `Err` is a `-32600` error naming the limit
    /// passed. Bytes that are not JSON pass or fail here as the scan happens to see
    /// them; the parse that follows reports what is wrong with them.
    pub fn check(&self, bytes: &[u8]) -> Result<(), ErrorObject> {
        let (mut depth, mut values) = (0usize, 0usize);
        let mut rest = bytes;
        while let Some((&b, tail)) = rest.split_first() {
            rest = tail;
            match b {
                b'"' => rest = skip_string(rest),
                b'[' | b'{' => {
                    depth += 1;
                    values += 1;
                    if depth > self.max_depth {
                        return Err(self.refusal(
                            "maxDepth",
                            self.max_depth,
                            format!("JSON nested deeper than {} levels", self.max_depth),
                        ));
                    }
                }
                b']' | b'}' => depth = depth.saturating_sub(1),
                b',' => values += 1,
                _ => continue,
            }
            if values > self.max_values {
                return Err(self.refusal(
                    "maxValues",
                    self.max_values,
                    format!("more than {} JSON values (array items and object members)", self.max_values),
                ));
            }
        }
        Ok(())
    }

    fn refusal(&self, limit: &str, max: usize, what: String) -> ErrorObject {
        ErrorObject::invalid_request(format!("Invalid request: the message holds {what}, over this server's limit"))
            .with_data(json!({ "limit": limit, "max": max }))
    }
}

/// The bytes after the string whose opening quote was just read.
fn skip_string(mut rest: &[u8]) -> &[u8] {
    loop {
        match rest.iter().position(|&b| b == b'"' || b == b'\\') {
            None => return &[],
            Some(i) if rest[i] == b'"' => return &rest[i + 1..],
            // An escape: skip the backslash and the character it escapes.
            Some(i) => rest = rest.get(i + 2..).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(limits: ParseLimits, text: &str) -> Result<(), String> {
        limits.check(text.as_bytes()).map_err(|e| e.message)
    }

    #[test]
    fn counts_items_members_and_depth_outside_strings() {
        let l = ParseLimits { max_depth: 3, max_values: 6 };
        assert!(check(l, r#"{"a":[1,2,3],"b":{}}"#).is_ok()); // {, a, [, 1, 2, 3 ... = 6 values
        assert!(check(l, r#"{"a":[1,2,3],"b":{},"c":1}"#).unwrap_err().contains("more than 6 JSON values"));
        assert!(check(l, r#"{"a":[[1]]}"#).is_ok());
        assert!(check(l, r#"{"a":[[[1]]]}"#).unwrap_err().contains("nested deeper than 3"));
        // Brackets, commas and escaped quotes inside strings are text.
        assert!(check(l, r#"{"a":"[[[[,,,,,,,,\"[[[[,,,,"}"#).is_ok());
        assert!(check(l, r#"{"a":"\\","b":"[[[[,,,,"}"#).is_ok());
    }

    #[test]
    fn refusal_names_the_limit() {
        let e = ParseLimits { max_depth: 2, max_values: 10 }.check(b"[[[]]]").unwrap_err();
        assert_eq!(e.code, crate::ErrorCode::INVALID_REQUEST);
        assert_eq!(e.data, Some(json!({"limit": "maxDepth", "max": 2})));
    }
}
