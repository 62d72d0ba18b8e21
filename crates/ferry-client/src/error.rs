//! Client errors.

use ferry_protocol::ErrorObject;

/// What can go wrong talking to an MCP server.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// The connection failed or broke.
    #[error("transport error: {0}")]
    Transport(String),
    /// The server refused the credentials (HTTP 401): set them with
    /// [`ClientOptions::bearer_token`](crate::ClientOptions::bearer_token) or
    /// [`ClientOptions::header`](crate::ClientOptions::header), or sign in with
    /// [`ClientOptions::oauth`](crate::ClientOptions::oauth); also why such a sign-in failed.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The server answered with a JSON-RPC error.
    #[error("server error: {0}")]
    Rpc(ErrorObject),
    /// The server answered something this client cannot read.
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
    /// The task ended with an error.
    #[error("task {task_id} failed: {error}")]
    TaskFailed {
        /// The task.
        task_id: String,
        /// Its error.
        error: ErrorObject,
    },
    /// The task was cancelled.
    #[error("task {0} was cancelled")]
    TaskCancelled(String),
    /// The task is unknown to the server: expired, never existed, or not ours.
    #[error("task {0} not found (expired, unknown, or owned by another session)")]
    TaskNotFound(String),
    /// The server offers no tasks (for this request type).
    #[error("the server does not support tasks for {0}")]
    NoTaskSupport(String),
    /// The tool does not allow running as a task.
    #[error("tool '{0}' does not allow task execution")]
    TaskForbidden(String),
    /// The task has already ended (as `status`), so it cannot be cancelled, or will
    /// never reach the state waited for.
    #[error("task {task_id} already ended: {status}")]
    TaskEnded {
        /// The task.
        task_id: String,
        /// How it ended.
        status: ferry_protocol::TaskStatus,
    },
    /// A wait gave up.
    #[error("gave up after {0:?}")]
    Timeout(std::time::Duration),
    /// The client was closed ([`Client::close`](crate::Client::close)) before this request
    /// (named); a task lives on: re-attach it with `Client::task(id)` on a new client.
    #[error("{0}: the client was closed; to follow a task, re-attach it by id on a new client")]
    Closed(String),
}

impl ClientError {
    /// The JSON-RPC error, if the server sent one.
    pub fn rpc(&self) -> Option<&ErrorObject> {
        match self {
            ClientError::Rpc(e) | ClientError::TaskFailed { error: e, .. } => Some(e),
            _ => None,
        }
    }
}
