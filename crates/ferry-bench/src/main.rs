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

mod abuse;

use ferry_server::engine::{MemoryBackend, MemoryConfig, TaskLimits};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

type Error = Box<dyn std::error::Error + Send + Sync>;

const ACCEPT: &str = "application/json, text/event-stream";
const MODERN: &str = "2026-07-28";

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("serve") {
        let addr: SocketAddr = args.get(1).ok_or("serve needs an address")?.parse()?;
        let rt = tokio::runtime::Runtime::new()?;
        // Bench load creates far more tasks than the default bound of live tasks allows
        // within the default TTL; keep results for 10 s and allow a million live tasks.
        let limits = TaskLimits {
            max_live: 1_000_000,
            max_live_per_owner: 1_000_000,
            max_retained: 1_000_000,
            max_retained_per_owner: 1_000_000,
            ..TaskLimits::default()
        };
        let backend = MemoryBackend::new(MemoryConfig { limits, ..MemoryConfig::default() });
        let server = demo::builder()
            .backend(Arc::new(backend))
            .configure(|c| c.default_ttl_ms = 10_000)
            .build()
            .map_err(|e| e.to_string())?;
        return rt.block_on(async move { server.serve_http(addr).await.map_err(Into::into) });
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
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    if let Some(url) = flag("--redis") {
        let tasks: usize = flag("--tasks").map(|s| s.parse()).transpose()?.unwrap_or(10_000);
        let rt = tokio::runtime::Runtime::new()?;
        return rt.block_on(redis_bench(url, tasks));
    }
    let seconds: u64 = args
        .iter()
        .position(|a| a == "--seconds")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(5);
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(run(Duration::from_secs(seconds)))
}

struct ServerProcess(Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()
}

async fn run(duration: Duration) -> Result<(), Error> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new(std::env::current_exe()?).args(["serve", &addr]).stderr(Stdio::null()).spawn()?;
    let server = ServerProcess(child);
    let url = format!("http://{addr}/mcp");
    let http = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;
    // Wait for the server.
    let started = Instant::now();
    while http.post(&url).header("content-type", "application/json").body("{}").send().await.is_err() {
        if started.elapsed() > Duration::from_secs(10) {
            return Err("server did not start".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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
async fn load(
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
            let mut c = Client { http, url, session: None, next: 0 };
            if form == "A" {
                c.initialize().await?;
            }
            let mut lat = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                if form == "A" {
                    c.round_trip_a().await?;
                } else {
                    c.round_trip_b().await?;
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

struct Client {
    http: reqwest::Client,
    url: Arc<String>,
    session: Option<String>,
    next: u64,
}

impl Client {
    async fn post(&mut self, method: &str, params: Value, name: Option<&str>) -> Result<Value, Error> {
        self.next += 1;
        let body = json!({"jsonrpc": "2.0", "id": self.next, "method": method, "params": params});
        let mut req =
            self.http.post(self.url.as_str()).header("content-type", "application/json").header("accept", ACCEPT);
        if let Some(s) = &self.session {
            req = req.header("mcp-session-id", s).header("mcp-protocol-version", "2025-11-25");
        } else if method != "initialize" {
            req = req.header("mcp-protocol-version", MODERN).header("mcp-method", method);
            if let Some(n) = name {
                req = req.header("mcp-name", n);
            }
        }
        let resp = req.json(&body).send().await?;
        if let Some(s) = resp.headers().get("mcp-session-id") {
            self.session = Some(s.to_str()?.to_string());
        }
        let sse = resp.headers().get("content-type").is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        let text = resp.text().await?;
        let v: Value = if sse {
            let last = text.lines().filter_map(|l| l.strip_prefix("data: ")).next_back().ok_or("empty SSE stream")?;
            serde_json::from_str(last)?
        } else {
            serde_json::from_str(&text)?
        };
        match v.get("result") {
            Some(r) => Ok(r.clone()),
            None => Err(format!("{method} failed: {v}").into()),
        }
    }

    async fn initialize(&mut self) -> Result<(), Error> {
        self.post(
            "initialize",
            json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}),
            None,
        )
        .await?;
        Ok(())
    }

    async fn round_trip_a(&mut self) -> Result<(), Error> {
        let created = self
            .post("tools/call", json!({"name": "add", "arguments": {"a": 2, "b": 3}, "task": {"ttl": 10000}}), None)
            .await?;
        let id = created["task"]["taskId"].as_str().ok_or("no task id")?.to_string();
        self.post("tasks/get", json!({"taskId": id}), None).await?;
        let result = self.post("tasks/result", json!({"taskId": id}), None).await?;
        if result["content"][0]["text"] != "5" {
            return Err(format!("unexpected result {result}").into());
        }
        Ok(())
    }

    async fn round_trip_b(&mut self) -> Result<(), Error> {
        let meta = json!({
            "io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": {"extensions": {"io.modelcontextprotocol/tasks": {}}},
        });
        let created = self
            .post("tools/call", json!({"name": "add", "arguments": {"a": 2, "b": 3}, "_meta": meta}), Some("add"))
            .await?;
        let id = created["taskId"].as_str().ok_or("no task id")?.to_string();
        loop {
            let t = self.post("tasks/get", json!({"taskId": id, "_meta": meta}), Some(&id)).await?;
            match t["status"].as_str() {
                Some("completed") => {
                    if t["result"]["content"][0]["text"] != "5" {
                        return Err(format!("unexpected result {t}").into());
                    }
                    return Ok(());
                }
                Some("working") => tokio::task::yield_now().await,
                other => return Err(format!("unexpected status {other:?}").into()),
            }
        }
    }
}

/// 10,000 tasks through a front end and two worker processes sharing Redis.
async fn redis_bench(url: String, tasks: usize) -> Result<(), Error> {
    let prefix = format!("ferry-bench-{}", std::process::id());
    let exe = std::env::current_exe()?;
    let store = ["--redis", url.as_str(), "--prefix", prefix.as_str(), "--concurrency", "64"];
    let mut procs = Vec::new();
    for name in ["w1", "w2"] {
        let child =
            Command::new(&exe).args(["role", "worker", "--name", name]).args(store).stderr(Stdio::null()).spawn()?;
        procs.push(ServerProcess(child));
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new(&exe)
        .args(["role", "serve", "--addr", &addr, "--no-local-worker"])
        .args(store)
        .stderr(Stdio::null())
        .spawn()?;
    procs.push(ServerProcess(child));
    let url_http = Arc::new(format!("http://{addr}/mcp"));
    let http = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;
    let started = Instant::now();
    loop {
        let probe = Client { http: http.clone(), url: url_http.clone(), session: None, next: 0 }.initialize().await;
        if probe.is_ok() {
            break;
        }
        if started.elapsed() > Duration::from_secs(20) {
            return Err("server did not start".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let concurrency = 64;
    let per_client = tasks.div_ceil(concurrency);
    let begin = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..concurrency {
        let mut c = Client { http: http.clone(), url: url_http.clone(), session: None, next: 0 };
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
