//! `overhead [--seconds N] [--rounds R] [--concurrency C]`: what observability costs.
//!
//! Runs the bench server (the demo on the embedded engine) once per variant and
//! round, alternating the variants within each round (off, on, off, on, ...) so a
//! machine that gets busier or quieter during the run weighs on all of them alike,
//! and measures task round trips per second of Form A and Form B at concurrency C.
//! Prints one row per run and, per variant, the mean and its change from `off`; also
//! the server's CPU time per round trip (from `/proc`), which a machine busy with
//! other work disturbs less than throughput.
//!
//! The server is `ferry serve` over the demo (this binary's `role serve`, embedded
//! engine): `off` with `--no-metrics` and no trace export, `metrics` as it runs by default,
//! `traces` with `--no-metrics` and OTLP trace export (`OTEL_EXPORTER_OTLP_ENDPOINT`) to a
//! sink that drops what it gets (`otlp-sink`, a child process), `both` with metrics and
//! trace export; `traces10%` exports one trace in ten (`OTEL_TRACES_SAMPLER`).

use crate::client::{free_addr, wait_for, Error, ServerProcess};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Settings of the overhead run.
pub struct Options {
    /// Seconds per form per run.
    pub seconds: u64,
    /// How many times each variant runs.
    pub rounds: usize,
    /// Clients at once.
    pub concurrency: usize,
}

impl Options {
    /// From `--seconds N --rounds R --concurrency C` (defaults 5, 3, 16).
    pub fn from_args(args: &[String]) -> Result<Options, Error> {
        let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
        Ok(Options {
            seconds: flag("--seconds").map(|s| s.parse()).transpose()?.unwrap_or(5),
            rounds: flag("--rounds").map(|s| s.parse()).transpose()?.unwrap_or(3),
            concurrency: flag("--concurrency").map(|s| s.parse()).transpose()?.unwrap_or(16),
        })
    }
}

/// One server configuration.
struct Variant {
    name: &'static str,
    metrics: bool,
    traces: bool,
    /// `OTEL_TRACES_SAMPLER_ARG` of a `parentbased_traceidratio` sampler (`None`: every trace).
    sampled: Option<&'static str>,
}

const VARIANTS: &[Variant] = &[
    Variant { name: "off", metrics: false, traces: false, sampled: None },
    Variant { name: "metrics", metrics: true, traces: false, sampled: None },
    Variant { name: "traces", metrics: false, traces: true, sampled: None },
    Variant { name: "traces10%", metrics: false, traces: true, sampled: Some("0.1") },
    Variant { name: "both", metrics: true, traces: true, sampled: None },
];

/// This binary as `role serve` (`ferry serve` over the demo) on `addr`, as `variant` says.
fn spawn_ferry(addr: &str, variant: &Variant, sink: &str) -> Result<ServerProcess, Error> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args(["role", "serve", "--addr", addr, "--log-level", "warn"]);
    if !variant.metrics {
        cmd.arg("--no-metrics");
    }
    cmd.env_remove("OTEL_EXPORTER_OTLP_ENDPOINT").env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    cmd.env_remove("OTEL_TRACES_SAMPLER").env_remove("OTEL_TRACES_SAMPLER_ARG");
    if variant.traces {
        cmd.env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{sink}"));
    }
    if let Some(ratio) = variant.sampled {
        cmd.env("OTEL_TRACES_SAMPLER", "parentbased_traceidratio").env("OTEL_TRACES_SAMPLER_ARG", ratio);
    }
    Ok(ServerProcess(cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn()?))
}

/// Run the comparison and print it.
pub async fn run(options: Options) -> Result<(), Error> {
    let duration = Duration::from_secs(options.seconds);
    let http = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;
    println!(
        "Ferry overhead: demo server on the embedded engine, concurrency {}, {}s per form per run, {} rounds",
        options.concurrency, options.seconds, options.rounds
    );
    println!(
        "{:<10} {:>6} {:>12} {:>12} {:>14} {:>14}",
        "variant", "round", "A tasks/s", "B tasks/s", "A cpu us/rt", "B cpu us/rt"
    );
    // [A tasks/s, B tasks/s, A CPU us per round trip, B CPU us per round trip] of each run, per variant.
    let mut results: Vec<Vec<[f64; 4]>> = VARIANTS.iter().map(|_| Vec::new()).collect();
    let sink = free_addr()?;
    let _sink = ServerProcess(
        Command::new(std::env::current_exe()?)
            .args(["otlp-sink", &sink])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    for round in 1..=options.rounds {
        'runs: for (i, variant) in VARIANTS.iter().enumerate() {
            let addr = free_addr()?;
            let server = spawn_ferry(&addr, variant, &sink)?;
            let url = format!("http://{addr}/mcp");
            wait_for(&http, &url).await?;
            tokio::time::sleep(Duration::from_millis(300)).await;
            let mut run = [0.0; 4];
            for (k, form) in ["A", "B"].into_iter().enumerate() {
                let cpu = cpu_seconds(server.0.id());
                // A round trip can fail under overload (a finished task evicted by `ferry serve`'s
                // bound on retained tasks before its `tasks/result`): the run is left out, said so.
                let count = match crate::load(&http, &url, form, options.concurrency, duration).await {
                    Ok((count, _)) => count,
                    Err(e) => {
                        println!("{:<10} {:>6} run left out: {e}", variant.name, round);
                        continue 'runs;
                    }
                };
                let used = cpu_seconds(server.0.id()) - cpu;
                run[k] = count as f64 / duration.as_secs_f64();
                run[k + 2] = used * 1e6 / count.max(1) as f64;
            }
            if variant.metrics {
                check_recorded(&http, &addr).await?;
            }
            println!(
                "{:<10} {:>6} {:>12.0} {:>12.0} {:>14.0} {:>14.0}",
                variant.name, round, run[0], run[1], run[2], run[3]
            );
            results[i].push(run);
        }
    }
    println!();
    println!("means, and the change from `off`:");
    let mean = |runs: &[[f64; 4]], k: usize| runs.iter().map(|r| r[k]).sum::<f64>() / runs.len().max(1) as f64;
    for (variant, runs) in VARIANTS.iter().zip(&results) {
        let cells: Vec<String> = (0..4)
            .map(|k| {
                let (m, base) = (mean(runs, k), mean(&results[0], k));
                format!("{m:.0} ({:+.1}%)", (m / base - 1.0) * 100.0)
            })
            .collect();
        println!(
            "{:<10} {:>6} {:>12} {:>12} {:>14} {:>14}",
            variant.name, "mean", cells[0], cells[1], cells[2], cells[3]
        );
    }
    Ok(())
}

/// CPU time (user + system) a process used so far, in seconds (0 without `/proc`).
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0.0 };
    // Fields after the command (which is in parentheses and may hold spaces): utime is the 14th field.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // `rest` starts at field 3 (state): utime (14) and stime (15) are at 11 and 12. Clock ticks are 100 a second on Linux.
    (ticks(11) + ticks(12)) / 100.0
}

/// The server with metrics on did record the load (so `on` measured what it says).
async fn check_recorded(http: &reqwest::Client, addr: &str) -> Result<(), Error> {
    let text = http.get(format!("http://{addr}/metrics")).send().await?.text().await?;
    let recorded = text
        .lines()
        .filter(|l| l.starts_with("ferry_tasks_created_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>();
    if recorded < 1.0 {
        return Err("the server with metrics on recorded no tasks".into());
    }
    Ok(())
}
