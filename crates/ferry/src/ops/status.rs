//! `ferry status`: queue, workers, throughput and tasks of a deployment, once or like `top`.

use super::format::{human_ms, table};
use super::SourceArgs;
use crate::{Error, UsageError};
use clap::Args as ClapArgs;
use ferry_server::engine::EngineStats;
use std::io::{IsTerminal, Write};
use std::time::Duration;

/// Options of `status`.
#[derive(ClapArgs, Debug, Clone)]
pub struct StatusArgs {
    /// Which deployment.
    #[command(flatten)]
    pub source: SourceArgs,
    /// Print the read-out as one JSON document (with --watch: one per line and refresh).
    #[arg(long)]
    pub json: bool,
    /// Refresh every SECS seconds (default 2) until Ctrl-C, like `top`.
    #[arg(long, value_name = "SECS", num_args = 0..=1, default_missing_value = "2")]
    pub watch: Option<f64>,
}

/// Run `status`.
pub async fn status(args: StatusArgs) -> Result<(), Error> {
    let every = match args.watch {
        Some(s) if !(s.is_finite() && (0.1..=86_400.0).contains(&s)) => {
            return Err(UsageError(format!("--watch wants seconds from 0.1 to 86400, got {s}")).into())
        }
        Some(s) => Some(Duration::from_secs_f64(s)),
        None => None,
    };
    let source = args.source.connect().await?;
    let clear = every.is_some() && !args.json && std::io::stdout().is_terminal();
    let mut hinted = false;
    // Watching, Ctrl-C ends the command (listened for once, so it is not lost between refreshes).
    let interrupted = async {
        match every {
            Some(_) => drop(tokio::signal::ctrl_c().await),
            None => std::future::pending().await,
        }
    };
    tokio::pin!(interrupted);
    loop {
        let read = tokio::select! {
            read = source.stats() => read,
            _ = &mut interrupted => return Ok(()),
        };
        match read {
            Ok(stats) => {
                if !hinted && matches!(source, super::Source::Redis(_)) && looks_empty(&stats) {
                    hinted = true;
                    let prefix = &args.source.prefix;
                    eprintln!("ferry: nothing under prefix '{prefix}' yet: is --prefix (FERRY_PREFIX) right?");
                }
                let text =
                    if args.json { serde_json::to_string(&stats)? + "\n" } else { render(&stats, &source.describe()) };
                let mut out = std::io::stdout().lock();
                if clear {
                    out.write_all(b"\x1b[2J\x1b[H")?;
                }
                out.write_all(text.as_bytes())?;
                out.flush()?;
            }
            // Watching goes on through a passing outage, saying so.
            Err(e) if every.is_some() => eprintln!("ferry: {e} (trying again)"),
            Err(e) => return Err(e),
        }
        let Some(every) = every else { return Ok(()) };
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = &mut interrupted => return Ok(()),
        }
    }
}

/// No worker, no task, no job: a fresh deployment, or the wrong prefix.
fn looks_empty(s: &EngineStats) -> bool {
    s.workers.is_empty()
        && s.queued + s.delayed + s.running == 0
        && s.tasks_by_status.values().chain(s.ended_last_minute.values()).all(|n| *n == 0)
}

/// `N status` for each count, in the order of a task's life (others after).
fn in_order(counts: &std::collections::BTreeMap<String, u64>) -> Vec<String> {
    const LIFE: [&str; 5] = ["working", "input_required", "completed", "failed", "cancelled"];
    let rank = |k: &str| LIFE.iter().position(|s| *s == k).unwrap_or(LIFE.len());
    let mut pairs: Vec<(&String, &u64)> = counts.iter().collect();
    pairs.sort_by_key(|(k, _)| rank(k));
    pairs.into_iter().map(|(k, v)| format!("{v} {k}")).collect()
}

/// The read-out for people.
pub fn render(s: &EngineStats, from: &str) -> String {
    let mut out = format!("Ferry status of {from}\n\n");
    let oldest = s.oldest_queued_age_ms.map(|a| format!(", oldest waiting {}", human_ms(a))).unwrap_or_default();
    out += &format!("Queue     {} waiting{oldest}; {} delayed; {} running\n", s.queued, s.delayed, s.running);
    let ended: u64 = s.ended_last_minute.values().sum();
    let by = in_order(&s.ended_last_minute);
    out += &format!("Last min  {ended} ended ({:.2}/s): {}\n", ended as f64 / 60.0, by.join(", "));
    let tasks = in_order(&s.tasks_by_status);
    out += &format!("Tasks     {}\n", if tasks.is_empty() { "none".into() } else { tasks.join(", ") });
    let alive = s.workers.iter().filter(|w| w.alive).count();
    out += &format!("\nWorkers   {} alive, {} lapsed\n", alive, s.workers.len() - alive);
    if !s.workers.is_empty() {
        let rows: Vec<Vec<String>> = s
            .workers
            .iter()
            .map(|w| {
                vec![
                    w.name.clone(),
                    format!("{}/{}", w.host, w.pid),
                    if w.alive { "alive".into() } else { "LAPSED".into() },
                    format!("{} ago", human_ms(s.at_ms.saturating_sub(w.last_seen_ms))),
                    format!("{}/{}", w.running.len(), w.concurrency),
                    human_ms(s.at_ms.saturating_sub(w.started_at_ms)),
                ]
            })
            .collect();
        out += &table(&["NAME", "HOST/PID", "STATE", "LAST REPORT", "LOAD", "UP"], &rows, 48);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_server::engine::WorkerInfo;
    use std::collections::BTreeMap;

    #[test]
    fn the_read_out_names_every_number() {
        let stats = EngineStats {
            at_ms: 100_000,
            queued: 3,
            delayed: 1,
            running: 2,
            oldest_queued_age_ms: Some(12_300),
            tasks_by_status: BTreeMap::from([("working".into(), 5), ("failed".into(), 1)]),
            ended_last_minute: BTreeMap::from([("completed".into(), 60), ("failed".into(), 0)]),
            workers: vec![WorkerInfo {
                name: "w-1".into(),
                host: "box".into(),
                pid: 7,
                concurrency: 8,
                running: vec!["a".into(), "b".into()],
                started_at_ms: 40_000,
                last_seen_ms: 99_600,
                report_every_ms: 1000,
                alive: true,
            }],
        };
        let text = render(&stats, "here");
        let parts =
            ["3 waiting, oldest waiting 12.3s", "1 delayed", "2 running", "60 ended (1.00/s)", "5 working, 1 failed"];
        for part in parts {
            assert!(text.contains(part), "{part} in\n{text}");
        }
        assert!(text.contains("w-1   box/7     alive  400ms ago    2/8   1m00s"), "{text}");
    }
}
