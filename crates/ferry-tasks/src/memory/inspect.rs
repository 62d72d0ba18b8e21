//! The operator read-outs of the embedded engine (see [`crate::inspect`]).
//!
//! Costs: `stats` walks the task table once (bounded by the store's limits) under the
//! store's lock; `list_all` walks the submission order from its cursor until a page is
//! full; `detail` looks the job up among running, queued and delayed jobs. Nothing is
//! added to the hot path but one counter per ended task.

use super::{MemoryBackend, State};
use crate::backend::{BackendError, TaskPage};
use crate::inspect::{EngineStats, TaskDetail, TaskFilter, WORKER_LISTED_MS};
use ferry_protocol::time_fmt::now_ms;
use ferry_protocol::TaskStatus;
use std::collections::BTreeMap;
use tokio::time::Instant;

/// How many tasks ended in each of the last 60 seconds, by how they ended.
pub(super) struct EndedWindow {
    /// Slot `second % 60`: (that second, completed, failed, cancelled).
    slots: [(u64, [u64; 3]); 60],
}

impl Default for EndedWindow {
    fn default() -> Self {
        Self { slots: [(0, [0; 3]); 60] }
    }
}

impl EndedWindow {
    /// Count a task that ended as `status` at `now_ms`.
    pub(super) fn add(&mut self, status: TaskStatus, now_ms: u64) {
        let Some(i) = ended_index(status) else { return };
        let sec = now_ms / 1000;
        let slot = &mut self.slots[(sec % 60) as usize];
        if slot.0 != sec {
            *slot = (sec, [0; 3]);
        }
        slot.1[i] += 1;
    }

    /// The counts of the 60 seconds up to `now_ms`, by outcome name.
    fn last_minute(&self, now_ms: u64) -> BTreeMap<String, u64> {
        let sec = now_ms / 1000;
        let mut out: BTreeMap<String, u64> = ENDED.iter().map(|s| (s.as_str().to_string(), 0)).collect();
        for (at, counts) in &self.slots {
            if *at + 60 > sec && *at <= sec {
                for (status, n) in ENDED.iter().zip(counts) {
                    *out.entry(status.as_str().to_string()).or_default() += n;
                }
            }
        }
        out
    }
}

/// The ways a task ends, in the order [`EndedWindow`] counts them.
const ENDED: [TaskStatus; 3] = [TaskStatus::Completed, TaskStatus::Failed, TaskStatus::Cancelled];

fn ended_index(status: TaskStatus) -> Option<usize> {
    ENDED.iter().position(|s| *s == status)
}

impl MemoryBackend {
    pub(super) fn stats_now(&self) -> EngineStats {
        let now = now_ms();
        let mut st = self.state();
        st.sweep(now);
        st.workers.retain(|_, w| now.saturating_sub(w.last_seen_ms) <= WORKER_LISTED_MS);
        let mut tasks_by_status: BTreeMap<String, u64> = [TaskStatus::Working, TaskStatus::InputRequired]
            .iter()
            .chain(&ENDED)
            .map(|s| (s.as_str().to_string(), 0))
            .collect();
        for entry in st.tasks.values() {
            *tasks_by_status.entry(entry.record.status.as_str().to_string()).or_default() += 1;
        }
        let oldest = st.queue.jobs.values().filter_map(|q| q.front().map(|(at, _)| *at)).min();
        let mut workers: Vec<_> = st.workers.values().cloned().collect();
        for w in &mut workers {
            w.alive = w.is_alive_at(now);
        }
        workers.sort_by(|a, b| a.name.cmp(&b.name));
        EngineStats {
            at_ms: now,
            queued: st.queue.jobs.values().map(|q| q.len() as u64).sum(),
            delayed: st.delayed.len() as u64,
            running: st.inflight.len() as u64,
            oldest_queued_age_ms: oldest.map(|at| now.saturating_sub(at)),
            tasks_by_status,
            ended_last_minute: st.ended_recent.last_minute(now),
            workers,
        }
    }

    pub(super) fn list_all_now(
        &self,
        filter: &TaskFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<TaskPage, BackendError> {
        let start = match cursor {
            None => 0,
            Some(c) => c.parse::<u64>().map_err(|_| BackendError::InvalidCursor)?,
        };
        let now = now_ms();
        let mut st = self.state();
        st.sweep(now);
        if start > st.next_seq {
            return Err(BackendError::InvalidCursor);
        }
        let mut page = TaskPage::default();
        for (seq, id) in st.by_seq.range(start..) {
            let Some(rec) = st.live(id, now) else { continue };
            if !filter.matches(rec, now) {
                continue;
            }
            if page.tasks.len() == limit.max(1) {
                page.next_cursor = Some(seq.to_string());
                break;
            }
            page.tasks.push(crate::TaskRecord::clone(rec));
        }
        Ok(page)
    }

    pub(super) fn detail_now(&self, task_id: &str) -> Option<TaskDetail> {
        let now = now_ms();
        let st = self.state();
        let record = crate::TaskRecord::clone(st.live(task_id, now)?);
        let mut detail = TaskDetail::new(record);
        if detail.record.status.is_terminal() {
            // Its job is released (or skipped when a worker comes by): nothing runs.
        } else if let Some(f) = st.inflight.get(task_id) {
            detail.worker = Some(f.worker.clone());
            detail.claimed_at_ms = Some(f.claimed_at);
            detail.set_job(&f.job);
        } else if let Some((due, job)) = st.delayed.iter().find(|(_, j)| j.task_id == task_id) {
            detail.set_job(job);
            let wait = due.saturating_duration_since(Instant::now()).as_millis() as u64;
            detail.not_before_ms = Some(job.not_before.unwrap_or(0).max(now + wait));
        } else if let Some(job) = queued(&st, task_id) {
            detail.set_job(job);
        }
        Some(detail)
    }
}

fn queued<'a>(st: &'a State, task_id: &str) -> Option<&'a crate::Job> {
    let account = st.tasks.get(task_id)?.record.account();
    st.queue.jobs.get(account)?.iter().map(|(_, j)| j).find(|j| j.task_id == task_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_counts_the_last_sixty_seconds_only() {
        let mut w = EndedWindow::default();
        w.add(TaskStatus::Completed, 1_000);
        w.add(TaskStatus::Failed, 30_500);
        w.add(TaskStatus::Working, 30_500);
        assert_eq!(w.last_minute(31_000)["completed"], 1);
        assert_eq!(w.last_minute(31_000)["failed"], 1);
        assert_eq!(w.last_minute(61_000)["completed"], 0, "a minute later it has left the window");
        assert_eq!(w.last_minute(61_000)["failed"], 1);
        // A slot reused a minute later starts from zero.
        w.add(TaskStatus::Completed, 61_200);
        assert_eq!(w.last_minute(61_500)["completed"], 1);
    }
}
