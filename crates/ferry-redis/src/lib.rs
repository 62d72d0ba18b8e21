//! The Redis backend of Ferry's task engine.
//!
//! A Ferry server and any number of `ferry worker` processes share one Redis
//! (or Valkey) and behave like the embedded engine, with durability added.
//!
//! We build this small protocol directly on the `redis` crate rather than
//! adopting a job-queue crate: MCP tasks need per-task TTLs, cancellation that
//! reaches a running handler in another process, `input_required` round
//! trips and status events, and those queues bring their own layout and
//! delivery rules instead.
//!
//! ## Redis Cluster and partitions
//! The URL `redis+cluster://host:port,host:port,...` names a Redis Cluster ([`check_url`]).
//! [`RedisConfig::partitions`] splits the keys into N partitions, each under its own hash
//! tag `{t}` (see [`partitions`]): partition `p`'s keys are those of the table below with
//! `P:{t}` in place of `P`. One partition on one server (no cluster) keeps the table's keys
//! exactly. `P:partitions` (a string, no expiry) holds N once a process has connected.
//! Worker reports and sessions are partition 0's; channels are the deployment's.
//!
//! ## Layout (every key under the configured prefix `P`)
//! | key | type | what |
//! |---|---|---|
//! | `P:task:{id}` | string (JSON [`TaskRecord`]) | the task; no expiry while it runs, expires `ttl` after it ended |
//! | `P:jobs` | stream, group `P:workers` | work: `XADD` on submit, `XREADGROUP` by workers, `XACK` when done |
//! | `P:inflight` | hash `task id -> entry id`, `task id@ -> claimed ms` | which stream entry a running task came from, and when it was claimed |
//! | `P:delayed` | sorted set (score = due ms) | retries waiting for their backoff |
//! | `P:owner:{owner}` | sorted set (score = sequence) | the owner's tasks, for `list`; no expiry while one runs, then expires with the last of them; expired ids pruned on list and, by sampling, every 8th submit |
//! | `P:live` | hash | what unfinished tasks hold: `n`/`b` in total, `n:{account}`/`b:{account}` per owner (count, argument bytes), `o:{owner}`/`u:{owner}` (unfinished tasks of an index, and how long the index must outlive them); a field goes when it reaches zero |
//! | `P:seq` | counter | submission sequence (list cursors) |
//! | `P:all` | sorted set (score = sequence) | every task, for the operator listing (`list_all`); no expiry while a task runs, then expires with the last ended one; expired ids pruned on list and, by sampling, every 16th submit |
//! | `P:input` | set | tasks waiting for input (`input_required`), for `stats` |
//! | `P:kept:{status}` | sorted set (score = expiry ms) | ended tasks kept, per outcome, for `stats`; expires with the last of them |
//! | `P:done:{status}:{second}` | counter | tasks that ended in that second, per outcome (throughput); expires after two minutes |
//! | `P:worker-reports` / `P:worker-reports:seen` | hash name -> JSON / sorted set name -> last report | worker loops' reports; a worker silent for an hour is forgotten; both expire an hour after the last report |
//! | `P:session:{id}` | hash | a shared HTTP session ([`RedisSessionStore`]): `s` (JSON as opened), `level`, `est`, one `sub:{uri}` per subscription; expires after the handshake timeout, then the idle timeout |
//! | `P:session-client:{client}` | sorted set (score = expiry) | a client's sessions, for the per-client limit |
//! | `P:events` | pub/sub channel | every new record state, for the processes that subscribe (front ends) |
//! | `P:cancel` | pub/sub channel | the id of each task cancelled (published after the cancel), for workers |
//! | `P:notes` | pub/sub channel | handlers' notifications for their callers (log messages from workers) |
//!
//! ## Rules
//! * Delivery is at-least-once. A worker that stops heartbeating loses its job
//!   after `redelivery_timeout` (`XAUTOCLAIM`, looked for every quarter of it, at most every 5 s); heartbeats are `XCLAIM ... JUSTID`.
//! * Records change by compare-and-swap (a short Lua script), so the state
//!   machine in [`TaskRecord::apply`] / [`TaskRecord::finish`] is the only place
//!   transitions are decided, for this backend and the in-memory one alike. A refused
//!   swap answers with the record as it is; a worker starts from the record it claimed
//!   (or last wrote), so its changes, the outcome included, usually take one round trip.
//! * A cancel is published on `P:cancel` (the task id) after its swap, for workers, which
//!   listen to nothing else; a lost notice is made up for by the worker's heartbeat, which
//!   re-reads the record (the truth). `P:events` is listened to by the processes that
//!   subscribe (front ends), from their first `subscribe`.
//! * Submission is idempotent per task id (`SET NX` inside the submit script), and
//!   admits the task against [`TaskLimits`] in the same script (atomic across front ends).
//! * Every key has a bounded lifetime or goes with what it indexes; only the
//!   deployment's `P:jobs` stream, `P:seq` counter and `P:partitions` persist.
//! * Ended tasks are the only ones with a TTL: with `maxmemory-policy volatile-ttl`
//!   Redis drops them, soonest-expiring first, before it refuses a write.

mod claim;
mod config;
mod conn;
mod consumers;
mod events;
mod inspect;
mod keys;
pub mod partitions;
mod scripts;
mod sessions;
mod swap;
#[cfg(feature = "testing")]
pub mod testing;

pub use config::RedisConfig;
pub use conn::check_url;
use conn::{Conn, Endpoint};
use keys::Keys;
use partitions::Partitions;
use scripts::{PROMOTE, SWAP};
pub use sessions::RedisSessionStore;

use async_trait::async_trait;
use ferry_protocol::time_fmt::now_ms;
use ferry_tasks::{
    Backend, BackendError, CancelReceiver, Claimed, EngineStats, Job, Notice, Outcome, TaskDetail, TaskEvent,
    TaskFilter, TaskPage, TaskRecord, TaskStatus, TaskUpdate, Usage, WorkerInfo,
};
use redis::{AsyncCommands, Script};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::{broadcast, Mutex};

/// Tasks and their work in Redis.
///
/// ```no_run
/// # async fn run() -> Result<(), ferry_tasks::BackendError> {
/// use ferry_redis::{RedisBackend, RedisConfig};
/// let backend = RedisBackend::connect(RedisConfig::new("redis://127.0.0.1:6379").prefix("myapp")).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisBackend {
    inner: Arc<Inner>,
}

struct Inner {
    config: RedisConfig,
    /// The keys of partition 0, which also holds what the deployment shares (worker
    /// reports, sessions) and names the channels.
    keys: Arc<Keys>,
    /// Every partition's keys.
    parts: Partitions,
    endpoint: Endpoint,
    conn: Conn,
    /// Blocking reads (`XREADGROUP BLOCK`) get a connection of their own.
    blocking: Mutex<Option<Conn>>,
    events: broadcast::Sender<TaskEvent>,
    /// Ids of cancelled tasks heard on `P:cancel`.
    cancels: broadcast::Sender<String>,
    /// The runtime the listeners run on (the one that connected).
    runtime: tokio::runtime::Handle,
    /// The `P:events`/`P:notes` listener, started by the first `subscribe`.
    events_listener: OnceLock<events::Listener>,
    /// The `P:cancel` listener, started by the first `subscribe_cancels`.
    cancel_listener: OnceLock<events::Listener>,
    submit: Script,
    swap: Script,
    promote: Script,
    worker_seen: Script,
    /// The tasks this process claimed and has not finished (see [`swap`]).
    claimed: swap::Claimed,
    /// When this process last looked for stale consumers (epoch ms).
    last_prune_ms: std::sync::atomic::AtomicU64,
    /// When this process may next look for work of dead workers (`XAUTOCLAIM`, epoch ms).
    next_redelivery_scan_ms: std::sync::atomic::AtomicU64,
    /// The partition a claim round reads first (rotating, so each gets its turn).
    next_partition: std::sync::atomic::AtomicUsize,
}

/// How long [`Backend::ping`] waits for Redis (readiness probes must answer quickly).
pub const PING_TIMEOUT: Duration = Duration::from_secs(1);

pub(crate) fn unavailable(e: redis::RedisError) -> BackendError {
    BackendError::Unavailable(e.to_string())
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, BackendError> {
    serde_json::from_str(json).map_err(|e| BackendError::Corrupt(e.to_string()))
}

fn encode<T: serde::Serialize>(v: &T) -> Result<String, BackendError> {
    serde_json::to_string(v).map_err(|e| BackendError::Corrupt(e.to_string()))
}

impl RedisBackend {
    /// Connect and create the consumer group if needed. Listening for events starts with the
    /// first [`subscribe`](Backend::subscribe) (for cancellations, the first
    /// [`subscribe_cancels`](Backend::subscribe_cancels)).
    ///
    /// Fails with [`BackendError::Unavailable`] when Redis cannot be reached; after
    /// that, lost connections are re-established with backoff.
    pub async fn connect(config: RedisConfig) -> Result<Self, BackendError> {
        let endpoint = Endpoint::parse(&config.url)?;
        let conn = endpoint.connect().await?;
        let n = partitions::agree(&mut conn.clone(), &config).await?;
        let parts = Partitions::new(&config.prefix, n, endpoint.is_cluster() || n > 1);
        let keys = parts.keys(0).clone();
        let (events, _) = broadcast::channel(config.event_capacity.max(16));
        let (cancels, _) = broadcast::channel(config.event_capacity.max(16));
        let backend = Self {
            inner: Arc::new(Inner {
                config,
                keys,
                parts,
                endpoint,
                conn,
                blocking: Mutex::new(None),
                events,
                cancels,
                runtime: tokio::runtime::Handle::current(),
                events_listener: OnceLock::new(),
                cancel_listener: OnceLock::new(),
                submit: Script::new(&scripts::submit()),
                swap: Script::new(SWAP),
                promote: Script::new(PROMOTE),
                worker_seen: Script::new(scripts::WORKER_SEEN),
                claimed: Default::default(),
                last_prune_ms: Default::default(),
                next_redelivery_scan_ms: Default::default(),
                next_partition: Default::default(),
            }),
        };
        backend.ensure_group().await?;
        Ok(backend)
    }

    /// Delete every key under this backend's prefix (tasks, queue, indexes).
    /// For tests and for tearing down a deployment; running workers lose their work.
    /// On a cluster, the keys of the nodes named in the URL (name every master).
    pub async fn purge(&self) -> Result<u64, BackendError> {
        let pattern = format!("{}:*", self.inner.config.prefix);
        let mut deleted = 0;
        for node in self.inner.endpoint.subscription_nodes() {
            let mut scan = node.get_multiplexed_async_connection().await.map_err(unavailable)?;
            let mut cursor: u64 = 0;
            loop {
                let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(500)
                    .query_async(&mut scan)
                    .await
                    .map_err(unavailable)?;
                // One key per command: keys of several slots cannot go in one `DEL` on a cluster.
                for key in keys {
                    deleted += self.conn().del::<_, u64>(&key).await.map_err(unavailable)?;
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(deleted)
    }

    /// The settings.
    pub fn config(&self) -> &RedisConfig {
        &self.inner.config
    }

    fn conn(&self) -> Conn {
        self.inner.conn.clone()
    }

    /// The keys of the partition holding `task_id`.
    pub(crate) fn keys_of(&self, task_id: &str) -> &Arc<Keys> {
        self.inner.parts.keys(self.inner.parts.of_task(task_id))
    }

    /// Create every partition's consumer group (and stream) if needed.
    async fn ensure_group(&self) -> Result<(), BackendError> {
        for k in self.inner.parts.all() {
            let r: redis::RedisResult<()> = redis::cmd("XGROUP")
                .arg("CREATE")
                .arg(&k.jobs)
                .arg(&k.group)
                .arg("0")
                .arg("MKSTREAM")
                .query_async(&mut self.conn())
                .await;
            match r {
                Ok(()) => {}
                Err(e) if e.to_string().contains("BUSYGROUP") => {}
                Err(e) => return Err(unavailable(e)),
            }
        }
        Ok(())
    }
}

/// Whether a task goes into its owner's index for `tasks/list`: not the tasks of
/// stateless callers without credentials (nobody can list those).
fn indexed(record: &TaskRecord) -> bool {
    record.owner != ferry_tasks::ANONYMOUS_OWNER
}

impl AsRef<dyn Backend> for RedisBackend {
    fn as_ref(&self) -> &(dyn Backend + 'static) {
        self
    }
}

impl RedisBackend {
    async fn submit_once(&self, mut record: TaskRecord, job: &Job) -> Result<(), BackendError> {
        let k = self.keys_of(&record.id);
        let limits = &partitions::limits_for(&self.inner.config.limits, self.inner.parts.len(), &record);
        let job = encode(job)?;
        record.argument_bytes = job.len();
        let reply: Vec<i64> = self
            .inner
            .submit
            .key(k.task(&record.id))
            .key(&k.jobs)
            .key(k.owner(&record.owner))
            .key(&k.seq)
            .key(&k.live)
            .key(&k.all)
            .arg(encode(&record)?)
            .arg(&record.id)
            .arg(&record.id)
            .arg(&job)
            .arg(k.task(""))
            .arg(record.account())
            .arg(if indexed(&record) { record.owner.as_str() } else { "" })
            .arg(record.argument_bytes)
            .arg(limits.max_live)
            .arg(limits.max_live_per_owner)
            .arg(limits.max_live_bytes)
            .arg(limits.max_live_bytes_per_owner)
            .arg(limits.max_argument_bytes)
            .arg(&k.events)
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        match reply.as_slice() {
            [1] => Ok(()),
            [0] => Err(BackendError::Duplicate(record.id)),
            [-1, own_n, own_b, all_n, all_b] => {
                let usage = |n: i64, b: i64| Usage { live: n.max(0) as usize, bytes: b.max(0) as usize };
                limits.admit(usage(*own_n, *own_b), usage(*all_n, *all_b), record.argument_bytes)?;
                Err(BackendError::Full("the limits changed while the task was submitted; try again".into()))
            }
            other => Err(BackendError::Corrupt(format!("unexpected submit reply {other:?}"))),
        }
    }

    async fn heartbeat_once(&self, worker: &str, task_id: &str) -> Result<(), BackendError> {
        let k = self.keys_of(task_id);
        let mut conn = self.conn();
        if let Some(entry) = self.job_entry(task_id).await? {
            // Re-claiming for ourselves resets the entry's idle time.
            let _: redis::Value = redis::cmd("XCLAIM")
                .arg(&k.jobs)
                .arg(&k.group)
                .arg(worker)
                .arg(0)
                .arg(&entry)
                .arg("JUSTID")
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    async fn update_once(&self, task_id: &str, update: TaskUpdate) -> Result<Option<TaskRecord>, BackendError> {
        self.modify(task_id, |rec| rec.apply(update.clone())).await
    }

    async fn complete_once(&self, task_id: &str, outcome: Outcome) -> Result<Option<TaskRecord>, BackendError> {
        let (outcome, _) = self.inner.config.limits.bound_outcome(outcome);
        let rec = self
            .swap(task_id, true, |rec| {
                rec.finish(outcome.clone());
                true
            })
            .await?;
        // Terminal already (cancelled, say) or expired: nothing was swapped; release the job anyway.
        if rec.as_ref().is_none_or(|r| r.outcome.as_ref() != Some(&outcome)) {
            self.release(task_id).await?;
        }
        self.inner.claimed.forget(task_id);
        Ok(rec)
    }

    async fn cancel_once(&self, task_id: &str) -> Result<Option<TaskRecord>, BackendError> {
        self.modify(task_id, |rec| {
            rec.mark_cancelled();
            true
        })
        .await
    }

    async fn get_once(&self, task_id: &str) -> Result<Option<TaskRecord>, BackendError> {
        let raw: Option<String> = self.conn().get(self.keys_of(task_id).task(task_id)).await.map_err(unavailable)?;
        raw.as_deref().map(decode).transpose()
    }

    async fn list_once(&self, owner: &str, cursor: Option<&str>, limit: usize) -> Result<TaskPage, BackendError> {
        let k = self.inner.parts.keys(self.inner.parts.of_owner(owner));
        self.page_index(k, &k.owner(owner), cursor, limit, &|_| true, usize::MAX).await
    }
}

/// Pauses before trying an operation again after a Redis error: the first command on a
/// connection broken by a Redis restart fails, and the connection manager reconnects.
const RETRY_PAUSES: [Duration; 2] = [Duration::from_millis(50), Duration::from_millis(300)];

/// Run `op` (safe to repeat) again while Redis is briefly unreachable.
async fn again<T, F, Fut>(op: F) -> Result<T, BackendError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, BackendError>>,
{
    for pause in RETRY_PAUSES {
        match op().await {
            Err(BackendError::Unavailable(e)) => {
                tracing::debug!(error = %e, "retrying after a Redis error");
                tokio::time::sleep(pause).await;
            }
            done => return done,
        }
    }
    op().await
}

#[async_trait]
impl Backend for RedisBackend {
    /// With partitions, the first character names the owner's partition (a random one for
    /// anonymous tasks); with one partition, ids are as `ferry_tasks::new_task_id` makes them.
    fn new_task_id(&self, owner: &str) -> String {
        self.inner.parts.new_task_id(owner)
    }

    async fn submit(&self, record: TaskRecord, job: Job) -> Result<(), BackendError> {
        self.listening().await?;
        match self.submit_once(record.clone(), &job).await {
            Err(BackendError::Unavailable(e)) => {
                tracing::debug!(error = %e, "retrying a submission after a Redis error");
                tokio::time::sleep(RETRY_PAUSES[0]).await;
                match self.submit_once(record.clone(), &job).await {
                    // The first try went through before its answer was lost.
                    Err(BackendError::Duplicate(id)) => match self.get_once(&id).await? {
                        Some(stored) if stored.owner == record.owner && stored.created_at == record.created_at => {
                            Ok(())
                        }
                        _ => Err(BackendError::Duplicate(id)),
                    },
                    other => other,
                }
            }
            other => other,
        }
    }

    async fn heartbeat(&self, worker: &str, task_id: &str) -> Result<(), BackendError> {
        again(|| self.heartbeat_once(worker, task_id)).await
    }

    async fn update(&self, task_id: &str, update: TaskUpdate) -> Result<Option<TaskRecord>, BackendError> {
        self.listening().await?;
        again(|| self.update_once(task_id, update.clone())).await
    }

    async fn complete(&self, task_id: &str, outcome: Outcome) -> Result<Option<TaskRecord>, BackendError> {
        self.listening().await?;
        again(|| self.complete_once(task_id, outcome.clone())).await
    }

    async fn cancel(&self, task_id: &str) -> Result<Option<TaskRecord>, BackendError> {
        self.listening().await?;
        let rec = again(|| self.cancel_once(task_id)).await?;
        if rec.as_ref().is_some_and(|r| r.status == TaskStatus::Cancelled) {
            self.publish_cancel(task_id).await;
        }
        Ok(rec)
    }

    async fn get(&self, task_id: &str) -> Result<Option<TaskRecord>, BackendError> {
        self.listening().await?;
        again(|| self.get_once(task_id)).await
    }

    async fn list(&self, owner: &str, cursor: Option<&str>, limit: usize) -> Result<TaskPage, BackendError> {
        self.listening().await?;
        again(|| self.list_once(owner, cursor, limit)).await
    }

    async fn claim_batch(&self, worker: &str, max: usize, wait: Duration) -> Result<Vec<Job>, BackendError> {
        Ok(self.claim_with_records(worker, max, wait).await?.into_iter().map(|c| c.job).collect())
    }

    /// The records come from the claim's own read (`MGET`), which drops jobs of ended tasks.
    async fn claim_with_records(&self, worker: &str, max: usize, wait: Duration) -> Result<Vec<Claimed>, BackendError> {
        self.listening().await?;
        self.claim_until(worker, max, wait).await
    }

    async fn requeue(&self, _worker: &str, job: Job, delay: Duration) -> Result<(), BackendError> {
        self.release(&job.task_id).await?;
        let k = self.keys_of(&job.task_id);
        let raw = encode(&job)?;
        let mut conn = self.conn();
        if delay.is_zero() {
            let _: String = conn.xadd(&k.jobs, "*", &[("job", raw)]).await.map_err(unavailable)?;
        } else {
            let due = now_ms() + delay.as_millis() as u64;
            let _: () = conn.zadd(&k.delayed, raw, due).await.map_err(unavailable)?;
        }
        Ok(())
    }

    async fn notify(&self, notification: Notice) -> Result<(), BackendError> {
        self.listening().await?;
        let _: i64 = self.conn().publish(&self.inner.keys.notes, encode(&notification)?).await.map_err(unavailable)?;
        Ok(())
    }

    /// Starts listening to `P:events` and `P:notes` the first time; operations of this
    /// backend wait until that subscription is up.
    fn subscribe(&self) -> broadcast::Receiver<TaskEvent> {
        let events = self.inner.events.subscribe();
        self.listen_to_events();
        events
    }

    /// Starts listening to `P:cancel` the first time; operations of this backend (claims
    /// too) wait until that subscription is up.
    fn subscribe_cancels(&self) -> CancelReceiver {
        let ids = self.inner.cancels.subscribe();
        self.listen_to_cancels();
        CancelReceiver::from_ids(ids)
    }

    /// `PING`, answered within [`PING_TIMEOUT`]; `Unavailable` otherwise.
    async fn ping(&self) -> Result<(), BackendError> {
        let mut conn = self.conn();
        let pong = tokio::time::timeout(PING_TIMEOUT, redis::cmd("PING").query_async::<String>(&mut conn)).await;
        match pong {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(unavailable(e)),
            Err(_) => Err(BackendError::Unavailable(format!("Redis did not answer PING within {PING_TIMEOUT:?}"))),
        }
    }

    async fn worker_seen(&self, worker: &WorkerInfo) -> Result<(), BackendError> {
        again(|| self.worker_seen_once(worker)).await
    }

    async fn worker_gone(&self, worker: &str) -> Result<(), BackendError> {
        again(|| self.worker_gone_once(worker)).await
    }

    async fn stats(&self) -> Result<EngineStats, BackendError> {
        again(|| self.stats_once()).await
    }

    async fn list_all(
        &self,
        filter: &TaskFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<TaskPage, BackendError> {
        self.listening().await?;
        again(|| self.list_all_once(filter, cursor, limit)).await
    }

    async fn detail(&self, task_id: &str) -> Result<Option<TaskDetail>, BackendError> {
        self.listening().await?;
        again(|| self.detail_once(task_id)).await
    }
}
