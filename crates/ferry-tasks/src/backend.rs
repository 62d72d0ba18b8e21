//! The storage-and-delivery contract every engine backend fulfils.

use crate::cancels::CancelReceiver;
use crate::inspect::{EngineStats, TaskDetail, TaskFilter, WorkerInfo};
use crate::record::{Job, Outcome, TaskRecord};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// Errors of a backend.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The store cannot be reached (a Redis outage, say). Retry later.
    #[error("task store unavailable: {0}")]
    Unavailable(String),
    /// A bound of the whole store was hit (too many unfinished tasks in total).
    #[error("the server is at its task limit: {0}")]
    Full(String),
    /// The caller's own share was used up (its unfinished tasks or their bytes).
    #[error("task quota reached: {0}")]
    Quota(String),
    /// One task's arguments are larger than accepted.
    #[error("task too large: {0}")]
    TooLarge(String),
    /// A submitted task id is already taken by different work.
    #[error("task id {0} already exists")]
    Duplicate(String),
    /// Stored data could not be read.
    #[error("corrupt task data: {0}")]
    Corrupt(String),
    /// A `list` cursor that this backend did not hand out.
    #[error("invalid cursor")]
    InvalidCursor,
    /// The backend does not offer this operation (an operator read-out of a custom backend).
    #[error("not supported by this backend: {0}")]
    Unsupported(&'static str),
}

/// A change to a running task, reported by its worker or the requestor.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskUpdate {
    /// New progress (also becomes the status message when it has a message).
    Progress {
        /// Progress so far.
        progress: f64,
        /// Total, when known.
        total: Option<f64>,
        /// Message.
        message: Option<String>,
    },
    /// A free-form status message.
    Message(String),
    /// The handler needs input: status becomes `input_required`.
    RequestInput {
        /// Unique key over the task's lifetime.
        key: String,
        /// `{method, params}` of the request to the client.
        request: Value,
    },
    /// Answers from the requestor; keys not outstanding are ignored.
    Respond(Map<String, Value>),
    /// The handler took these answers; when nothing is outstanding the task is `working` again.
    TakeResponses(Vec<String>),
}

/// Something happened to a task.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskEvent {
    /// The record changed (status, message, progress, input). Carries the whole new record,
    /// shared: every subscriber (and the embedded engine's table) holds the same one.
    Changed(Arc<TaskRecord>),
    /// A notification for clients (a handler's log message, a resource update).
    Notified(Notice),
}

/// A notification for clients that the backend carries to every process, so
/// the one serving the client delivers it. Handlers run in `ferry worker`
/// processes with no connection to any client; this is how their log messages,
/// and resource updates from anywhere, still reach it. Never stored: a notice
/// nobody serves is dropped, like a notification sent on a closed connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    /// The session it is for (`Mcp-Session-Id`); `None`: every session it concerns
    /// (`notifications/resources/updated` goes to the sessions subscribed to the URI).
    pub session: Option<String>,
    /// The JSON-RPC method, e.g. `notifications/message`.
    pub method: String,
    /// Its params.
    pub params: Value,
}

/// One page of `list`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TaskPage {
    /// The tasks, oldest first.
    pub tasks: Vec<TaskRecord>,
    /// Cursor of the next page.
    pub next_cursor: Option<String>,
}

/// A claimed job, with its task's record when the claim read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    /// The job.
    pub job: Job,
    /// The task's record as the claim read it (not terminal), so that the worker need not read
    /// it again; `None` when the backend did not read it (the worker reads it then).
    pub record: Option<TaskRecord>,
}

/// Where tasks are stored and how their work is handed to workers.
///
/// Delivery is at-least-once: a claimed job that is neither completed nor
/// heartbeated within the backend's redelivery timeout goes back to the queue.
/// Every state change is published as a [`TaskEvent`] to subscribers of the
/// process (for a shared store, of every process).
///
/// Transitions follow the MCP state machine: a terminal record never changes,
/// so a late `complete` after `cancel` is ignored.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// A new id for a task of `owner` (what [`crate::new_task_id`] makes, unless the
    /// backend places tasks by id: then create records with ids from here).
    fn new_task_id(&self, owner: &str) -> String {
        let _ = owner;
        crate::new_task_id()
    }

    /// Store a new `working` task and queue its job. When this returns, `get` finds it.
    async fn submit(&self, record: TaskRecord, job: Job) -> Result<(), BackendError>;

    /// Take up to `max` jobs for `worker`, waiting up to `wait` for at least one.
    /// Returns an empty list when none came in time.
    async fn claim_batch(&self, worker: &str, max: usize, wait: Duration) -> Result<Vec<Job>, BackendError>;

    /// [`claim_batch`](Self::claim_batch), with each task's record when the backend read it
    /// while claiming (the default reads none: the worker reads each record itself).
    async fn claim_with_records(&self, worker: &str, max: usize, wait: Duration) -> Result<Vec<Claimed>, BackendError> {
        let jobs = self.claim_batch(worker, max, wait).await?;
        Ok(jobs.into_iter().map(|job| Claimed { job, record: None }).collect())
    }

    /// Take the next job for `worker`, waiting up to `wait` for one.
    async fn claim(&self, worker: &str, wait: Duration) -> Result<Option<Job>, BackendError> {
        Ok(self.claim_batch(worker, 1, wait).await?.into_iter().next())
    }

    /// Tell the backend `worker` still runs `task_id` (so it is not redelivered).
    async fn heartbeat(&self, worker: &str, task_id: &str) -> Result<(), BackendError>;

    /// Put a claimed, unfinished job back, to run again after `delay` (retries, shutdown).
    async fn requeue(&self, worker: &str, job: Job, delay: Duration) -> Result<(), BackendError>;

    /// Apply an update to a non-terminal task. Returns the new record (`None`: unknown or expired).
    async fn update(&self, task_id: &str, update: TaskUpdate) -> Result<Option<TaskRecord>, BackendError>;

    /// Record the outcome and release the job. Ignored when the task is already terminal.
    async fn complete(&self, task_id: &str, outcome: Outcome) -> Result<Option<TaskRecord>, BackendError>;

    /// Mark a non-terminal task `cancelled` and signal its worker. Returns the record as it now is.
    async fn cancel(&self, task_id: &str) -> Result<Option<TaskRecord>, BackendError>;

    /// Read a task (`None`: unknown or expired).
    async fn get(&self, task_id: &str) -> Result<Option<TaskRecord>, BackendError>;

    /// List the tasks of `owner`, oldest first, `limit` a page.
    async fn list(&self, owner: &str, cursor: Option<&str>, limit: usize) -> Result<TaskPage, BackendError>;

    /// Publish a notice to every subscriber (of every process, for a shared store)
    /// as [`TaskEvent::Notified`]. Not stored.
    async fn notify(&self, notification: Notice) -> Result<(), BackendError>;

    /// Subscribe to task events.
    fn subscribe(&self) -> broadcast::Receiver<TaskEvent>;

    /// Subscribe to the ids of tasks as they are cancelled (what a worker listens to). The
    /// default keeps the cancellations of [`subscribe`](Self::subscribe); a shared store
    /// offers a channel of its own, so that workers need not read every change.
    fn subscribe_cancels(&self) -> CancelReceiver {
        CancelReceiver::from_events(self.subscribe())
    }

    // ---- Operator read-outs (see [`crate::inspect`]). Ownership is not checked:
    // ---- only an admin credential may reach them.

    /// Whether the store is reachable and accepting work (readiness probes).
    async fn ping(&self) -> Result<(), BackendError> {
        Ok(())
    }

    /// Record that a worker loop is alive and what it runs (called by [`Worker`](crate::Worker)
    /// every heartbeat period). Backends that keep no worker list ignore it.
    async fn worker_seen(&self, _worker: &WorkerInfo) -> Result<(), BackendError> {
        Ok(())
    }

    /// Forget a worker that stopped cleanly.
    async fn worker_gone(&self, _worker: &str) -> Result<(), BackendError> {
        Ok(())
    }

    /// Queue, tasks, throughput and workers at this moment.
    async fn stats(&self) -> Result<EngineStats, BackendError> {
        Err(BackendError::Unsupported("stats"))
    }

    /// Every owner's tasks that pass `filter`, oldest first, `limit` a page. A backend may
    /// bound the work of one call: a page can then hold fewer than `limit` tasks while
    /// `next_cursor` is set (go on until it is `None`).
    async fn list_all(
        &self,
        _filter: &TaskFilter,
        _cursor: Option<&str>,
        _limit: usize,
    ) -> Result<TaskPage, BackendError> {
        Err(BackendError::Unsupported("list_all"))
    }

    /// A task with its job, attempt, worker and timings (`None`: unknown or expired).
    async fn detail(&self, _task_id: &str) -> Result<Option<TaskDetail>, BackendError> {
        Err(BackendError::Unsupported("detail"))
    }
}
