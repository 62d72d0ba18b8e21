//! `latency`: how long a task's result takes to reach its caller, at concurrency 1,
//! for the client styles of issue 15, per form and engine.
//!
//! Each sample runs the demo's `sleep(ms)` tool (or `add`, which touches no timer) and measures submit-to-result; the
//! table shows that time minus `ms` (the work itself), so what remains is what the
//! task machinery adds between the work ending and the caller holding the result:
//!
//! * `plain`: a plain `tools/call` (no task), the reference;
//! * `blocking`: Form A only: create the task, then `tasks/result` (blocks until the end);
//! * `polling`: create, then `tasks/get` after each advertised `pollInterval` /
//!   `pollIntervalMs` (read afresh from every answer) until terminal; Form A then
//!   fetches the result with `tasks/result`;
//! * `listening`: Form A: create, wait for the terminal `notifications/tasks/status`
//!   on the session's `GET` stream, then `tasks/result`; Form B: create, then
//!   `subscriptions/listen` for the task until the terminal `notifications/tasks`
//!   (the result inlined).
//!
//! With `--against EXE` (another build of this binary, e.g. the commit before a change)
//! both builds serve side by side and every sample alternates between them, so the
//! two columns share the machine's noise. Only the server side comes from `EXE`; the
//! measuring client is always this binary.

use crate::client::{free_addr, wait_for, wait_initialized, Client, Error, ServerProcess, MODERN};
use futures::stream::BoxStream;
use futures::StreamExt;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What to measure.
pub struct Options {
    /// Also measure the distributed setup on this Redis (front end without a worker, one worker process).
    pub redis: Option<String>,
    /// Another build of this binary to serve beside this one, sample for sample.
    pub against: Option<PathBuf>,
    /// Samples per row for `sleep(0)` (fewer for the longer sleeps).
    pub samples: usize,
    /// The sleeps, in ms; `None` is the `add` tool (no timer at all).
    pub sleeps: Vec<Option<u64>>,
}

impl Options {
    /// Read `--redis URL`, `--against EXE`, `--samples N`, `--sleeps add,0,50,2000`.
    pub fn from_args(args: &[String]) -> Result<Self, Error> {
        let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
        let sleeps = match flag("--sleeps") {
            Some(s) => s
                .split(',')
                .map(|x| if x.trim() == "add" { Ok(None) } else { x.trim().parse::<u64>().map(Some) })
                .collect::<Result<Vec<_>, _>>()?,
            None => vec![None, Some(0), Some(50), Some(2000)],
        };
        Ok(Self {
            redis: flag("--redis"),
            against: flag("--against").map(PathBuf::from),
            samples: flag("--samples").map(|s| s.parse()).transpose()?.unwrap_or(30),
            sleeps,
        })
    }

    /// Samples of one row: fewer as the sleep grows, at least 3.
    fn samples_for(&self, ms: u64) -> usize {
        match ms {
            0..=9 => self.samples.max(1),
            10..=499 => (self.samples / 3).max(3),
            _ => (self.samples / 10).max(3),
        }
    }
}

/// The client styles.
const STYLES: [&str; 4] = ["plain", "blocking", "polling", "listening"];

/// One server build serving one engine.
struct Deployment {
    _procs: Vec<ServerProcess>,
    url: Arc<String>,
    prefix: Option<String>,
}

fn spawn(exe: &PathBuf, args: &[&str]) -> Result<ServerProcess, Error> {
    let child = Command::new(exe).args(args).stdout(Stdio::null()).stderr(Stdio::null()).spawn()?;
    Ok(ServerProcess(child))
}

impl Deployment {
    /// `exe serve ADDR`: the demo on the embedded engine.
    async fn memory(exe: &PathBuf, http: &reqwest::Client) -> Result<Self, Error> {
        let addr = free_addr()?;
        let procs = vec![spawn(exe, &["serve", &addr])?];
        let url = Arc::new(format!("http://{addr}/mcp"));
        wait_for(http, &url).await?;
        Ok(Self { _procs: procs, url, prefix: None })
    }

    /// A front end without a worker and one worker process (`exe role serve|worker`).
    async fn redis(exe: &PathBuf, http: &reqwest::Client, redis: &str, n: usize) -> Result<Self, Error> {
        let prefix = format!("ferry-latency-{}-{n}", std::process::id());
        let store = ["--redis", redis, "--prefix", prefix.as_str()];
        let addr = free_addr()?;
        let mut procs = vec![spawn(exe, &[&["role", "worker", "--name", "w1"][..], &store].concat())?];
        procs.push(spawn(exe, &[&["role", "serve", "--addr", &addr, "--no-local-worker"][..], &store].concat())?);
        let url = Arc::new(format!("http://{addr}/mcp"));
        wait_initialized(http, &url, Duration::from_secs(20)).await?;
        Ok(Self { _procs: procs, url, prefix: Some(prefix) })
    }
}

/// Measure and print the table.
pub async fn run(options: Options) -> Result<(), Error> {
    let http = reqwest::Client::builder().pool_max_idle_per_host(16).build()?;
    let this = std::env::current_exe()?;
    let mut builds = vec![("this", this)];
    if let Some(other) = &options.against {
        builds.push(("against", other.clone()));
    }
    let mut engines = vec!["memory"];
    if options.redis.is_some() {
        engines.push("redis");
    }
    println!("Ferry latency: demo `sleep(ms)` at concurrency 1, Streamable HTTP on loopback");
    println!("figures: submit-to-result minus ms (median / p90, in ms), per client style");
    println!("builds: {}", builds.iter().map(|(l, p)| format!("{l} = {}", p.display())).collect::<Vec<_>>().join(", "));
    println!();
    print!("{:<7} {:<5} {:>6} {:<10}", "engine", "form", "ms", "style");
    for (label, _) in &builds {
        print!(" {:>20}", format!("{label} p50 / p90"));
    }
    println!("  polls per sample");
    let mut n = 0;
    for engine in engines {
        let mut deployments = Vec::new();
        for (_, exe) in &builds {
            n += 1;
            deployments.push(match (engine, &options.redis) {
                ("redis", Some(url)) => Deployment::redis(exe, &http, url, n).await?,
                _ => Deployment::memory(exe, &http).await?,
            });
        }
        for form in ["A", "B"] {
            let mut callers = Vec::new();
            for d in &deployments {
                callers.push(Caller::new(&http, &d.url, form).await?);
            }
            for &work in &options.sleeps {
                let ms = work.unwrap_or(0);
                for style in STYLES {
                    if form == "B" && style == "blocking" {
                        continue; // no blocking method in the 2026-07-28 form
                    }
                    let mut rows: Vec<Vec<Duration>> = vec![Vec::new(); callers.len()];
                    let mut polls = vec![0; callers.len()];
                    for _ in 0..options.samples_for(ms) {
                        for (i, caller) in callers.iter_mut().enumerate() {
                            let started = Instant::now();
                            polls[i] += caller.sample(style, work).await?;
                            rows[i].push(started.elapsed().saturating_sub(Duration::from_millis(ms)));
                        }
                    }
                    let what = work.map_or("add".to_string(), |ms| ms.to_string());
                    print!("{engine:<7} {form:<5} {what:>6} {style:<10}");
                    for row in &mut rows {
                        row.sort_unstable();
                        let pct =
                            |p: f64| row[((row.len() as f64 * p) as usize).min(row.len() - 1)].as_secs_f64() * 1e3;
                        print!(" {:>20}", format!("{:.2} / {:.2}", pct(0.5), pct(0.9)));
                    }
                    let per_sample: Vec<String> =
                        polls.iter().map(|p| format!("{:.1}", *p as f64 / options.samples_for(ms) as f64)).collect();
                    println!("  {}", if style == "polling" { per_sample.join(" / ") } else { String::new() });
                }
            }
        }
        for d in &deployments {
            if let (Some(prefix), Some(url)) = (&d.prefix, &options.redis) {
                purge(url, prefix);
            }
        }
    }
    Ok(())
}

/// Delete a Redis deployment's keys (best effort, with `redis-cli`).
fn purge(url: &str, prefix: &str) {
    let Ok(out) = Command::new("redis-cli").args(["-u", url, "--scan", "--pattern", &format!("{prefix}:*")]).output()
    else {
        return;
    };
    let keys: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
    for chunk in keys.chunks(500) {
        let _ = Command::new("redis-cli").args(["-u", url, "DEL"]).args(chunk).output();
    }
}

/// The JSON-RPC messages of an SSE response, as they arrive.
struct Events {
    body: BoxStream<'static, Result<Vec<u8>, reqwest::Error>>,
    buf: Vec<u8>,
}

impl Events {
    fn new(resp: reqwest::Response) -> Self {
        Self { body: resp.bytes_stream().map(|r| r.map(|b| b.to_vec())).boxed(), buf: Vec::new() }
    }

    /// The next message (`None`: the stream ended).
    async fn next(&mut self) -> Result<Option<Value>, Error> {
        loop {
            if let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=end).collect();
                // Priming events carry empty data.
                match line.strip_prefix(b"data:") {
                    Some(data) if !data.trim_ascii().is_empty() => return Ok(Some(serde_json::from_slice(data)?)),
                    _ => {}
                }
                continue;
            }
            match self.body.next().await {
                Some(chunk) => self.buf.extend_from_slice(&chunk?),
                None => return Ok(None),
            }
        }
    }
}

/// A caller of one deployment in one form.
struct Caller {
    client: Client,
    form: &'static str,
    /// Form A: the session's standalone stream, for `notifications/tasks/status`.
    standalone: Option<Events>,
}

fn terminal(status: &str) -> bool {
    matches!(status, "completed" | "failed" | "cancelled")
}

/// `_meta` of a 2026-07-28 request; `tasks` declares the tasks extension.
fn modern_meta(tasks: bool) -> Value {
    let extensions = if tasks { json!({"io.modelcontextprotocol/tasks": {}}) } else { json!({}) };
    json!({
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {"extensions": extensions},
    })
}

/// The tool call of a sample: `sleep(ms)`, or `add(2, 3)` for `None`.
fn work(ms: Option<u64>) -> (&'static str, Value) {
    match ms {
        Some(ms) => ("sleep", json!({ "ms": ms })),
        None => ("add", json!({"a": 2, "b": 3})),
    }
}

fn check(result: &Value, ms: Option<u64>) -> Result<(), Error> {
    let expected = ms.map_or("5".to_string(), |ms| format!("slept {ms}"));
    if result["content"][0]["text"] != expected.as_str() {
        return Err(format!("unexpected result {result}").into());
    }
    Ok(())
}

impl Caller {
    async fn new(http: &reqwest::Client, url: &Arc<String>, form: &str) -> Result<Self, Error> {
        let mut client = Client::new(http, url);
        if form == "A" {
            client.initialize().await?;
            let standalone = Some(Events::new(client.standalone().await?));
            return Ok(Self { client, form: "A", standalone });
        }
        Ok(Self { client, form: "B", standalone: None })
    }

    /// One sample of `style`; returns how many `tasks/get` polls it made.
    async fn sample(&mut self, style: &str, ms: Option<u64>) -> Result<usize, Error> {
        let a = self.form == "A";
        let (tool, args) = work(ms);
        if style == "plain" {
            let params = if a {
                json!({"name": tool, "arguments": args})
            } else {
                json!({"name": tool, "arguments": args, "_meta": modern_meta(false)})
            };
            check(&self.client.post("tools/call", params, Some(tool)).await?, ms)?;
            return Ok(0);
        }
        let meta = modern_meta(true);
        let created = if a {
            let params = json!({"name": tool, "arguments": args, "task": {"ttl": 60_000}});
            self.client.post("tools/call", params, None).await?["task"].clone()
        } else {
            let params = json!({"name": tool, "arguments": args, "_meta": meta});
            self.client.post("tools/call", params, Some(tool)).await?
        };
        let id = created["taskId"].as_str().ok_or("no task id")?.to_string();
        let mut polls = 0;
        let finished = match style {
            "blocking" => None,
            "polling" => {
                let mut task = created;
                loop {
                    let every = task.get(if a { "pollInterval" } else { "pollIntervalMs" }).and_then(Value::as_u64);
                    tokio::time::sleep(Duration::from_millis(every.unwrap_or(1000))).await;
                    let params = if a { json!({"taskId": id}) } else { json!({"taskId": id, "_meta": meta}) };
                    task = self.client.post("tasks/get", params, Some(&id)).await?;
                    polls += 1;
                    if terminal(task["status"].as_str().unwrap_or_default()) {
                        break Some(task);
                    }
                }
            }
            "listening" if a => {
                let stream = self.standalone.as_mut().ok_or("no standalone stream")?;
                loop {
                    let msg = stream.next().await?.ok_or("the standalone stream ended")?;
                    let p = &msg["params"];
                    if msg["method"] == "notifications/tasks/status"
                        && p["taskId"] == id.as_str()
                        && terminal(p["status"].as_str().unwrap_or_default())
                    {
                        break None;
                    }
                }
            }
            "listening" => {
                let params = json!({"notifications": {"taskIds": [id]}, "_meta": meta});
                let mut stream = Events::new(self.client.send("subscriptions/listen", params, None).await?);
                loop {
                    let msg = stream.next().await?.ok_or("the listen stream ended early")?;
                    let p = &msg["params"];
                    if msg["method"] == "notifications/tasks" && terminal(p["status"].as_str().unwrap_or_default()) {
                        break Some(p.clone());
                    }
                }
            }
            other => return Err(format!("unknown style {other}").into()),
        };
        let result = match finished {
            Some(task) if !a => task["result"].clone(),
            _ => self.client.post("tasks/result", json!({"taskId": id}), None).await?,
        };
        check(&result, ms)?;
        Ok(polls)
    }
}
