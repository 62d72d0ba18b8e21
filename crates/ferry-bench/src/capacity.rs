//! `bench perf`'s capacity rows (issue 13, for SCALING.md): what shared 2025-11-25 sessions
//! cost a front end and Redis, and memory per live task and per open session.
//!
//! * `sessions/session/16`: a front end on Redis (no worker) opening and ending sessions
//!   (initialize, notifications/initialized, DELETE) from 16 clients: Redis commands and
//!   CPU per session's life; `embedded/session/16` is the same without a session store.
//! * `sessions/plain/64` and `sessions-refresh/plain/64`: plain calls in 64 sessions, with
//!   the default lifetimes (a refresh every 7.5 s) and with 2 s lifetimes (a refresh every
//!   500 ms). Their difference, per refresh, is what keeping a session alive costs in Redis.
//! * `memory/sessions`: growth of the front end's RSS and of Redis's `used_memory` per
//!   open (established) session, over `--sessions` of them.
//! * `memory/live`: growth per live task (the demo's `sleep`, still running or queued)
//!   of an embedded server's RSS, and of Redis's `used_memory` with no worker (queued).

use crate::client::{rss_kib, Client, Error};
use crate::figures::Row;
use crate::perf::{HttpServer, Load, Plan, Round, KEEP_TTL_MS};
use crate::perf_redis::{RedisDeployment, Setup};
use crate::report;
use std::sync::Arc;
use std::time::Duration;

/// How long the sleeping tasks of `memory/live` run: far longer than the measure.
const LIVE_MS: u64 = 600_000;
/// Clients that open sessions or start tasks for the memory rows.
const CLIENTS: u64 = 16;
/// Session lifetimes of `sessions-refresh` (seconds): a refresh every quarter, 500 ms.
const SHORT_LIFE_SECS: &str = "2";

/// Front-end options of the session rows: no per-client bound (every bench client is
/// 127.0.0.1) and room for every session the memory row opens.
fn session_bounds() -> Vec<String> {
    ["--max-sessions-per-client", "0", "--max-sessions", "1000000"].map(String::from).to_vec()
}

fn note(s: impl AsRef<str>) {
    eprintln!("[perf capacity] {}", s.as_ref());
}

/// Every capacity row `plan` asks for, for the build `exe`, into `round`.
pub async fn rows(
    plan: &Plan,
    (build, exe): (&str, &std::path::Path),
    http: &reqwest::Client,
    round: &mut Round,
) -> Result<(), Error> {
    let setup = Setup { workers: 0, cluster: None, serve_args: session_bounds() };
    if plan.wants("sessions/") {
        let d = RedisDeployment::start_with(plan, exe, &plan.server, &setup, http).await?;
        for (load, c) in [(Load::Session, 16), (Load::Plain, 64)] {
            if plan.wants(&format!("sessions/{}/{c}", load.label())) {
                let r = d.measure(http, build, "sessions", load, c, plan.window()).await?;
                note(report::progress(&r));
                round.rows.push(r);
            }
        }
    }
    if plan.wants("sessions-refresh/plain/64") {
        let mut short = setup.clone();
        for flag in ["--session-idle-secs", "--session-handshake-timeout-secs"] {
            short.serve_args.extend([flag.to_string(), SHORT_LIFE_SECS.to_string()]);
        }
        let d = RedisDeployment::start_with(plan, exe, &plan.server, &short, http).await?;
        let r = d.measure(http, build, "sessions-refresh", Load::Plain, 64, plan.window()).await?;
        note(report::progress(&r));
        round.rows.push(r);
    }
    if plan.wants("memory/sessions") {
        let d = RedisDeployment::start_with(plan, exe, &plan.server, &setup, http).await?;
        let (front, redis) = session_memory(&d, http, plan.options.sessions).await?;
        note(format!("{build} memory/sessions: front end {front:.0}, Redis {redis:.0} bytes per session"));
        round.figures.push((build.to_string(), FRONT_PER_SESSION.into(), front));
        round.figures.push((build.to_string(), REDIS_PER_SESSION.into(), redis));
    }
    if plan.wants("memory/live") {
        let embedded = embedded_live_memory(exe, plan, http).await?;
        let d = RedisDeployment::start_with(plan, exe, &plan.server, &Setup::default(), http).await?;
        let before = d.used_memory()?;
        start_sleeping(http, &d.url, plan.options.live).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let redis = d.used_memory()?.saturating_sub(before) as f64 / plan.options.live as f64;
        note(format!("{build} memory/live: embedded {embedded:.0}, Redis {redis:.0} bytes per live task"));
        round.figures.push((build.to_string(), EMBEDDED_PER_LIVE.into(), embedded));
        round.figures.push((build.to_string(), REDIS_PER_LIVE.into(), redis));
    }
    Ok(())
}

/// Figure names of the capacity rows (as the report prints them).
pub const FRONT_PER_SESSION: &str = "front-end RSS bytes per open session (Redis store)";
/// See [`FRONT_PER_SESSION`].
pub const REDIS_PER_SESSION: &str = "Redis used_memory bytes per open session";
/// See [`FRONT_PER_SESSION`].
pub const EMBEDDED_PER_LIVE: &str = "embedded RSS bytes per live task (running sleep)";
/// See [`FRONT_PER_SESSION`].
pub const REDIS_PER_LIVE: &str = "Redis used_memory bytes per live task (queued, no worker)";

/// Open `n` established sessions (kept open) from [`CLIENTS`] clients; growth per session
/// of the front end's RSS and of Redis's `used_memory`.
async fn session_memory(d: &RedisDeployment, http: &reqwest::Client, n: u64) -> Result<(f64, f64), Error> {
    let pid = d.front_end_pid().ok_or("no front end")?;
    open_sessions(http, &d.url, 200).await?; // warm up
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (rss0, used0) = (rss_kib(pid).ok_or("no RSS (no /proc)")?, d.used_memory()?);
    open_sessions(http, &d.url, n).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (rss1, used1) = (rss_kib(pid).ok_or("no RSS (no /proc)")?, d.used_memory()?);
    Ok((rss1.saturating_sub(rss0) as f64 * 1024.0 / n as f64, used1.saturating_sub(used0) as f64 / n as f64))
}

/// Split `n` over [`CLIENTS`] clients, the first ones taking the remainder.
fn share(n: u64, i: u64) -> u64 {
    n / CLIENTS + u64::from(i < n % CLIENTS)
}

/// Open `n` sessions and finish their handshakes; they stay open.
async fn open_sessions(http: &reqwest::Client, url: &Arc<String>, n: u64) -> Result<(), Error> {
    let mut clients = Vec::new();
    for i in 0..CLIENTS {
        let (http, url) = (http.clone(), url.clone());
        clients.push(tokio::spawn(async move {
            for _ in 0..share(n, i) {
                let mut c = Client::new(&http, &url);
                c.initialize().await?;
                c.initialized().await?;
            }
            Ok::<_, Error>(())
        }));
    }
    for c in clients {
        c.await??;
    }
    Ok(())
}

/// Start `n` sleeping tasks from [`CLIENTS`] sessions; they stay live.
async fn start_sleeping(http: &reqwest::Client, url: &Arc<String>, n: u64) -> Result<(), Error> {
    let mut clients = Vec::new();
    for i in 0..CLIENTS {
        let mut c = Client::new(http, url);
        clients.push(tokio::spawn(async move {
            c.initialize().await?;
            for _ in 0..share(n, i) {
                c.start_sleep(LIVE_MS, KEEP_TTL_MS).await?;
            }
            Ok::<_, Error>(())
        }));
    }
    for c in clients {
        c.await??;
    }
    Ok(())
}

/// RSS growth of a fresh embedded server per live (sleeping) task.
async fn embedded_live_memory(exe: &std::path::Path, plan: &Plan, http: &reqwest::Client) -> Result<f64, Error> {
    let HttpServer { proc, url } = HttpServer::start(exe, "serve", &plan.server, http).await?;
    start_sleeping(http, &url, 200).await?; // warm up
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rss_kib(proc.0.id()).ok_or("no RSS (no /proc)")?;
    start_sleeping(http, &url, plan.options.live).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib(proc.0.id()).ok_or("no RSS (no /proc)")?;
    Ok(after.saturating_sub(before) as f64 * 1024.0 / plan.options.live as f64)
}

/// What keeping a session alive costs, from the two plain-call rows of one build and
/// round (both with 64 sessions, so the same handshake writes): `(refreshes, Redis
/// commands per refresh, Redis CPU us per refresh)`. Refreshes are the extra `evalsha`
/// calls of the short-lived row (plain calls make no other script call); its Redis CPU
/// is taken less the default row's CPU per second (Redis's own timers), over the
/// refreshes. `None` when the short row made no extra refresh. (The front end's share is
/// one script call among ~20 requests: below this machine's noise, not reported.)
pub fn per_refresh(default: &Row, short: &Row) -> Option<(u64, f64, f64)> {
    let calls =
        |r: &Row| r.redis_calls.as_ref().map(|c| (c.get("evalsha").copied().unwrap_or(0), c.values().sum::<u64>()));
    let ((e0, all0), (e1, all1)) = (calls(default)?, calls(short)?);
    let refreshes = e1.checked_sub(e0).filter(|&n| n > 0)?;
    let commands = all1.saturating_sub(all0) as f64 / refreshes as f64;
    let baseline = default.redis_cpu_s? / default.secs.max(f64::MIN_POSITIVE) * short.secs;
    let redis = (short.redis_cpu_s? - baseline) * 1e6 / refreshes as f64;
    Some((refreshes, commands, redis))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn shares_add_up() {
        for n in [0, 1, 15, 16, 17, 10_001] {
            assert_eq!((0..CLIENTS).map(|i| share(n, i)).sum::<u64>(), n);
        }
    }

    #[test]
    fn a_refresh_costs_the_difference_between_the_rows() {
        let row = |evalsha: u64, other: u64, redis_cpu: f64, secs: f64| Row {
            secs,
            redis_calls: Some(BTreeMap::from([("evalsha".into(), evalsha), ("hgetall".into(), other)])),
            redis_cpu_s: Some(redis_cpu),
            ..Row::default()
        };
        // 1 000 more refreshes, each 1 evalsha + 5 commands inside; Redis's timers 10 ms a
        // second, so 50 ms of the short row's 5 s, and 20 ms more for the refreshes.
        let (n, commands, redis) = per_refresh(&row(64, 320, 0.04, 4.0), &row(1_064, 5_320, 0.07, 5.0)).unwrap();
        assert_eq!(n, 1_000);
        assert!((commands - 6.0).abs() < 1e-9, "{commands}");
        assert!((redis - 20.0).abs() < 1e-6, "{redis}");
        assert_eq!(per_refresh(&row(64, 0, 0.1, 5.0), &row(64, 0, 0.1, 5.0)), None, "no extra refresh");
    }
}
