//! How often clients are told to poll a task: the `pollInterval` (2025-11-25) /
//! `pollIntervalMs` (2026-07-28) on every task object the server sends (create
//! results, `tasks/get`, `tasks/list`, cancel results, status notifications).
//!
//! # The rule
//!
//! Under [`PollInterval::Adaptive`] (the default), a task of age `a` whose tool
//! (prompt, resource) recently took a median `m` from creation to end is given
//!
//! ```text
//! interval = clamp(fraction × max(m, a), min_ms, max_ms)
//! ```
//!
//! with `m = 0` while the tool has no history. So a client that honours the interval
//! polls about `1 / fraction` times over a run of typical length and sees the end at
//! most about `fraction` of the run time late (or `min_ms`, whichever is larger); a
//! run longer than usual is polled ever more slowly (each interval a `fraction` of
//! the task's age), up to `max_ms`. The interval changes over a task's life, as both
//! forms allow: it is worked out afresh for every answer. Defaults: `fraction` 0.2,
//! `min_ms` 10, `max_ms` 5000.
//!
//! Run times are those this process saw end (any task of the name, whoever ran it:
//! with Redis, every front end hears every outcome), the last [`SAMPLES`] per name,
//! cancelled runs left out. [`PollInterval::Fixed`] ignores them.
//!
//! The server-wide policy is [`ServerConfig::poll_interval`](crate::ServerConfig::poll_interval);
//! a tool can have its own ([`ToolDef::poll_interval`](crate::ToolDef::poll_interval),
//! `#[tool(poll_interval_ms = N)]` for a fixed one).
//!
//! Clients that listen (`notifications/tasks/status` on a 2025-11-25 session's stream,
//! `subscriptions/listen` in 2026-07-28) need not poll at all: every change is sent to them.

use crate::session::lock;
use ferry_tasks::TaskRecord;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Run times kept per name (the median is taken over these).
pub const SAMPLES: usize = 32;

/// Names with run-time history kept at most; past it the history starts over.
pub const MAX_NAMES: usize = 1024;

/// How the poll interval a task reports is chosen (see [the module](crate::pace) for the rule).
///
/// ```
/// use ferry_server::PollInterval;
/// let p = PollInterval::default();
/// assert_eq!(p.interval_ms(None, 0), 10); // new tool, new task: poll soon
/// assert_eq!(p.interval_ms(Some(2_000), 0), 400); // typically 2 s: a fifth of it
/// assert_eq!(p.interval_ms(Some(2_000), 10_000), 2_000); // running long: a fifth of its age
/// assert_eq!(PollInterval::Fixed(1_000).interval_ms(Some(2_000), 0), 1_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PollInterval {
    /// Always this many ms.
    Fixed(u64),
    /// `fraction` of the longer of the recent median run time and the task's age,
    /// within `[min_ms, max_ms]`.
    Adaptive {
        /// Share of the expected run time between two polls (0.2: about five polls a run).
        fraction: f64,
        /// Shortest interval (ms).
        min_ms: u64,
        /// Longest interval (ms).
        max_ms: u64,
    },
}

impl Default for PollInterval {
    fn default() -> Self {
        Self::Adaptive { fraction: 0.2, min_ms: 10, max_ms: 5000 }
    }
}

impl PollInterval {
    /// The interval (ms) for a task of age `age_ms` whose name's median run time is
    /// `median_ms` (`None`: no history).
    pub fn interval_ms(&self, median_ms: Option<u64>, age_ms: u64) -> u64 {
        match *self {
            Self::Fixed(ms) => ms,
            Self::Adaptive { fraction, min_ms, max_ms } => {
                let expected = median_ms.unwrap_or(0).max(age_ms) as f64;
                let fraction = if fraction.is_finite() { fraction.max(0.0) } else { 0.0 };
                // A float-to-int cast saturates; min before max keeps a bad pair usable.
                ((expected * fraction).round() as u64).min(max_ms).max(min_ms.min(max_ms))
            }
        }
    }
}

/// Recent run times per `kind` (`tools/call`, ...), then per tool / prompt name or resource
/// URI: looked up by the two strings as they are, without building a key.
#[derive(Default)]
pub(crate) struct RunTimes {
    kinds: Mutex<HashMap<String, HashMap<String, VecDeque<u64>>>>,
}

impl RunTimes {
    /// Note a task that just ended (cancelled ones are not runs).
    pub fn ended(&self, rec: &TaskRecord) {
        if !rec.status.is_terminal() || rec.outcome.is_none() {
            return;
        }
        let took = rec.updated_at.saturating_sub(rec.created_at);
        let mut kinds = lock(&self.kinds);
        let known = kinds.get(&*rec.kind).is_some_and(|names| names.contains_key(&*rec.name));
        if !known && kinds.values().map(HashMap::len).sum::<usize>() >= MAX_NAMES {
            kinds.clear(); // bounded: history is cheap to learn again
        }
        if !kinds.contains_key(&*rec.kind) {
            kinds.insert(rec.kind.to_string(), HashMap::new());
        }
        let Some(names) = kinds.get_mut(&*rec.kind) else { return };
        if !names.contains_key(&*rec.name) {
            names.insert(rec.name.to_string(), VecDeque::with_capacity(SAMPLES));
        }
        let Some(runs) = names.get_mut(&*rec.name) else { return };
        if runs.len() == SAMPLES {
            runs.pop_front();
        }
        runs.push_back(took);
    }

    /// The median of the recent run times of `kind` `name`, if it has any.
    pub fn median(&self, kind: &str, name: &str) -> Option<u64> {
        let mut runs = [0u64; SAMPLES];
        let n = {
            let kinds = lock(&self.kinds);
            let recent = kinds.get(kind)?.get(name)?;
            for (slot, took) in runs.iter_mut().zip(recent) {
                *slot = *took;
            }
            recent.len().min(SAMPLES)
        };
        let runs = &mut runs[..n];
        runs.sort_unstable();
        runs.get(n / 2).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_tasks::Outcome;

    fn ended(name: &str, took: u64) -> TaskRecord {
        let mut r = TaskRecord::new("o", "tools/call", name, 1_000);
        r.finish(Outcome::result(&serde_json::json!({}), false).unwrap());
        r.updated_at = 1_000 + took;
        r
    }

    #[test]
    fn the_median_follows_the_last_runs_and_skips_cancelled_ones() {
        let times = RunTimes::default();
        assert_eq!(times.median("tools/call", "slow"), None);
        for took in [100, 300, 200] {
            times.ended(&ended("slow", took));
        }
        let mut cancelled = TaskRecord::new("o", "tools/call", "slow", 0);
        cancelled.mark_cancelled();
        cancelled.updated_at = 1_000_000;
        times.ended(&cancelled);
        assert_eq!(times.median("tools/call", "slow"), Some(200));
        for _ in 0..SAMPLES {
            times.ended(&ended("slow", 7));
        }
        assert_eq!(times.median("tools/call", "slow"), Some(7), "older runs roll off");
        assert_eq!(times.median("prompts/get", "slow"), None, "per kind");
    }

    #[test]
    fn history_is_bounded_by_name() {
        let times = RunTimes::default();
        for i in 0..MAX_NAMES + 1 {
            times.ended(&ended(&format!("t{i}"), 1));
        }
        assert!(lock(&times.kinds).values().map(HashMap::len).sum::<usize>() <= MAX_NAMES);
    }

    #[test]
    fn the_interval_is_a_fraction_of_the_expected_run_within_bounds() {
        let p = PollInterval::Adaptive { fraction: 0.25, min_ms: 20, max_ms: 1_000 };
        assert_eq!(p.interval_ms(None, 0), 20);
        assert_eq!(p.interval_ms(Some(400), 0), 100);
        assert_eq!(p.interval_ms(Some(400), 800), 200, "grows with the age of a long run");
        assert_eq!(p.interval_ms(Some(400_000), 0), 1_000);
        let odd = PollInterval::Adaptive { fraction: f64::NAN, min_ms: 50, max_ms: 10 };
        assert_eq!(odd.interval_ms(Some(400), 0), 10, "a bad policy still gives a bounded answer");
    }
}
