//! Form B quick answers ([`ServerConfig::quick_answer`](crate::ServerConfig::quick_answer)).
//!
//! A 2026-07-28 `tools/call` to a task-optional tool, from a client that declared the
//! tasks extension, becomes a task. For a quick tool the client then asks `tasks/get`
//! right away only to read a result that is already there. With a quick-answer window
//! the server waits that long for the task to end and, if it does, answers the call
//! with the result itself (`resultType: "complete"`), as a direct call would; the spec
//! allows an immediate result for any `tools/call` (SEP-2663). The task was stored
//! before the wait and stays gettable until its TTL, like any other; only the poll is
//! saved. A task still running when the window closes is answered as usual (the
//! CreateTaskResult); so is a cancelled one.
//!
//! On by default ([`DEFAULT_QUICK_ANSWER`]): SEP-2663 makes task creation the server's
//! choice per request ("MAY return CreateTaskResult in lieu of a standard result") and
//! requires a client that declared the extension to handle either answer; the official
//! conformance suite's 2026-07-28 tasks scenarios accept both (`TasksImmediateResultShortcut`).

use crate::dispatch::Reply;
use crate::server::Shared;
use crate::watch::Wake;
use ferry_protocol::TaskStatus;
use ferry_tasks::{Outcome, TaskRecord};
use std::sync::Arc;
use std::time::Duration;

/// The default quick-answer window (2 ms): long enough for a quick tool's task to end
/// on a loaded server, short enough that a task still running is answered with its
/// task hardly later (BENCHMARKS.md, "Form B quick answers on by default").
pub const DEFAULT_QUICK_ANSWER: Duration = Duration::from_millis(2);

/// The answer of task `task_id` if it ends within `window` (`None`: it did not, or its
/// store could not say).
pub(crate) async fn wait(shared: &Arc<Shared>, task_id: &str, window: Duration) -> Option<Reply> {
    let deadline = tokio::time::Instant::now() + window;
    // Watch before reading, so an end after the read is not missed.
    let mut watch = shared.watchers.watch(task_id);
    let mut rec = Arc::new(shared.backend.get(task_id).await.ok()??);
    loop {
        if rec.status.is_terminal() {
            return answer(Arc::unwrap_or_clone(rec));
        }
        // A change brings the new record with it; the store is read again only when
        // events may have been missed.
        rec = tokio::select! {
            wake = watch.changed() => match wake {
                Wake::Changed(r) => r,
                _ => Arc::new(shared.backend.get(task_id).await.ok()??),
            },
            _ = tokio::time::sleep_until(deadline) => return None,
        };
    }
}

/// What a direct call would have answered: the result (a tool error result too), or
/// the JSON-RPC error of a failed task. A cancelled task has none.
fn answer(rec: TaskRecord) -> Option<Reply> {
    match (rec.status, rec.outcome) {
        (TaskStatus::Completed, Some(outcome @ Outcome::Result { .. })) => outcome.result_value().map(Ok),
        (TaskStatus::Failed, Some(Outcome::Error { error })) => Some(Err(*error)),
        _ => None,
    }
}
