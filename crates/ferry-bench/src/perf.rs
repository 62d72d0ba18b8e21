//! `bench perf`: issue 11's figures in one command. Each round measures, one after the
//! other so that they share the machine's noise:
//!
//! * the **limit**: a bare hyper server answering a fixed JSON-RPC body (`limit.rs`),
//!   driven by the same client as Ferry, at c=16 and c=64;
//! * Ferry on the **embedded** engine (`bench serve`): plain `tools/call` at c=1 and
//!   c=16, Form A (tools/call + task, tasks/result: 2 requests) at c=1/16/64, Form B
//!   (tools/call, tasks/get until completed) at c=16/64;
//! * Ferry on **Redis** (a private `redis-server`, a front end `--no-local-worker` and 2
//!   `worker` processes, all on the server CPUs): Form A and Form B at c=16/64, with Redis
//!   commands per task from `INFO commandstats` deltas;
//! * Redis **scale-out**: the same with 1, 2 and 4 workers on the scale CPUs (the whole
//!   machine by default), Form A at c=64;
//! * **memory** per retained finished task: a fresh embedded server's RSS growth, and
//!   Redis's `used_memory` growth, over `--retained` tasks kept with a long TTL.
//!
//! Servers run pinned to `--server-cpus`, this process (the load client) to
//! `--client-cpus`. The last round also runs `MONITOR` over 1,000 Redis tasks to list
//! the commands a task costs, split into round trips and calls inside Lua scripts.
//! With `--against EXE` the Ferry rows also run for another build of this binary
//! (e.g. the commit before a change), row after row with this one.

use crate::client::{free_addr, rss_kib, wait_for, Client, Error, ServerProcess};
use crate::figures::{percentile_ms, stat_cpu_ticks, Memory, Row};
use crate::perf_redis::{monitor_pass, RedisDeployment, Setup};
use crate::pin::CpuList;
use crate::report;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `bench perf` options.
#[derive(clap::Parser, Debug)]
#[command(name = "bench perf", about = "Issue 11's figures: Ferry next to the machine's HTTP limit")]
pub struct Options {
    /// CPUs for the servers under test (the limit, Ferry, Redis and its workers), as `taskset -c` takes them.
    #[arg(long, env = "FERRY_BENCH_SERVER_CPUS", default_value = "0")]
    pub server_cpus: String,
    /// CPUs for the load client (this process), as `taskset -c` takes them.
    #[arg(long, env = "FERRY_BENCH_CLIENT_CPUS", default_value = "1")]
    pub client_cpus: String,
    /// CPUs for the Redis scale-out rows (1, 2 and 4 workers); `all`: the whole machine.
    #[arg(long, env = "FERRY_BENCH_SCALE_CPUS", default_value = "all")]
    pub scale_cpus: String,
    /// Seconds of load per row (1..=600).
    #[arg(long, env = "FERRY_BENCH_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub secs: u64,
    /// Rounds; every row is measured once per round, rows of a round one after the other (1..=20).
    #[arg(long, env = "FERRY_BENCH_ROUNDS", default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=20))]
    pub rounds: u64,
    /// Finished tasks kept for the memory figures (100..=1000000).
    #[arg(long, env = "FERRY_BENCH_RETAINED", default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(100..=1_000_000))]
    pub retained: u64,
    /// Only the rows whose id starts with one of these (comma-separated): `limit/plain/16`,
    /// `embedded/A/64`, `redis/A/64`, `redis-2w`, `cluster-2w`, `memory/embedded`, `memory/redis`,
    /// `monitor`, and issue 13's capacity rows `sessions/session/16`, `sessions/plain/64`,
    /// `sessions-refresh/plain/64`, `memory/sessions`, `memory/live` (see `capacity.rs`).
    #[arg(long, env = "FERRY_BENCH_ONLY", value_delimiter = ',')]
    pub only: Vec<String>,
    /// Sessions kept open for the `memory/sessions` figures (100..=1000000).
    #[arg(long, env = "FERRY_BENCH_SESSIONS", default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(100..=1_000_000))]
    pub sessions: u64,
    /// Live (sleeping) tasks started for the `memory/live` figures (100..=1000000).
    #[arg(long, env = "FERRY_BENCH_LIVE", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(100..=1_000_000))]
    pub live: u64,
    /// Masters of the local Redis Cluster of the `cluster-Nw` rows (3..=16).
    #[arg(long, env = "FERRY_BENCH_CLUSTER_MASTERS", default_value_t = 3, value_parser = clap::value_parser!(u64).range(3..=16))]
    pub cluster_masters: u64,
    /// Job-queue partitions (`--partitions`) of Ferry on the cluster (1..=64).
    #[arg(long, env = "FERRY_BENCH_PARTITIONS", default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub partitions: u64,
    /// Leave out everything that needs Redis.
    #[arg(long, env = "FERRY_BENCH_NO_REDIS")]
    pub no_redis: bool,
    /// The `redis-server` to start (privately, on a free port) for the Redis rows.
    #[arg(long, env = "FERRY_BENCH_REDIS_SERVER", default_value = "redis-server")]
    pub redis_server: String,
    /// Another build of this binary whose Ferry servers are measured beside this one's.
    #[arg(long, env = "FERRY_BENCH_AGAINST")]
    pub against: Option<PathBuf>,
    /// Print the figures as JSON on stdout instead of tables (progress stays on stderr).
    #[arg(long, env = "FERRY_BENCH_JSON")]
    pub json: bool,
}

/// The settings, checked.
pub struct Plan {
    /// The options as given.
    pub options: Options,
    /// Where the servers run.
    pub server: CpuList,
    /// Where this process runs.
    pub client: CpuList,
    /// Where the scale-out rows run.
    pub scale: CpuList,
    /// `(label, executable)` of each build measured.
    pub builds: Vec<(String, PathBuf)>,
}

impl Plan {
    /// Read `bench perf` arguments (those after `perf`).
    pub fn from_args(args: &[String]) -> Result<Self, Error> {
        let options = <Options as clap::Parser>::try_parse_from(
            std::iter::once("bench perf").chain(args.iter().map(String::as_str)),
        )?;
        let server = CpuList::parse(&options.server_cpus)?;
        let client = CpuList::parse(&options.client_cpus)?;
        let scale = CpuList::parse(&options.scale_cpus)?;
        let mut builds = vec![("this".to_string(), std::env::current_exe()?)];
        if let Some(other) = &options.against {
            if !other.is_file() {
                return Err(format!("--against {}: no such file", other.display()).into());
            }
            builds.push(("against".to_string(), other.clone()));
        }
        Ok(Plan { options, server, client, scale, builds })
    }

    /// Whether the row `id` is asked for (`--only`).
    pub fn wants(&self, id: &str) -> bool {
        self.options.only.is_empty() || self.options.only.iter().any(|p| id.starts_with(p.as_str()))
    }

    /// Seconds of load per row.
    pub fn window(&self) -> Duration {
        Duration::from_secs(self.options.secs)
    }
}

/// What clients do, one unit after another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Load {
    /// A plain call without a session (the limit server).
    Bare,
    /// A plain `tools/call add` in a 2025-11-25 session.
    Plain,
    /// Form A: tools/call add + task, then tasks/result (two requests).
    A,
    /// Form B: tools/call add (a task), tasks/get back to back until completed.
    B,
    /// A 2025-11-25 session's life: initialize, notifications/initialized, DELETE.
    Session,
}

impl Load {
    /// The row id part naming the load (`plain`, `A`, `B`, `session`).
    pub fn label(self) -> &'static str {
        match self {
            Load::Bare | Load::Plain => "plain",
            Load::A => "A",
            Load::B => "B",
            Load::Session => "session",
        }
    }
}

/// When clients stop.
#[derive(Clone, Copy)]
pub enum Stop {
    /// After this long (the unit under way finishes).
    After(Duration),
    /// After this many units in all.
    Count(u64),
}

/// What a load did.
pub struct Sample {
    /// Units completed.
    pub units: u64,
    /// Requests made.
    pub requests: u64,
    /// Seconds from the start (all clients ready) until the last client stopped.
    pub secs: f64,
    /// Time of each unit, sorted.
    pub latencies: Vec<Duration>,
}

/// Task TTL of the load rows: retained tasks are gone 10 s after the row.
pub const LOAD_TTL_MS: u64 = 10_000;
/// Task TTL of the memory rows: nothing expires while memory is read.
pub const KEEP_TTL_MS: u64 = 600_000;

/// Run `load` from `concurrency` clients against `url` until `stop`.
pub async fn drive(
    http: &reqwest::Client,
    url: &Arc<String>,
    load: Load,
    concurrency: usize,
    stop: Stop,
    ttl_ms: u64,
) -> Result<Sample, Error> {
    let ready = Arc::new(tokio::sync::Barrier::new(concurrency + 1));
    let mut clients = Vec::new();
    for i in 0..concurrency {
        let mut c = Client::new(http, url);
        let ready = ready.clone();
        clients.push(tokio::spawn(async move {
            if matches!(load, Load::Plain | Load::A) {
                c.initialize().await?;
            }
            ready.wait().await;
            let (deadline, count) = match stop {
                Stop::After(d) => (Some(Instant::now() + d), u64::MAX),
                // Share the count out; the first clients take the remainder.
                Stop::Count(n) => (None, n / concurrency as u64 + u64::from((i as u64) < n % concurrency as u64)),
            };
            let (mut requests, mut lat) = (0u64, Vec::new());
            while deadline.is_none_or(|d| Instant::now() < d) && (lat.len() as u64) < count {
                let t = Instant::now();
                requests += match load {
                    Load::Bare | Load::Plain => c.plain_call().await.map(|()| 1)?,
                    Load::A => c.round_trip_a_blocking(ttl_ms).await.map(|()| 2)?,
                    Load::B => 1 + c.round_trip_b(Duration::ZERO).await?,
                    Load::Session => c.session_life().await.map(|()| 3)?,
                };
                lat.push(t.elapsed());
            }
            let _ = c.close().await;
            Ok::<_, Error>((requests, lat))
        }));
    }
    ready.wait().await;
    let begin = Instant::now();
    let (mut requests, mut latencies) = (0, Vec::new());
    for c in clients {
        let (r, l) = c.await??;
        requests += r;
        latencies.extend(l);
    }
    let secs = begin.elapsed().as_secs_f64();
    latencies.sort_unstable();
    Ok(Sample { units: latencies.len() as u64, requests, secs, latencies })
}

/// A row from a sample.
pub fn row(build: &str, system: &str, load: Load, concurrency: usize, s: &Sample) -> Row {
    Row {
        build: build.to_string(),
        system: system.to_string(),
        load: load.label().to_string(),
        concurrency,
        units: s.units,
        requests: s.requests,
        secs: s.secs,
        p50_ms: percentile_ms(&s.latencies, 0.50),
        p99_ms: percentile_ms(&s.latencies, 0.99),
        redis_calls: None,
        server_cpu_s: None,
        client_cpu_s: None,
        worker_cpu_s: None,
        redis_cpu_s: None,
    }
}

/// CPU seconds used so far by these processes (all their threads); `None` without `/proc`.
pub fn cpu_seconds(pids: &[u32]) -> Option<f64> {
    let ticks = rustix::param::clock_ticks_per_second().max(1) as f64;
    let mut sum = 0;
    for pid in pids {
        sum += stat_cpu_ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)?;
    }
    Some(sum as f64 / ticks)
}

/// A row of `load` against `url`, with the CPU the `server` processes and this client used.
#[allow(clippy::too_many_arguments)]
pub async fn measure(
    http: &reqwest::Client,
    url: &Arc<String>,
    server: &[u32],
    (build, system): (&str, &str),
    load: Load,
    concurrency: usize,
    window: Duration,
) -> Result<Row, Error> {
    let me = [std::process::id()];
    let (server0, client0) = (cpu_seconds(server), cpu_seconds(&me));
    let s = drive(http, url, load, concurrency, Stop::After(window), LOAD_TTL_MS).await?;
    let (server1, client1) = (cpu_seconds(server), cpu_seconds(&me));
    let mut r = row(build, system, load, concurrency, &s);
    r.server_cpu_s = server0.zip(server1).map(|(a, b)| b - a);
    r.client_cpu_s = client0.zip(client1).map(|(a, b)| b - a);
    Ok(r)
}

/// `exe ARGS...` pinned to `cpus`, its output discarded, killed when dropped.
pub fn spawn_pinned(exe: &std::path::Path, args: &[&str], cpus: &CpuList) -> Result<ServerProcess, Error> {
    let mut cmd = Command::new(exe);
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    cpus.pin_command(&mut cmd);
    Ok(ServerProcess(cmd.spawn().map_err(|e| format!("cannot start {}: {e}", exe.display()))?))
}

/// A server answering HTTP at `url`.
pub struct HttpServer {
    /// The server process.
    pub proc: ServerProcess,
    /// Its MCP endpoint.
    pub url: Arc<String>,
}

impl HttpServer {
    /// `exe MODE ADDR` (`limit` or `serve`), pinned, once it answers.
    pub async fn start(
        exe: &std::path::Path,
        mode: &str,
        cpus: &CpuList,
        http: &reqwest::Client,
    ) -> Result<Self, Error> {
        let addr = free_addr()?;
        let proc = spawn_pinned(exe, &[mode, &addr], cpus)?;
        let url = Arc::new(format!("http://{addr}/mcp"));
        wait_for(http, &url).await?;
        Ok(HttpServer { proc, url })
    }
}

/// One round's figures.
#[derive(Default)]
pub struct Round {
    /// Every row measured.
    pub rows: Vec<Row>,
    /// Memory per retained task, per build.
    pub memory: Vec<(String, Memory)>,
    /// Issue 13's capacity figures: `(build, name, value)` (see `capacity.rs`).
    pub figures: Vec<(String, String, f64)>,
}

/// Everything measured.
pub struct Results {
    /// Per round.
    pub rounds: Vec<Round>,
    /// `MONITOR` of the last round: per task, `(origin, command) -> calls`.
    pub monitor: Option<crate::perf_redis::MonitorCounts>,
    /// `/proc/loadavg` before and after.
    pub load_avg: (String, String),
}

fn note(s: impl AsRef<str>) {
    eprintln!("[perf {}] {}", chrono_now(), s.as_ref());
}

/// Seconds since the epoch, for progress lines (no clock crate needed).
fn chrono_now() -> String {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
    format!("{:02}:{:02}:{:02}", (t / 3600) % 24, (t / 60) % 60, t % 60)
}

/// The first SIGINT or SIGTERM; its name.
pub async fn terminated() -> Result<&'static str, Error> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    Ok(tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    })
}

/// Load average as `/proc/loadavg` gives it (first three figures).
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// Measure everything, then print the tables (or JSON).
pub async fn run(plan: Plan) -> Result<(), Error> {
    let http = reqwest::Client::builder().pool_max_idle_per_host(256).timeout(Duration::from_secs(60)).build()?;
    let this = std::env::current_exe()?;
    let before = load_average();
    note(format!(
        "server CPUs {}, client CPUs {}, scale CPUs {}, {} s per row, {} rounds, load average {before}",
        plan.server.label(),
        plan.client.label(),
        plan.scale.label(),
        plan.options.secs,
        plan.options.rounds
    ));
    if plan.server.0.iter().any(|c| plan.client.0.contains(c)) {
        note("warning: server and client CPUs overlap; the figures then measure both together");
    }
    let redis = !plan.options.no_redis;
    let mut results = Results { rounds: Vec::new(), monitor: None, load_avg: (before, String::new()) };
    for n in 1..=plan.options.rounds {
        let last = n == plan.options.rounds;
        note(format!("round {n}"));
        let mut round = Round::default();
        for (build, exe) in &plan.builds {
            let mut memory = Memory::default();
            if plan.wants("memory/embedded") {
                memory.embedded_bytes_per_task = Some(embedded_memory(exe, &plan, &http).await?);
                note(format!(
                    "{build} memory/embedded: {:.0} bytes per task",
                    memory.embedded_bytes_per_task.unwrap_or(0.0)
                ));
            }
            round.memory.push((build.clone(), memory));
        }
        // The limit and Ferry's embedded engine, row by row.
        let limit = HttpServer::start(&this, "limit", &plan.server, &http).await?;
        let mut embedded = Vec::new();
        for (build, exe) in &plan.builds {
            embedded.push((build.clone(), HttpServer::start(exe, "serve", &plan.server, &http).await?));
        }
        let http_rows: [(Load, usize); 11] = [
            (Load::Plain, 1),
            (Load::A, 1),
            (Load::Bare, 16),
            (Load::Plain, 16),
            (Load::A, 16),
            (Load::B, 16),
            (Load::Session, 16),
            (Load::Bare, 64),
            (Load::Plain, 64),
            (Load::A, 64),
            (Load::B, 64),
        ];
        for (load, c) in http_rows {
            let targets: Vec<(&str, &str, &HttpServer)> = if load == Load::Bare {
                vec![("this", "limit", &limit)]
            } else {
                embedded.iter().map(|(b, s)| (b.as_str(), "embedded", s)).collect()
            };
            for (build, system, server) in targets {
                let id = format!("{system}/{}/{c}", load.label());
                if !plan.wants(&id) {
                    continue;
                }
                let pids = [server.proc.0.id()];
                let r = measure(&http, &server.url, &pids, (build, system), load, c, plan.window()).await?;
                note(report::progress(&r));
                round.rows.push(r);
            }
        }
        drop(embedded);
        drop(limit);
        if redis {
            redis_rows(&plan, &http, &mut round, last, &mut results.monitor).await?;
            for (build, exe) in &plan.builds {
                crate::capacity::rows(&plan, (build, exe), &http, &mut round).await?;
            }
        }
        results.rounds.push(round);
    }
    results.load_avg.1 = load_average();
    if plan.options.json {
        println!("{}", serde_json::to_string_pretty(&report::json(&plan, &results))?);
    } else {
        report::print(&plan, &results);
    }
    Ok(())
}

/// The Redis rows of a round: 2 workers on the server CPUs (memory, c=16, c=64, and
/// `MONITOR` in the last round), then 1/2/4 workers on the scale CPUs at c=64.
async fn redis_rows(
    plan: &Plan,
    http: &reqwest::Client,
    round: &mut Round,
    last: bool,
    monitor: &mut Option<crate::perf_redis::MonitorCounts>,
) -> Result<(), Error> {
    for (build, exe) in &plan.builds {
        let ids = ["memory/redis", "redis/A/16", "redis/A/64", "redis/B/16", "redis/B/64", "monitor"];
        if ids.iter().any(|id| plan.wants(id)) {
            let d = RedisDeployment::start(plan, exe, &plan.server, 2, http).await?;
            if plan.wants("memory/redis") {
                let per_task = d.memory_per_task(http, plan.options.retained).await?;
                note(format!("{build} memory/redis: {per_task:.0} bytes per task"));
                if let Some((_, m)) = round.memory.iter_mut().find(|(b, _)| b == build) {
                    m.redis_bytes_per_task = Some(per_task);
                }
            }
            for (load, c) in [(Load::A, 16), (Load::A, 64), (Load::B, 16), (Load::B, 64)] {
                if plan.wants(&format!("redis/{}/{c}", load.label())) {
                    let r = d.measure(http, build, "redis", load, c, plan.window()).await?;
                    note(report::progress(&r));
                    round.rows.push(r);
                }
            }
            if last && build == "this" && plan.wants("monitor") {
                *monitor = Some(monitor_pass(&d, http, 1_000).await?);
                note("monitor: done");
            }
        }
        // 1 Redis and a local cluster alternate, worker count by worker count.
        let cluster = (plan.options.cluster_masters as usize, plan.options.partitions as usize);
        for workers in [1, 2, 4] {
            for (kind, cluster) in [("redis", None), ("cluster", Some(cluster))] {
                let system = format!("{kind}-{workers}w");
                if !plan.wants(&format!("{system}/A/64")) {
                    continue;
                }
                let setup = Setup { workers, cluster, ..Setup::default() };
                let d = RedisDeployment::start_with(plan, exe, &plan.scale, &setup, http).await?;
                let r = d.measure(http, build, &system, Load::A, 64, plan.window()).await?;
                note(report::progress(&r));
                if cluster.is_some() {
                    note(format!("{system}: commands per master {}", d.commands_per_node()?));
                }
                round.rows.push(r);
            }
        }
    }
    Ok(())
}

/// RSS growth of a fresh embedded server per finished task it retains.
async fn embedded_memory(exe: &std::path::Path, plan: &Plan, http: &reqwest::Client) -> Result<f64, Error> {
    let HttpServer { proc, url } = HttpServer::start(exe, "serve", &plan.server, http).await?;
    // Warm up (connections, sessions, the first allocations), then measure from there.
    drive(http, &url, Load::A, 16, Stop::Count(200), LOAD_TTL_MS).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle = rss_kib(proc.0.id()).ok_or("no RSS (no /proc)")?;
    let n = plan.options.retained;
    drive(http, &url, Load::A, 16, Stop::Count(n), KEEP_TTL_MS).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib(proc.0.id()).ok_or("no RSS (no /proc)")?;
    Ok(after.saturating_sub(idle) as f64 * 1024.0 / n as f64)
}
