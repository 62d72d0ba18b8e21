//! The Redis side of `bench perf`: a private `redis-server` on a free port (never the
//! shared one), a front end `role serve --no-local-worker` and N `role worker`
//! processes, all pinned to one CPU set; `INFO` read with `redis-cli`.

use crate::client::{bench_store_args, free_addr, wait_initialized, Error, ServerProcess};
use crate::figures::{monitor_line, CommandStats, Origin, Row};
use crate::perf::{cpu_seconds, drive, measure, spawn_pinned, Load, Plan, Stop, KEEP_TTL_MS, LOAD_TTL_MS};
use crate::pin::CpuList;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Per task, commands seen by `MONITOR`: `(origin, command) -> calls per task`.
pub type MonitorCounts = BTreeMap<(Origin, String), f64>;

/// A private Redis with a front end and workers; all killed when dropped (Ferry first).
pub struct RedisDeployment {
    ferry: Vec<ServerProcess>,
    redis: ServerProcess,
    port: String,
    url: Arc<String>,
}

/// `redis-cli -p PORT ARGS...`'s output.
fn cli(port: &str, args: &[&str]) -> Result<String, Error> {
    let out = Command::new("redis-cli")
        .args(["-p", port])
        .args(args)
        .output()
        .map_err(|e| format!("cannot run redis-cli (install redis-tools): {e}"))?;
    if !out.status.success() {
        return Err(format!("redis-cli {args:?} failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A numeric field of an `INFO` section (`used_memory:12345`).
pub fn info_field(info: &str, name: &str) -> Option<u64> {
    info.lines().find_map(|l| l.trim().strip_prefix(name)?.strip_prefix(':')?.parse().ok())
}

impl RedisDeployment {
    /// Start Redis, `workers` workers and a front end of `exe` on `cpus`; ready to serve.
    pub async fn start(
        plan: &Plan,
        exe: &Path,
        cpus: &CpuList,
        workers: usize,
        http: &reqwest::Client,
    ) -> Result<Self, Error> {
        let port = free_addr()?.rsplit(':').next().ok_or("no port")?.to_string();
        let redis_args = ["--port", &port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"];
        let redis = spawn_pinned(Path::new(&plan.options.redis_server), &redis_args, cpus)?;
        let started = Instant::now();
        while cli(&port, &["ping"]).map(|s| s.trim() != "PONG").unwrap_or(true) {
            if started.elapsed() > Duration::from_secs(10) {
                return Err(format!("{} did not start on port {port}", plan.options.redis_server).into());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let redis_url = format!("redis://127.0.0.1:{port}");
        let store = bench_store_args(&redis_url, "ferry-perf");
        let mut ferry = Vec::new();
        for w in 1..=workers {
            let name = format!("w{w}");
            ferry.push(spawn_pinned(exe, &[&["role", "worker", "--name", &name][..], &store].concat(), cpus)?);
        }
        let addr = free_addr()?;
        ferry.push(spawn_pinned(
            exe,
            &[&["role", "serve", "--addr", &addr, "--no-local-worker"][..], &store].concat(),
            cpus,
        )?);
        let url = Arc::new(format!("http://{addr}/mcp"));
        wait_initialized(http, &url, Duration::from_secs(30)).await?;
        Ok(RedisDeployment { ferry, redis, port, url })
    }

    /// Commands Redis has run so far, per command.
    fn commandstats(&self) -> Result<CommandStats, Error> {
        Ok(CommandStats::parse(&cli(&self.port, &["info", "commandstats"])?)?)
    }

    /// Form A at `c` for `window`, with the Redis commands run meanwhile.
    pub async fn measure(
        &self,
        http: &reqwest::Client,
        build: &str,
        system: &str,
        load: Load,
        c: usize,
        window: Duration,
    ) -> Result<Row, Error> {
        let mut pids: Vec<u32> = self.ferry.iter().map(|p| p.0.id()).collect();
        // The front end is the last Ferry process; the workers come before it.
        let workers: Vec<u32> = pids[..pids.len().saturating_sub(1)].to_vec();
        let redis = [self.redis.0.id()];
        pids.push(self.redis.0.id());
        let before = self.commandstats()?;
        let (workers0, redis0) = (cpu_seconds(&workers), cpu_seconds(&redis));
        let mut r = measure(http, &self.url, &pids, (build, system), load, c, window).await?;
        let (workers1, redis1) = (cpu_seconds(&workers), cpu_seconds(&redis));
        let after = self.commandstats()?;
        r.redis_calls = Some(after.since(&before));
        r.worker_cpu_s = workers0.zip(workers1).map(|(a, b)| b - a);
        r.redis_cpu_s = redis0.zip(redis1).map(|(a, b)| b - a);
        Ok(r)
    }

    /// Growth of Redis's `used_memory` per finished task retained (`n` tasks with a long TTL).
    pub async fn memory_per_task(&self, http: &reqwest::Client, n: u64) -> Result<f64, Error> {
        let used = || -> Result<u64, Error> {
            info_field(&cli(&self.port, &["info", "memory"])?, "used_memory").ok_or("no used_memory in INFO".into())
        };
        drive(http, &self.url, Load::A, 16, Stop::Count(200), LOAD_TTL_MS).await?;
        let before = used()?;
        drive(http, &self.url, Load::A, 16, Stop::Count(n), KEEP_TTL_MS).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let after = used()?;
        Ok(after.saturating_sub(before) as f64 / n as f64)
    }
}

impl Drop for RedisDeployment {
    fn drop(&mut self) {
        self.ferry.clear(); // Ferry's processes before Redis, which the field order then drops
    }
}

/// Run `n` Form A tasks at c=16 under `MONITOR`; the commands per task by origin.
/// (`MONITOR` slows Redis down: only the counts matter here.)
pub async fn monitor_pass(d: &RedisDeployment, http: &reqwest::Client, n: u64) -> Result<MonitorCounts, Error> {
    let mut child = Command::new("redis-cli")
        .args(["-p", &d.port, "monitor"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let out = child.stdout.take().ok_or("no MONITOR output")?;
    let monitor = ServerProcess(child);
    let reader = std::thread::spawn(move || {
        let mut counts: BTreeMap<(Origin, String), u64> = BTreeMap::new();
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Some(key) = monitor_line(&line) {
                *counts.entry(key).or_default() += 1;
            }
        }
        counts
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let result = drive(http, &d.url, Load::A, 16, Stop::Count(n), LOAD_TTL_MS).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(monitor);
    let counts = reader.join().map_err(|_| "the MONITOR reader panicked")?;
    let s = result?;
    Ok(counts.into_iter().map(|(k, v)| (k, v as f64 / s.units.max(1) as f64)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_fields() {
        let info = "# Memory\r\nused_memory:1048576\r\nused_memory_human:1.00M\r\nused_memory_rss:5\r\n";
        assert_eq!(info_field(info, "used_memory"), Some(1_048_576));
        assert_eq!(info_field(info, "used_memory_rss"), Some(5));
        assert_eq!(info_field(info, "used_memory_peak"), None);
        assert_eq!(info_field("used_memory:x\n", "used_memory"), None);
    }
}
