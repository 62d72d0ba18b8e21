//! The operator read-outs on Redis (see [`ferry_tasks::inspect`]).
//!
//! What the hot path pays: nothing but a few O(1) commands inside scripts that already
//! run (submit adds the task to `P:all`; a swap keeps `P:input`; an ending swap bumps
//! this second's `P:done:{status}:{second}` counter and adds the task to
//! `P:kept:{status}`), and one small script per worker report (every heartbeat period,
//! not per task).
//!
//! What a read costs:
//! * `stats`: two round trips: one pipeline (`XLEN`, `XINFO GROUPS`, `ZCARD`, `HGET`,
//!   `SCARD`, three `ZCOUNT`, one `MGET` of the 180 per-second counters, `HGETALL` of
//!   the worker reports), then an `XRANGE ... COUNT 1` for the oldest waiting job.
//! * `list_all`: walks `P:all` (every task, oldest first) from its cursor in batches
//!   (`ZRANGE BYSCORE` + `MGET`), examining at most [`SCAN_BOUND`] tasks per call: a
//!   narrow filter over a large store returns short pages with a cursor to go on.
//! * `detail`: two round trips for a running task (record and in-flight entry, then the
//!   job's stream entry and its pending-entries-list line); for a queued or delayed
//!   task, it looks through at most [`SCAN_BOUND`] waiting jobs.

use crate::keys::Keys;
use crate::{decode, encode, unavailable, RedisBackend};
use ferry_protocol::time_fmt::now_ms;
use ferry_tasks::inspect::WORKER_LISTED_MS;
use ferry_tasks::{BackendError, EngineStats, Job, TaskDetail, TaskFilter, TaskPage, TaskRecord, WorkerInfo};
use redis::streams::{StreamInfoGroupsReply, StreamPendingCountReply, StreamRangeReply};
use redis::AsyncCommands;
use std::collections::{BTreeMap, HashMap};

/// Most tasks (or waiting jobs) one `list_all` or `detail` call examines.
pub const SCAN_BOUND: usize = 5_000;

/// The outcomes counted per second and kept per status.
const ENDED: [&str; 3] = ["completed", "failed", "cancelled"];

impl RedisBackend {
    /// The read-out of the whole deployment: each partition's, added up (the worker
    /// reports are partition 0's).
    pub(crate) async fn stats_once(&self) -> Result<EngineStats, BackendError> {
        let mut total: Option<EngineStats> = None;
        for k in self.inner.parts.all() {
            let part = self.stats_of(k).await?;
            let Some(sum) = total.as_mut() else {
                total = Some(part);
                continue;
            };
            sum.queued += part.queued;
            sum.delayed += part.delayed;
            sum.running += part.running;
            sum.oldest_queued_age_ms = sum.oldest_queued_age_ms.max(part.oldest_queued_age_ms);
            for (status, n) in part.tasks_by_status {
                *sum.tasks_by_status.entry(status).or_default() += n;
            }
            for (status, n) in part.ended_last_minute {
                *sum.ended_last_minute.entry(status).or_default() += n;
            }
        }
        total.ok_or_else(|| BackendError::Corrupt("no partitions".into()))
    }

    /// One partition's read-out; its worker list is that partition's reports (only
    /// partition 0 has any).
    async fn stats_of(&self, k: &Keys) -> Result<EngineStats, BackendError> {
        let now = now_ms();
        let second = now / 1000;
        let mut pipe = redis::pipe();
        pipe.xlen(&k.jobs).cmd("XINFO").arg("GROUPS").arg(&k.jobs).zcard(&k.delayed).hget(&k.live, "n").scard(&k.input);
        for status in ENDED {
            pipe.zcount(k.kept(status), now, "+inf");
        }
        let done: Vec<String> = ENDED.iter().flat_map(|s| (0..60).map(move |ago| k.done(s, second - ago))).collect();
        pipe.cmd("MGET").arg(&done).hgetall(&k.workers);
        #[allow(clippy::type_complexity)]
        let (len, groups, delayed, live, input, kept_c, kept_f, kept_x, counts, workers): (
            u64,
            StreamInfoGroupsReply,
            u64,
            Option<u64>,
            u64,
            u64,
            u64,
            u64,
            Vec<Option<u64>>,
            HashMap<String, String>,
        ) = match pipe.query_async(&mut self.conn()).await {
            Ok(reply) => reply,
            // The queue was deleted (a purge): make it again, as claiming does, and read once more.
            Err(e) if no_queue(&e) => {
                self.ensure_group().await?;
                pipe.query_async(&mut self.conn()).await.map_err(unavailable)?
            }
            Err(e) => return Err(unavailable(e)),
        };
        let group = groups.groups.into_iter().find(|g| g.name == k.group);
        let running = group.as_ref().map(|g| g.pending as u64).unwrap_or(0);
        let oldest = match &group {
            Some(g) if len > running => self.oldest_waiting(k, &g.last_delivered_id).await?,
            _ => None,
        };
        let live = live.unwrap_or(0);
        let tasks_by_status = BTreeMap::from([
            ("working".to_string(), live.saturating_sub(input)),
            ("input_required".to_string(), input),
            ("completed".to_string(), kept_c),
            ("failed".to_string(), kept_f),
            ("cancelled".to_string(), kept_x),
        ]);
        let ended_last_minute = ENDED
            .iter()
            .zip(counts.chunks(60))
            .map(|(s, c)| (s.to_string(), c.iter().map(|n| n.unwrap_or(0)).sum()))
            .collect();
        let mut listed = Vec::new();
        for (name, raw) in workers {
            match decode::<WorkerInfo>(&raw) {
                Ok(mut w) if now.saturating_sub(w.last_seen_ms) <= WORKER_LISTED_MS => {
                    w.alive = w.is_alive_at(now);
                    listed.push(w);
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(worker = %name, error = %e, "unreadable worker report"),
            }
        }
        listed.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(EngineStats {
            at_ms: now,
            queued: len.saturating_sub(running),
            delayed,
            running,
            oldest_queued_age_ms: oldest.map(|at| now.saturating_sub(at)),
            tasks_by_status,
            ended_last_minute,
            workers: listed,
        })
    }

    /// When the first job after `last_delivered` was queued (its stream id's time).
    async fn oldest_waiting(&self, k: &Keys, last_delivered: &str) -> Result<Option<u64>, BackendError> {
        let first: StreamRangeReply =
            self.conn().xrange_count(&k.jobs, format!("({last_delivered}"), "+", 1).await.map_err(unavailable)?;
        Ok(first.ids.first().and_then(|e| entry_ms(&e.id)))
    }

    pub(crate) async fn list_all_once(
        &self,
        filter: &TaskFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<TaskPage, BackendError> {
        let now = now_ms();
        let parts = &self.inner.parts;
        if parts.len() == 1 {
            let k = parts.keys(0);
            return self.page_index(k, &k.all, cursor, limit, &|r| filter.matches(r, now), SCAN_BOUND).await;
        }
        // Each partition's oldest matches from its own cursor, merged by creation time; the
        // cursor is each partition's next sequence (`-` when it has no more), comma-separated.
        let n = parts.len();
        let starts: Vec<Option<u64>> = match cursor {
            None => vec![Some(0); n],
            Some(c) => c
                .split(',')
                .map(|s| if s == "-" { Ok(None) } else { s.parse().map(Some) })
                .collect::<Result<_, _>>()
                .map_err(|_| BackendError::InvalidCursor)?,
        };
        if starts.len() != n {
            return Err(BackendError::InvalidCursor);
        }
        let limit = limit.max(1);
        let keep = |r: &TaskRecord| filter.matches(r, now);
        let mut merged = Vec::new();
        let mut next = vec![None; n];
        for (p, start) in starts.iter().enumerate() {
            if let Some(start) = start {
                let k = parts.keys(p);
                let (entries, more) = self.index_entries(k, &k.all, *start, limit, &keep, SCAN_BOUND).await?;
                next[p] = more;
                merged.extend(entries.into_iter().map(|(seq, r)| (p, seq, r)));
            }
        }
        merged.sort_by_key(|(p, seq, r)| (r.created_at, *p, *seq));
        let left = merged.split_off(merged.len().min(limit));
        // A partition with matches not taken goes on from the first of them.
        for (p, seq, _) in &left {
            if next[*p].is_none_or(|n| *seq < n) {
                next[*p] = Some(*seq);
            }
        }
        let tasks = merged.into_iter().map(|(_, _, r)| r).collect();
        let next_cursor = next
            .iter()
            .any(Option::is_some)
            .then(|| next.iter().map(|s| s.map_or("-".to_string(), |s| s.to_string())).collect::<Vec<_>>().join(","));
        Ok(TaskPage { tasks, next_cursor })
    }

    /// One page of the tasks of `index` (a sorted set of ids by sequence) that `keep`,
    /// oldest first, from `cursor` (a sequence number); ids whose task expired are
    /// dropped from the index on the way. After examining `bound` tasks the page ends
    /// early, with a cursor to go on from.
    pub(crate) async fn page_index(
        &self,
        k: &Keys,
        index: &str,
        cursor: Option<&str>,
        limit: usize,
        keep: &(dyn Fn(&TaskRecord) -> bool + Sync),
        bound: usize,
    ) -> Result<TaskPage, BackendError> {
        let start: u64 = match cursor {
            None => 0,
            Some(c) => c.parse().map_err(|_| BackendError::InvalidCursor)?,
        };
        if cursor.is_some() {
            let issued: Option<u64> = self.conn().get(&k.seq).await.map_err(unavailable)?;
            if start > issued.unwrap_or(0) + 1 {
                return Err(BackendError::InvalidCursor);
            }
        }
        let (entries, next) = self.index_entries(k, index, start, limit, keep, bound).await?;
        let tasks = entries.into_iter().map(|(_, r)| r).collect();
        Ok(TaskPage { tasks, next_cursor: next.map(|s| s.to_string()) })
    }

    /// Up to `limit` tasks of `index` that `keep`, with their sequence numbers, from
    /// sequence `start`; and the sequence to go on from when there may be more.
    async fn index_entries(
        &self,
        k: &Keys,
        index: &str,
        mut start: u64,
        limit: usize,
        keep: &(dyn Fn(&TaskRecord) -> bool + Sync),
        bound: usize,
    ) -> Result<(Vec<(u64, TaskRecord)>, Option<u64>), BackendError> {
        let limit = limit.max(1);
        let mut conn = self.conn();
        let batch_size = (limit + 1).clamp(100, 1000);
        let mut entries = Vec::new();
        let mut examined = 0;
        loop {
            let batch: Vec<(String, f64)> = redis::cmd("ZRANGE")
                .arg(index)
                .arg(start)
                .arg("+inf")
                .arg("BYSCORE")
                .arg("LIMIT")
                .arg(0)
                .arg(batch_size)
                .arg("WITHSCORES")
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            let Some(last) = batch.last().map(|(_, s)| *s as u64) else { return Ok((entries, None)) };
            let keys: Vec<String> = batch.iter().map(|(id, _)| k.task(id)).collect();
            let raws: Vec<Option<String>> =
                redis::cmd("MGET").arg(&keys).query_async(&mut conn).await.map_err(unavailable)?;
            let mut gone = Vec::new();
            let mut next = None;
            for ((id, seq), raw) in batch.iter().zip(raws) {
                let Some(raw) = raw else {
                    gone.push(id.clone());
                    continue;
                };
                let record: TaskRecord = decode(&raw)?;
                if !keep(&record) {
                    continue;
                }
                if entries.len() == limit {
                    next = Some(*seq as u64);
                    break;
                }
                entries.push((*seq as u64, record));
            }
            if !gone.is_empty() {
                let _: () = conn.zrem(index, gone).await.map_err(unavailable)?;
            }
            examined += batch.len();
            if next.is_some() || batch.len() < batch_size {
                return Ok((entries, next));
            }
            start = last + 1;
            if examined >= bound {
                // Enough work for one call: the caller goes on from here.
                return Ok((entries, Some(start)));
            }
        }
    }

    pub(crate) async fn detail_once(&self, task_id: &str) -> Result<Option<TaskDetail>, BackendError> {
        let k = self.keys_of(task_id);
        let mut conn = self.conn();
        let (raw, entry, claimed): (Option<String>, Option<String>, Option<u64>) = redis::pipe()
            .get(k.task(task_id))
            .hget(&k.inflight, task_id)
            .hget(&k.inflight, format!("{task_id}@"))
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let Some(raw) = raw else { return Ok(None) };
        let record: TaskRecord = decode(&raw)?;
        let mut detail = TaskDetail::new(record);
        if detail.record.status.is_terminal() {
            return Ok(Some(detail));
        }
        if let Some(entry) = entry {
            let (range, pending): (StreamRangeReply, StreamPendingCountReply) = redis::pipe()
                .xrange(&k.jobs, &entry, &entry)
                .xpending_count(&k.jobs, &k.group, &entry, &entry, 1)
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            if let Some(job) = range.ids.first().and_then(job_of) {
                detail.set_job(&job);
            }
            if let Some(p) = pending.ids.first() {
                detail.worker = Some(p.consumer.clone());
                detail.claimed_at_ms = claimed.or_else(|| entry_ms(&entry));
            }
            return Ok(Some(detail));
        }
        if let Some((job, due)) = self.find_delayed(k, task_id).await? {
            detail.set_job(&job);
            detail.not_before_ms = Some(due.max(job.not_before.unwrap_or(0)));
        } else if let Some(job) = self.find_queued(k, task_id).await? {
            detail.set_job(&job);
        }
        Ok(Some(detail))
    }

    /// A task's job waiting for its retry, with when it is due.
    async fn find_delayed(&self, k: &Keys, task_id: &str) -> Result<Option<(Job, u64)>, BackendError> {
        let mut conn = self.conn();
        let pattern = format!("*\"task_id\":\"{}\"*", glob_escape(task_id));
        let mut cursor: u64 = 0;
        let mut examined = 0;
        loop {
            let (next, items): (u64, Vec<(String, f64)>) = redis::cmd("ZSCAN")
                .arg(&k.delayed)
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(500)
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            for (raw, due) in items {
                if let Ok(job) = decode::<Job>(&raw) {
                    if job.task_id == task_id {
                        return Ok(Some((job, due as u64)));
                    }
                }
            }
            examined += 500;
            if next == 0 || examined >= SCAN_BOUND {
                return Ok(None);
            }
            cursor = next;
        }
    }

    /// A task's job in the queue, not yet handed to a worker.
    async fn find_queued(&self, k: &Keys, task_id: &str) -> Result<Option<Job>, BackendError> {
        let mut conn = self.conn();
        let groups: StreamInfoGroupsReply =
            match redis::cmd("XINFO").arg("GROUPS").arg(&k.jobs).query_async(&mut conn).await {
                Ok(groups) => groups,
                Err(e) if no_queue(&e) => return Ok(None),
                Err(e) => return Err(unavailable(e)),
            };
        let mut from = match groups.groups.into_iter().find(|g| g.name == k.group) {
            Some(g) => format!("({}", g.last_delivered_id),
            None => "-".to_string(),
        };
        let mut examined = 0;
        while examined < SCAN_BOUND {
            let batch: StreamRangeReply = conn.xrange_count(&k.jobs, &from, "+", 500).await.map_err(unavailable)?;
            for entry in &batch.ids {
                if let Some(job) = job_of(entry).filter(|j| j.task_id == task_id) {
                    return Ok(Some(job));
                }
            }
            match batch.ids.last() {
                Some(last) if batch.ids.len() == 500 => from = format!("({}", last.id),
                _ => return Ok(None),
            }
            examined += 500;
        }
        Ok(None)
    }

    pub(crate) async fn worker_seen_once(&self, worker: &WorkerInfo) -> Result<(), BackendError> {
        let k = &self.inner.keys;
        let _: i64 = self
            .inner
            .worker_seen
            .key(&k.workers)
            .key(&k.workers_seen)
            .arg(&worker.name)
            .arg(encode(worker)?)
            .arg(worker.last_seen_ms)
            .arg(WORKER_LISTED_MS)
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    pub(crate) async fn worker_gone_once(&self, worker: &str) -> Result<(), BackendError> {
        let k = &self.inner.keys;
        redis::pipe()
            .hdel(&k.workers, worker)
            .ignore()
            .zrem(&k.workers_seen, worker)
            .ignore()
            .query_async::<()>(&mut self.conn())
            .await
            .map_err(unavailable)
    }
}

/// Whether `e` says the job stream or its group does not exist.
fn no_queue(e: &redis::RedisError) -> bool {
    let text = e.to_string();
    text.contains("no such key") || text.contains("NOGROUP")
}

/// The time (epoch ms) in a stream entry id `ms-seq`.
fn entry_ms(id: &str) -> Option<u64> {
    id.split('-').next()?.parse().ok()
}

fn job_of(entry: &redis::streams::StreamId) -> Option<Job> {
    let raw: String = entry.get("job")?;
    decode(&raw).ok()
}

/// `s` with the characters special to a Redis glob pattern escaped.
fn glob_escape(s: &str) -> String {
    s.chars().fold(String::new(), |mut out, c| {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
        out
    })
}
