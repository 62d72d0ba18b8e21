//! What an operator sees of the engine: queue, workers, throughput and every task.
//!
//! These are the engine's read-outs for people running a deployment (`ferry status`,
//! the admin API, the dashboard, the metrics gauges), not for MCP callers: nothing
//! here checks ownership, so only an admin credential may reach it.
//!
//! All types serialize as the admin API's JSON (`camelCase`).

use crate::record::TaskRecord;
use ferry_protocol::TaskStatus;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// How long a worker that stopped reporting is still listed (as lapsed), ms: an hour.
pub const WORKER_LISTED_MS: u64 = 3_600_000;

/// The engine as a whole, at one moment.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EngineStats {
    /// When this was read, epoch ms.
    pub at_ms: u64,
    /// Jobs ready to be claimed now.
    pub queued: u64,
    /// Jobs waiting for a later start (a retry's backoff, a delayed job).
    pub delayed: u64,
    /// Jobs claimed by a worker and not yet finished (Redis: pending entries).
    pub running: u64,
    /// Age of the oldest job ready to be claimed, ms (`None`: nothing waits).
    pub oldest_queued_age_ms: Option<u64>,
    /// Tasks held in the store, by status (`working`, `input_required`, `completed`,
    /// `failed`, `cancelled`); ended tasks count until their TTL lapses.
    pub tasks_by_status: BTreeMap<String, u64>,
    /// Tasks that ended in the last minute, by how they ended (`completed`, `failed`, `cancelled`).
    pub ended_last_minute: BTreeMap<String, u64>,
    /// Workers that reported themselves recently, alive or lapsed (a lapsed worker is
    /// listed until it has been silent for an hour).
    pub workers: Vec<WorkerInfo>,
}

/// One worker loop as it last reported itself (see [`Backend::worker_seen`](crate::Backend::worker_seen)).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerInfo {
    /// The worker's name (unique per process: `WorkerConfig::name`).
    pub name: String,
    /// Host it runs on.
    pub host: String,
    /// Its process id.
    pub pid: u32,
    /// Most jobs it runs at once.
    pub concurrency: u32,
    /// Ids of the tasks it runs now.
    pub running: Vec<String>,
    /// When it started, epoch ms.
    pub started_at_ms: u64,
    /// When it last reported, epoch ms.
    pub last_seen_ms: u64,
    /// How often it reports, ms; it counts as gone after three missed reports.
    pub report_every_ms: u64,
    /// Whether it reported within three of its periods (filled in by the backend when read).
    #[serde(default)]
    pub alive: bool,
}

impl WorkerInfo {
    /// Whether the worker reported within three of its periods before `now_ms`.
    pub fn is_alive_at(&self, now_ms: u64) -> bool {
        now_ms.saturating_sub(self.last_seen_ms) <= self.report_every_ms.saturating_mul(3)
    }
}

/// Which tasks an operator listing shows; every field set must match.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskFilter {
    /// Only these statuses (empty: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub status: Vec<TaskStatus>,
    /// Only tasks of this component (tool/prompt name or resource URI), exact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Only tasks of this owner, exact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Only tasks created at least this long ago, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_age_ms: Option<u64>,
    /// Only tasks created at most this long ago, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_ms: Option<u64>,
    /// Only tasks whose id, name or status message contains this text (case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<String>,
}

impl TaskFilter {
    /// Whether `record` passes the filter at `now_ms`.
    pub fn matches(&self, record: &TaskRecord, now_ms: u64) -> bool {
        let age = now_ms.saturating_sub(record.created_at);
        (self.status.is_empty() || self.status.contains(&record.status))
            && self.name.as_ref().is_none_or(|n| **n == *record.name)
            && self.owner.as_ref().is_none_or(|o| *o == record.owner)
            && self.min_age_ms.is_none_or(|m| age >= m)
            && self.max_age_ms.is_none_or(|m| age <= m)
            && self.search.as_ref().is_none_or(|s| {
                let s = s.to_lowercase();
                record.id.to_lowercase().contains(&s)
                    || record.name.to_lowercase().contains(&s)
                    || record.status_message.as_ref().is_some_and(|m| m.to_lowercase().contains(&s))
            })
    }
}

/// The statuses of a comma-separated list (`working,failed`; `input-required` is
/// taken for `input_required`), or a message naming the one that is not a status.
pub fn parse_statuses(list: &str) -> Result<Vec<TaskStatus>, String> {
    const ALL: [TaskStatus; 5] = [
        TaskStatus::Working,
        TaskStatus::InputRequired,
        TaskStatus::Completed,
        TaskStatus::Failed,
        TaskStatus::Cancelled,
    ];
    let mut out = Vec::new();
    for word in list.split(',').map(str::trim).filter(|w| !w.is_empty()) {
        let word = word.to_lowercase().replace('-', "_");
        match ALL.iter().find(|s| s.as_str() == word) {
            Some(s) if !out.contains(s) => out.push(*s),
            Some(_) => {}
            None => {
                return Err(format!(
                    "'{word}' is not a task status (working, input_required, completed, failed, cancelled)"
                ))
            }
        }
    }
    Ok(out)
}

/// Everything known about one task, for an operator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDetail {
    /// The record as stored.
    pub record: TaskRecord,
    /// The job's arguments while the job exists (until the task ends).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Value>,
    /// The run it is on (1 = first), while the job exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// The worker running it now, if claimed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
    /// When the current run was claimed, epoch ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_at_ms: Option<u64>,
    /// Do-not-start-before time of a delayed job, epoch ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before_ms: Option<u64>,
}

impl TaskDetail {
    /// The detail of `record` alone (no job, worker or timings yet).
    pub fn new(record: TaskRecord) -> Self {
        Self { record, arguments: None, attempt: None, worker: None, claimed_at_ms: None, not_before_ms: None }
    }

    /// Take the arguments, attempt and do-not-start-before time of the task's job.
    pub fn set_job(&mut self, job: &crate::Job) {
        self.arguments = Some(job.arguments.clone());
        self.attempt = Some(job.attempt);
        self.not_before_ms = job.not_before;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_matches_on_every_field_it_sets() {
        let mut rec = TaskRecord::new("subject:a", "tools/call", "slow", 1_000);
        rec.status_message = Some("Halfway There".into());
        let all = TaskFilter::default();
        assert!(all.matches(&rec, 5_000));
        let f = TaskFilter { status: vec![TaskStatus::Working], name: Some("slow".into()), ..Default::default() };
        assert!(f.matches(&rec, 5_000));
        assert!(!TaskFilter { status: vec![TaskStatus::Failed], ..Default::default() }.matches(&rec, 5_000));
        assert!(!TaskFilter { owner: Some("subject:b".into()), ..Default::default() }.matches(&rec, 5_000));
        assert!(TaskFilter { min_age_ms: Some(4_000), ..Default::default() }.matches(&rec, 5_000));
        assert!(!TaskFilter { min_age_ms: Some(4_001), ..Default::default() }.matches(&rec, 5_000));
        assert!(!TaskFilter { max_age_ms: Some(3_999), ..Default::default() }.matches(&rec, 5_000));
        assert!(TaskFilter { search: Some("halfway".into()), ..Default::default() }.matches(&rec, 5_000));
        assert!(!TaskFilter { search: Some("nowhere".into()), ..Default::default() }.matches(&rec, 5_000));
    }

    #[test]
    fn statuses_are_read_from_a_list_and_a_stranger_is_named() {
        assert_eq!(
            parse_statuses("working, Input-Required,failed,working").unwrap(),
            [TaskStatus::Working, TaskStatus::InputRequired, TaskStatus::Failed]
        );
        assert!(parse_statuses("").unwrap().is_empty());
        assert!(parse_statuses("working,done").unwrap_err().contains("'done'"));
    }

    #[test]
    fn a_worker_is_gone_after_three_missed_reports() {
        let w = WorkerInfo { last_seen_ms: 10_000, report_every_ms: 1_000, ..Default::default() };
        assert!(w.is_alive_at(13_000));
        assert!(!w.is_alive_at(13_001));
    }
}
