//! The embedded backend: tasks in process memory.
//!
//! Zero setup and fast, but nothing survives the process. Bounded: at most
//! `max_tasks` live records (submissions beyond fail with
//! [`BackendError::Full`]); records vanish when their TTL runs out.

use crate::backend::{Backend, BackendError, Notice, TaskEvent, TaskPage, TaskUpdate};
use crate::record::{Job, Outcome, TaskRecord};
use crate::shrink::Shrink;
use async_trait::async_trait;
use ferry_protocol::time_fmt::now_ms;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{broadcast, Notify};
use tokio::time::Instant;

/// Settings of the [`MemoryBackend`].
#[derive(Debug, Clone)]
pub struct MemoryConfig {
    /// Most live (unexpired) tasks held at once.
    pub max_tasks: usize,
    /// A claimed job not heartbeated for this long is handed out again.
    pub redelivery_timeout: Duration,
    /// Capacity of the event channel (slow subscribers see `Lagged`).
    pub event_capacity: usize,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self { max_tasks: 10_000, redelivery_timeout: Duration::from_secs(60), event_capacity: 4096 }
    }
}

struct InFlight {
    job: Job,
    last_beat: Instant,
}

#[derive(Default)]
struct State {
    tasks: HashMap<String, (u64, TaskRecord)>,
    by_seq: BTreeMap<u64, String>,
    next_seq: u64,
    queue: VecDeque<Job>,
    delayed: Vec<(Instant, Job)>,
    inflight: HashMap<String, InFlight>,
    next_sweep_ms: u64,
}

impl State {
    fn remove(&mut self, id: &str) {
        if let Some((seq, _)) = self.tasks.remove(id) {
            self.by_seq.remove(&seq);
        }
        self.inflight.remove(id);
    }

    /// Drop expired records, at most once a second, and the room they left.
    fn sweep(&mut self, now: u64) {
        if now < self.next_sweep_ms {
            return;
        }
        self.next_sweep_ms = now + 1000;
        let expired: Vec<String> =
            self.tasks.iter().filter(|(_, (_, r))| r.is_expired(now)).map(|(id, _)| id.clone()).collect();
        for id in expired {
            self.remove(&id);
        }
        self.shrink();
    }

    /// Give back the capacity of tables a burst grew (they never shrink on their own).
    fn shrink(&mut self) {
        self.tasks.shrink();
        self.inflight.shrink();
        self.queue.shrink();
        self.delayed.shrink();
    }

    fn live(&self, id: &str, now: u64) -> Option<&TaskRecord> {
        self.tasks.get(id).map(|(_, r)| r).filter(|r| !r.is_expired(now))
    }

    fn live_mut(&mut self, id: &str, now: u64) -> Option<&mut TaskRecord> {
        self.tasks.get_mut(id).map(|(_, r)| r).filter(|r| !r.is_expired(now))
    }

    /// Move due delayed jobs and stale in-flight jobs to the queue.
    fn promote(&mut self, redelivery: Duration) {
        let now = Instant::now();
        let mut i = 0;
        while i < self.delayed.len() {
            if self.delayed[i].0 <= now {
                let (_, job) = self.delayed.swap_remove(i);
                self.queue.push_back(job);
            } else {
                i += 1;
            }
        }
        let stale: Vec<String> = self
            .inflight
            .iter()
            .filter(|(_, f)| now.duration_since(f.last_beat) >= redelivery)
            .map(|(id, _)| id.clone())
            .collect();
        for id in stale {
            if let Some(f) = self.inflight.remove(&id) {
                let mut job = f.job;
                job.attempt += 1;
                tracing::warn!(task_id = %id, attempt = job.attempt, "redelivering job whose worker stopped heartbeating");
                self.queue.push_back(job);
            }
        }
    }
}

/// Tasks and their queue in process memory.
///
/// ```
/// # tokio_test_block(async {
/// use ferry_tasks::{Backend, Job, MemoryBackend, TaskRecord};
/// use std::time::Duration;
/// let backend = MemoryBackend::default();
/// let record = TaskRecord::new("session-1", "tools/call", "add", 0);
/// let id = record.id.clone();
/// let job = Job { task_id: id.clone(), kind: "tools/call".into(), name: "add".into(),
///                 arguments: serde_json::json!({}), context: serde_json::json!({}), attempt: 1 };
/// backend.submit(record, job).await.unwrap();
/// let claimed = backend.claim("w1", Duration::from_millis(10)).await.unwrap().unwrap();
/// assert_eq!(claimed.task_id, id);
/// # });
/// # fn tokio_test_block<F: std::future::Future>(f: F) { tokio::runtime::Runtime::new().unwrap().block_on(f); }
/// ```
#[derive(Clone)]
pub struct MemoryBackend {
    inner: Arc<Inner>,
}

struct Inner {
    config: MemoryConfig,
    state: Mutex<State>,
    work: Notify,
    events: broadcast::Sender<TaskEvent>,
}

impl AsRef<dyn Backend> for MemoryBackend {
    fn as_ref(&self) -> &(dyn Backend + 'static) {
        self
    }
}

impl Default for MemoryBackend {
    fn default() -> Self {
        Self::new(MemoryConfig::default())
    }
}

impl MemoryBackend {
    /// A backend with the given settings.
    pub fn new(config: MemoryConfig) -> Self {
        let (events, _) = broadcast::channel(config.event_capacity.max(16));
        Self { inner: Arc::new(Inner { config, state: Mutex::new(State::default()), work: Notify::new(), events }) }
    }

    /// How many task records it holds now (live ones and expired ones not yet swept).
    pub fn held_tasks(&self) -> usize {
        self.state().tasks.len()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated in a way
        // that matters more than losing the whole store, so recover the guard.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn publish(&self, record: &TaskRecord) {
        // No subscribers is fine.
        let _ = self.inner.events.send(TaskEvent::Changed(record.clone()));
    }

    /// Apply `f` to a live, non-terminal record; publish and return the result.
    fn modify(&self, task_id: &str, f: impl FnOnce(&mut TaskRecord) -> bool) -> Option<TaskRecord> {
        let now = now_ms();
        let (record, changed) = {
            let mut st = self.state();
            let rec = st.live_mut(task_id, now)?;
            let changed = !rec.status.is_terminal() && f(rec);
            if changed {
                rec.updated_at = now.max(rec.updated_at);
            }
            (rec.clone(), changed)
        };
        if changed {
            self.publish(&record);
        }
        Some(record)
    }
}

#[async_trait]
impl Backend for MemoryBackend {
    async fn submit(&self, record: TaskRecord, job: Job) -> Result<(), BackendError> {
        let now = now_ms();
        {
            let mut st = self.state();
            st.sweep(now);
            if st.tasks.contains_key(&record.id) {
                return Err(BackendError::Duplicate(record.id));
            }
            if st.tasks.len() >= self.inner.config.max_tasks {
                st.next_sweep_ms = 0;
                st.sweep(now);
                if st.tasks.len() >= self.inner.config.max_tasks {
                    return Err(BackendError::Full(format!(
                        "{} live tasks (the limit); wait for some to expire",
                        st.tasks.len()
                    )));
                }
            }
            let seq = st.next_seq;
            st.next_seq += 1;
            st.by_seq.insert(seq, record.id.clone());
            st.tasks.insert(record.id.clone(), (seq, record.clone()));
            st.queue.push_back(job);
        }
        self.inner.work.notify_one();
        self.publish(&record);
        Ok(())
    }

    async fn claim_batch(&self, worker: &str, max: usize, wait: Duration) -> Result<Vec<Job>, BackendError> {
        let deadline = Instant::now() + wait;
        loop {
            let notified = self.inner.work.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = self.state();
                st.promote(self.inner.config.redelivery_timeout);
                let mut jobs = Vec::new();
                let now = now_ms();
                // Idle workers come by at least every 250 ms: expired records go even when no task
                // is submitted (after a burst, until the next submission, they were kept for good).
                st.sweep(now);
                while jobs.len() < max.max(1) {
                    let Some(job) = st.queue.pop_front() else { break };
                    // Skip work whose task is gone or already finished (cancelled while queued).
                    let live = st.live(&job.task_id, now).is_some_and(|r| !r.status.is_terminal());
                    if !live {
                        continue;
                    }
                    st.inflight.insert(job.task_id.clone(), InFlight { job: job.clone(), last_beat: Instant::now() });
                    tracing::trace!(worker, task_id = %job.task_id, "claimed");
                    jobs.push(job);
                }
                if !jobs.is_empty() {
                    return Ok(jobs);
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(Vec::new());
            }
            // Wake for new work, or periodically to promote delayed / stale jobs.
            let tick = (deadline - now).min(Duration::from_millis(250));
            let _ = tokio::time::timeout(tick, notified).await;
        }
    }

    async fn heartbeat(&self, _worker: &str, task_id: &str) -> Result<(), BackendError> {
        if let Some(f) = self.state().inflight.get_mut(task_id) {
            f.last_beat = Instant::now();
        }
        Ok(())
    }

    async fn requeue(&self, _worker: &str, job: Job, delay: Duration) -> Result<(), BackendError> {
        {
            let mut st = self.state();
            st.inflight.remove(&job.task_id);
            if delay.is_zero() {
                st.queue.push_back(job);
            } else {
                st.delayed.push((Instant::now() + delay, job));
            }
        }
        self.inner.work.notify_one();
        Ok(())
    }

    async fn update(&self, task_id: &str, update: TaskUpdate) -> Result<Option<TaskRecord>, BackendError> {
        Ok(self.modify(task_id, |rec| rec.apply(update)))
    }

    async fn complete(&self, task_id: &str, outcome: Outcome) -> Result<Option<TaskRecord>, BackendError> {
        self.state().inflight.remove(task_id);
        Ok(self.modify(task_id, |rec| {
            rec.finish(outcome);
            true
        }))
    }

    async fn cancel(&self, task_id: &str) -> Result<Option<TaskRecord>, BackendError> {
        Ok(self.modify(task_id, |rec| {
            rec.mark_cancelled();
            true
        }))
    }

    async fn get(&self, task_id: &str) -> Result<Option<TaskRecord>, BackendError> {
        Ok(self.state().live(task_id, now_ms()).cloned())
    }

    async fn list(&self, owner: &str, cursor: Option<&str>, limit: usize) -> Result<TaskPage, BackendError> {
        let start = match cursor {
            None => 0,
            Some(c) => c.parse::<u64>().map_err(|_| BackendError::InvalidCursor)?,
        };
        let now = now_ms();
        let mut st = self.state();
        st.sweep(now);
        if start > st.next_seq {
            return Err(BackendError::InvalidCursor);
        }
        let mut page = TaskPage::default();
        for (seq, id) in st.by_seq.range(start..) {
            let Some(rec) = st.live(id, now) else { continue };
            if rec.owner != owner {
                continue;
            }
            if page.tasks.len() == limit.max(1) {
                page.next_cursor = Some(seq.to_string());
                break;
            }
            page.tasks.push(rec.clone());
        }
        Ok(page)
    }

    async fn notify(&self, notification: Notice) -> Result<(), BackendError> {
        let _ = self.inner.events.send(TaskEvent::Notified(notification));
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<TaskEvent> {
        self.inner.events.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweep_gives_back_the_room_of_expired_tasks() {
        let mut st = State::default();
        for seq in 0..10_000 {
            let mut rec = TaskRecord::new("s", "tools/call", "add", 0);
            rec.ttl_ms = Some(1);
            st.by_seq.insert(seq, rec.id.clone());
            st.tasks.insert(rec.id.clone(), (seq, rec));
        }
        assert!(st.tasks.capacity() >= 10_000);
        st.sweep(now_ms());
        assert!(st.tasks.is_empty() && st.by_seq.is_empty());
        assert_eq!(st.tasks.capacity(), 0, "the table's room is given back");
    }
}
