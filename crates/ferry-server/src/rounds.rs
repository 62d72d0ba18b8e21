//! Multi round-trip requests (MRTR, SEP-2322): how a stateless (2026-07-28)
//! request gets answers from its client.
//!
//! A stateless request cannot wait for the client, so its handler runs again each
//! round. Every question has a key ([`Context::input`](crate::Context::input), else
//! `input-1`, `input-2`, … in the order asked); a question the round has no answer
//! for ends it with `resultType: "input_required"`, every unanswered question of the
//! round in `inputRequests`.
//!
//! That result also carries a `requestState`, which the client echoes on its retry.
//! It holds the answers the handler has read so far and what the handler kept with
//! [`Context::set_request_state`](crate::Context::set_request_state), bound to the
//! caller (authenticated subject), the request (method, name or URI, a digest of the
//! arguments) and an expiry, and sealed with HMAC-SHA256 under the server's secret
//! ([`ServerConfig::request_state_secret`](crate::ServerConfig::request_state_secret)).
//! So a handler that asks three questions one after the other sees all three
//! answers in the last round although the client sent only the last one, and a
//! state that was altered, has expired, or was made for another request or caller
//! is refused with -32602 before any handler runs.

use crate::server::{ServerConfig, Shared};
use crate::session::lock;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ferry_protocol::types::LoggingLevel;
use ferry_protocol::ErrorObject;
use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

type HmacSha256 = Hmac<Sha256>;

/// Format version inside a sealed state.
const STATE_VERSION: u64 = 1;

/// The server's key and bounds for `requestState`.
pub(crate) struct Sealer {
    key: Vec<u8>,
    ttl: Duration,
    max_bytes: usize,
}

impl Sealer {
    /// From the configuration; without a configured secret, a random one for this process.
    pub fn new(config: &ServerConfig) -> Self {
        let key = config.request_state_secret.clone().unwrap_or_else(|| {
            use rand::RngCore;
            let mut k = vec![0u8; 32];
            rand::rng().fill_bytes(&mut k);
            k
        });
        Self { key, ttl: config.request_state_ttl, max_bytes: config.max_request_state_bytes }
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes keys of any length.
        HmacSha256::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!("HMAC accepts every key length"))
    }

    /// `base64url(payload).base64url(tag)`.
    fn seal(&self, payload: &Value) -> Result<String, ErrorObject> {
        let body = payload.to_string();
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        let tag = mac.finalize().into_bytes();
        let sealed = format!("{}.{}", URL_SAFE_NO_PAD.encode(body), URL_SAFE_NO_PAD.encode(tag));
        if sealed.len() > self.max_bytes {
            crate::metrics::refused(crate::metrics::Limit::RequestState);
            return Err(ErrorObject::internal(format!(
                "the request state to send is {} bytes, more than the server's limit of {} \
                 (answers and kept state of a multi-round request)",
                sealed.len(),
                self.max_bytes
            )));
        }
        Ok(sealed)
    }

    fn open(&self, sealed: &str) -> Result<Map<String, Value>, ErrorObject> {
        let refuse = |why: &str| ErrorObject::invalid_params(format!("requestState refused: {why}"));
        if sealed.len() > self.max_bytes {
            crate::metrics::refused(crate::metrics::Limit::RequestState);
            return Err(refuse("longer than any state this server issues"));
        }
        let (body, tag) = sealed.split_once('.').ok_or_else(|| refuse("not a state this server issued"))?;
        let body = URL_SAFE_NO_PAD.decode(body).map_err(|_| refuse("not a state this server issued"))?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| refuse("integrity check failed"))?;
        let mut mac = self.mac();
        mac.update(&body);
        mac.verify_slice(&tag).map_err(|_| refuse("integrity check failed"))?;
        match serde_json::from_slice(&body) {
            Ok(Value::Object(m)) if m.get("v").and_then(Value::as_u64) == Some(STATE_VERSION) => Ok(m),
            _ => Err(refuse("unknown format")),
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// What a state is bound to: who asked what.
#[derive(Clone, PartialEq)]
struct Binding {
    subject: Option<String>,
    method: String,
    target: Option<String>,
    arguments: String,
}

impl Binding {
    fn of(method: &str, params: &Map<String, Value>, subject: Option<&str>) -> Self {
        let target = match method {
            "resources/read" => params.get("uri"),
            _ => params.get("name"),
        };
        let mut digest = Sha256::new();
        digest.update(canonical(params.get("arguments").unwrap_or(&Value::Null)).as_bytes());
        Self {
            subject: subject.map(str::to_string),
            method: method.to_string(),
            target: target.and_then(Value::as_str).map(str::to_string),
            arguments: URL_SAFE_NO_PAD.encode(digest.finalize()),
        }
    }

    fn to_json(&self) -> Value {
        json!({"sub": self.subject, "m": self.method, "t": self.target, "a": self.arguments})
    }

    fn matches(&self, m: &Map<String, Value>) -> bool {
        let s = |k: &str| m.get(k).and_then(Value::as_str);
        s("sub") == self.subject.as_deref()
            && s("m") == Some(&self.method)
            && s("t") == self.target.as_deref()
            && s("a") == Some(&self.arguments)
    }
}

/// JSON with object keys sorted at every level, so equal arguments digest equally
/// whatever order the client wrote them in.
fn canonical(v: &Value) -> String {
    fn write(v: &Value, out: &mut String) {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    write(&m[k], out);
                }
                out.push('}');
            }
            Value::Array(a) => {
                out.push('[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(x, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(v, &mut out);
    out
}

/// A verified `requestState` of an earlier round.
#[derive(Clone, Default)]
pub(crate) struct Carried {
    answers: Map<String, Value>,
    kept: Option<Value>,
}

/// Verify the `requestState` a retried request echoes, if it has one.
pub(crate) fn open(
    shared: &Shared,
    method: &str,
    params: &Map<String, Value>,
    subject: Option<&str>,
) -> Result<Option<Carried>, ErrorObject> {
    let sealed = match params.get("requestState") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s,
        Some(_) => return Err(ErrorObject::invalid_params("requestState must be a string")),
    };
    let mut state = shared.sealer.open(sealed)?;
    if !Binding::of(method, params, subject).matches(&state) {
        return Err(ErrorObject::invalid_params("requestState refused: it was issued for another request or caller"));
    }
    if state.get("exp").and_then(Value::as_u64).is_none_or(|exp| exp < now_ms()) {
        return Err(ErrorObject::invalid_params("requestState refused: it has expired; send the request anew"));
    }
    let answers = match state.remove("ans") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    Ok(Some(Carried { answers, kept: state.remove("st").filter(|v| !v.is_null()) }))
}

/// Whether `answer` has the shape of a result of `method` (other methods: any object).
fn answers(method: &str, answer: &Value) -> bool {
    match method {
        "elicitation/create" => {
            matches!(answer.get("action").and_then(Value::as_str), Some("accept" | "decline" | "cancel"))
        }
        "sampling/createMessage" => answer.get("role").is_some() && answer.get("content").is_some(),
        "roots/list" => answer.get("roots").is_some_and(Value::is_array),
        _ => answer.is_object(),
    }
}

/// `inputResponses` of a request: an object of objects.
pub(crate) fn check_responses(params: &Map<String, Value>) -> Result<(), ErrorObject> {
    match params.get("inputResponses") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::Object(m)) => match m.iter().find(|(_, v)| !v.is_object()) {
            Some((k, _)) => Err(ErrorObject::invalid_params(format!(
                "inputResponses.{k} must be an object: the client's result for that request"
            ))),
            None => Ok(()),
        },
        Some(_) => Err(ErrorObject::invalid_params("inputResponses must be an object")),
    }
}

/// Input for one stateless round: the answers it has, the questions it still needs.
pub(crate) struct Rounds {
    /// The request's `_meta` log level: a stateless request gets log messages only if it asks.
    pub log_level: Option<LoggingLevel>,
    binding: Binding,
    answers: Map<String, Value>,
    kept: Option<Value>,
    keep: Mutex<Option<Value>>,
    needed: Mutex<Map<String, Value>>,
    read: Mutex<BTreeSet<String>>,
    next: AtomicU64,
}

impl Rounds {
    /// The round a request starts: earlier answers from its state, new ones from `inputResponses`.
    pub fn new(
        method: &str,
        params: &Map<String, Value>,
        subject: Option<&str>,
        log_level: Option<LoggingLevel>,
        carried: Option<Carried>,
    ) -> Self {
        let carried = carried.unwrap_or_default();
        let mut answers = carried.answers;
        if let Some(Value::Object(new)) = params.get("inputResponses") {
            answers.extend(new.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        Self {
            log_level,
            binding: Binding::of(method, params, subject),
            answers,
            kept: carried.kept,
            keep: Mutex::new(None),
            needed: Mutex::new(Map::new()),
            read: Mutex::new(BTreeSet::new()),
            next: AtomicU64::new(0),
        }
    }

    /// The key of a question: the one given, else the next `input-n`.
    pub fn key(&self, key: Option<&str>) -> String {
        match key {
            Some(k) => k.to_string(),
            None => format!("input-{}", self.next.fetch_add(1, Ordering::Relaxed) + 1),
        }
    }

    /// The answer to `key`, if this round has it; an answer that is not a result of
    /// `method` is refused (-32602).
    pub fn answer(&self, key: &str, method: &str) -> Result<Option<Value>, ErrorObject> {
        let Some(answer) = self.answers.get(key) else { return Ok(None) };
        if !answers(method, answer) {
            return Err(ErrorObject::invalid_params(format!(
                "inputResponses.{key} is not a result of {method}: {answer}"
            )));
        }
        lock(&self.read).insert(key.to_string());
        Ok(Some(answer.clone()))
    }

    /// Ask `key` in this round's `InputRequiredResult`.
    pub fn ask(&self, key: String, method: &str, params: Value) {
        lock(&self.needed).insert(key, json!({"method": method, "params": params}));
    }

    /// What the previous round kept (`Context::request_state`).
    pub fn kept(&self) -> Option<&Value> {
        self.kept.as_ref()
    }

    /// Keep `value` for the next round (`Context::set_request_state`).
    pub fn keep(&self, value: Value) {
        *lock(&self.keep) = Some(value);
    }

    /// The round's `InputRequiredResult`, when some question went unanswered.
    pub fn input_required(&self, shared: &Shared) -> Option<Result<Value, ErrorObject>> {
        let needed = lock(&self.needed).clone();
        if needed.is_empty() {
            return None;
        }
        let read = lock(&self.read).clone();
        let answers: Map<String, Value> =
            self.answers.iter().filter(|(k, _)| read.contains(*k)).map(|(k, v)| (k.clone(), v.clone())).collect();
        let kept = lock(&self.keep).clone().or_else(|| self.kept.clone());
        let mut payload = self.binding.to_json();
        payload["v"] = json!(STATE_VERSION);
        payload["exp"] = json!(now_ms() + shared.sealer.ttl.as_millis() as u64);
        payload["ans"] = Value::Object(answers);
        if let Some(k) = kept {
            payload["st"] = k;
        }
        Some(
            shared
                .sealer
                .seal(&payload)
                .map(|state| json!({"resultType": "input_required", "inputRequests": needed, "requestState": state})),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer() -> Sealer {
        Sealer::new(&ServerConfig::default())
    }

    #[test]
    fn a_sealed_state_opens_only_unchanged() {
        let s = sealer();
        let sealed = s.seal(&json!({"v": 1, "x": "y"})).unwrap();
        assert_eq!(s.open(&sealed).unwrap()["x"], "y");
        for bad in [
            format!("{sealed}-TAMPERED"),
            sealed.replacen('e', "f", 1),
            sealed.split('.').next().unwrap().to_string(),
            String::new(),
        ] {
            assert_eq!(s.open(&bad).unwrap_err().code, ferry_protocol::ErrorCode::INVALID_PARAMS, "{bad}");
        }
        // Another server's secret does not open it.
        assert!(sealer().open(&sealed).is_err());
    }

    #[test]
    fn arguments_digest_ignores_key_order() {
        let a: Map<String, Value> =
            serde_json::from_str(r#"{"name":"t","arguments":{"a":1,"b":{"c":2,"d":3}}}"#).unwrap();
        let b: Map<String, Value> =
            serde_json::from_str(r#"{"name":"t","arguments":{"b":{"d":3,"c":2},"a":1}}"#).unwrap();
        assert!(Binding::of("tools/call", &a, None) == Binding::of("tools/call", &b, None));
        let c: Map<String, Value> = serde_json::from_str(r#"{"name":"t","arguments":{"a":2}}"#).unwrap();
        assert!(Binding::of("tools/call", &a, None) != Binding::of("tools/call", &c, None));
    }

    #[test]
    fn too_large_a_state_is_refused_both_ways() {
        let config = ServerConfig { max_request_state_bytes: 100, ..ServerConfig::default() };
        let s = Sealer::new(&config);
        assert!(s.seal(&json!({"v": 1, "x": "y".repeat(200)})).is_err());
        assert!(s.open(&"a".repeat(101)).is_err());
    }
}
