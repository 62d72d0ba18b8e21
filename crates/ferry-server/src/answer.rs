//! A request's answer as this server writes it.
//!
//! Most methods build their result as a `Value` tree. The results every plain tool call
//! and every task round trip carry (tool results, task objects, a task's stored result)
//! are written to JSON text once (`Box<RawValue>`) and copied into the response as they
//! are: no tree is built, walked and dropped between the handler and the socket. What
//! metrics and spans read of a result (the `isError` flag) travels beside the text.

use ferry_protocol::{ErrorObject, Message, RequestId, Response};
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

/// A successful result as it goes out.
#[derive(Debug)]
pub(crate) enum Out {
    /// Built as a tree.
    Tree(Value),
    /// Written once as JSON text by serde_json, and whether it is a tool error result
    /// (`isError: true`).
    Raw {
        /// The result's JSON text.
        json: Box<RawValue>,
        /// The result's `isError` flag.
        is_error: bool,
    },
}

/// What a method answers: a result, or a JSON-RPC error.
pub(crate) type Answered = Result<Out, ErrorObject>;

impl Out {
    /// `value` written as JSON text (`is_error`: its `isError` flag).
    pub fn raw<T: Serialize + ?Sized>(value: &T, is_error: bool) -> Answered {
        serde_json::value::to_raw_value(value)
            .map(|json| Out::Raw { json, is_error })
            .map_err(|e| ErrorObject::internal(format!("cannot serialize result: {e}")))
    }

    /// Whether the result is a tool error result (`isError: true`).
    pub fn is_error(&self) -> bool {
        match self {
            Out::Tree(v) => v.get("isError").and_then(Value::as_bool) == Some(true),
            Out::Raw { is_error, .. } => *is_error,
        }
    }

    /// The result as a tree (text is parsed; text serde_json wrote always parses).
    pub fn into_value(self) -> Value {
        match self {
            Out::Tree(v) => v,
            Out::Raw { json, .. } => serde_json::from_str(json.get()).unwrap_or(Value::Null),
        }
    }

    /// The result with `_meta.{key}` set to `meta` (`_meta` created when absent) and, when
    /// `result_type` is given, `resultType` added unless the result has one. A result that
    /// is not an object is left as it is.
    pub fn with_meta(self, result_type: Option<&str>, key: &str, meta: &impl Serialize) -> Answered {
        match self {
            Out::Tree(v) => Ok(Out::Tree(tree_with_meta(v, result_type, key, to_value(meta)?))),
            Out::Raw { json, is_error } => with_meta(&json, is_error, result_type, key, meta),
        }
    }
}

/// `json` (an object written by serde_json) with `_meta.{key}` and, when given and absent,
/// `resultType` (see [`Out::with_meta`]), written around the text without a tree when it
/// has neither member yet (the common case); through a tree otherwise.
///
/// The shortcut looks for the members' names as text: serde_json writes every key it
/// serializes as a plain quoted string (it escapes no letter or `_`), so a result that
/// has one of them contains it quoted; a quoted match elsewhere (a nested key, a string)
/// only sends the result through the tree, which is always right.
pub(crate) fn with_meta(
    json: &RawValue,
    is_error: bool,
    result_type: Option<&str>,
    key: &str,
    meta: &impl Serialize,
) -> Answered {
    let text = json.get().trim();
    let Some(inner) = text.strip_prefix('{').and_then(|t| t.strip_suffix('}')) else {
        return Ok(Out::Raw { json: json.to_owned(), is_error }); // not an object
    };
    let has = |name: &str| text.contains(name);
    if has("\"_meta\"") || (result_type.is_some() && has("\"resultType\"")) {
        let tree = serde_json::from_str(text).map_err(|e| ErrorObject::internal(format!("unreadable result: {e}")))?;
        return Ok(Out::Tree(tree_with_meta(tree, result_type, key, to_value(meta)?)));
    }
    let inner = inner.trim();
    let mut out = Vec::with_capacity(text.len() + key.len() + 64);
    out.push(b'{');
    if let Some(t) = result_type {
        out.extend_from_slice(b"\"resultType\":");
        write(&mut out, t)?;
        out.push(b',');
    }
    out.extend_from_slice(inner.as_bytes());
    if !inner.is_empty() {
        out.push(b',');
    }
    out.extend_from_slice(b"\"_meta\":{");
    write(&mut out, key)?;
    out.push(b':');
    write(&mut out, meta)?;
    out.extend_from_slice(b"}}");
    let text = String::from_utf8(out).map_err(|e| ErrorObject::internal(format!("cannot write result: {e}")))?;
    let json = RawValue::from_string(text).map_err(|e| ErrorObject::internal(format!("cannot write result: {e}")))?;
    Ok(Out::Raw { json, is_error })
}

/// The tree form of [`with_meta`].
fn tree_with_meta(mut v: Value, result_type: Option<&str>, key: &str, meta: Value) -> Value {
    if let Some(obj) = v.as_object_mut() {
        if let Some(t) = result_type {
            obj.entry("resultType").or_insert_with(|| json!(t));
        }
        let m = obj.entry("_meta").or_insert_with(|| json!({}));
        if let Some(m) = m.as_object_mut() {
            m.insert(key.into(), meta);
        }
    }
    v
}

fn to_value(v: &impl Serialize) -> Result<Value, ErrorObject> {
    serde_json::to_value(v).map_err(|e| ErrorObject::internal(format!("cannot serialize result: {e}")))
}

fn write(out: &mut Vec<u8>, v: &(impl Serialize + ?Sized)) -> Result<(), ErrorObject> {
    serde_json::to_writer(out, v).map_err(|e| ErrorObject::internal(format!("cannot serialize result: {e}")))
}

/// The answer to one request: a JSON-RPC response whose result may be JSON text.
#[derive(Debug)]
pub(crate) struct Answer {
    /// The id of the request answered (`None`: it could not be read).
    pub id: Option<RequestId>,
    /// The result or the error.
    pub outcome: Answered,
}

impl Answer {
    /// The answer to request `id`.
    pub fn new(id: RequestId, outcome: Answered) -> Self {
        Self { id: Some(id), outcome }
    }

    /// The error, when the request failed.
    pub fn error(&self) -> Option<&ErrorObject> {
        self.outcome.as_ref().err()
    }

    /// Whether the result is a tool error result (`isError: true`).
    pub fn is_tool_error(&self) -> bool {
        self.outcome.as_ref().is_ok_and(Out::is_error)
    }

    /// The response's JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The answer as a protocol message (its result parsed into a tree), for transports
    /// that queue messages (stdio).
    pub fn into_message(self) -> Message {
        Message::Response(match self.outcome {
            Ok(out) => Response { jsonrpc: "2.0".into(), id: self.id, result: Some(out.into_value()), error: None },
            Err(e) => Response::err(self.id, e),
        })
    }
}

/// Written as a JSON-RPC response: `jsonrpc`, `id`, then `result` or `error`.
impl Serialize for Answer {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(3))?;
        map.serialize_entry("jsonrpc", "2.0")?;
        map.serialize_entry("id", &self.id)?;
        match &self.outcome {
            Ok(Out::Tree(v)) => map.serialize_entry("result", v)?,
            Ok(Out::Raw { json, .. }) => map.serialize_entry("result", json)?,
            Err(e) => map.serialize_entry("error", e)?,
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Out {
        Out::Raw { json: RawValue::from_string(text.into()).unwrap(), is_error: false }
    }

    fn text(out: &Out) -> String {
        match out {
            Out::Tree(v) => v.to_string(),
            Out::Raw { json, .. } => json.get().to_string(),
        }
    }

    /// Raw and tree give the same JSON for every shape the shortcut or its fallback sees.
    #[test]
    fn with_meta_matches_the_tree() {
        let cases = [
            r#"{}"#,
            r#"{"content":[{"type":"text","text":"3"}]}"#,
            r#"{"content":[],"isError":true}"#,
            r#"{"content":[],"_meta":{"a":1}}"#,
            r#"{"content":[],"_meta":null}"#,
            r#"{"resultType":"task","task":{}}"#,
            r#"{"content":[{"type":"text","text":"\"_meta\""}]}"#,
            r#"[1,2]"#,
            r#""text""#,
        ];
        for case in cases {
            for result_type in [None, Some("complete")] {
                let meta = json!({"taskId": "t1"});
                let fast = raw(case).with_meta(result_type, "k/x", &meta).unwrap();
                let tree: Value = serde_json::from_str(case).unwrap();
                let slow = Out::Tree(tree).with_meta(result_type, "k/x", &meta).unwrap();
                let (f, s): (Value, Value) =
                    (serde_json::from_str(&text(&fast)).unwrap(), serde_json::from_str(&text(&slow)).unwrap());
                assert_eq!(f, s, "{case} {result_type:?}");
            }
        }
    }

    /// The common case is written around the text, not through a tree.
    #[test]
    fn with_meta_keeps_text() {
        let out = raw(r#"{"content":[]}"#).with_meta(Some("complete"), "k", &json!(1)).unwrap();
        assert_eq!(text(&out), r#"{"resultType":"complete","content":[],"_meta":{"k":1}}"#);
        assert!(matches!(out, Out::Raw { .. }));
    }

    /// An answer is written as the protocol's `Response` would be.
    #[test]
    fn answer_writes_a_response() {
        let id = RequestId::Number(7);
        let ok = Answer::new(id.clone(), Ok(raw(r#"{"content":[],"isError":true}"#)));
        let tree = Answer::new(id.clone(), Ok(Out::Tree(json!({"a": 1}))));
        let err = Answer::new(id.clone(), Err(ErrorObject::invalid_params("bad")));
        for answer in [ok, tree, err] {
            let written: Value = serde_json::from_str(&answer.to_json()).unwrap();
            let Message::Response(response) = answer.into_message() else { panic!("not a response") };
            assert_eq!(written, serde_json::to_value(&response).unwrap());
        }
        let none = Answer { id: None, outcome: Err(ErrorObject::parse_error("x")) };
        assert_eq!(serde_json::from_str::<Value>(&none.to_json()).unwrap()["id"], Value::Null);
    }
}
