//! Cancellations reaching running handlers: the backend's notices of cancelled tasks
//! ([`CancelReceiver`]) and the worker's table of running jobs they cancel.

use crate::backend::TaskEvent;
use crate::record::Job;
use ferry_protocol::TaskStatus;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

/// Ids of tasks as they are cancelled, from
/// [`Backend::subscribe_cancels`](crate::Backend::subscribe_cancels).
///
/// At most once, like the events it may come from: a worker makes up for a lost
/// notice by re-reading the record at every heartbeat.
pub struct CancelReceiver {
    source: Source,
}

enum Source {
    /// Every task event, of which only cancellations are kept.
    Events(broadcast::Receiver<TaskEvent>),
    /// Cancelled task ids, nothing else.
    Ids(broadcast::Receiver<String>),
}

impl CancelReceiver {
    /// The cancellations among `events` (every record change of the backend).
    pub fn from_events(events: broadcast::Receiver<TaskEvent>) -> Self {
        Self { source: Source::Events(events) }
    }

    /// A channel that carries the ids of cancelled tasks only.
    pub fn from_ids(ids: broadcast::Receiver<String>) -> Self {
        Self { source: Source::Ids(ids) }
    }

    /// The id of the next cancelled task. [`RecvError::Lagged`] when notices were
    /// dropped because this receiver fell behind; [`RecvError::Closed`] when none can come.
    pub async fn recv(&mut self) -> Result<String, RecvError> {
        match &mut self.source {
            Source::Ids(ids) => ids.recv().await,
            Source::Events(events) => loop {
                if let TaskEvent::Changed(rec) = events.recv().await? {
                    if rec.status == TaskStatus::Cancelled {
                        return Ok(rec.id.clone());
                    }
                }
            },
        }
    }
}

/// How long a notice for a task not running here is kept, and how many such notices at most.
const EARLY_KEEP: Duration = Duration::from_secs(60);
const EARLY_MAX: usize = 4096;

/// A worker's running jobs with their cancellation tokens, and the cancel notices that
/// came for tasks not (yet) running here.
///
/// Why keep the latter: a backend may hand the task's record over with the claim
/// ([`Claimed`](crate::Claimed)), read before the job is registered here. A task
/// cancelled after that read and before the registration has its notice come first; the
/// registration finds it, so the cancel is seen at once. (Later than [`EARLY_KEEP`], or
/// past [`EARLY_MAX`] notices, the heartbeat's re-read of the record still sees it.)
#[derive(Default)]
pub(crate) struct Running {
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    jobs: HashMap<String, (CancellationToken, Arc<Job>)>,
    early: HashSet<String>,
    early_order: VecDeque<(Instant, String)>,
}

impl Running {
    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Register a job about to run; its token is already cancelled when a notice for its
    /// task came before.
    pub(crate) fn register(&self, job: &Arc<Job>) -> CancellationToken {
        let token = CancellationToken::new();
        let mut table = self.table();
        if table.early.contains(&job.task_id) {
            token.cancel();
        }
        table.jobs.insert(job.task_id.clone(), (token.clone(), job.clone()));
        token
    }

    /// Forget a job; `false` when it was not registered (handed back on shutdown).
    pub(crate) fn forget(&self, task_id: &str) -> bool {
        self.table().jobs.remove(task_id).is_some()
    }

    /// The ids of the running tasks, sorted.
    pub(crate) fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.table().jobs.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// Take every running job out (shutdown hands them back).
    pub(crate) fn drain(&self) -> Vec<(CancellationToken, Arc<Job>)> {
        self.table().jobs.drain().map(|(_, v)| v).collect()
    }

    /// A task was cancelled: stop its handler, or remember the notice for a moment.
    pub(crate) fn cancelled(&self, task_id: String) {
        let mut table = self.table();
        if let Some((token, _)) = table.jobs.get(&task_id) {
            token.cancel();
            return;
        }
        let now = Instant::now();
        while let Some((at, _)) = table.early_order.front() {
            if table.early_order.len() < EARLY_MAX && now.duration_since(*at) < EARLY_KEEP {
                break;
            }
            if let Some((_, old)) = table.early_order.pop_front() {
                table.early.remove(&old);
            }
        }
        if table.early.insert(task_id.clone()) {
            table.early_order.push_back((now, task_id));
        }
    }
}

/// Cancel the token of a running job when its task is cancelled.
pub(crate) async fn listen(mut cancels: CancelReceiver, running: std::sync::Arc<Running>) {
    loop {
        match cancels.recv().await {
            Ok(id) => running.cancelled(id),
            Err(RecvError::Lagged(n)) => tracing::warn!(missed = n, "worker lagged behind task cancellations"),
            Err(RecvError::Closed) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(id: &str) -> Arc<Job> {
        Arc::new(Job {
            task_id: id.into(),
            kind: "tools/call".into(),
            name: "t".into(),
            arguments: json!({}),
            context: json!({}),
            attempt: 1,
            not_before: None,
            trace: None,
        })
    }

    #[test]
    fn a_notice_before_the_registration_cancels_the_job_as_it_registers() {
        let running = Running::default();
        running.cancelled("a".into());
        assert!(running.register(&job("a")).is_cancelled());
        assert!(!running.register(&job("b")).is_cancelled());
    }

    #[test]
    fn a_notice_after_the_registration_cancels_the_running_job() {
        let running = Running::default();
        let token = running.register(&job("a"));
        running.cancelled("a".into());
        assert!(token.is_cancelled());
        assert!(running.forget("a"));
        assert!(!running.forget("a"));
    }

    #[test]
    fn early_notices_are_bounded() {
        let running = Running::default();
        for i in 0..EARLY_MAX + 10 {
            running.cancelled(i.to_string());
        }
        let table = running.table();
        assert_eq!((table.early.len(), table.early_order.len()), (EARLY_MAX, EARLY_MAX));
        assert!(!table.early.contains("0") && table.early.contains(&(EARLY_MAX + 9).to_string()));
    }
}
