//! The engine's metrics: names, and the helpers that record them.
//!
//! Recorded through the [`metrics`] facade: nothing is kept unless the process
//! installed a recorder (`ferry serve` and `ferry worker --metrics-addr` install
//! the Prometheus one of `ferry_server::metrics`); without one each helper is a
//! few instructions. Every event is counted once, in the process where it happens:
//! a task is created in a front end, runs and ends in whichever process runs its
//! worker, and is cancelled where `tasks/cancel` arrives; sum over the processes
//! of a deployment (Prometheus does).
//!
//! `component` is the name of a registered tool, prompt or job, the URI of a fixed
//! resource or the template of a templated one, `unknown` for anything else: never
//! an id or an argument value, so the number of series stays bounded by what the
//! server registered.
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `ferry_tasks_created_total` | counter | `component` | tasks created (submitted to the store) |
//! | `ferry_tasks_ended_total` | counter | `component`, `status` | tasks that ended: `completed` (a tool error result included), `failed`, `cancelled` |
//! | `ferry_task_run_seconds` | histogram | `component` | how long one run of a task's handler took (each attempt) |
//! | `ferry_task_queue_wait_seconds` | histogram | `component` | time from a task's creation (or its `not_before`, when scheduled) to the start of its first run |
//! | `ferry_task_retries_total` | counter | `component` | runs that failed transiently and were queued again |
//! | `ferry_task_timeouts_total` | counter | `component` | runs stopped for taking longer than their timeout |
//! | `ferry_task_redeliveries_total` | counter | — | jobs handed to another worker because theirs stopped heartbeating |
//! | `ferry_worker_heartbeats_total` | counter | — | heartbeats a worker sent for its running jobs |
//!
//! | `ferry_limit_refusals_total` | counter | `limit` | refusals by a limit, named by [`Limit::name`] (recorded here and by the server) |
//!
//! Gauges read from [`Backend::stats`] at scrape time (see [`EngineGauges`]):
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `ferry_tasks` | gauge | `status` | tasks held in the store, by status (ended ones until their TTL lapses) |
//! | `ferry_queue_depth` | gauge | — | jobs ready to be claimed |
//! | `ferry_queue_delayed` | gauge | — | jobs waiting for a later start (retry backoff, scheduled jobs) |
//! | `ferry_queue_running` | gauge | — | jobs claimed by a worker and not finished |
//! | `ferry_queue_oldest_age_seconds` | gauge | — | age of the oldest job ready to be claimed (0: none waits) |
//! | `ferry_workers_alive` | gauge | — | workers that reported within three of their periods |
//! | `ferry_engine_stats_up` | gauge | — | 1 when the last read of the engine's stats succeeded, else 0 |

use crate::backend::Backend;
use crate::inspect::EngineStats;
use ferry_protocol::TaskStatus;
use metrics::{counter, gauge, histogram, Counter, Histogram};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

/// Counter: tasks created, by `component`.
pub const TASKS_CREATED: &str = "ferry_tasks_created_total";
/// Counter: tasks ended, by `component` and `status`.
pub const TASKS_ENDED: &str = "ferry_tasks_ended_total";
/// Histogram: seconds one run of a handler took, by `component`.
pub const TASK_RUN_SECONDS: &str = "ferry_task_run_seconds";
/// Histogram: seconds from creation (or `not_before`) to the first run, by `component`.
pub const TASK_QUEUE_WAIT_SECONDS: &str = "ferry_task_queue_wait_seconds";
/// Counter: transient failures queued again, by `component`.
pub const TASK_RETRIES: &str = "ferry_task_retries_total";
/// Counter: runs stopped by their timeout, by `component`.
pub const TASK_TIMEOUTS: &str = "ferry_task_timeouts_total";
/// Counter: jobs redelivered after their worker went silent.
pub const TASK_REDELIVERIES: &str = "ferry_task_redeliveries_total";
/// Counter: heartbeats sent for running jobs.
pub const WORKER_HEARTBEATS: &str = "ferry_worker_heartbeats_total";
/// Gauge: stored tasks by `status`.
pub const TASKS: &str = "ferry_tasks";
/// Gauge: jobs ready to be claimed.
pub const QUEUE_DEPTH: &str = "ferry_queue_depth";
/// Gauge: jobs waiting for a later start.
pub const QUEUE_DELAYED: &str = "ferry_queue_delayed";
/// Gauge: jobs claimed and not finished.
pub const QUEUE_RUNNING: &str = "ferry_queue_running";
/// Gauge: age in seconds of the oldest job ready to be claimed.
pub const QUEUE_OLDEST_AGE_SECONDS: &str = "ferry_queue_oldest_age_seconds";
/// Gauge: workers alive.
pub const WORKERS_ALIVE: &str = "ferry_workers_alive";
/// Gauge: whether the last stats read succeeded.
pub const ENGINE_STATS_UP: &str = "ferry_engine_stats_up";

/// Counter: refusals by a limit, by `limit` (a [`Limit::name`]).
pub const LIMIT_REFUSALS: &str = "ferry_limit_refusals_total";

/// A bound that refused something, the `limit` label of `ferry_limit_refusals_total`.
/// One list for every crate, so the label's values are fixed and documented here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// `body_size`: a request body (or stdio line) over `max_body_bytes` (HTTP 413).
    BodySize,
    /// `body_read_timeout`: a request body not in within `body_read_timeout` (HTTP 408).
    BodyReadTimeout,
    /// `body_budget`: the server-wide budget of bodies in flight had no room (HTTP 503).
    BodyBudget,
    /// `body_share`: a client's share of that budget was used up (HTTP 503).
    BodyShare,
    /// `json_shape`: a message nested deeper or holding more values than the parse limits.
    JsonShape,
    /// `sessions`: the session table was full of busy sessions (HTTP 503 on `initialize`).
    Sessions,
    /// `sessions_per_client`: a client held its most sessions (HTTP 429 on `initialize`).
    SessionsPerClient,
    /// `connections`: the connection limit was reached (a new connection waits for a slot).
    Connections,
    /// `connections_per_client`: a client held its most connections (the new one is closed).
    ConnectionsPerClient,
    /// `tasks`: the store held its most unfinished tasks (or their bytes) in total.
    Tasks,
    /// `tasks_per_client`: a client held its most unfinished tasks (or their bytes).
    TasksPerClient,
    /// `task_size`: a task's arguments were over the limit.
    TaskSize,
    /// `task_result_size`: a task's result was over the limit (the task fails instead).
    TaskResultSize,
    /// `request_state`: a sealed `requestState` of a multi-round call was over the limit.
    RequestState,
    /// `stream_buffer`: an SSE stream's buffer was full and dropped its oldest messages.
    StreamBuffer,
}

impl Limit {
    /// The label value.
    pub fn name(self) -> &'static str {
        match self {
            Limit::BodySize => "body_size",
            Limit::BodyReadTimeout => "body_read_timeout",
            Limit::BodyBudget => "body_budget",
            Limit::BodyShare => "body_share",
            Limit::JsonShape => "json_shape",
            Limit::Sessions => "sessions",
            Limit::SessionsPerClient => "sessions_per_client",
            Limit::Connections => "connections",
            Limit::ConnectionsPerClient => "connections_per_client",
            Limit::Tasks => "tasks",
            Limit::TasksPerClient => "tasks_per_client",
            Limit::TaskSize => "task_size",
            Limit::TaskResultSize => "task_result_size",
            Limit::RequestState => "request_state",
            Limit::StreamBuffer => "stream_buffer",
        }
    }
}

/// `limit` refused something.
pub fn refused(limit: Limit) {
    counter!(LIMIT_REFUSALS, "limit" => limit.name()).increment(1);
}

/// The label value of a component nobody registered.
pub const UNKNOWN_COMPONENT: &str = "unknown";

/// The histograms of this module (for a recorder's bucket setup).
pub const HISTOGRAMS: &[&str] = &[TASK_RUN_SECONDS, TASK_QUEUE_WAIT_SECONDS];

/// Say what each metric means (the `# HELP` lines); call once after installing a recorder.
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(TASKS_CREATED, "Tasks created, by component");
    describe_counter!(TASKS_ENDED, "Tasks ended, by component and status (completed, failed, cancelled)");
    describe_histogram!(TASK_RUN_SECONDS, Unit::Seconds, "Run time of one attempt of a task's handler");
    describe_histogram!(
        TASK_QUEUE_WAIT_SECONDS,
        Unit::Seconds,
        "Time from a task's creation (or scheduled start) to its first run"
    );
    describe_counter!(TASK_RETRIES, "Task runs that failed transiently and were queued again");
    describe_counter!(TASK_TIMEOUTS, "Task runs stopped by their timeout");
    describe_counter!(TASK_REDELIVERIES, "Jobs redelivered because their worker stopped heartbeating");
    describe_counter!(WORKER_HEARTBEATS, "Heartbeats sent by workers for their running jobs");
    describe_counter!(LIMIT_REFUSALS, "Refusals by a limit, by limit name");
    describe_gauge!(TASKS, "Tasks held in the store, by status");
    describe_gauge!(QUEUE_DEPTH, "Jobs ready to be claimed");
    describe_gauge!(QUEUE_DELAYED, "Jobs waiting for a later start (retry backoff, scheduled)");
    describe_gauge!(QUEUE_RUNNING, "Jobs claimed by a worker and not finished");
    describe_gauge!(QUEUE_OLDEST_AGE_SECONDS, Unit::Seconds, "Age of the oldest job ready to be claimed");
    describe_gauge!(WORKERS_ALIVE, "Workers that reported recently");
    describe_gauge!(ENGINE_STATS_UP, "1 when the last read of the engine's stats succeeded");
}

/// The handles of one component's metrics, each registered with the recorder on first use.
#[derive(Default)]
struct Handles {
    created: OnceLock<Counter>,
    /// completed, failed, cancelled.
    ended: [OnceLock<Counter>; 3],
    ran: OnceLock<Histogram>,
    waited: OnceLock<Histogram>,
    retried: OnceLock<Counter>,
    timed_out: OnceLock<Counter>,
}

/// Handles by component, once [`cache_handles`] was called: an event then costs a
/// hash lookup of the name, not a label vector and a key built, hashed and looked up
/// in the recorder. Bounded like the labels (registered names); past [`MOST_CACHED`]
/// names, events go through the facade's macros instead.
static CACHE: OnceLock<RwLock<HashMap<String, Arc<Handles>>>> = OnceLock::new();

/// Most component names whose handles are kept.
const MOST_CACHED: usize = 4096;

/// Keep handles per component from now on. Call it after installing a recorder (a
/// handle taken before would stay the no-op one); `ferry_server::metrics::install` does.
pub fn cache_handles() {
    CACHE.get_or_init(Default::default);
}

/// The handles of `component`, when caching is on and there is room.
fn handles(component: &str) -> Option<Arc<Handles>> {
    let cache = CACHE.get()?;
    if let Some(h) = cache.read().unwrap_or_else(|e| e.into_inner()).get(component) {
        return Some(h.clone());
    }
    let mut all = cache.write().unwrap_or_else(|e| e.into_inner());
    if all.len() >= MOST_CACHED && !all.contains_key(component) {
        return None;
    }
    Some(all.entry(component.to_string()).or_default().clone())
}

/// A task was created.
pub fn task_created(component: &str) {
    let make = || counter!(TASKS_CREATED, "component" => component.to_string());
    match handles(component) {
        Some(h) => h.created.get_or_init(make).increment(1),
        None => make().increment(1),
    }
}

/// A task ended with `status` (a non-terminal status is ignored).
pub fn task_ended(component: &str, status: TaskStatus) {
    let (i, status) = match status {
        TaskStatus::Completed => (0, "completed"),
        TaskStatus::Failed => (1, "failed"),
        TaskStatus::Cancelled => (2, "cancelled"),
        _ => return,
    };
    let make = || counter!(TASKS_ENDED, "component" => component.to_string(), "status" => status);
    match handles(component) {
        Some(h) => h.ended[i].get_or_init(make).increment(1),
        None => make().increment(1),
    }
}

/// One run of a handler took `took`.
pub fn task_ran(component: &str, took: Duration) {
    let make = || histogram!(TASK_RUN_SECONDS, "component" => component.to_string());
    match handles(component) {
        Some(h) => h.ran.get_or_init(make).record(took.as_secs_f64()),
        None => make().record(took.as_secs_f64()),
    }
}

/// A task waited `waited` for its first run.
pub fn task_waited(component: &str, waited: Duration) {
    let make = || histogram!(TASK_QUEUE_WAIT_SECONDS, "component" => component.to_string());
    match handles(component) {
        Some(h) => h.waited.get_or_init(make).record(waited.as_secs_f64()),
        None => make().record(waited.as_secs_f64()),
    }
}

/// A run failed transiently and was queued again.
pub fn task_retried(component: &str) {
    let make = || counter!(TASK_RETRIES, "component" => component.to_string());
    match handles(component) {
        Some(h) => h.retried.get_or_init(make).increment(1),
        None => make().increment(1),
    }
}

/// A run was stopped by its timeout.
pub fn task_timed_out(component: &str) {
    let make = || counter!(TASK_TIMEOUTS, "component" => component.to_string());
    match handles(component) {
        Some(h) => h.timed_out.get_or_init(make).increment(1),
        None => make().increment(1),
    }
}

/// `n` jobs were redelivered (backends call this where they take over a silent worker's jobs).
pub fn redelivered(n: u64) {
    counter!(TASK_REDELIVERIES).increment(n);
}

/// A worker sent a heartbeat for a running job.
pub fn heartbeat_sent() {
    counter!(WORKER_HEARTBEATS).increment(1);
}

/// Set the engine gauges from one read of [`Backend::stats`].
pub fn record_stats(stats: &EngineStats) {
    for status in ["working", "input_required", "completed", "failed", "cancelled"] {
        let n = stats.tasks_by_status.get(status).copied().unwrap_or(0);
        gauge!(TASKS, "status" => status).set(n as f64);
    }
    gauge!(QUEUE_DEPTH).set(stats.queued as f64);
    gauge!(QUEUE_DELAYED).set(stats.delayed as f64);
    gauge!(QUEUE_RUNNING).set(stats.running as f64);
    gauge!(QUEUE_OLDEST_AGE_SECONDS).set(stats.oldest_queued_age_ms.unwrap_or(0) as f64 / 1000.0);
    let alive = stats.workers.iter().filter(|w| w.alive || w.is_alive_at(stats.at_ms)).count();
    gauge!(WORKERS_ALIVE).set(alive as f64);
}

/// The engine gauges, filled from [`Backend::stats`] when a scrape asks, at most once
/// per [`EngineGauges::EVERY`]: scrapes, however many, cost the store one read a
/// second, and a read that does not answer within [`EngineGauges::TIMEOUT`] leaves the
/// gauges as they were (and `ferry_engine_stats_up` at 0).
pub struct EngineGauges {
    backend: Arc<dyn Backend>,
    last: tokio::sync::Mutex<Option<Instant>>,
}

impl EngineGauges {
    /// How long one read of the stats serves.
    pub const EVERY: Duration = Duration::from_secs(1);
    /// The longest a scrape waits for the stats.
    pub const TIMEOUT: Duration = Duration::from_secs(2);

    /// Gauges of `backend`.
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Self { backend, last: tokio::sync::Mutex::new(None) }
    }

    /// Read the stats into the gauges, unless they were read less than [`Self::EVERY`] ago.
    /// Concurrent callers wait for the one read.
    pub async fn refresh(&self) {
        let mut last = self.last.lock().await;
        if last.is_some_and(|at| at.elapsed() < Self::EVERY) {
            return;
        }
        let up = match tokio::time::timeout(Self::TIMEOUT, self.backend.stats()).await {
            Ok(Ok(stats)) => {
                record_stats(&stats);
                true
            }
            Ok(Err(crate::BackendError::Unsupported(_))) => false,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "cannot read the engine's stats for metrics");
                false
            }
            Err(_) => {
                tracing::debug!("the engine's stats did not come within {:?}", Self::TIMEOUT);
                false
            }
        };
        gauge!(ENGINE_STATS_UP).set(if up { 1.0 } else { 0.0 });
        *last = Some(Instant::now());
    }
}
