//! The two wire forms of MCP tasks.
//!
//! Both forms share one state machine ([`TaskStatus`]). They differ in field
//! names (`ttl`/`pollInterval` versus `ttlMs`/`pollIntervalMs`), in how a task
//! is created (nested `{"task": ...}` versus flat with `resultType: "task"`),
//! and in how the final result is fetched (`tasks/result` versus inlined in
//! `tasks/get`). [`FormATask`] and [`FormBTask`] are the two encodings of one
//! task snapshot; the server picks one from the era of the request.

use crate::jsonrpc::{ErrorCode, ErrorObject};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::fmt;
use std::str::FromStr;

/// Extension identifier of Form B.
pub const EXTENSION_ID: &str = "io.modelcontextprotocol/tasks";
/// `_meta` key linking a message to a task (Form A).
pub const META_RELATED_TASK: &str = "io.modelcontextprotocol/related-task";
/// Optional interim text for the model on a Form A create result.
pub const META_IMMEDIATE_RESPONSE: &str = "io.modelcontextprotocol/model-immediate-response";

/// The status of a task. Terminal: `completed`, `failed`, `cancelled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Running (or queued to run).
    Working,
    /// Waiting for input from the requestor.
    InputRequired,
    /// Finished with a result.
    Completed,
    /// Finished with an error.
    Failed,
    /// Cancelled on request.
    Cancelled,
}

impl TaskStatus {
    /// Whether no further transition is allowed.
    pub fn is_terminal(self) -> bool {
        matches!(self, TaskStatus::Completed | TaskStatus::Failed | TaskStatus::Cancelled)
    }
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Working => "working",
            TaskStatus::InputRequired => "input_required",
            TaskStatus::Completed => "completed",
            TaskStatus::Failed => "failed",
            TaskStatus::Cancelled => "cancelled",
        }
    }
    /// Whether the state machine allows moving from `self` to `next`.
    ///
    /// ```
    /// use ferry_protocol::TaskStatus::*;
    /// assert!(Working.can_become(InputRequired));
    /// assert!(InputRequired.can_become(Working));
    /// assert!(!Completed.can_become(Cancelled));
    /// ```
    pub fn can_become(self, next: TaskStatus) -> bool {
        match self {
            TaskStatus::Working => next != TaskStatus::Working,
            TaskStatus::InputRequired => next != TaskStatus::InputRequired,
            _ => false,
        }
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TaskStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "working" => TaskStatus::Working,
            "input_required" => TaskStatus::InputRequired,
            "completed" => TaskStatus::Completed,
            "failed" => TaskStatus::Failed,
            "cancelled" => TaskStatus::Cancelled,
            other => return Err(format!("unknown task status '{other}'")),
        })
    }
}

/// Whether a component (tool, prompt, resource) may run as a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskSupport {
    /// Never runs as a task (the default in the spec).
    #[default]
    Forbidden,
    /// Runs as a task when asked, synchronously otherwise.
    Optional,
    /// Only runs as a task.
    Required,
}

impl FromStr for TaskSupport {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "forbidden" => TaskSupport::Forbidden,
            "optional" => TaskSupport::Optional,
            "required" => TaskSupport::Required,
            other => return Err(format!("unknown task support '{other}' (forbidden, optional or required)")),
        })
    }
}

/// `params.task` of a Form A request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskMetadata {
    /// Requested time to live in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<f64>,
}

/// A Form A (2025-11-25) task object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FormATask {
    /// The task id.
    pub task_id: String,
    /// The status.
    pub status: TaskStatus,
    /// A human-readable status message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// RFC 3339 time of the last change.
    pub last_updated_at: String,
    /// Time to live in ms from creation; `null` = unlimited.
    pub ttl: Option<u64>,
    /// Suggested polling interval in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_interval: Option<u64>,
}

/// A Form B (SEP-2663) task object; `extra` holds the DetailedTask fields
/// (`result`, `error`, `inputRequests`) and `resultType`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FormBTask {
    /// The task id.
    pub task_id: String,
    /// The status.
    pub status: TaskStatus,
    /// A human-readable status message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// RFC 3339 time of the last change.
    pub last_updated_at: String,
    /// Time to live in ms; `null` = unlimited.
    pub ttl_ms: Option<u64>,
    /// Suggested polling interval in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_interval_ms: Option<u64>,
    /// `result`, `error`, `inputRequests`, `resultType`, `_meta`.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The `-32021` error for a request that needs the tasks extension but did not declare it.
pub fn missing_extension_error() -> ErrorObject {
    missing_capability_error(json!({"extensions": {EXTENSION_ID: {}}}))
}

/// The `-32021` error for a request that needs client capabilities it did not declare;
/// `required` is the capabilities object (e.g. `{"elicitation": {}}`).
pub fn missing_capability_error(required: Value) -> ErrorObject {
    ErrorObject::new(ErrorCode::MISSING_CLIENT_CAPABILITY, "Missing required client capability")
        .with_data(json!({ "requiredCapabilities": required }))
}

/// The related-task `_meta` value for a task id.
pub fn related_task_meta(task_id: &str) -> Value {
    json!({ "taskId": task_id })
}
