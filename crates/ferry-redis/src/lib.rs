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
//! ## Layout (every key under the configured prefix `P`)
//! | key | type | what |
//! |---|---|---|
//! | `P:task:{id}` | string (JSON [`TaskRecord`]) | the task; no expiry while it runs, expires `ttl` after it ended |
//! | `P:jobs` | stream, group `P:workers` | work: `XADD` on submit, `XREADGROUP` by workers, `XACK` when done |
//! | `P:inflight` | hash `task id -> entry id` | which stream entry a running task came from |
//! | `P:delayed` | sorted set (score = due ms) | retries waiting for their backoff |
//! | `P:owner:{owner}` | sorted set (score = sequence) | the owner's tasks, for `list`; no expiry while one runs, then expires with the last of them; expired ids pruned on list and, by sampling, on submit |
//! | `P:live` | hash | what unfinished tasks hold: `n`/`b` in total, `n:{account}`/`b:{account}` per owner (count, argument bytes), `o:{owner}`/`u:{owner}` (unfinished tasks of an index, and how long the index must outlive them); a field goes when it reaches zero |
//! | `P:seq` | counter | submission sequence (list cursors) |
//! | `P:events` | pub/sub channel | every new record state, for every process |
//! | `P:notes` | pub/sub channel | handlers' notifications for their callers (log messages from workers) |
//!
//! ## Rules
//! * Delivery is at-least-once. A worker that stops heartbeating loses its job
//!   after `redelivery_timeout` (`XAUTOCLAIM`); heartbeats are `XCLAIM ... JUSTID`.
//! * Records change by compare-and-swap (a short Lua script), so the state
//!   machine in [`TaskRecord::apply`] / [`TaskRecord::finish`] is the only place
//!   transitions are decided, for this backend and the in-memory one alike.
//! * Submission is idempotent per task id (`SET NX` inside the submit script), and
//!   admits the task against [`TaskLimits`] in the same script (atomic across front ends).
//! * Every key has a bounded lifetime or goes with what it indexes; only the
//!   deployment's `P:jobs` stream and `P:seq` counter persist.
//! * Ended tasks are the only ones with a TTL: with `maxmemory-policy volatile-ttl`
//!   Redis drops them, soonest-expiring first, before it refuses a write.

#[cfg(feature = "testing")]
pub mod testing;

use async_trait::async_trait;
use ferry_protocol::time_fmt::now_ms;
use ferry_tasks::{
    Backend, BackendError, Job, Notice, Outcome, TaskEvent, TaskLimits, TaskPage, TaskRecord, TaskUpdate, Usage,
};
use futures::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::streams::{StreamAutoClaimReply, StreamReadReply};
use redis::{AsyncCommands, AsyncConnectionConfig, Client, Script};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, Mutex};

/// Settings of the [`RedisBackend`].
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// Redis URL, e.g. `redis://127.0.0.1:6379/0`.
    pub url: String,
    /// Key prefix; deployments sharing a Redis must use different prefixes.
    pub prefix: String,
    /// A claimed job not heartbeated for this long is handed to another worker.
    pub redelivery_timeout: Duration,
    /// Capacity of the local event channel.
    pub event_capacity: usize,
    /// Bounds on unfinished tasks per owner and in total, and on one task's size
    /// (the retention bounds are the memory engine's; here Redis's TTLs and its
    /// `maxmemory-policy` govern ended tasks).
    pub limits: TaskLimits,
}

impl RedisConfig {
    /// Settings for `url` with prefix `ferry` and a 30 s redelivery timeout.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            prefix: "ferry".into(),
            redelivery_timeout: Duration::from_secs(30),
            event_capacity: 4096,
            limits: TaskLimits::default(),
        }
    }
    /// Use another key prefix.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }
    /// Use other task limits.
    pub fn limits(mut self, limits: TaskLimits) -> Self {
        self.limits = limits;
        self
    }
    /// Use another redelivery timeout.
    pub fn redelivery_timeout(mut self, t: Duration) -> Self {
        self.redelivery_timeout = t;
        self
    }
}

struct Keys {
    prefix: String,
    jobs: String,
    group: String,
    inflight: String,
    delayed: String,
    seq: String,
    live: String,
    events: String,
    notes: String,
}

impl Keys {
    fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_string(),
            jobs: format!("{prefix}:jobs"),
            group: format!("{prefix}:workers"),
            inflight: format!("{prefix}:inflight"),
            delayed: format!("{prefix}:delayed"),
            seq: format!("{prefix}:seq"),
            live: format!("{prefix}:live"),
            events: format!("{prefix}:events"),
            notes: format!("{prefix}:notes"),
        }
    }
    fn task(&self, id: &str) -> String {
        format!("{}:task:{id}", self.prefix)
    }
    fn owner(&self, owner: &str) -> String {
        format!("{}:owner:{owner}", self.prefix)
    }
}

/// Store the record if new, within the limits; index it, queue the job, announce it.
/// Returns `{1}`, `{0}` for a duplicate id, or `{-1, own count, own bytes, total count, total bytes}`
/// when a limit refuses it (the caller words the refusal).
const SUBMIT: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return {0} end
local bytes = tonumber(ARGV[8])
local acct = ARGV[6]
local own_n = tonumber(redis.call('HGET', KEYS[5], 'n:' .. acct) or '0')
local own_b = tonumber(redis.call('HGET', KEYS[5], 'b:' .. acct) or '0')
local all_n = tonumber(redis.call('HGET', KEYS[5], 'n') or '0')
local all_b = tonumber(redis.call('HGET', KEYS[5], 'b') or '0')
if bytes > tonumber(ARGV[13]) or own_n >= tonumber(ARGV[10]) or own_b + bytes > tonumber(ARGV[12])
   or all_n >= tonumber(ARGV[9]) or all_b + bytes > tonumber(ARGV[11]) then
  return {-1, own_n, own_b, all_n, all_b}
end
redis.call('HINCRBY', KEYS[5], 'n:' .. acct, 1)
redis.call('HINCRBY', KEYS[5], 'b:' .. acct, bytes)
redis.call('HINCRBY', KEYS[5], 'n', 1)
redis.call('HINCRBY', KEYS[5], 'b', bytes)
local seq = redis.call('INCR', KEYS[4])
redis.call('SET', KEYS[1], ARGV[1])
if ARGV[7] ~= '' then
  -- The index lives as long as its tasks: no expiry while one runs; remember the
  -- expiry it had, for when the last running one ends.
  local had = redis.call('PEXPIRETIME', KEYS[3])
  redis.call('ZADD', KEYS[3], seq, ARGV[3])
  if redis.call('HINCRBY', KEYS[5], 'o:' .. ARGV[7], 1) == 1 then
    -- -2: a new index; -1: one holding a task kept without limit.
    if had ~= -2 then redis.call('HSET', KEYS[5], 'u:' .. ARGV[7], had) end
    redis.call('PERSIST', KEYS[3])
  end
  -- Keep the index from filling with expired ids when nobody lists it: check the
  -- two oldest ids and two at random, and drop those whose task is gone.
  local sample = redis.call('ZRANGE', KEYS[3], 0, 1)
  for _, id in ipairs(redis.call('ZRANDMEMBER', KEYS[3], 2)) do table.insert(sample, id) end
  for _, id in ipairs(sample) do
    if redis.call('EXISTS', ARGV[5] .. id) == 0 then redis.call('ZREM', KEYS[3], id) end
  end
end
redis.call('XADD', KEYS[2], '*', 'job', ARGV[4])
redis.call('PUBLISH', ARGV[14], ARGV[1])
return {1}
";

/// Replace the record only if it is still what we read; announce the new state.
/// With a task id in ARGV[5], also release its job (ack and delete the stream entry).
/// When the new state ends the task (ARGV[6] = expiry ms, or -1 for never): start
/// its TTL and release what it held against the limits and its owner's index.
const SWAP: &str = r"
local cur = redis.call('GET', KEYS[1])
if cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
redis.call('PUBLISH', ARGV[3], ARGV[2])
if ARGV[5] ~= '' then
  local entry = redis.call('HGET', KEYS[2], ARGV[5])
  if entry then
    redis.call('XACK', KEYS[3], ARGV[4], entry)
    redis.call('XDEL', KEYS[3], entry)
    redis.call('HDEL', KEYS[2], ARGV[5])
  end
end
if ARGV[6] ~= '' then
  local at = tonumber(ARGV[6])
  if at > 0 then redis.call('PEXPIREAT', KEYS[1], at) end
  local function down(field, by)
    if redis.call('HINCRBY', KEYS[4], field, -by) <= 0 then redis.call('HDEL', KEYS[4], field) end
  end
  local bytes = tonumber(ARGV[8])
  down('n:' .. ARGV[7], 1)
  down('b:' .. ARGV[7], bytes)
  down('n', 1)
  down('b', bytes)
  if ARGV[9] ~= '' then
    local owner = ARGV[9]
    local u = tonumber(redis.call('HGET', KEYS[4], 'u:' .. owner) or '0')
    if u ~= -1 and (at <= 0 or at > u) then u = at end
    if redis.call('HINCRBY', KEYS[4], 'o:' .. owner, -1) <= 0 then
      redis.call('HDEL', KEYS[4], 'o:' .. owner, 'u:' .. owner)
      if u > 0 then redis.call('PEXPIREAT', KEYS[5], u) end
    else
      redis.call('HSET', KEYS[4], 'u:' .. owner, u)
    end
  end
end
return 1
";

/// Move due delayed jobs onto the stream.
const PROMOTE: &str = r"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 100)
for _, job in ipairs(due) do
  redis.call('XADD', KEYS[2], '*', 'job', job)
  redis.call('ZREM', KEYS[1], job)
end
return #due
";

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
    keys: Keys,
    client: Client,
    conn: ConnectionManager,
    /// Blocking reads (`XREADGROUP BLOCK`) get a connection of their own.
    blocking: Mutex<Option<MultiplexedConnection>>,
    events: broadcast::Sender<TaskEvent>,
    submit: Script,
    swap: Script,
    promote: Script,
    listener: tokio::task::JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

fn unavailable(e: redis::RedisError) -> BackendError {
    BackendError::Unavailable(e.to_string())
}

fn decode<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, BackendError> {
    serde_json::from_str(json).map_err(|e| BackendError::Corrupt(e.to_string()))
}

fn encode<T: serde::Serialize>(v: &T) -> Result<String, BackendError> {
    serde_json::to_string(v).map_err(|e| BackendError::Corrupt(e.to_string()))
}

impl RedisBackend {
    /// Connect, create the consumer group if needed, and start listening for events.
    ///
    /// Fails with [`BackendError::Unavailable`] when Redis cannot be reached; after
    /// that, lost connections are re-established with backoff.
    pub async fn connect(config: RedisConfig) -> Result<Self, BackendError> {
        let client = Client::open(config.url.as_str()).map_err(unavailable)?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_number_of_retries(3);
        let conn = client.get_connection_manager_with_config(manager_config).await.map_err(unavailable)?;
        let keys = Keys::new(&config.prefix);
        let (events, _) = broadcast::channel(config.event_capacity.max(16));
        let (ready_tx, ready) = tokio::sync::oneshot::channel();
        let channels = [keys.events.clone(), keys.notes.clone()];
        let listener = tokio::spawn(listen(client.clone(), channels, events.clone(), ready_tx));
        // Events published before the subscription is up would be lost to this process.
        if tokio::time::timeout(Duration::from_secs(5), ready).await.is_err() {
            listener.abort();
            return Err(BackendError::Unavailable("could not subscribe to task events".into()));
        }
        let backend = Self {
            inner: Arc::new(Inner {
                config,
                keys,
                client,
                conn,
                blocking: Mutex::new(None),
                events,
                submit: Script::new(SUBMIT),
                swap: Script::new(SWAP),
                promote: Script::new(PROMOTE),
                listener,
            }),
        };
        backend.ensure_group().await?;
        Ok(backend)
    }

    /// Delete every key under this backend's prefix (tasks, queue, indexes).
    /// For tests and for tearing down a deployment; running workers lose their work.
    pub async fn purge(&self) -> Result<u64, BackendError> {
        let mut conn = self.conn();
        let pattern = format!("{}:*", self.inner.keys.prefix);
        let mut cursor: u64 = 0;
        let mut deleted = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(500)
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            if !keys.is_empty() {
                deleted += redis::cmd("DEL").arg(&keys).query_async::<u64>(&mut conn).await.map_err(unavailable)?;
            }
            if next == 0 {
                return Ok(deleted);
            }
            cursor = next;
        }
    }

    /// The settings.
    pub fn config(&self) -> &RedisConfig {
        &self.inner.config
    }

    fn conn(&self) -> ConnectionManager {
        self.inner.conn.clone()
    }

    async fn ensure_group(&self) -> Result<(), BackendError> {
        let k = &self.inner.keys;
        let r: redis::RedisResult<()> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&k.jobs)
            .arg(&k.group)
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut self.conn())
            .await;
        match r {
            Ok(()) => Ok(()),
            Err(e) if e.to_string().contains("BUSYGROUP") => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Read-modify-write a record with compare-and-swap. `f` returns whether it changed.
    async fn modify(&self, id: &str, f: impl Fn(&mut TaskRecord) -> bool) -> Result<Option<TaskRecord>, BackendError> {
        self.swap(id, false, f).await
    }

    /// Compare-and-swap loop; `release` also acknowledges the task's job in the same script.
    /// A swap that ends the task starts its TTL and releases what it held.
    async fn swap(
        &self,
        id: &str,
        release: bool,
        f: impl Fn(&mut TaskRecord) -> bool,
    ) -> Result<Option<TaskRecord>, BackendError> {
        let k = &self.inner.keys;
        let key = k.task(id);
        let mut conn = self.conn();
        for _ in 0..64 {
            let Some(old): Option<String> = conn.get(&key).await.map_err(unavailable)? else { return Ok(None) };
            let mut rec: TaskRecord = decode(&old)?;
            if rec.status.is_terminal() || !f(&mut rec) {
                return Ok(Some(rec));
            }
            rec.updated_at = now_ms().max(rec.updated_at);
            let new = encode(&rec)?;
            let ended = rec.status.is_terminal();
            let expires = match (ended, rec.expires_at()) {
                (false, _) => String::new(),
                (true, Some(at)) => at.to_string(),
                (true, None) => "-1".into(),
            };
            let swapped: i64 = self
                .inner
                .swap
                .key(&key)
                .key(&k.inflight)
                .key(&k.jobs)
                .key(&k.live)
                .key(k.owner(&rec.owner))
                .arg(&old)
                .arg(&new)
                .arg(&k.events)
                .arg(&k.group)
                .arg(if release { id } else { "" })
                .arg(expires)
                .arg(rec.account())
                .arg(rec.argument_bytes)
                .arg(if indexed(&rec) { rec.owner.as_str() } else { "" })
                .invoke_async(&mut conn)
                .await
                .map_err(unavailable)?;
            if swapped == 1 {
                return Ok(Some(rec));
            }
        }
        Err(BackendError::Unavailable(format!("task {id} is changing too fast to update")))
    }

    /// Acknowledge the stream entry a task's job came from.
    async fn release(&self, task_id: &str) -> Result<(), BackendError> {
        let k = &self.inner.keys;
        let mut conn = self.conn();
        let entry: Option<String> = conn.hget(&k.inflight, task_id).await.map_err(unavailable)?;
        if let Some(entry) = entry {
            redis::pipe()
                .cmd("XACK")
                .arg(&k.jobs)
                .arg(&k.group)
                .arg(&entry)
                .ignore()
                .cmd("XDEL")
                .arg(&k.jobs)
                .arg(&entry)
                .ignore()
                .hdel(&k.inflight, task_id)
                .ignore()
                .query_async::<()>(&mut conn)
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    async fn blocking_conn(&self) -> Result<MultiplexedConnection, BackendError> {
        let mut slot = self.inner.blocking.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(None);
        let c = self.inner.client.get_multiplexed_async_connection_with_config(&config).await.map_err(unavailable)?;
        *slot = Some(c.clone());
        Ok(c)
    }

    fn parse_job(id: &redis::streams::StreamId) -> Option<Job> {
        let raw: String = id.get("job")?;
        serde_json::from_str(&raw).map_err(|e| tracing::error!(error = %e, "dropping unreadable job")).ok()
    }

    /// Turn claimed stream entries into jobs: drop unreadable entries and work whose
    /// task is gone or finished (cancelled while queued), record the rest as in flight.
    async fn take(
        &self,
        worker: &str,
        entries: &[redis::streams::StreamId],
        redelivered: bool,
    ) -> Result<Vec<Job>, BackendError> {
        let k = &self.inner.keys;
        let mut conn = self.conn();
        let parsed: Vec<(&str, Option<Job>)> = entries.iter().map(|e| (e.id.as_str(), Self::parse_job(e))).collect();
        let keys: Vec<String> = parsed.iter().filter_map(|(_, j)| j.as_ref().map(|j| k.task(&j.task_id))).collect();
        let raws: Vec<Option<String>> = if keys.is_empty() {
            Vec::new()
        } else {
            redis::cmd("MGET").arg(&keys).query_async(&mut conn).await.map_err(unavailable)?
        };
        let mut raws = raws.into_iter();
        let mut jobs = Vec::new();
        let mut dead = Vec::new();
        let mut gone = Vec::new();
        let mut inflight: Vec<(String, String)> = Vec::new();
        for (entry, job) in parsed {
            let Some(mut job) = job else {
                dead.push(entry.to_string());
                continue;
            };
            let live = match raws.next().flatten() {
                Some(raw) => !decode::<TaskRecord>(&raw)?.status.is_terminal(),
                None => false,
            };
            if !live {
                // Its task ended or expired while a worker that then died held it.
                dead.push(entry.to_string());
                gone.push(job.task_id);
                continue;
            }
            if redelivered {
                job.attempt += 1;
                tracing::warn!(task_id = %job.task_id, attempt = job.attempt, worker, "redelivering job whose worker stopped heartbeating");
            }
            inflight.push((job.task_id.clone(), entry.to_string()));
            jobs.push(job);
        }
        let mut pipe = redis::pipe();
        for entry in &dead {
            pipe.cmd("XACK").arg(&k.jobs).arg(&k.group).arg(entry).ignore();
            pipe.cmd("XDEL").arg(&k.jobs).arg(entry).ignore();
        }
        if !gone.is_empty() {
            pipe.hdel(&k.inflight, &gone).ignore();
        }
        if !inflight.is_empty() {
            pipe.hset_multiple(&k.inflight, &inflight).ignore();
        }
        if !dead.is_empty() || !inflight.is_empty() {
            pipe.query_async::<()>(&mut conn).await.map_err(unavailable)?;
        }
        Ok(jobs)
    }
}

impl RedisBackend {
    /// One round of claiming: due retries, stale work, then a short blocking read.
    async fn claim_once(
        &self,
        worker: &str,
        max: usize,
        deadline: tokio::time::Instant,
    ) -> Result<Vec<Job>, BackendError> {
        let k = &self.inner.keys;
        let mut conn = self.conn();
        let _: i64 = self
            .inner
            .promote
            .key(&k.delayed)
            .key(&k.jobs)
            .arg(now_ms())
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        // Work of dead workers first.
        let idle = self.inner.config.redelivery_timeout.as_millis() as u64;
        let stale: redis::RedisResult<StreamAutoClaimReply> = redis::cmd("XAUTOCLAIM")
            .arg(&k.jobs)
            .arg(&k.group)
            .arg(worker)
            .arg(idle)
            .arg("0-0")
            .arg("COUNT")
            .arg(max)
            .query_async(&mut conn)
            .await;
        match stale {
            Ok(reply) => {
                if !reply.claimed.is_empty() {
                    return self.take(worker, &reply.claimed, true).await;
                }
            }
            Err(e) if e.to_string().contains("NOGROUP") => self.ensure_group().await?,
            Err(e) => return Err(unavailable(e)),
        }
        // Block in short slices so due retries and stale work are picked up promptly.
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        let block_ms = remaining.min(Duration::from_millis(250)).as_millis().max(1) as u64;
        let mut blocking = self.blocking_conn().await?;
        let read: redis::RedisResult<Option<StreamReadReply>> = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(&k.group)
            .arg(worker)
            .arg("COUNT")
            .arg(max)
            .arg("BLOCK")
            .arg(block_ms)
            .arg("STREAMS")
            .arg(&k.jobs)
            .arg(">")
            .query_async(&mut blocking)
            .await;
        let reply = match read {
            Ok(r) => r,
            Err(e) => {
                *self.inner.blocking.lock().await = None;
                if e.to_string().contains("NOGROUP") {
                    self.ensure_group().await?;
                    return Ok(Vec::new());
                }
                return Err(unavailable(e));
            }
        };
        match reply.as_ref().and_then(|r| r.keys.first()) {
            Some(key) => self.take(worker, &key.ids, false).await,
            None => Ok(Vec::new()),
        }
    }
}

/// Forward `P:events` and `P:notes` messages to local subscribers; reconnect with backoff.
async fn listen(
    client: Client,
    channels: [String; 2],
    events: broadcast::Sender<TaskEvent>,
    ready: tokio::sync::oneshot::Sender<()>,
) {
    let mut ready = Some(ready);
    let mut backoff = Duration::from_millis(100);
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => {
                if pubsub.subscribe(&channels).await.is_ok() {
                    backoff = Duration::from_millis(100);
                    if let Some(r) = ready.take() {
                        let _ = r.send(());
                    }
                    let mut stream = pubsub.into_on_message();
                    while let Some(msg) = stream.next().await {
                        let Ok(payload) = msg.get_payload::<String>() else { continue };
                        let event = if msg.get_channel_name() == channels[0] {
                            decode(&payload).map(TaskEvent::Changed)
                        } else {
                            decode(&payload).map(TaskEvent::Notified)
                        };
                        match event {
                            Ok(event) => {
                                let _ = events.send(event);
                            }
                            Err(e) => tracing::warn!(error = %e, "unreadable task event"),
                        }
                    }
                }
                tracing::warn!("lost the Redis event subscription; reconnecting");
            }
            Err(e) => tracing::warn!(error = %e, "cannot subscribe to Redis events; retrying"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Whether a task goes into its owner's index for `tasks/list`: not the tasks of
/// stateless callers without credentials (nobody can list those).
fn indexed(record: &TaskRecord) -> bool {
    record.owner != ANONYMOUS
}

/// The owner of tasks created by stateless requests without credentials.
const ANONYMOUS: &str = "anonymous";

impl AsRef<dyn Backend> for RedisBackend {
    fn as_ref(&self) -> &(dyn Backend + 'static) {
        self
    }
}

#[async_trait]
impl Backend for RedisBackend {
    async fn submit(&self, mut record: TaskRecord, job: Job) -> Result<(), BackendError> {
        let k = &self.inner.keys;
        let limits = &self.inner.config.limits;
        let job = encode(&job)?;
        record.argument_bytes = job.len();
        let reply: Vec<i64> = self
            .inner
            .submit
            .key(k.task(&record.id))
            .key(&k.jobs)
            .key(k.owner(&record.owner))
            .key(&k.seq)
            .key(&k.live)
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

    async fn claim_batch(&self, worker: &str, max: usize, wait: Duration) -> Result<Vec<Job>, BackendError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let jobs = self.claim_once(worker, max.max(1), deadline).await?;
            if !jobs.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(jobs);
            }
        }
    }

    async fn heartbeat(&self, worker: &str, task_id: &str) -> Result<(), BackendError> {
        let k = &self.inner.keys;
        let mut conn = self.conn();
        let entry: Option<String> = conn.hget(&k.inflight, task_id).await.map_err(unavailable)?;
        if let Some(entry) = entry {
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

    async fn requeue(&self, _worker: &str, job: Job, delay: Duration) -> Result<(), BackendError> {
        self.release(&job.task_id).await?;
        let k = &self.inner.keys;
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

    async fn update(&self, task_id: &str, update: TaskUpdate) -> Result<Option<TaskRecord>, BackendError> {
        self.modify(task_id, |rec| rec.apply(update.clone())).await
    }

    async fn complete(&self, task_id: &str, outcome: Outcome) -> Result<Option<TaskRecord>, BackendError> {
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
        Ok(rec)
    }

    async fn cancel(&self, task_id: &str) -> Result<Option<TaskRecord>, BackendError> {
        self.modify(task_id, |rec| {
            rec.mark_cancelled();
            true
        })
        .await
    }

    async fn get(&self, task_id: &str) -> Result<Option<TaskRecord>, BackendError> {
        let raw: Option<String> = self.conn().get(self.inner.keys.task(task_id)).await.map_err(unavailable)?;
        raw.as_deref().map(decode).transpose()
    }

    async fn list(&self, owner: &str, cursor: Option<&str>, limit: usize) -> Result<TaskPage, BackendError> {
        let k = &self.inner.keys;
        let mut start: u64 = match cursor {
            None => 0,
            Some(c) => c.parse().map_err(|_| BackendError::InvalidCursor)?,
        };
        let limit = limit.max(1);
        let index = k.owner(owner);
        let mut conn = self.conn();
        if cursor.is_some() {
            let issued: Option<u64> = conn.get(&k.seq).await.map_err(unavailable)?;
            if start > issued.unwrap_or(0) + 1 {
                return Err(BackendError::InvalidCursor);
            }
        }
        let mut page = TaskPage::default();
        loop {
            let batch: Vec<(String, f64)> = redis::cmd("ZRANGE")
                .arg(&index)
                .arg(start)
                .arg("+inf")
                .arg("BYSCORE")
                .arg("LIMIT")
                .arg(0)
                .arg(limit + 1)
                .arg("WITHSCORES")
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            if batch.is_empty() {
                return Ok(page);
            }
            let keys: Vec<String> = batch.iter().map(|(id, _)| k.task(id)).collect();
            let raws: Vec<Option<String>> =
                redis::cmd("MGET").arg(&keys).query_async(&mut conn).await.map_err(unavailable)?;
            let mut gone = Vec::new();
            for ((id, seq), raw) in batch.iter().zip(raws) {
                let Some(raw) = raw else {
                    gone.push(id.clone());
                    continue;
                };
                if page.tasks.len() == limit {
                    page.next_cursor = Some((*seq as u64).to_string());
                    break;
                }
                page.tasks.push(decode(&raw)?);
            }
            if !gone.is_empty() {
                let _: () = conn.zrem(&index, gone).await.map_err(unavailable)?;
            }
            if page.next_cursor.is_some() || batch.len() <= limit {
                return Ok(page);
            }
            start = batch.last().map(|(_, s)| *s as u64 + 1).unwrap_or(start);
        }
    }

    async fn notify(&self, notification: Notice) -> Result<(), BackendError> {
        let _: i64 = self.conn().publish(&self.inner.keys.notes, encode(&notification)?).await.map_err(unavailable)?;
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<TaskEvent> {
        self.inner.events.subscribe()
    }
}
