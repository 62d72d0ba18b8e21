//! The distributed setup: a front end with no local worker and two worker
//! processes sharing Redis, plus `redis-benchmark` XADD figures for comparison.

use crate::client::{bench_store_args, free_addr, wait_initialized, Client, Error, ServerProcess};
use serde_json::json;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// 10,000 tasks through a front end and two worker processes sharing Redis.
pub async fn redis_bench(url: String, tasks: usize) -> Result<(), Error> {
    let prefix = format!("ferry-bench-{}", std::process::id());
    let exe = std::env::current_exe()?;
    // One client submits them all: lift the per-client bound on unfinished tasks.
    let store = bench_store_args(&url, &prefix);
    let mut procs = Vec::new();
    for name in ["w1", "w2"] {
        let child =
            Command::new(&exe).args(["role", "worker", "--name", name]).args(store).stderr(Stdio::null()).spawn()?;
        procs.push(ServerProcess(child));
    }
    let addr = free_addr()?;
    let child = Command::new(&exe)
        .args(["role", "serve", "--addr", &addr, "--no-local-worker"])
        .args(store)
        .stderr(Stdio::null())
        .spawn()?;
    procs.push(ServerProcess(child));
    let url_http = Arc::new(format!("http://{addr}/mcp"));
    let http = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;
    wait_initialized(&http, &url_http, Duration::from_secs(20)).await?;
    let concurrency = 64;
    let per_client = tasks.div_ceil(concurrency);
    let begin = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..concurrency {
        let mut c = Client::new(&http, &url_http);
        clients.push(tokio::spawn(async move {
            c.initialize().await?;
            let mut lat = Vec::with_capacity(per_client);
            for _ in 0..per_client {
                let t = Instant::now();
                let created = c
                    .post(
                        "tools/call",
                        json!({"name": "add", "arguments": {"a": 2, "b": 3}, "task": {"ttl": 300_000}}),
                        None,
                    )
                    .await?;
                let id = created["task"]["taskId"].as_str().ok_or("no task id")?.to_string();
                let result = c.post("tasks/result", json!({"taskId": id}), None).await?;
                if result["content"][0]["text"] != "5" {
                    return Err::<Vec<Duration>, Error>(format!("unexpected result {result}").into());
                }
                lat.push(t.elapsed());
            }
            Ok(lat)
        }));
    }
    let mut lat = Vec::new();
    for c in clients {
        lat.extend(c.await??);
    }
    let elapsed = begin.elapsed();
    lat.sort_unstable();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_secs_f64() * 1e3;
    println!("Ferry bench on Redis ({url}): front end (no local worker) + 2 worker processes, 64 clients");
    println!(
        "each task: tools/call add with params.task, then tasks/result (blocks until the worker's result arrives)"
    );
    println!(
        "{} tasks in {:.2}s: {:.0} tasks/s, submit-to-result p50 {:.2} ms, p99 {:.2} ms",
        lat.len(),
        elapsed.as_secs_f64(),
        lat.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99)
    );
    drop(procs);
    // Clean up this run's keys.
    if let Ok(client) = redis_client_url(&url) {
        let _ = Command::new("redis-cli")
            .args(["-u", &client, "--scan", "--pattern", &format!("{prefix}:*")])
            .output()
            .map(|out| {
                let keys: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
                if !keys.is_empty() {
                    let _ = Command::new("redis-cli").args(["-u", &client, "DEL"]).args(&keys).output();
                }
            });
    }
    // For comparison: raw XADD throughput of the same Redis from redis-benchmark.
    let (host, port) = host_port(&url);
    match Command::new("redis-benchmark")
        .args(["-h", &host, "-p", &port, "-n", "100000", "-c", "50", "-q", "XADD", "ferry-bench-xadd", "*", "f", "v"])
        .output()
    {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            let line = text.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string();
            println!(
                "redis-benchmark XADD (100000 requests, 50 clients): {}",
                line.rsplit('\r').next().unwrap_or(&line)
            );
            let _ = Command::new("redis-cli").args(["-h", &host, "-p", &port, "DEL", "ferry-bench-xadd"]).output();
        }
        Err(e) => println!("redis-benchmark not available: {e}"),
    }
    Ok(())
}

fn redis_client_url(url: &str) -> Result<String, Error> {
    Ok(url.to_string())
}

fn host_port(url: &str) -> (String, String) {
    let rest = url.split("://").nth(1).unwrap_or(url);
    let hostport = rest.split('/').next().unwrap_or(rest);
    let hostport = hostport.rsplit('@').next().unwrap_or(hostport);
    match hostport.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.to_string()),
        None => (hostport.to_string(), "6379".to_string()),
    }
}
