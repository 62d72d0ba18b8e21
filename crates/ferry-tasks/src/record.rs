//! The protocol-neutral task record and job.

use crate::backend::TaskUpdate;
use ferry_protocol::{ErrorObject, TaskStatus};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Outcome {
    /// The request produced a result (for tools, `is_error` mirrors `isError`).
    Result {
        /// The result object the request would have returned.
        value: Value,
        /// Whether it is a tool error result.
        is_error: bool,
    },
    /// The request failed with a JSON-RPC error.
    Error {
        /// The error.
        error: ErrorObject,
    },
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
    /// The request method (`tools/call`, `prompts/get`, `resources/read`).
    pub kind: String,
    /// The tool/prompt name or resource URI.
    pub name: String,
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
    /// Latest progress.
    pub progress: Option<ProgressState>,
    /// The caller's progress token, valid for the task's lifetime.
    pub progress_token: Option<Value>,
    /// Bytes of its job's arguments, counted against quotas while it runs (set by the backend).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub argument_bytes: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl TaskRecord {
    /// A new `working` record.
    pub fn new(owner: impl Into<String>, kind: impl Into<String>, name: impl Into<String>, now_ms: u64) -> Self {
        Self {
            id: new_task_id(),
            owner: owner.into(),
            session: None,
            account: None,
            kind: kind.into(),
            name: name.into(),
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
                self.progress = Some(ProgressState { progress, total, message });
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
