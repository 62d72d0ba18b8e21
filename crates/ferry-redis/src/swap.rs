//! Changing a record: compare-and-swap in one script, and what a process remembers of
//! the tasks it claimed so that a worker's changes usually cost one round trip.
//!
//! The swap script compares the whole stored record with the one the change was made
//! to and refuses anything else, answering with the record as it is now; the caller
//! applies its change to that and tries again. The first try needs a record to start
//! from: a `GET`, unless this process claimed the task and remembers the record as it
//! was claimed or last written here (then the script's compare is the check, and a
//! stale memory costs one refused try, never a wrong write).

use crate::{decode, encode, indexed, unavailable, RedisBackend};
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
        let k = self.keys_of(id);
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
            let reply: redis::Value = self
                .inner
                .swap
                .key(&key)
                .key(&k.inflight)
                .key(&k.jobs)
                .key(&k.live)
                .key(k.owner(&rec.owner))
                .key(&k.input)
                .key(k.kept(status))
                .key(k.done(status, now / 1000))
                .key(&k.all)
                .key(k.kept("completed"))
                .key(k.kept("failed"))
                .key(k.kept("cancelled"))
                .arg(&old)
                .arg(&new)
                .arg(&k.events)
                .arg(&k.group)
                .arg(if release { id } else { "" })
                .arg(expires)
                .arg(rec.account())
                .arg(rec.argument_bytes)
                .arg(if indexed(&rec) { rec.owner.as_str() } else { "" })
                .arg(waiting)
                .arg(now)
                .arg(id)
                .arg(&entry)
                .invoke_async(&mut conn)
                .await
                .map_err(unavailable)?;
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
