//! `bench`: task round trips over Streamable HTTP against the demo server on
//! the embedded engine, at several concurrencies, plus the server's idle RSS.
//!
//! Run with `cargo run --release -p ferry-bench` (optionally `-- --seconds N`).
//! The server runs in a child process (this binary with `serve ADDR`) so its
//! memory can be read from `/proc` and the client does not share its runtime.
//!
//! With `-- --redis redis://127.0.0.1:6379 [--tasks 10000]` it measures the
//! distributed setup instead: a front end with no local worker and two worker
//! processes (this binary with `role serve|worker ...`, i.e. `ferry serve` and
//! `ferry worker`), and prints `redis-benchmark` XADD figures for comparison.
//!
//! With `-- soak --minutes M [--after-seconds S] [--every N]` it runs a mixed load
//! for M minutes and prints the server's RSS every N seconds, and for S seconds
//! after the load (see `soak.rs`).
//!
//! `-- latency [--redis URL] [--against EXE] [--samples N] [--sleeps 0,50,2000]` measures
//! how long a finished task takes to reach its caller, per client style (see `latency.rs`).
//!
//! `-- overhead [--seconds N] [--rounds R] [--concurrency C]` compares `ferry serve` with
//! metrics and trace export off and on, alternating (see `overhead.rs`).
//!
//! `-- abuse [ATTACK]` replays the hardening attacks against `ferry serve` (see `abuse.rs`).
//!
//! `-- otlp-sink [ADDR]` accepts and drops OTLP trace exports, for runs with trace export
//! on (`OTEL_EXPORTER_OTLP_ENDPOINT` set for the `role` processes; see `otlp_sink.rs`).
//! `-- perf [--server-cpus 0] [--client-cpus 1] [--secs 10] [--rounds 3] [--json]` prints
//! issue 11's figures: Ferry next to a bare hyper server (the machine's HTTP limit), both
//! engines, and the ratios the issue sets goals for (see `perf.rs`; `-- perf --help`), plus
//! issue 13's capacity figures: 1 Redis against a local Redis Cluster, what shared sessions
//! cost, memory per live task and per session (see `capacity.rs`, `cluster.rs`).

/// With the `jemalloc` feature, as `ferry` built with it.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod abuse;
mod capacity;
mod client;
mod cluster;
mod figures;
mod latency;
mod limit;
mod otlp_sink;
mod overhead;
mod perf;
mod perf_redis;
mod pin;
mod redis;
mod report;
mod soak;

use client::{free_addr, rss_kib, spawn_server, wait_for, Client, Error, ServerProcess};
use ferry_server::engine::{MemoryBackend, MemoryConfig, TaskLimits};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    if args.first().map(String::as_str) == Some("serve") {
        let addr: SocketAddr = args.get(1).ok_or("serve needs an address")?.parse()?;
        let stats = flag("--stats-every-ms").map(|s| s.parse()).transpose()?.map(Duration::from_millis);
        return serve(addr, stats);
    }
    if args.first().map(String::as_str) == Some("limit") {
        let addr: SocketAddr = args.get(1).ok_or("limit needs an address")?.parse()?;
        return limit::serve(addr);
    }
    if args.first().map(String::as_str) == Some("perf") {
        let plan = match perf::Plan::from_args(&args[1..]) {
            Ok(plan) => plan,
            Err(e) => match e.downcast::<clap::Error>() {
                Ok(help) => help.exit(), // --help, or a usage error worded by clap
                Err(e) => return Err(e),
            },
        };
        // The load client: this process and every thread its runtime starts.
        plan.client.pin_self()?;
        let rt = tokio::runtime::Runtime::new()?;
        // On SIGINT/SIGTERM drop the run, and with it the servers it started (their
        // `Drop` kills them), rather than leave them running.
        return rt.block_on(async {
            tokio::select! {
                done = perf::run(plan) => done,
                signal = perf::terminated() => Err(format!("stopped by {}", signal?).into()),
            }
        });
    }
    if args.first().map(String::as_str) == Some("role") {
        // `role serve ...` / `role worker ...`: the ferry command line over the demo.
        let cli = <ferry::Cli as clap::Parser>::parse_from(
            std::iter::once("ferry".to_string()).chain(args[1..].iter().cloned()),
        );
        let code = ferry::run_cli(demo::builder(), cli);
        return if code == std::process::ExitCode::SUCCESS { Ok(()) } else { Err("role failed".into()) };
    }
    if args.first().map(String::as_str) == Some("abuse") {
        let rt = tokio::runtime::Runtime::new()?;
        return rt.block_on(abuse::run(args.get(1).cloned()));
    }
    if args.first().map(String::as_str) == Some("otlp-sink") {
        let rt = tokio::runtime::Runtime::new()?;
        return rt.block_on(otlp_sink::run(args.get(1).cloned()));
    }
    if args.first().map(String::as_str) == Some("latency") {
        let options = latency::Options::from_args(&args[1..])?;
        let rt = tokio::runtime::Runtime::new()?;
        return rt.block_on(latency::run(options));
    }
    if args.first().map(String::as_str) == Some("overhead") {
        let options = overhead::Options::from_args(&args[1..])?;
        let rt = tokio::runtime::Runtime::new()?;
        return rt.block_on(overhead::run(options));
    }
    if args.first().map(String::as_str) == Some("soak") {
        let options = soak::Options::from_args(&args[1..])?;
        let rt = tokio::runtime::Runtime::new()?;
        return rt.block_on(soak::run(options));
    }
    if let Some(url) = flag("--redis") {
        let tasks: usize = flag("--tasks").map(|s| s.parse()).transpose()?.unwrap_or(10_000);
        let rt = tokio::runtime::Runtime::new()?;
        return rt.block_on(redis::redis_bench(url, tasks));
    }
    let seconds: u64 = flag("--seconds").map(|s| s.parse()).transpose()?.unwrap_or(5);
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(run(Duration::from_secs(seconds)))
}

/// The bench server: the demo on the embedded engine. With `stats`, prints
/// `tasks N` (records held by the engine) on stdout at that interval.
fn serve(addr: SocketAddr, stats: Option<Duration>) -> Result<(), Error> {
    let rt = tokio::runtime::Runtime::new()?;
    // Bench load creates far more tasks than the default bound of live tasks allows
    // within the default TTL; keep results for 10 s and allow a million live tasks.
    let limits = TaskLimits {
        max_live: 1_000_000,
        max_live_per_owner: 1_000_000,
        max_running_per_owner: 1_000_000,
        max_retained: 1_000_000,
        max_retained_per_owner: 1_000_000,
        ..TaskLimits::default()
    };
    let backend = MemoryBackend::new(MemoryConfig { limits, ..MemoryConfig::default() });
    if let Some(every) = stats {
        let backend = backend.clone();
        rt.spawn(async move {
            use std::io::Write;
            loop {
                tokio::time::sleep(every).await;
                let mut out = std::io::stdout().lock();
                if writeln!(out, "tasks {}", backend.held_tasks()).and_then(|_| out.flush()).is_err() {
                    return; // the bench is gone
                }
            }
        });
    }
    let server = demo::builder()
        .backend(Arc::new(backend))
        .configure(|c| {
            c.default_ttl_ms = 10_000;
            // Form B quick answers: the server's default unless `FERRY_QUICK_ANSWER_MS` says
            // otherwise (0: off), as `ferry serve --quick-answer-ms`.
            let quick = std::env::var("FERRY_QUICK_ANSWER_MS").ok().and_then(|ms| ms.parse().ok());
            if let Some(ms) = quick {
                c.quick_answer = Duration::from_millis(ms);
            }
        })
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async move { server.serve_http(addr).await.map_err(Into::into) })
}

async fn run(duration: Duration) -> Result<(), Error> {
    let addr = free_addr()?;
    let server = spawn_server(&addr, &[], false)?;
    let url = format!("http://{addr}/mcp");
    let http = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;
    wait_for(&http, &url).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle = rss_kib(server.0.id());

    println!(
        "Ferry bench: demo server on the embedded engine, Streamable HTTP on loopback, {}s per row",
        duration.as_secs()
    );
    println!("round trip A (2025-11-25): tools/call add + params.task, one tasks/get, tasks/result (blocking)");
    println!("round trip B (2026-07-28): tools/call add (task), tasks/get until completed (result inlined)");
    println!();
    println!(
        "{:<6} {:>12} {:>12} {:>10} {:>10} {:>10}",
        "form", "concurrency", "round trips", "tasks/s", "p50 ms", "p99 ms"
    );
    for form in ["A", "B"] {
        for concurrency in [1usize, 16, 64] {
            let (count, mut lat) = load(&http, &url, form, concurrency, duration).await?;
            lat.sort_unstable();
            let pct = |p: f64| lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1))).copied();
            println!(
                "{:<6} {:>12} {:>12} {:>10.0} {:>10.2} {:>10.2}",
                form,
                concurrency,
                count,
                count as f64 / duration.as_secs_f64(),
                pct(0.50).unwrap_or_default().as_secs_f64() * 1e3,
                pct(0.99).unwrap_or_default().as_secs_f64() * 1e3,
            );
        }
    }
    println!();
    match (idle, rss_kib(server.0.id())) {
        (Some(idle), Some(after)) => {
            println!(
                "server RSS: idle {:.1} MiB, after the load {:.1} MiB",
                idle as f64 / 1024.0,
                after as f64 / 1024.0
            )
        }
        _ => println!("server RSS: unavailable (no /proc)"),
    }
    Ok(())
}

/// Run round trips from `concurrency` clients for `duration`; returns the count and latencies.
pub(crate) async fn load(
    http: &reqwest::Client,
    url: &str,
    form: &str,
    concurrency: usize,
    duration: Duration,
) -> Result<(usize, Vec<Duration>), Error> {
    let deadline = Instant::now() + duration;
    let url = Arc::new(url.to_string());
    let mut clients = Vec::new();
    for _ in 0..concurrency {
        let http = http.clone();
        let url = url.clone();
        let form = form.to_string();
        clients.push(tokio::spawn(async move {
            let mut c = Client::new(&http, &url);
            if form == "A" {
                c.initialize().await?;
            }
            let mut lat = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                if form == "A" {
                    c.round_trip_a().await?;
                } else {
                    c.round_trip_b(Duration::ZERO).await?;
                }
                lat.push(t.elapsed());
            }
            Ok::<_, Error>(lat)
        }));
    }
    let mut all = Vec::new();
    for c in clients {
        all.extend(c.await??);
    }
    Ok((all.len(), all))
}
