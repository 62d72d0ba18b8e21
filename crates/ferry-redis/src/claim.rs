//! Handing jobs to workers: due retries, work of dead workers, then new work.

use crate::{decode, unavailable, RedisBackend};
use ferry_protocol::time_fmt::now_ms;
use ferry_tasks::{BackendError, Claimed, Job, TaskRecord};
use redis::aio::MultiplexedConnection;
use redis::streams::{StreamAutoClaimReply, StreamReadReply};
use redis::AsyncConnectionConfig;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

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

    /// Turn claimed stream entries into jobs with their records: drop unreadable entries and
    /// work whose task is gone or finished (cancelled while queued), record the rest as in flight.
    ///
    /// One round trip in the usual case: the records are read and every readable job
    /// marked in flight together; only dead entries cost a second one to clear them.
    async fn take(
        &self,
        worker: &str,
        entries: &[redis::streams::StreamId],
        redelivered: bool,
    ) -> Result<Vec<Claimed>, BackendError> {
        let k = &self.inner.keys;
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
        worker: &str,
        max: usize,
    ) -> Result<Option<Vec<Claimed>>, BackendError> {
        let timeout = self.inner.config.redelivery_timeout;
        if !due(&self.inner.next_redelivery_scan_ms, redelivery_scan_period(timeout)) {
            return Ok(None);
        }
        let k = &self.inner.keys;
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
                if !reply.claimed.is_empty() {
                    return self.take(worker, &reply.claimed, true).await.map(Some);
                }
                Ok(None)
            }
            Err(e) => {
                // Look again next round.
                self.inner.next_redelivery_scan_ms.store(0, Ordering::Relaxed);
                if e.to_string().contains("NOGROUP") {
                    self.ensure_group().await?;
                    return Ok(None);
                }
                Err(unavailable(e))
            }
        }
    }

    /// Move due retries onto the stream (the promote script), at most every [`PROMOTE_EVERY`]
    /// rather than every claim round: a retry waits at most that much past its backoff. A
    /// full move (100) keeps it due.
    async fn promote_now_and_then(&self) -> Result<(), BackendError> {
        if !due(&self.inner.next_promote_ms, PROMOTE_EVERY) {
            return Ok(());
        }
        let k = &self.inner.keys;
        let moved: redis::RedisResult<i64> =
            self.inner.promote.key(&k.delayed).key(&k.jobs).arg(now_ms()).invoke_async(&mut self.conn()).await;
        match moved {
            Ok(moved) if moved < 100 => Ok(()),
            Ok(_) => {
                self.inner.next_promote_ms.store(0, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                self.inner.next_promote_ms.store(0, Ordering::Relaxed);
                Err(unavailable(e))
            }
        }
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

    /// One round of claiming: due retries, stale work, then a short blocking read.
    async fn claim_once(
        &self,
        worker: &str,
        max: usize,
        deadline: tokio::time::Instant,
    ) -> Result<Vec<Claimed>, BackendError> {
        self.prune_consumers_now_and_then().await;
        let k = &self.inner.keys;
        self.promote_now_and_then().await?;
        // Work of dead workers first, looked for on a timer rather than every round.
        if let Some(jobs) = self.redelivery_scan_now_and_then(worker, max).await? {
            return Ok(jobs);
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
