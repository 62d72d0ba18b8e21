//! The protocol-neutral task record and job.

use crate::backend::TaskUpdate;
use ferry_protocol::{ErrorObject, TaskStatus};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The owner of tasks created by stateless requests without credentials: they share it,
/// and the 128-bit task id is the capability (nobody can list them).
pub const ANONYMOUS_OWNER: &str = "anonymous";

const CROCKFORD: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// A new task id: 128 bits from the OS-seeded CSPRNG, as 26 Crockford base32 characters.
///
/// Ids are unguessable, so in the stateless era they can act as bearer tokens.
///
/// ```
/// let id = ferry_tasks::new_task_id();
/// assert_eq!(id.len(), 26);
/// assert_ne!(id, ferry_tasks::new_task_id());
/// ```
pub fn new_task_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    let n = u128::from_be_bytes(bytes);
    (0..26).rev().map(|i| CROCKFORD[((n >> (i * 5)) & 31) as usize] as char).collect()
}

/// How a task ended.
///
/// A result is kept as the JSON text it serialized to ([`RawValue`]): a finished
/// task holds one string, not a tree of values, and nothing re-encodes it until a
/// client asks for it. Stored as `{"type": "result", "value": .., "is_error": ..}`
/// or `{"type": "error", "error": ..}` (the format records were always written in).
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The request produced a result (for tools, `is_error` mirrors `isError`).
    Result {
        /// The result object the request would have returned, as JSON text.
        value: Box<RawValue>,
        /// Whether it is a tool error result.
        is_error: bool,
    },
    /// The request failed with a JSON-RPC error.
    Error {
        /// The error (boxed: records are kept by the thousand, errors are the rarer end).
        error: Box<ErrorObject>,
    },
}

impl Outcome {
    /// A result outcome: `value` serialized, once, to JSON text.
    ///
    /// ```
    /// let done = ferry_tasks::Outcome::result(&serde_json::json!({"n": 5}), false).unwrap();
    /// assert_eq!(done.result_value(), Some(serde_json::json!({"n": 5})));
    /// ```
    pub fn result<T: Serialize + ?Sized>(value: &T, is_error: bool) -> Result<Self, serde_json::Error> {
        Ok(Self::Result { value: serde_json::value::to_raw_value(value)?, is_error })
    }

    /// An error outcome.
    pub fn error(error: ErrorObject) -> Self {
        Self::Error { error: Box::new(error) }
    }

    /// The result parsed into a [`Value`] (`None` for an error outcome, or text that is
    /// not JSON, which a result built by [`Outcome::result`] never is).
    pub fn result_value(&self) -> Option<Value> {
        match self {
            Self::Result { value, .. } => serde_json::from_str(value.get()).ok(),
            Self::Error { .. } => None,
        }
    }
}

impl PartialEq for Outcome {
    /// Results are equal when their JSON text is.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Result { value: a, is_error: x }, Self::Result { value: b, is_error: y }) => {
                a.get() == b.get() && x == y
            }
            (Self::Error { error: a }, Self::Error { error: b }) => a == b,
            _ => false,
        }
    }
}

/// How an [`Outcome`] is written.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OutcomeOut<'a> {
    Result { value: &'a RawValue, is_error: bool },
    Error { error: &'a ErrorObject },
}

impl Serialize for Outcome {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Result { value, is_error } => OutcomeOut::Result { value, is_error: *is_error },
            Self::Error { error } => OutcomeOut::Error { error },
        }
        .serialize(serializer)
    }
}

/// How an [`Outcome`] is read: a plain struct, because serde's tagged enums buffer
/// their content, which a [`RawValue`] cannot be read from.
#[derive(Deserialize)]
struct OutcomeIn {
    #[serde(rename = "type")]
    kind: OutcomeKind,
    #[serde(default)]
    value: Option<Box<RawValue>>,
    #[serde(default)]
    is_error: bool,
    #[serde(default)]
    error: Option<ErrorObject>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum OutcomeKind {
    Result,
    Error,
}

impl<'de> Deserialize<'de> for Outcome {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let o = OutcomeIn::deserialize(deserializer)?;
        match o.kind {
            OutcomeKind::Result => {
                // A `null` value reads as `None`: keep it as the JSON it was.
                let value = o.value.unwrap_or_else(|| RawValue::NULL.to_owned());
                Ok(Self::Result { value, is_error: o.is_error })
            }
            OutcomeKind::Error => match o.error {
                Some(error) => Ok(Self::error(error)),
                None => Err(serde::de::Error::missing_field("error")),
            },
        }
    }
}

/// The latest progress a running task reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgressState {
    /// Progress so far.
    pub progress: f64,
    /// Total, when known.
    pub total: Option<f64>,
    /// Message.
    pub message: Option<String>,
}

/// Everything stored about one task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// Unguessable id.
    pub id: String,
    /// Who may see it (the server's owner key: an auth subject or a session).
    pub owner: String,
    /// Who it counts against for quotas, when not its owner (a stateless caller's
    /// client address, where the owner is shared).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The session that created it, if any: where status notifications go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// The request method (`tools/call`, `prompts/get`, `resources/read`); shared, as
    /// the embedded engine keeps one copy of each it holds tasks of.
    #[serde(with = "arc_str")]
    pub kind: Arc<str>,
    /// The tool/prompt name or resource URI (shared like `kind`).
    #[serde(with = "arc_str")]
    pub name: Arc<str>,
    /// Current status.
    pub status: TaskStatus,
    /// Human-readable status message.
    pub status_message: Option<String>,
    /// Creation time, epoch ms.
    pub created_at: u64,
    /// Last change, epoch ms.
    pub updated_at: u64,
    /// How long the task is kept once it has ended (completed, failed, cancelled), ms;
    /// `None` = unlimited. A task that has not ended never expires.
    pub ttl_ms: Option<u64>,
    /// Suggested poll interval, ms.
    pub poll_interval_ms: u64,
    /// The outcome once terminal (none when cancelled).
    pub outcome: Option<Outcome>,
    /// Outstanding input requests: key -> `{method, params}`.
    pub input_requests: BTreeMap<String, Value>,
    /// Answers not yet taken by the handler: key -> result.
    pub input_responses: BTreeMap<String, Value>,
    /// Latest progress (boxed, as few tasks report any).
    pub progress: Option<Box<ProgressState>>,
    /// The caller's progress token, valid for the task's lifetime (boxed, as few callers send one).
    pub progress_token: Option<Box<Value>>,
    /// Bytes of its job's arguments, counted against quotas while it runs (set by the backend).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub argument_bytes: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl TaskRecord {
    /// A new `working` record.
    pub fn new(owner: impl Into<String>, kind: impl AsRef<str>, name: impl AsRef<str>, now_ms: u64) -> Self {
        Self {
            id: new_task_id(),
            owner: owner.into(),
            session: None,
            account: None,
            kind: Arc::from(kind.as_ref()),
            name: Arc::from(name.as_ref()),
            status: TaskStatus::Working,
            status_message: None,
            created_at: now_ms,
            updated_at: now_ms,
            ttl_ms: None,
            poll_interval_ms: 1000,
            outcome: None,
            input_requests: BTreeMap::new(),
            input_responses: BTreeMap::new(),
            progress: None,
            progress_token: None,
            argument_bytes: 0,
        }
    }

    /// When the record may be dropped, epoch ms: its TTL after it ended (a terminal
    /// record never changes, so `updated_at` is when it ended). `None` while it runs.
    pub fn expires_at(&self) -> Option<u64> {
        if !self.status.is_terminal() {
            return None;
        }
        self.ttl_ms.map(|ttl| self.updated_at.saturating_add(ttl))
    }

    /// The lifetime from creation that the task is kept for, as of now (ms): for an ended
    /// task, its run time plus its TTL; for a running one, at least its TTL. What the
    /// wire's creation-based `ttl` / `ttlMs` report.
    pub fn lifetime_ms(&self) -> Option<u64> {
        let ran = if self.status.is_terminal() { self.updated_at.saturating_sub(self.created_at) } else { 0 };
        self.ttl_ms.map(|ttl| ttl.saturating_add(ran))
    }

    /// Who the task counts against for quotas.
    pub fn account(&self) -> &str {
        self.account.as_deref().unwrap_or(&self.owner)
    }

    /// Apply an update (the caller checked the record is not terminal); returns whether it changed.
    pub fn apply(&mut self, update: TaskUpdate) -> bool {
        match update {
            TaskUpdate::Progress { progress, total, message } => {
                if let Some(m) = &message {
                    self.status_message = Some(m.clone());
                }
                self.progress = Some(Box::new(ProgressState { progress, total, message }));
            }
            TaskUpdate::Message(m) => self.status_message = Some(m),
            TaskUpdate::RequestInput { key, request } => {
                // Already answered (a redelivered job asking again): the answer stands.
                if self.input_responses.contains_key(&key) {
                    return false;
                }
                self.input_requests.insert(key, request);
                self.status = TaskStatus::InputRequired;
            }
            TaskUpdate::Respond(responses) => {
                let mut any = false;
                for (key, value) in responses {
                    if self.input_requests.remove(&key).is_some() {
                        self.input_responses.insert(key, value);
                        any = true;
                    }
                }
                if !any {
                    return false;
                }
                if self.input_requests.is_empty() {
                    self.status = TaskStatus::Working;
                }
            }
            TaskUpdate::TakeResponses(keys) => {
                for key in keys {
                    self.input_responses.remove(&key);
                }
            }
        }
        true
    }

    /// Record the outcome (the caller checked the record is not terminal).
    pub fn finish(&mut self, outcome: Outcome) {
        match &outcome {
            Outcome::Result { .. } => self.status = TaskStatus::Completed,
            Outcome::Error { error } => {
                self.status = TaskStatus::Failed;
                self.status_message = Some(error.message.clone());
            }
        }
        self.input_requests.clear();
        self.input_responses.clear();
        self.outcome = Some(outcome);
    }

    /// Mark cancelled (the caller checked the record is not terminal).
    pub fn mark_cancelled(&mut self) {
        self.status = TaskStatus::Cancelled;
        self.status_message = Some("The task was cancelled by request.".into());
        self.input_requests.clear();
    }

    /// Whether the record has outlived its TTL at `now_ms`.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expires_at().is_some_and(|at| now_ms >= at)
    }
}

/// (De)serializing an `Arc<str>` as a string (serde's own impl needs its `rc` feature).
mod arc_str {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::sync::Arc;

    pub fn serialize<S: Serializer>(s: &Arc<str>, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Arc<str>, D::Error> {
        String::deserialize(deserializer).map(Arc::from)
    }
}

/// A unit of work: what a worker needs to run the request of a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// The task this job completes.
    pub task_id: String,
    /// The request method.
    pub kind: String,
    /// Tool/prompt name or resource URI.
    pub name: String,
    /// Arguments of the request.
    pub arguments: Value,
    /// Request context a handler may read (`_meta`, client capabilities, owner ...).
    pub context: Value,
    /// 1 for the first run, incremented on retries and redeliveries.
    pub attempt: u32,
    /// Do not start before this time (epoch ms): a worker that claims it earlier hands it
    /// back until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<u64>,
    /// The W3C trace context of the request that created the task, so that the run's
    /// span joins its trace in whichever process runs it (see [`crate::trace`]).
    /// Absent when no tracing propagator is installed; jobs stored before it existed decode without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<crate::trace::TraceContext>,
}
