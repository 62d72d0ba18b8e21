//! The embedded backend: tasks in process memory.
//!
//! Zero setup and fast, but nothing survives the process. Bounded by
//! [`TaskLimits`]: unfinished tasks are capped per owner and in total
//! (submissions beyond are refused), ended tasks are kept for their TTL within
//! the retention bounds (the oldest of the owner keeping the most go first).

mod books;
mod inspect;

use crate::backend::{Backend, BackendError, Notice, TaskEvent, TaskPage, TaskUpdate};
use crate::inspect::{EngineStats, TaskDetail, TaskFilter, WorkerInfo};
use crate::limits::{json_size, StoreUsage, TaskLimits, Usage};
use crate::record::{Job, Outcome, TaskRecord};
use crate::shrink::Shrink;
use async_trait::async_trait;
use books::{Expiry, Names, Ordered};
use ferry_protocol::time_fmt::now_ms;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{broadcast, Notify};
use tokio::time::Instant;

/// Settings of the [`MemoryBackend`].
#[derive(Debug, Clone)]
pub struct MemoryConfig {
    /// What the store may hold, per owner and in total.
    pub limits: TaskLimits,
    /// A claimed job not heartbeated for this long is handed out again.
    pub redelivery_timeout: Duration,
    /// Capacity of the event channel (slow subscribers see `Lagged`).
    pub event_capacity: usize,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self { limits: TaskLimits::default(), redelivery_timeout: Duration::from_secs(60), event_capacity: 4096 }
    }
}

struct InFlight {
    job: Job,
    last_beat: Instant,
    /// The owner it counts against while it runs.
    account: String,
    /// The worker running it.
    worker: String,
    /// When it was handed to that worker, epoch ms.
    claimed_at: u64,
}

struct Entry {
    seq: u64,
    /// Argument bytes while live, result bytes once ended.
    bytes: usize,
    /// The record as last published (subscribers hold the same one).
    record: Arc<TaskRecord>,
}

/// What one owner holds.
#[derive(Default)]
struct Account {
    live: Usage,
    /// Ended tasks, oldest first: (ended at, seq).
    ended: Ordered,
    ended_bytes: usize,
}

#[derive(Default)]
struct State {
    /// Jobs running per owner (handed to a worker, not yet finished or handed back).
    running: HashMap<String, usize>,
    /// Tasks by id; the id is shared with `by_seq`.
    tasks: HashMap<Arc<str>, Entry>,
    by_seq: BTreeMap<u64, Arc<str>>,
    /// Ended tasks by when they expire.
    expiry: Expiry,
    /// The kinds and names of the tasks held, one copy each.
    names: Names,
    accounts: HashMap<String, Account>,
    live: Usage,
    ended: usize,
    ended_bytes: usize,
    next_seq: u64,
    queue: FairQueue,
    delayed: Vec<(Instant, Job)>,
    inflight: HashMap<String, InFlight>,
    /// When the tables may next give back room (epoch ms).
    next_shrink_ms: u64,
    /// Tasks ended per second over the last minute (operator read-outs).
    ended_recent: inspect::EndedWindow,
    /// Worker loops as they last reported themselves.
    workers: HashMap<String, WorkerInfo>,
}

impl State {
    fn remove(&mut self, id: &str) {
        let Some(e) = self.tasks.remove(id) else { return };
        self.by_seq.remove(&e.seq);
        self.stop(id);
        if let (Some(at), Some(ttl)) = (e.record.expires_at(), e.record.ttl_ms) {
            self.expiry.remove(ttl, at, e.seq);
        }
        let account = e.record.account();
        let Some(acc) = self.accounts.get_mut(account) else { return };
        if e.record.status.is_terminal() {
            acc.ended.remove((e.record.updated_at, e.seq));
            acc.ended_bytes -= e.bytes;
            self.ended -= 1;
            self.ended_bytes -= e.bytes;
        } else {
            acc.live.live -= 1;
            acc.live.bytes -= e.bytes;
            self.live.live -= 1;
            self.live.bytes -= e.bytes;
        }
        if acc.live.live == 0 && acc.ended.is_empty() {
            self.accounts.remove(account);
        }
    }

    fn remove_seq(&mut self, seq: u64) {
        if let Some(id) = self.by_seq.get(&seq).cloned() {
            self.remove(&id);
        }
    }

    /// Drop the records whose TTL ran out; at most once a second, give back the room
    /// of tables a burst grew (they never shrink on their own).
    fn sweep(&mut self, now: u64) {
        while let Some(seq) = self.expiry.pop_due(now) {
            self.remove_seq(seq);
        }
        if now >= self.next_shrink_ms {
            self.next_shrink_ms = now + 1000;
            self.names.sweep();
            self.expiry.shrink();
            self.tasks.shrink();
            self.accounts.shrink();
            self.inflight.shrink();
            self.running.shrink();
            self.queue.shrink();
            self.delayed.shrink();
            self.workers.shrink();
        }
    }

    /// A task just ended: move it from the live counts to the ended ones (its job's
    /// arguments are released, its result kept), then keep the bounds on ended tasks.
    fn ended(&mut self, id: &str, result_bytes: usize, limits: &TaskLimits) {
        let Some(e) = self.tasks.get_mut(id) else { return };
        let (seq, ended_at) = (e.seq, e.record.updated_at);
        let arg_bytes = std::mem::replace(&mut e.bytes, result_bytes);
        let record = e.record.clone();
        // A live task's account is always there.
        let Some(acc) = self.accounts.get_mut(record.account()) else { return };
        acc.live.live -= 1;
        acc.live.bytes -= arg_bytes;
        acc.ended.insert((ended_at, seq));
        acc.ended_bytes += result_bytes;
        let own = acc.ended.len();
        self.live.live -= 1;
        self.live.bytes -= arg_bytes;
        self.ended += 1;
        self.ended_bytes += result_bytes;
        if let (Some(at), Some(ttl)) = (record.expires_at(), record.ttl_ms) {
            self.expiry.insert(ttl, at, seq);
        }
        if own > limits.max_retained_per_owner {
            self.evict_from(record.account());
        }
        while self.ended > limits.max_retained || self.ended_bytes > limits.max_retained_bytes {
            // The owner keeping the most gives up its oldest first.
            let by_bytes = self.ended_bytes > limits.max_retained_bytes;
            let largest = self
                .accounts
                .iter()
                .filter(|(_, a)| !a.ended.is_empty())
                .max_by_key(|(_, a)| if by_bytes { a.ended_bytes } else { a.ended.len() })
                .map(|(name, _)| name.clone());
            match largest {
                Some(name) => self.evict_from(&name),
                None => break,
            }
        }
    }

    /// Drop the oldest ended task of `account`.
    fn evict_from(&mut self, account: &str) {
        let oldest = self.accounts.get(account).and_then(|a| a.ended.first());
        if let Some((_, seq)) = oldest {
            tracing::debug!(account, "dropping an ended task early to stay within the retention bounds");
            self.remove_seq(seq);
        }
    }

    fn live(&self, id: &str, now: u64) -> Option<&Arc<TaskRecord>> {
        self.tasks.get(id).map(|e| &e.record).filter(|r| !r.is_expired(now))
    }

    /// A job was handed to a worker.
    fn start(&mut self, job: &Job, account: String, worker: &str) {
        *self.running.entry(account.clone()).or_default() += 1;
        let flight = InFlight {
            job: job.clone(),
            last_beat: Instant::now(),
            account,
            worker: worker.to_string(),
            claimed_at: now_ms(),
        };
        self.inflight.insert(job.task_id.clone(), flight);
    }

    /// A job left its worker (finished, handed back, or silent too long); returns it.
    fn stop(&mut self, task_id: &str) -> Option<Job> {
        let f = self.inflight.remove(task_id)?;
        if let Some(n) = self.running.get_mut(&f.account) {
            *n -= 1;
            if *n == 0 {
                self.running.remove(&f.account);
            }
        }
        Some(f.job)
    }

    /// Queue a job behind the others of its task's owner.
    fn enqueue(&mut self, job: Job) {
        let account = self.tasks.get(job.task_id.as_str()).map(|e| e.record.account().to_string()).unwrap_or_default();
        self.queue.push(account, job);
    }

    /// Move due delayed jobs and stale in-flight jobs to the queue.
    fn promote(&mut self, redelivery: Duration) {
        let now = Instant::now();
        let mut i = 0;
        while i < self.delayed.len() {
            if self.delayed[i].0 <= now {
                let (_, job) = self.delayed.swap_remove(i);
                self.enqueue(job);
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
            if let Some(mut job) = self.stop(&id) {
                job.attempt += 1;
                tracing::warn!(task_id = %id, attempt = job.attempt, "redelivering job whose worker stopped heartbeating");
                crate::metrics::redelivered(1);
                self.enqueue(job);
            }
        }
    }
}

/// Jobs waiting for a worker, served in turn per owner: one owner's thousand
/// queued jobs do not hold back another owner's next one.
#[derive(Default)]
struct FairQueue {
    /// Each owner's jobs with when they were queued (epoch ms), oldest first (no empty queues kept).
    jobs: HashMap<String, VecDeque<(u64, Job)>>,
    /// Owners with jobs, in the order they get their next turn.
    turns: VecDeque<String>,
}

impl FairQueue {
    fn push(&mut self, account: String, job: Job) {
        let queue = self.jobs.entry(account.clone()).or_default();
        if queue.is_empty() {
            self.turns.push_back(account);
        }
        queue.push_back((now_ms(), job));
    }

    /// The oldest job of the next owner in turn that `may_run` (owners passed over keep
    /// their place), with that owner.
    fn pop(&mut self, may_run: impl Fn(&str) -> bool) -> Option<(String, Job)> {
        for _ in 0..self.turns.len() {
            let account = self.turns.pop_front()?;
            if !may_run(&account) {
                self.turns.push_back(account);
                continue;
            }
            let queue = self.jobs.get_mut(&account)?;
            let job = queue.pop_front().map(|(_, j)| j);
            if queue.is_empty() {
                self.jobs.remove(&account);
            } else {
                self.turns.push_back(account.clone());
            }
            return job.map(|j| (account, j));
        }
        None
    }

    fn shrink(&mut self) {
        self.jobs.shrink();
        self.turns.shrink();
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
///                 arguments: serde_json::json!({}), context: serde_json::json!({}), attempt: 1, not_before: None, trace: None };
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

    /// How many task records it holds now (live ones and ended ones kept for their TTL).
    pub fn held_tasks(&self) -> usize {
        self.state().tasks.len()
    }

    /// What the store holds now (after dropping what expired).
    pub fn usage(&self) -> StoreUsage {
        let mut st = self.state();
        st.sweep(now_ms());
        StoreUsage {
            live: st.live.live,
            live_bytes: st.live.bytes,
            ended: st.ended,
            ended_bytes: st.ended_bytes,
            owners: st.accounts.len(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated in a way
        // that matters more than losing the whole store, so recover the guard.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn publish(&self, record: Arc<TaskRecord>) {
        // No subscribers is fine.
        let _ = self.inner.events.send(TaskEvent::Changed(record));
    }

    /// Apply `f` to a live, non-terminal record; publish and return the result. A record
    /// that `f` ends is accounted as ended with `result_bytes`.
    fn modify(
        &self,
        task_id: &str,
        result_bytes: usize,
        f: impl FnOnce(&mut TaskRecord) -> bool,
    ) -> Option<TaskRecord> {
        let now = now_ms();
        let record = {
            let mut st = self.state();
            st.sweep(now);
            let entry = st.tasks.get_mut(task_id).filter(|e| !e.record.is_expired(now))?;
            // Subscribers hold the current record: the change goes to a new one.
            let mut next = TaskRecord::clone(&entry.record);
            if next.status.is_terminal() || !f(&mut next) {
                return Some(next);
            }
            next.updated_at = now.max(next.updated_at);
            let next = Arc::new(next);
            entry.record = next.clone();
            if next.status.is_terminal() {
                st.ended(task_id, result_bytes, &self.inner.config.limits);
                st.ended_recent.add(next.status, now);
            }
            next
        };
        let changed = TaskRecord::clone(&record);
        self.publish(record);
        Some(changed)
    }
}

#[async_trait]
impl Backend for MemoryBackend {
    async fn submit(&self, mut record: TaskRecord, job: Job) -> Result<(), BackendError> {
        let now = now_ms();
        let bytes = json_size(&job.arguments);
        let record = {
            let mut st = self.state();
            st.sweep(now);
            if st.tasks.contains_key(record.id.as_str()) {
                return Err(BackendError::Duplicate(record.id));
            }
            let own = st.accounts.get(record.account()).map(|a| a.live).unwrap_or_default();
            self.inner.config.limits.admit(own, st.live, bytes)?;
            let acc = st.accounts.entry(record.account().to_string()).or_default();
            acc.live.live += 1;
            acc.live.bytes += bytes;
            st.live.live += 1;
            st.live.bytes += bytes;
            let seq = st.next_seq;
            st.next_seq += 1;
            record.kind = st.names.intern(&record.kind);
            record.name = st.names.intern(&record.name);
            let id: Arc<str> = Arc::from(record.id.as_str());
            st.by_seq.insert(seq, id.clone());
            let record = Arc::new(record);
            st.tasks.insert(id, Entry { seq, bytes, record: record.clone() });
            st.enqueue(job);
            record
        };
        self.inner.work.notify_one();
        self.publish(record);
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
                // Idle workers come by at least every 250 ms: expired records go even when no
                // task is submitted (after a burst they were kept until the next submission).
                st.sweep(now);
                let cap = self.inner.config.limits.max_running_per_owner;
                while jobs.len() < max.max(1) {
                    let state = &mut *st;
                    let running = &state.running;
                    let Some((account, job)) = state.queue.pop(|a| running.get(a).copied().unwrap_or(0) < cap) else {
                        break;
                    };
                    // Skip work whose task is gone or already finished (cancelled while queued).
                    let live = st.live(&job.task_id, now).is_some_and(|r| !r.status.is_terminal());
                    if !live {
                        continue;
                    }
                    st.start(&job, account, worker);
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
            st.stop(&job.task_id);
            if delay.is_zero() {
                st.enqueue(job);
            } else {
                st.delayed.push((Instant::now() + delay, job));
            }
        }
        self.inner.work.notify_one();
        Ok(())
    }

    async fn update(&self, task_id: &str, update: TaskUpdate) -> Result<Option<TaskRecord>, BackendError> {
        Ok(self.modify(task_id, 0, |rec| rec.apply(update)))
    }

    async fn complete(&self, task_id: &str, outcome: Outcome) -> Result<Option<TaskRecord>, BackendError> {
        self.state().stop(task_id);
        let (outcome, bytes) = self.inner.config.limits.bound_outcome(outcome);
        Ok(self.modify(task_id, bytes, |rec| {
            rec.finish(outcome);
            true
        }))
    }

    async fn cancel(&self, task_id: &str) -> Result<Option<TaskRecord>, BackendError> {
        Ok(self.modify(task_id, 0, |rec| {
            rec.mark_cancelled();
            true
        }))
    }

    async fn get(&self, task_id: &str) -> Result<Option<TaskRecord>, BackendError> {
        Ok(self.state().live(task_id, now_ms()).map(|r| TaskRecord::clone(r)))
    }

    async fn list(&self, owner: &str, cursor: Option<&str>, limit: usize) -> Result<TaskPage, BackendError> {
        self.list_all_now(&TaskFilter { owner: Some(owner.to_string()), ..TaskFilter::default() }, cursor, limit)
    }

    async fn notify(&self, notification: Notice) -> Result<(), BackendError> {
        let _ = self.inner.events.send(TaskEvent::Notified(notification));
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<TaskEvent> {
        self.inner.events.subscribe()
    }

    async fn worker_seen(&self, worker: &WorkerInfo) -> Result<(), BackendError> {
        self.state().workers.insert(worker.name.clone(), worker.clone());
        Ok(())
    }

    async fn worker_gone(&self, worker: &str) -> Result<(), BackendError> {
        self.state().workers.remove(worker);
        Ok(())
    }

    async fn stats(&self) -> Result<EngineStats, BackendError> {
        Ok(self.stats_now())
    }

    async fn list_all(
        &self,
        filter: &TaskFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<TaskPage, BackendError> {
        self.list_all_now(filter, cursor, limit)
    }

    async fn detail(&self, task_id: &str) -> Result<Option<TaskDetail>, BackendError> {
        Ok(self.detail_now(task_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweep_gives_back_the_room_of_expired_tasks() {
        let mut st = State::default();
        for seq in 0..10_000 {
            let mut record = TaskRecord::new("s", "tools/call", "add", 0);
            record.ttl_ms = Some(1);
            record.status = crate::TaskStatus::Completed;
            let id: Arc<str> = Arc::from(record.id.as_str());
            st.by_seq.insert(seq, id.clone());
            st.expiry.insert(1, 1, seq);
            st.tasks.insert(id, Entry { seq, bytes: 0, record: Arc::new(record) });
        }
        assert!(st.tasks.capacity() >= 10_000);
        st.sweep(now_ms());
        assert!(st.tasks.is_empty() && st.by_seq.is_empty() && st.expiry.is_empty());
        assert_eq!(st.tasks.capacity(), 0, "the table's room is given back");
    }
}
