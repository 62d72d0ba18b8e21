//! The worker loop: claim, run, heartbeat, finish.
//!
//! One loop serves both deployments: inside a server process over the
//! [`MemoryBackend`](crate::MemoryBackend), and inside `ferry worker`
//! processes over a shared store. The loop owns the policies that must hold
//! wherever a handler runs: the concurrency limit, heartbeats, per-job
//! timeouts, retries with exponential backoff, cancellation (cooperative
//! first, then abort after a grace period) and turning panics into failures.

use crate::backend::{Backend, BackendError, Claimed, Notice, TaskEvent, TaskUpdate};
use crate::inspect::WorkerInfo;
use crate::record::{Job, Outcome, TaskRecord};
use crate::trace;
use async_trait::async_trait;
use ferry_protocol::time_fmt::now_ms;
use ferry_protocol::{ErrorObject, TaskStatus};
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Runs the request behind a job. Implemented by the server's handler registry.
#[async_trait]
pub trait Executor: Send + Sync + 'static {
    /// Run the job. `Err` asks for a retry (a transient failure); the worker
    /// retries while attempts remain and otherwise fails the task with that error.
    async fn execute(&self, job: Job, runtime: TaskRuntime) -> Result<Outcome, ErrorObject>;

    /// The longest a run of this job may take.
    fn timeout(&self, _job: &Job) -> Option<Duration> {
        None
    }

    /// How many times the job may run in all (1 = no retries).
    fn max_attempts(&self, _job: &Job) -> u32 {
        1
    }

    /// The job's component as a metrics label (see [`crate::metrics`]): a registered
    /// name, never an id or an argument value; `unknown` when none is registered.
    fn component_label(&self, _job: &Job) -> String {
        crate::metrics::UNKNOWN_COMPONENT.to_string()
    }
}

/// Why waiting for input ended without an answer.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The task was cancelled, expired or finished meanwhile.
    #[error("the task ended while waiting for input")]
    TaskEnded,
    /// The store failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// What goes through a runtime's relay: a notice, or a request to say when the ones before are out.
enum Relayed {
    Notice(Notice),
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// What a running job can do with its task: report progress, ask for input,
/// notice cancellation.
#[derive(Clone)]
pub struct TaskRuntime {
    backend: Arc<dyn Backend>,
    task_id: String,
    cancel: CancellationToken,
    next_key: Arc<AtomicU64>,
    relay: Arc<OnceLock<mpsc::UnboundedSender<Relayed>>>,
}

impl TaskRuntime {
    /// A runtime for `task_id` on `backend`.
    pub fn new(backend: Arc<dyn Backend>, task_id: String, cancel: CancellationToken) -> Self {
        Self { backend, task_id, cancel, next_key: Arc::new(AtomicU64::new(1)), relay: Arc::default() }
    }

    /// The task id.
    pub fn task_id(&self) -> &str {
        &self.task_id
    }

    /// Fires when the task is cancelled; handlers may watch it to stop early.
    pub fn cancellation(&self) -> &CancellationToken {
        &self.cancel
    }

    /// Record progress (and the status message, when `message` is given).
    pub async fn progress(
        &self,
        progress: f64,
        total: Option<f64>,
        message: Option<String>,
    ) -> Result<(), BackendError> {
        self.backend.update(&self.task_id, TaskUpdate::Progress { progress, total, message }).await.map(|_| ())
    }

    /// Send a notification (`method`, `params`) to the caller of session `session`
    /// through the backend, for a handler that runs away from the client's
    /// connection (in a `ferry worker`). Returns at once; notifications of one task
    /// are published in the order they were sent, by one relay that lives as long as
    /// this runtime (and its clones).
    pub fn notify(&self, session: &str, method: &str, params: Value) {
        let relay = self.relay.get_or_init(|| {
            let (tx, mut rx) = mpsc::unbounded_channel::<Relayed>();
            let backend = self.backend.clone();
            tokio::spawn(async move {
                while let Some(item) = rx.recv().await {
                    match item {
                        Relayed::Notice(n) => {
                            if let Err(e) = backend.notify(n).await {
                                tracing::warn!(error = %e, "could not relay a task notification");
                            }
                        }
                        Relayed::Flush(done) => {
                            let _ = done.send(());
                        }
                    }
                }
            });
            tx
        });
        let notice = Notice { session: Some(session.to_string()), method: method.to_string(), params };
        let _ = relay.send(Relayed::Notice(notice));
    }

    /// Wait until the notifications sent so far are published (the worker does so before
    /// it stores the outcome, so a handler's last log messages precede its result).
    pub async fn flush(&self) {
        let Some(relay) = self.relay.get() else { return };
        let (done, flushed) = tokio::sync::oneshot::channel();
        if relay.send(Relayed::Flush(done)).is_ok() {
            let _ = flushed.await;
        }
    }

    /// Set the status message.
    pub async fn message(&self, message: impl Into<String>) -> Result<(), BackendError> {
        self.backend.update(&self.task_id, TaskUpdate::Message(message.into())).await.map(|_| ())
    }

    /// Ask the requestor for input (`request` is `{method, params}`), moving the task
    /// to `input_required`, and wait for the answer.
    pub async fn request_input(&self, request: Value) -> Result<Value, InputError> {
        self.request_input_as(None, request).await
    }

    /// [`request_input`](Self::request_input) under a chosen key of the task's
    /// `inputRequests` (`None`: the next `input-n`).
    pub async fn request_input_as(&self, key: Option<String>, request: Value) -> Result<Value, InputError> {
        let key = key.unwrap_or_else(|| format!("input-{}", self.next_key.fetch_add(1, Ordering::Relaxed)));
        let mut events = self.backend.subscribe();
        let rec = self
            .backend
            .update(&self.task_id, TaskUpdate::RequestInput { key: key.clone(), request })
            .await?
            .ok_or(InputError::TaskEnded)?;
        let mut current = Some(rec);
        loop {
            if let Some(rec) = current.take() {
                if let Some(answer) = rec.input_responses.get(&key) {
                    let answer = answer.clone();
                    self.backend.update(&self.task_id, TaskUpdate::TakeResponses(vec![key])).await?;
                    return Ok(answer);
                }
                if rec.status.is_terminal() {
                    return Err(InputError::TaskEnded);
                }
            }
            // Wait for a change of this task; re-read now and then in case an event was missed.
            let next = tokio::select! {
                ev = events.recv() => match ev {
                    Ok(TaskEvent::Changed(r)) if r.id == self.task_id => Some(r),
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Lagged(_)) => None,
                    Err(broadcast::error::RecvError::Closed) => return Err(InputError::TaskEnded),
                },
                _ = tokio::time::sleep(Duration::from_secs(2)) => None,
                _ = self.cancel.cancelled() => return Err(InputError::TaskEnded),
            };
            current = match next {
                Some(r) => Some(Arc::unwrap_or_clone(r)),
                None => Some(self.backend.get(&self.task_id).await?.ok_or(InputError::TaskEnded)?),
            };
        }
    }
}

/// Settings of a [`Worker`].
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Name reported to the backend (unique per process).
    pub name: String,
    /// Most jobs run at once.
    pub concurrency: usize,
    /// How often a running job is heartbeated.
    pub heartbeat: Duration,
    /// How long one claim waits for work.
    pub claim_wait: Duration,
    /// After a cancel, how long a handler may take to stop on its own before it is aborted.
    pub cancel_grace: Duration,
    /// First retry delay; doubles with each attempt.
    pub retry_backoff: Duration,
    /// On shutdown, how long running jobs may take to finish before they are handed back.
    pub shutdown_grace: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            name: format!("worker-{}", crate::record::new_task_id()),
            concurrency: 64,
            heartbeat: Duration::from_secs(5),
            claim_wait: Duration::from_secs(1),
            cancel_grace: Duration::from_secs(2),
            retry_backoff: Duration::from_millis(500),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Claims jobs from a backend and runs them.
pub struct Worker {
    backend: Arc<dyn Backend>,
    executor: Arc<dyn Executor>,
    config: WorkerConfig,
}

/// A running [`Worker`]; [`shutdown`](WorkerHandle::shutdown) stops it gracefully.
pub struct WorkerHandle {
    shutdown: CancellationToken,
    join: JoinHandle<()>,
}

impl WorkerHandle {
    /// Stop claiming, let running jobs finish (up to the shutdown grace), hand back the rest.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        let _ = self.join.await;
    }

    /// Stop without waiting.
    pub fn abort(&self) {
        self.shutdown.cancel();
    }
}

type Running = Arc<crate::cancels::Running>;

impl Worker {
    /// A worker over `backend` running jobs through `executor`.
    pub fn new(backend: Arc<dyn Backend>, executor: Arc<dyn Executor>, config: WorkerConfig) -> Self {
        Self { backend, executor, config }
    }

    /// Start the loop on the current Tokio runtime.
    pub fn start(self) -> WorkerHandle {
        let shutdown = CancellationToken::new();
        let join = tokio::spawn(self.run(shutdown.clone()));
        WorkerHandle { shutdown, join }
    }

    async fn run(self, shutdown: CancellationToken) {
        let running: Running = Arc::default();
        let listener = tokio::spawn(crate::cancels::listen(self.backend.subscribe_cancels(), running.clone()));
        let permits = Arc::new(Semaphore::new(self.config.concurrency.max(1)));
        let this = Arc::new(self);
        let reporter = tokio::spawn(this.clone().report(running.clone()));
        loop {
            let permit = tokio::select! {
                p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
                _ = shutdown.cancelled() => break,
            };
            // Claim as many jobs as there are free slots (one round trip for a batch).
            let max = 1 + permits.available_permits().min(31);
            let claimed = tokio::select! {
                c = this.backend.claim_with_records(&this.config.name, max, this.config.claim_wait) => c,
                _ = shutdown.cancelled() => break,
            };
            match claimed {
                Ok(jobs) => {
                    let mut permit = Some(permit);
                    for claimed in jobs {
                        // The first job uses the slot we hold; the others take free ones.
                        let slot = match permit.take() {
                            Some(p) => Some(p),
                            None => permits.clone().try_acquire_owned().ok(),
                        };
                        let Some(slot) = slot else {
                            // Cannot happen while this loop is the only taker of slots; be safe anyway.
                            let _ = this.backend.requeue(&this.config.name, claimed.job, Duration::ZERO).await;
                            continue;
                        };
                        let this = this.clone();
                        let running = running.clone();
                        tokio::spawn(async move {
                            this.run_job(claimed, running).await;
                            drop(slot);
                        });
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "claim failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {},
                        _ = shutdown.cancelled() => break,
                    }
                }
            }
        }
        // Graceful stop: wait for running jobs, then hand back whatever is left.
        let all = u32::try_from(this.config.concurrency.max(1)).unwrap_or(u32::MAX);
        let finished = tokio::time::timeout(this.config.shutdown_grace, permits.acquire_many(all)).await;
        if finished.is_err() {
            for (token, job) in running.drain() {
                token.cancel();
                tracing::info!(task_id = %job.task_id, "handing back unfinished job on shutdown");
                if let Err(e) = this.backend.requeue(&this.config.name, Arc::unwrap_or_clone(job), Duration::ZERO).await
                {
                    tracing::error!(error = %e, "could not hand back job");
                }
            }
        }
        listener.abort();
        reporter.abort();
        let _ = reporter.await; // no report may land after the goodbye
        if let Err(e) = this.backend.worker_gone(&this.config.name).await {
            tracing::warn!(error = %e, "could not report this worker's stop");
        }
    }

    /// Tell the backend this worker is alive and what it runs: at start and every
    /// heartbeat period (for `ferry status`). A failed report is only logged.
    async fn report(self: Arc<Self>, running: Running) {
        let mut info = WorkerInfo {
            name: self.config.name.clone(),
            host: host_name(),
            pid: std::process::id(),
            concurrency: u32::try_from(self.config.concurrency.max(1)).unwrap_or(u32::MAX),
            started_at_ms: now_ms(),
            report_every_ms: self.config.heartbeat.as_millis().max(1) as u64,
            ..WorkerInfo::default()
        };
        let mut tick = tokio::time::interval(self.config.heartbeat.max(Duration::from_millis(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            info.running = running.ids();
            info.last_seen_ms = now_ms();
            if let Err(e) = self.backend.worker_seen(&info).await {
                tracing::warn!(error = %e, "could not report this worker as alive");
            }
        }
    }

    async fn run_job(&self, claimed: Claimed, running: Running) {
        let Claimed { job, record } = claimed;
        let id = job.task_id.clone();
        // Scheduled for later: hand it back until then (the store holds it, not this process).
        if let Some(wait) = job.not_before.map(|at| at.saturating_sub(now_ms())).filter(|ms| *ms > 0) {
            if let Err(e) = self.backend.requeue(&self.config.name, job, Duration::from_millis(wait)).await {
                tracing::warn!(task_id = %id, error = %e, "could not hand a scheduled job back");
            }
            return;
        }
        let span = trace::task_span(&job, &self.config.name);
        self.run_claimed(job, record, running).instrument(span).await;
    }

    /// Run a claimed job that is due, inside its task span; `record` is its task's record
    /// when the claim read it.
    async fn run_claimed(&self, job: Job, record: Option<TaskRecord>, running: Running) {
        let id = job.task_id.clone();
        let job = Arc::new(job);
        // Register before reading the record: a cancel notice from now on finds the token, and a
        // cancel from before is in the record. No window loses it. When the claim read the
        // record, a notice that came between that read and now was kept by `running`, and
        // the token comes back cancelled.
        let token = running.register(&job);
        let forget = || running.forget(&id);
        let component = self.executor.component_label(&job);
        let record = match record {
            Some(rec) => Ok(Some(rec)),
            None => self.backend.get(&id).await,
        };
        match record {
            Ok(Some(rec)) if !rec.status.is_terminal() && !token.is_cancelled() => {
                if job.attempt == 1 {
                    let since = rec.created_at.max(job.not_before.unwrap_or(0));
                    crate::metrics::task_waited(&component, Duration::from_millis(now_ms().saturating_sub(since)));
                }
            }
            Ok(_) => {
                // Cancelled or expired before it ran: just release it.
                if forget() {
                    let _ = self.backend.complete(&id, Outcome::error(ErrorObject::internal("skipped"))).await;
                }
                return;
            }
            Err(e) => {
                tracing::warn!(task_id = %id, error = %e, "cannot read task; handing job back");
                if forget() {
                    let job = Arc::unwrap_or_clone(job);
                    let _ = self.backend.requeue(&self.config.name, job, self.config.retry_backoff).await;
                }
                return;
            }
        }
        let runtime = TaskRuntime::new(self.backend.clone(), id.clone(), token.clone());
        let started = std::time::Instant::now();
        let result = self.supervise(&job, runtime.clone(), &token, &component).await;
        crate::metrics::task_ran(&component, started.elapsed());
        runtime.flush().await;
        if !forget() {
            return; // handed back on shutdown
        }
        let last = job.attempt >= self.executor.max_attempts(&job).max(1);
        trace::record_outcome(&tracing::Span::current(), result.end(last));
        let outcome = match result {
            Run::Finished(outcome) => outcome,
            Run::Cancelled => {
                // The record is already `cancelled`; this only releases the job.
                Outcome::error(ErrorObject::internal("cancelled"))
            }
            Run::Retry(error) => {
                let max = self.executor.max_attempts(&job).max(1);
                if job.attempt < max {
                    let delay = self.config.retry_backoff.saturating_mul(1 << (job.attempt - 1).min(16));
                    tracing::info!(task_id = %id, attempt = job.attempt, ?delay, error = %error.message, "retrying");
                    let _ = self
                        .backend
                        .update(&id, TaskUpdate::Message(format!("Retrying after error: {}", error.message)))
                        .await;
                    crate::metrics::task_retried(&component);
                    let mut next = Job::clone(&job);
                    next.attempt += 1;
                    if let Err(e) = self.backend.requeue(&self.config.name, next, delay).await {
                        tracing::error!(task_id = %id, error = %e, "could not requeue for retry");
                    }
                    return;
                }
                Outcome::error(error)
            }
        };
        // Storing the outcome must not be lost to a passing outage: retry a few times.
        for attempt in 0..5u32 {
            match self.backend.complete(&id, outcome.clone()).await {
                Ok(rec) => {
                    // Counted here when this outcome ended it (not when it was cancelled meanwhile).
                    if let Some(rec) = rec.filter(|r| r.status != TaskStatus::Cancelled) {
                        crate::metrics::task_ended(&component, rec.status);
                    }
                    return;
                }
                Err(e) => {
                    tracing::warn!(task_id = %id, error = %e, "could not store outcome; retrying");
                    tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                }
            }
        }
        tracing::error!(task_id = %id, "outcome lost; the job will be redelivered");
    }

    async fn supervise(&self, job: &Job, runtime: TaskRuntime, token: &CancellationToken, component: &str) -> Run {
        let executor = self.executor.clone();
        let mut handle = tokio::spawn({
            let job = Job::clone(job);
            async move { executor.execute(job, runtime).await }.in_current_span()
        });
        let deadline = self.executor.timeout(job).map(|t| tokio::time::Instant::now() + t);
        // The first beat is one period away. (An interval's immediate first tick is no
        // wait at all on paper, but Tokio's timer rounds every deadline up to its next
        // millisecond: awaiting it held every task back by about 1 ms.)
        let first = tokio::time::Instant::now() + self.config.heartbeat;
        let mut beat = tokio::time::interval_at(first, self.config.heartbeat);
        let mut abort_at: Option<tokio::time::Instant> = None;
        loop {
            let timeout_at = abort_at.or(deadline);
            tokio::select! {
                joined = &mut handle => {
                    if abort_at.is_some() {
                        return Run::Cancelled;
                    }
                    return match joined {
                        Ok(Ok(outcome)) => Run::Finished(outcome),
                        Ok(Err(error)) => Run::Retry(error),
                        Err(e) if e.is_panic() => Run::Finished(Outcome::error(ErrorObject::internal(format!(
                            "handler panicked: {}",
                            panic_message(e)
                        )))),
                        Err(_) => Run::Cancelled,
                    };
                }
                _ = beat.tick() => {
                    match self.backend.heartbeat(&self.config.name, &job.task_id).await {
                        Ok(()) => crate::metrics::heartbeat_sent(),
                        Err(e) => tracing::warn!(task_id = %job.task_id, error = %e, "heartbeat failed"),
                    }
                    // Status events may be lost (a dropped subscription): the record is the truth.
                    // A cancelled or vanished (expired) task stops its handler.
                    let gone = match self.backend.get(&job.task_id).await {
                        Ok(Some(rec)) => rec.status == TaskStatus::Cancelled,
                        Ok(None) => true,
                        Err(_) => false,
                    };
                    if gone {
                        token.cancel();
                    }
                }
                _ = token.cancelled(), if abort_at.is_none() => {
                    abort_at = Some(tokio::time::Instant::now() + self.config.cancel_grace);
                }
                _ = sleep_until_opt(timeout_at) => {
                    handle.abort();
                    if abort_at.is_some() {
                        tracing::info!(task_id = %job.task_id, "handler ignored cancellation; aborted");
                        return Run::Cancelled;
                    }
                    crate::metrics::task_timed_out(component);
                    let ms = self.executor.timeout(job).map(|t| t.as_millis()).unwrap_or_default();
                    return Run::Retry(ErrorObject::internal(format!("timed out after {ms} ms")));
                }
            }
        }
    }
}

enum Run {
    Finished(Outcome),
    Retry(ErrorObject),
    Cancelled,
}

impl Run {
    /// How the run ended, for its span (`last`: no attempt remains after this one).
    fn end(&self, last: bool) -> trace::RunEnd<'_> {
        match self {
            Run::Finished(outcome) => trace::RunEnd::Finished(outcome),
            Run::Retry(error) if !last => trace::RunEnd::Retrying(error),
            Run::Retry(error) => trace::RunEnd::Failed(error),
            Run::Cancelled => trace::RunEnd::Cancelled,
        }
    }
}

async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// This machine's name (`HOSTNAME`, else the kernel's), or `unknown`.
fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

fn panic_message(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(p) => p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into()),
        Err(_) => "unknown".into(),
    }
}
