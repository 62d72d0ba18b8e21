//! JSON-RPC 2.0 framing.
//!
//! MCP messages are JSON-RPC 2.0 requests, notifications and responses. Parsing
//! is split in two steps so a transport can answer a malformed message with the
//! right error code: [`Message::parse`] turns bytes into a message or an
//! [`ErrorObject`] (`-32700` for bad JSON, `-32600` for a bad envelope).

use crate::limits::ParseLimits;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// The id of a JSON-RPC request: a string or an integer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RequestId {
    /// A numeric id.
    Number(i64),
    /// A string id.
    String(String),
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestId::Number(n) => write!(f, "{n}"),
            RequestId::String(s) => f.write_str(s),
        }
    }
}

/// Standard and MCP-specific JSON-RPC error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode;

impl ErrorCode {
    /// Invalid JSON was received.
    pub const PARSE_ERROR: i64 = -32700;
    /// The JSON sent is not a valid request object.
    pub const INVALID_REQUEST: i64 = -32600;
    /// The method does not exist or is not available.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Invalid method parameters.
    pub const INVALID_PARAMS: i64 = -32602;
    /// Internal error.
    pub const INTERNAL_ERROR: i64 = -32603;
    /// A requested resource does not exist (MCP).
    pub const RESOURCE_NOT_FOUND: i64 = -32002;
    /// HTTP headers disagree with the body (2026-07-28).
    pub const HEADER_MISMATCH: i64 = -32020;
    /// The request needs a client capability it did not declare (2026-07-28).
    pub const MISSING_CLIENT_CAPABILITY: i64 = -32021;
    /// The protocol version is not supported (2026-07-28).
    pub const UNSUPPORTED_VERSION: i64 = -32022;
    /// The request was cancelled (used internally for in-flight cancellation).
    pub const REQUEST_CANCELLED: i64 = -32800;
    /// Ferry: a bound on what the server holds refused the request (too many unfinished
    /// tasks or sessions for the caller or in total, request bodies in flight, a task too large). `data.scope` says which:
    /// `"owner"` (wait for or cancel your own tasks), `"server"` (try again later),
    /// `"size"` (send less).
    pub const LIMIT_EXCEEDED: i64 = -32029;
    /// Ferry: the caller's access token lacks a scope the component needs;
    /// `data.requiredScopes` names them (over HTTP: status 403, `insufficient_scope`).
    pub const INSUFFICIENT_SCOPE: i64 = -32030;
}

/// A JSON-RPC error object: `{code, message, data?}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorObject {
    /// The error code (see [`ErrorCode`]).
    pub code: i64,
    /// A short human-readable description.
    pub message: String,
    /// Extra machine-readable details.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl ErrorObject {
    /// An error with a code and message.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), data: None }
    }
    /// Attach `data`.
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }
    /// `-32700` parse error.
    pub fn parse_error(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::PARSE_ERROR, message)
    }
    /// `-32600` invalid request.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::INVALID_REQUEST, message)
    }
    /// `-32601` method not found.
    pub fn method_not_found(method: &str) -> Self {
        Self::new(ErrorCode::METHOD_NOT_FOUND, format!("Method not found: {method}"))
    }
    /// `-32602` invalid params.
    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::INVALID_PARAMS, message)
    }
    /// `-32603` internal error.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::INTERNAL_ERROR, message)
    }
}

impl fmt::Display for ErrorObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (code {})", self.message, self.code)
    }
}

impl std::error::Error for ErrorObject {}

/// A request: has an id and expects a response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Always `"2.0"`.
    pub jsonrpc: String,
    /// The request id.
    pub id: RequestId,
    /// The method name.
    pub method: String,
    /// The parameters (absent is treated as `{}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
}

impl Request {
    /// A request with the given id, method and params.
    pub fn new(id: RequestId, method: impl Into<String>, params: Option<Value>) -> Self {
        Self { jsonrpc: "2.0".into(), id, method: method.into(), params }
    }
}

/// A notification: no id, no response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Always `"2.0"`.
    pub jsonrpc: String,
    /// The method name.
    pub method: String,
    /// The parameters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
}

impl Notification {
    /// A notification with the given method and params.
    pub fn new(method: impl Into<String>, params: Option<Value>) -> Self {
        Self { jsonrpc: "2.0".into(), method: method.into(), params }
    }
}

/// A response: either a result or an error for a request id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// Always `"2.0"`.
    pub jsonrpc: String,
    /// The id of the request answered (`null` when the request could not be read).
    pub id: Option<RequestId>,
    /// The result, on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// The error, on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorObject>,
}

impl Response {
    /// A success response.
    pub fn ok(id: RequestId, result: Value) -> Self {
        Self { jsonrpc: "2.0".into(), id: Some(id), result: Some(result), error: None }
    }
    /// An error response.
    pub fn err(id: Option<RequestId>, error: ErrorObject) -> Self {
        Self { jsonrpc: "2.0".into(), id, result: None, error: Some(error) }
    }
}

/// Any JSON-RPC message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A request.
    Request(Request),
    /// A notification.
    Notification(Notification),
    /// A response (to a request we sent).
    Response(Response),
}

impl Message {
    /// Parse one message from bytes.
    ///
    /// ```
    /// use ferry_protocol::Message;
    /// let m = Message::parse(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#).unwrap();
    /// assert!(matches!(m, Message::Request(_)));
    /// let e = Message::parse(b"{not json").unwrap_err();
    /// assert_eq!(e.code, -32700);
    /// let e = Message::parse(br#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#).unwrap_err();
    /// assert_eq!(e.code, -32600);
    /// ```
    pub fn parse(bytes: &[u8]) -> Result<Message, ErrorObject> {
        if let Some(message) = Envelope::read(bytes) {
            return Ok(message);
        }
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| ErrorObject::parse_error(format!("Parse error: {e}")))?;
        Self::from_value(value)
    }

    /// Parse one message from an untrusted peer: bytes that pass `limits` (checked
    /// first, without allocating) are parsed as by [`Message::parse`]; others are
    /// refused with a `-32600` error naming the limit.
    pub fn parse_limited(bytes: &[u8], limits: &ParseLimits) -> Result<Message, ErrorObject> {
        limits.check(bytes)?;
        Self::parse(bytes)
    }

    /// Classify an already-parsed JSON value.
    pub fn from_value(value: Value) -> Result<Message, ErrorObject> {
        let Value::Object(obj) = value else {
            return Err(ErrorObject::invalid_request("Invalid request: a JSON-RPC message must be an object"));
        };
        if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            return Err(ErrorObject::invalid_request("Invalid request: \"jsonrpc\" must be \"2.0\""));
        }
        let has_method = obj.contains_key("method");
        // MCP: a request id MUST NOT be null. `"id": null` is neither a request nor a
        // notification (which has no id at all), so it is refused rather than guessed at.
        if has_method && obj.get("id").is_some_and(Value::is_null) {
            return Err(ErrorObject::invalid_request("Invalid request: the id of a request must not be null"));
        }
        let has_id = obj.contains_key("id") && !obj["id"].is_null();
        let kind = if has_method && has_id {
            "request"
        } else if has_method {
            "notification"
        } else if obj.contains_key("result") || obj.contains_key("error") {
            "response"
        } else {
            return Err(ErrorObject::invalid_request("Invalid request: no method, result or error"));
        };
        if let Some(params) = obj.get("params") {
            if !(params.is_object() || params.is_array() || params.is_null()) {
                return Err(ErrorObject::invalid_request("Invalid request: params must be an object"));
            }
        }
        // The payload (`params` or `result`) moves into the message as it is; the small
        // rest of the envelope is deserialized. (Deserializing the whole object would
        // rebuild the payload, holding two copies of a large one at once.)
        let mut obj = obj;
        let payload = obj.remove(if kind == "response" { "result" } else { "params" }).filter(|v| !v.is_null());
        let value = Value::Object(obj);
        let bad = |e: serde_json::Error| ErrorObject::invalid_request(format!("Invalid request: {e}"));
        Ok(match kind {
            "request" => Message::Request(Request { params: payload, ..serde_json::from_value(value).map_err(bad)? }),
            "notification" => {
                Message::Notification(Notification { params: payload, ..serde_json::from_value(value).map_err(bad)? })
            }
            _ => Message::Response(Response { result: payload, ..serde_json::from_value(value).map_err(bad)? }),
        })
    }

    /// Serialize to JSON text (the message written once, without a [`Value`] tree between).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Serialize to a JSON value.
    pub fn to_value(&self) -> Value {
        let r = match self {
            Message::Request(r) => serde_json::to_value(r),
            Message::Notification(n) => serde_json::to_value(n),
            Message::Response(r) => serde_json::to_value(r),
        };
        r.unwrap_or(Value::Null)
    }
}

/// A request or notification read in one pass, typed, without a tree for the envelope:
/// the common case of [`Message::parse`]. Anything else (responses, bad JSON, a bad or
/// unusual envelope: `null` id or method, duplicate members, a `jsonrpc` spelled with escapes)
/// is left to the general path, which alone reports errors, so the error an input gets
/// (parse error before envelope error) does not depend on this shortcut.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default, borrow)]
    jsonrpc: Member<'a>,
    #[serde(default, borrow)]
    id: Member<'a>,
    #[serde(default)]
    method: Option<String>,
    /// `null` reads as absent, as the general path treats it.
    #[serde(default)]
    params: Option<Value>,
}

/// A member's JSON text as sent, `null` included (`None`: absent).
#[derive(Default)]
struct Member<'a>(Option<&'a serde_json::value::RawValue>);

impl<'de: 'a, 'a> Deserialize<'de> for Member<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        <&serde_json::value::RawValue>::deserialize(deserializer).map(|raw| Member(Some(raw)))
    }
}

impl Envelope<'_> {
    /// The message, when `bytes` are a well-formed request or notification.
    fn read(bytes: &[u8]) -> Option<Message> {
        let envelope: Envelope = serde_json::from_slice(bytes).ok()?;
        let Envelope { jsonrpc, id, method, params } = envelope;
        // (A request's `result` or `error` members are ignored, as the general path does.)
        let regular = jsonrpc.0.map(|j| j.get()) == Some(r#""2.0""#)
            && params.as_ref().is_none_or(|p| p.is_object() || p.is_array());
        let method = method.filter(|_| regular)?;
        let jsonrpc = "2.0".to_string();
        Some(match id.0 {
            None => Message::Notification(Notification { jsonrpc, method, params }),
            Some(raw) if raw.get() == "null" => return None,
            Some(raw) => {
                Message::Request(Request { jsonrpc, id: serde_json::from_str(raw.get()).ok()?, method, params })
            }
        })
    }
}

/// A message serializes as the request, notification or response it holds.
impl Serialize for Message {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Message::Request(r) => r.serialize(serializer),
            Message::Notification(n) => n.serialize(serializer),
            Message::Response(r) => r.serialize(serializer),
        }
    }
}

/// The `params` of a request as an object (`{}` when absent or `null`).
pub fn params_object(params: &Option<Value>) -> Result<Map<String, Value>, ErrorObject> {
    match params {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(_) => Err(ErrorObject::invalid_params("params must be an object")),
    }
}
