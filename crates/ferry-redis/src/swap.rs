//! Changing a record: compare-and-swap in one script, and what a process remembers of
//! the tasks it claimed so that a worker's changes usually cost one round trip.
//!
//! The swap script compares the whole stored record with the one the change was made
//! to and refuses anything else, answering with the record as it is now; the caller
//! applies its change to that and tries again. The first try needs a record to start
//! from: a `GET`, unless this process claimed the task and remembers the record as it
//! was claimed or last written here (then the script's compare is the check, and a
//! stale memory costs one refused try, never a wrong write).

use crate::batch::Flush;
use crate::{decode, encode, indexed, unavailable, RedisBackend};
use async_trait::async_trait;
use ferry_protocol::time_fmt::now_ms;
use ferry_tasks::{BackendError, TaskRecord, TaskStatus};
use redis::AsyncCommands;
use std::collections::HashMap;
use std::sync::Mutex;

/// Most claimed tasks a process remembers; past it the memory starts afresh (only a
/// round trip is lost by forgetting).
const CLAIMED_MAX: usize = 65_536;

/// The record (as stored) and the stream entry of each task this process claimed and
/// has not finished.
#[derive(Default)]
pub(crate) struct Claimed(Mutex<HashMap<String, (String, String)>>);

impl Claimed {
    /// Remember a claimed task's stored record and stream entry.
    pub(crate) fn remember(&self, task_id: &str, raw: String, entry: String) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= CLAIMED_MAX {
            map.clear();
        }
        map.insert(task_id.to_string(), (raw, entry));
    }
    /// The stored record as last seen, and the stream entry.
    fn get(&self, task_id: &str) -> Option<(String, String)> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).get(task_id).cloned()
    }
    /// The stream entry of a claimed task.
    pub(crate) fn entry(&self, task_id: &str) -> Option<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).get(task_id).map(|(_, entry)| entry.clone())
    }
    /// A claimed task's record was written: remember the new one.
    fn written(&self, task_id: &str, raw: &str) {
        if let Some(seen) = self.0.lock().unwrap_or_else(|e| e.into_inner()).get_mut(task_id) {
            seen.0 = raw.to_string();
        }
    }
    /// Forget a task (it ended, or its job went back to the queue).
    pub(crate) fn forget(&self, task_id: &str) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(task_id);
    }
}

/// One try of a compare-and-swap, as the swap script takes it (see [`crate::scripts::swap`]).
pub(crate) struct SwapItem {
    key: String,
    owner_index: String,
    old: String,
    new: String,
    /// The task id when the swap also releases its job, else empty.
    release: String,
    /// Expiry (ms, -1 for never) when the new state ends the task, else empty.
    expires: String,
    account: String,
    bytes: usize,
    /// The owner when the task is in its owner's index, else empty.
    owner: String,
    /// `add`/`rem`/empty: the task starts or stops waiting for input.
    waiting: &'static str,
    id: String,
    /// The job's stream entry when remembered, else empty.
    entry: String,
    status: &'static str,
}

/// Swaps of one lane (a partition), in one script call.
#[async_trait]
impl Flush<usize, SwapItem, redis::Value> for RedisBackend {
    async fn flush(&self, lane: &usize, items: &[SwapItem]) -> Result<Vec<redis::Value>, BackendError> {
        let k = self.inner.parts.keys(*lane);
        let now = now_ms();
        let mut invocation = self.inner.swap.prepare_invoke();
        invocation.key(&k.inflight).key(&k.jobs).key(&k.live).key(&k.input).key(&k.all);
        for outcome in ["completed", "failed", "cancelled"] {
            invocation.key(k.kept(outcome));
        }
        for outcome in ["completed", "failed", "cancelled"] {
            invocation.key(k.done(outcome, now / 1000));
        }
        invocation.arg(&k.events).arg(&k.group).arg(now);
        for i in items {
            invocation.key(&i.key).key(&i.owner_index);
            invocation.arg(&i.old).arg(&i.new).arg(&i.release).arg(&i.expires).arg(&i.account).arg(i.bytes);
            invocation.arg(&i.owner).arg(i.waiting).arg(&i.id).arg(&i.entry).arg(i.status);
        }
        let reply: redis::Value = invocation.invoke_async(&mut self.conn()).await.map_err(unavailable)?;
        match reply {
            redis::Value::Array(answers) => Ok(answers),
            other => Err(BackendError::Corrupt(format!("unexpected swap reply {other:?}"))),
        }
    }
}

impl RedisBackend {
    /// Read-modify-write a record with compare-and-swap. `f` returns whether it changed.
    pub(crate) async fn modify(
        &self,
        id: &str,
        f: impl Fn(&mut TaskRecord) -> bool,
    ) -> Result<Option<TaskRecord>, BackendError> {
        self.swap(id, false, f).await
    }

    /// Compare-and-swap loop; `release` also acknowledges the task's job in the same script.
    /// A swap that ends the task starts its TTL and releases what it held.
    pub(crate) async fn swap(
        &self,
        id: &str,
        release: bool,
        f: impl Fn(&mut TaskRecord) -> bool,
    ) -> Result<Option<TaskRecord>, BackendError> {
        let partition = self.inner.parts.of_task(id);
        let k = self.inner.parts.keys(partition);
        let key = k.task(id);
        let mut conn = self.conn();
        let remembered = self.inner.claimed.get(id);
        let entry = remembered.as_ref().map(|(_, entry)| entry.clone()).unwrap_or_default();
        // (the record to change, whether it is only remembered rather than just read)
        let mut next: Option<(String, bool)> = remembered.map(|(raw, _)| (raw, true));
        for _ in 0..64 {
            let (old, remembered) = match next.take() {
                Some(start) => start,
                None => match conn.get::<_, Option<String>>(&key).await.map_err(unavailable)? {
                    Some(raw) => (raw, false),
                    None => return Ok(None),
                },
            };
            let mut rec: TaskRecord = decode(&old)?;
            let was_waiting = rec.status == TaskStatus::InputRequired;
            if rec.status.is_terminal() || !f(&mut rec) {
                if remembered {
                    continue; // a memory decides nothing: read the record itself
                }
                return Ok(Some(rec));
            }
            let now = now_ms();
            rec.updated_at = now.max(rec.updated_at);
            let new = encode(&rec)?;
            let status = rec.status.as_str();
            let waiting = match (was_waiting, rec.status == TaskStatus::InputRequired) {
                (false, true) => "add",
                (true, false) => "rem",
                _ => "",
            };
            let ended = rec.status.is_terminal();
            let expires = match (ended, rec.expires_at()) {
                (false, _) => String::new(),
                (true, Some(at)) => at.to_string(),
                (true, None) => "-1".into(),
            };
            let item = SwapItem {
                key: key.clone(),
                owner_index: k.owner(&rec.owner),
                old: old.clone(),
                new: new.clone(),
                release: if release { id.to_string() } else { String::new() },
                expires,
                account: rec.account().to_string(),
                bytes: rec.argument_bytes,
                owner: if indexed(&rec) { rec.owner.clone() } else { String::new() },
                waiting,
                id: id.to_string(),
                entry: entry.clone(),
                status,
            };
            let reply = self.inner.swaps.run(self, partition, item).await?;
            match reply {
                redis::Value::Int(1) => {
                    if ended {
                        self.inner.claimed.forget(id);
                    } else {
                        self.inner.claimed.written(id, &new);
                    }
                    return Ok(Some(rec));
                }
                redis::Value::Nil => return Ok(None),
                redis::Value::BulkString(now_stored) => {
                    let raw = String::from_utf8(now_stored).map_err(|e| BackendError::Corrupt(e.to_string()))?;
                    next = Some((raw, false));
                }
                other => return Err(BackendError::Corrupt(format!("unexpected swap reply {other:?}"))),
            }
        }
        Err(BackendError::Unavailable(format!("task {id} is changing too fast to update")))
    }

    /// The stream entry a task's job came from: remembered when this process claimed it,
    /// else as `P:inflight` says.
    pub(crate) async fn job_entry(&self, task_id: &str) -> Result<Option<String>, BackendError> {
        match self.inner.claimed.entry(task_id) {
            Some(entry) => Ok(Some(entry)),
            None => self.conn().hget(&self.keys_of(task_id).inflight, task_id).await.map_err(unavailable),
        }
    }

    /// Acknowledge the stream entry a task's job came from.
    pub(crate) async fn release(&self, task_id: &str) -> Result<(), BackendError> {
        let k = self.keys_of(task_id);
        let mut conn = self.conn();
        if let Some(entry) = self.job_entry(task_id).await? {
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
                .hdel(&k.inflight, &[task_id.to_string(), format!("{task_id}@")])
                .ignore()
                .query_async::<()>(&mut conn)
                .await
                .map_err(unavailable)?;
        }
        self.inner.claimed.forget(task_id);
        Ok(())
    }
}
