//! Handing jobs to workers: due retries, work of dead workers, then new work.

use crate::conn::Conn;
use crate::keys::Keys;
use crate::{decode, unavailable, RedisBackend};
use ferry_protocol::time_fmt::now_ms;
use ferry_tasks::{BackendError, Claimed, Job, TaskRecord};
use redis::streams::{StreamAutoClaimReply, StreamReadReply};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The longest blocking read of one claim round (with N partitions, a round blocks on one
/// of them for a 1/N share of it, at least [`BLOCK_SLICE_MIN`]).
const BLOCK_SLICE: Duration = Duration::from_millis(250);

/// The shortest blocking read of a claim round over several partitions.
const BLOCK_SLICE_MIN: Duration = Duration::from_millis(20);

/// The longest wait between two looks for work of dead workers.
const REDELIVERY_SCAN_MAX: Duration = Duration::from_secs(5);

/// How often a process moves due retries onto the stream (at most).
const PROMOTE_EVERY: Duration = Duration::from_millis(100);

/// How often a process looks for work of dead workers: a quarter of the redelivery
/// timeout, at most [`REDELIVERY_SCAN_MAX`].
fn redelivery_scan_period(redelivery_timeout: Duration) -> Duration {
    (redelivery_timeout / 4).min(REDELIVERY_SCAN_MAX)
}

/// Whether a periodic chore is due by its timer `next` (epoch ms; 0: at once); when it
/// is, the timer moves `period` on. Of processes' tasks racing for it, one wins.
fn due(next: &AtomicU64, period: Duration) -> bool {
    let now = now_ms();
    let at = next.load(Ordering::Relaxed);
    now >= at
        && next.compare_exchange(at, now + period.as_millis() as u64, Ordering::Relaxed, Ordering::Relaxed).is_ok()
}

impl RedisBackend {
    async fn blocking_conn(&self) -> Result<Conn, BackendError> {
        let mut slot = self.inner.blocking.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let c = self.inner.endpoint.connect_blocking().await?;
        *slot = Some(c.clone());
        Ok(c)
    }

    /// The partitions in the order this round visits them (each round starts one further).
    fn rotation(&self) -> Vec<Arc<Keys>> {
        let parts = &self.inner.parts;
        let first = self.inner.next_partition.fetch_add(1, Ordering::Relaxed);
        (0..parts.len()).map(|i| parts.keys(first.wrapping_add(i)).clone()).collect()
    }

    fn parse_job(id: &redis::streams::StreamId) -> Option<Job> {
        let raw: String = id.get("job")?;
        serde_json::from_str(&raw).map_err(|e| tracing::error!(error = %e, "dropping unreadable job")).ok()
    }

    /// Turn claimed stream entries into jobs with their records: drop unreadable entries and
    /// work whose task is gone or finished (cancelled while queued), record the rest as in flight.
    ///
    /// One round trip in the usual case: the records are read and every readable job
    /// marked in flight together; only dead entries cost a second one to clear them.
    async fn take(
        &self,
        k: &Keys,
        worker: &str,
        entries: &[redis::streams::StreamId],
        redelivered: bool,
    ) -> Result<Vec<Claimed>, BackendError> {
        let mut conn = self.conn();
        let parsed: Vec<(&str, Option<Job>)> = entries.iter().map(|e| (e.id.as_str(), Self::parse_job(e))).collect();
        let readable: Vec<(String, String)> =
            parsed.iter().filter_map(|(entry, j)| j.as_ref().map(|j| (j.task_id.clone(), entry.to_string()))).collect();
        // With each entry id, when it was claimed (`id@`), for the operator's `detail`.
        let now = now_ms().to_string();
        let in_flight: Vec<(String, String)> = readable
            .iter()
            .flat_map(|(id, entry)| [(id.clone(), entry.clone()), (format!("{id}@"), now.clone())])
            .collect();
        let raws: Vec<Option<String>> = if readable.is_empty() {
            Vec::new()
        } else {
            let keys: Vec<String> = readable.iter().map(|(id, _)| k.task(id)).collect();
            let (raws,): (Vec<Option<String>>,) = redis::pipe()
                .cmd("MGET")
                .arg(&keys)
                .hset_multiple(&k.inflight, &in_flight)
                .ignore()
                .query_async(&mut conn)
                .await
                .map_err(unavailable)?;
            raws
        };
        let mut raws = raws.into_iter();
        let mut jobs = Vec::new();
        let mut dead = Vec::new();
        let mut gone = Vec::new();
        for (entry, job) in parsed {
            let Some(mut job) = job else {
                dead.push(entry.to_string());
                continue;
            };
            let record = match raws.next().flatten() {
                Some(raw) => {
                    let record = decode::<TaskRecord>(&raw)?;
                    if record.status.is_terminal() {
                        None
                    } else {
                        // Its first change (usually the outcome) can then skip reading it.
                        self.inner.claimed.remember(&job.task_id, raw, entry.to_string());
                        Some(record)
                    }
                }
                None => None,
            };
            let Some(record) = record else {
                // Its task ended or expired while a worker that then died held it.
                dead.push(entry.to_string());
                gone.push(job.task_id);
                continue;
            };
            if redelivered {
                job.attempt += 1;
                tracing::warn!(task_id = %job.task_id, attempt = job.attempt, worker, "redelivering job whose worker stopped heartbeating");
                ferry_tasks::metrics::redelivered(1);
            }
            jobs.push(Claimed { job, record: Some(record) });
        }
        if !dead.is_empty() {
            let mut pipe = redis::pipe();
            for entry in &dead {
                pipe.cmd("XACK").arg(&k.jobs).arg(&k.group).arg(entry).ignore();
                pipe.cmd("XDEL").arg(&k.jobs).arg(entry).ignore();
            }
            if !gone.is_empty() {
                let fields: Vec<String> = gone.iter().flat_map(|id| [id.clone(), format!("{id}@")]).collect();
                pipe.hdel(&k.inflight, &fields).ignore();
            }
            pipe.query_async::<()>(&mut conn).await.map_err(unavailable)?;
        }
        Ok(jobs)
    }

    /// Claim work of dead workers (`XAUTOCLAIM`) if the timer says it is time: every
    /// [`redelivery_scan_period`] rather than every claim round, so a job is redelivered
    /// at most one period later than `redelivery_timeout`. A full batch keeps the timer
    /// due (more stale work may be waiting). `Some` when jobs were claimed.
    async fn redelivery_scan_now_and_then(
        &self,
        order: &[Arc<Keys>],
        worker: &str,
        max: usize,
    ) -> Result<Option<Vec<Claimed>>, BackendError> {
        let timeout = self.inner.config.redelivery_timeout;
        if !due(&self.inner.next_redelivery_scan_ms, redelivery_scan_period(timeout)) {
            return Ok(None);
        }
        let mut jobs = Vec::new();
        for k in order {
            if jobs.len() >= max {
                break;
            }
            jobs.extend(self.redelivery_scan(k, worker, max - jobs.len()).await?);
        }
        Ok((!jobs.is_empty()).then_some(jobs))
    }

    /// Claim up to `max` jobs of dead workers in one partition (`XAUTOCLAIM`).
    async fn redelivery_scan(&self, k: &Keys, worker: &str, max: usize) -> Result<Vec<Claimed>, BackendError> {
        let timeout = self.inner.config.redelivery_timeout;
        let mut conn = self.conn();
        let stale: redis::RedisResult<StreamAutoClaimReply> = redis::cmd("XAUTOCLAIM")
            .arg(&k.jobs)
            .arg(&k.group)
            .arg(worker)
            .arg(timeout.as_millis() as u64)
            .arg("0-0")
            .arg("COUNT")
            .arg(max)
            .query_async(&mut conn)
            .await;
        match stale {
            Ok(reply) => {
                if reply.claimed.len() >= max {
                    self.inner.next_redelivery_scan_ms.store(0, Ordering::Relaxed);
                }
                if reply.claimed.is_empty() {
                    return Ok(Vec::new());
                }
                self.take(k, worker, &reply.claimed, true).await
            }
            Err(e) => {
                // Look again next round.
                self.inner.next_redelivery_scan_ms.store(0, Ordering::Relaxed);
                if e.to_string().contains("NOGROUP") {
                    self.ensure_group().await?;
                    return Ok(Vec::new());
                }
                Err(unavailable(e))
            }
        }
    }

    /// Move due retries onto the stream (the promote script), at most every [`PROMOTE_EVERY`]
    /// rather than every claim round, in every partition: a retry waits at most that much past
    /// its backoff. A full move (100) keeps it due.
    async fn promote_now_and_then(&self, order: &[Arc<Keys>]) -> Result<(), BackendError> {
        if !due(&self.inner.next_promote_ms, PROMOTE_EVERY) {
            return Ok(());
        }
        let mut conn = self.conn();
        for k in order {
            let moved: redis::RedisResult<i64> =
                self.inner.promote.key(&k.delayed).key(&k.jobs).arg(now_ms()).invoke_async(&mut conn).await;
            match moved {
                Ok(moved) if moved < 100 => {}
                Ok(_) => self.inner.next_promote_ms.store(0, Ordering::Relaxed),
                Err(e) => {
                    self.inner.next_promote_ms.store(0, Ordering::Relaxed);
                    return Err(unavailable(e));
                }
            }
        }
        Ok(())
    }

    /// Claim up to `max` jobs, in rounds until one brings some or `wait` is over.
    pub(crate) async fn claim_until(
        &self,
        worker: &str,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Claimed>, BackendError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let jobs = self.claim_once(worker, max.max(1), deadline).await?;
            if !jobs.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(jobs);
            }
        }
    }

    /// One round of claiming: due retries, stale work, then new work. With one partition, a
    /// short blocking read. With several (one `XREADGROUP` names streams of one slot only):
    /// a read without waiting of each partition, in rotating order, each up to its share of
    /// what is left of the batch (then again of those that had more, to fill it); when none
    /// had work, a short blocking read of the first
    /// (the next round blocks on the next one), so no partition waits behind another.
    async fn claim_once(
        &self,
        worker: &str,
        max: usize,
        deadline: tokio::time::Instant,
    ) -> Result<Vec<Claimed>, BackendError> {
        self.prune_consumers_now_and_then().await;
        let order = self.rotation();
        self.promote_now_and_then(&order).await?;
        // Work of dead workers first, looked for on a timer rather than every round.
        if let Some(jobs) = self.redelivery_scan_now_and_then(&order, worker, max).await? {
            return Ok(jobs);
        }
        let n = order.len();
        if n > 1 {
            // Passes over the partitions that may have more (they gave all that was asked),
            // until the batch is full or none has more.
            let mut jobs = Vec::new();
            let mut more: Vec<&Arc<Keys>> = order.iter().collect();
            while jobs.len() < max && !more.is_empty() {
                let pass = std::mem::take(&mut more);
                let m = pass.len();
                for (i, k) in pass.into_iter().enumerate() {
                    let want = (max - jobs.len()).div_ceil(m - i);
                    if want == 0 {
                        break;
                    }
                    let got = self.read_new(k, worker, want, None).await?;
                    if got.len() == want {
                        more.push(k);
                    }
                    jobs.extend(got);
                }
            }
            if !jobs.is_empty() {
                return Ok(jobs);
            }
        }
        // Block in short slices so due retries and stale work are picked up promptly.
        let slice = if n > 1 { (BLOCK_SLICE / n as u32).max(BLOCK_SLICE_MIN) } else { BLOCK_SLICE };
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        let block_ms = remaining.min(slice).as_millis().max(1) as u64;
        self.read_new(&order[0], worker, max, Some(block_ms)).await
    }

    /// Read up to `max` new jobs of one partition (`XREADGROUP`), blocking up to `block_ms`
    /// (on the blocking connection) when given.
    async fn read_new(
        &self,
        k: &Keys,
        worker: &str,
        max: usize,
        block_ms: Option<u64>,
    ) -> Result<Vec<Claimed>, BackendError> {
        let mut read = redis::cmd("XREADGROUP");
        read.arg("GROUP").arg(&k.group).arg(worker).arg("COUNT").arg(max);
        if let Some(ms) = block_ms {
            read.arg("BLOCK").arg(ms);
        }
        read.arg("STREAMS").arg(&k.jobs).arg(">");
        let mut conn = if block_ms.is_some() { self.blocking_conn().await? } else { self.conn() };
        let reply = match read.query_async::<Option<StreamReadReply>>(&mut conn).await {
            Ok(r) => r,
            Err(e) => {
                if block_ms.is_some() {
                    *self.inner.blocking.lock().await = None;
                }
                if e.to_string().contains("NOGROUP") {
                    self.ensure_group().await?;
                    return Ok(Vec::new());
                }
                return Err(unavailable(e));
            }
        };
        match reply.as_ref().and_then(|r| r.keys.first()) {
            Some(key) => self.take(k, worker, &key.ids, false).await,
            None => Ok(Vec::new()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_period_is_a_quarter_of_the_timeout_capped() {
        assert_eq!(redelivery_scan_period(Duration::from_millis(300)), Duration::from_millis(75));
        assert_eq!(redelivery_scan_period(Duration::from_secs(8)), Duration::from_secs(2));
        assert_eq!(redelivery_scan_period(Duration::from_secs(30)), REDELIVERY_SCAN_MAX);
    }
}
