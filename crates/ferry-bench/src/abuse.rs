//! `bench abuse`: the attacks of the hardening issue, replayed against a `ferry serve`
//! of the demo with default limits (a child process, fd limit 1024), one after the
//! other. For each: what was sent, how the server answered (refusals by code), its peak
//! RSS, and whether a well-behaved client was served meanwhile. Loopback only; every
//! loop is bounded in count and time.

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

type Error = Box<dyn std::error::Error + Send + Sync>;

const ACCEPT: &str = "application/json, text/event-stream";

/// What one attack did.
#[derive(Default)]
struct Report {
    sent: usize,
    /// Answers by kind: `ok`, `http 503`, `rpc -32029`, `io error` ...
    answers: BTreeMap<String, usize>,
    peak_rss_kib: u64,
    served: bool,
    note: String,
}

impl Report {
    fn count(&mut self, kind: impl Into<String>) {
        *self.answers.entry(kind.into()).or_default() += 1;
    }
}

/// Samples a process's RSS and keeps the peak.
struct Peak {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Peak {
    fn watch(pid: u32) -> Peak {
        let (peak, stop) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
        let (p, s) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Some(kib) = crate::rss_kib(pid) {
                    p.fetch_max(kib, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Peak { peak, stop }
    }
    fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.peak.load(Ordering::Relaxed)
    }
}

/// A minimal MCP client over HTTP: 2025-11-25 sessions or stateless 2026-07-28 requests.
#[derive(Clone)]
struct Mcp {
    http: reqwest::Client,
    url: String,
    session: Option<String>,
}

/// The address the well-behaved newcomer connects from; each attack uses its own.
const NEWCOMER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// The source address of attack number `n` (a loopback address of its own).
fn attacker(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 1, n))
}

/// A TCP connection to `addr` from `from`.
async fn connect_from(from: IpAddr, addr: &str) -> std::io::Result<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    let to: SocketAddr = addr.parse().map_err(std::io::Error::other)?;
    socket.connect(to).await
}

impl Mcp {
    fn new(url: &str, from: IpAddr) -> Mcp {
        let http =
            reqwest::Client::builder().timeout(Duration::from_secs(20)).local_address(from).build().unwrap_or_default();
        Mcp { http, url: url.into(), session: None }
    }

    /// Send a request; `Ok(result)` or `Err(kind of answer)`.
    async fn call(&self, method: &str, params: Value) -> Result<Value, String> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let mut req = self.http.post(&self.url).header("content-type", "application/json").header("accept", ACCEPT);
        if let Some(s) = &self.session {
            req = req.header("mcp-session-id", s).header("mcp-protocol-version", "2025-11-25");
        }
        let resp = req.json(&body).send().await.map_err(|_| "io error".to_string())?;
        let status = resp.status();
        let text = resp.text().await.map_err(|_| "io error".to_string())?;
        let last = text.lines().filter_map(|l| l.strip_prefix("data: ")).next_back().unwrap_or(&text);
        let v: Value = serde_json::from_str(last).unwrap_or(Value::Null);
        match (v.get("result"), v.get("error")) {
            (Some(r), _) => Ok(r.clone()),
            (_, Some(e)) => Err(format!("rpc {}", e["code"])),
            _ => Err(format!("http {}", status.as_u16())),
        }
    }

    async fn open(url: &str, from: IpAddr) -> Result<Mcp, String> {
        let mut m = Mcp::new(url, from);
        let body = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-11-25",
            "capabilities": {}, "clientInfo": {"name": "abuse", "version": "1"}}});
        let resp = m
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("accept", ACCEPT)
            .json(&body)
            .send()
            .await
            .map_err(|_| "io error".to_string())?;
        let status = resp.status().as_u16();
        let id = resp.headers().get("mcp-session-id").and_then(|v| v.to_str().ok()).map(str::to_string);
        m.session = Some(id.ok_or(format!("http {status}"))?);
        Ok(m)
    }

    /// A task of `tool`: its id, or the kind of refusal.
    async fn task(&self, tool: &str, arguments: Value) -> Result<String, String> {
        let r = self.call("tools/call", json!({"name": tool, "arguments": arguments, "task": {"ttl": 60_000}})).await?;
        r["task"]["taskId"].as_str().map(str::to_string).ok_or_else(|| "no task".into())
    }
}

/// Whether a newcomer is served: a session, a task and its result, within 10 s. Like a
/// well-behaved client it tries again a second later when told to (`503`/`429`, `-32029`).
async fn well_behaved(url: &str) -> bool {
    let attempts = async {
        loop {
            match newcomer_round(url).await {
                Ok(()) => return true,
                Err(e) if e == "http 503" || e == "http 429" || e.contains("-32029") => {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(_) => return false,
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), attempts).await.unwrap_or(false)
}

/// One try of the newcomer: a session, a task, its result.
async fn newcomer_round(url: &str) -> Result<(), String> {
    let m = Mcp::open(url, NEWCOMER).await?;
    let id = m.task("add", json!({"a": 2, "b": 3})).await?;
    let r = m.call("tasks/result", json!({"taskId": id})).await?;
    if r["content"][0]["text"] == "5" {
        Ok(())
    } else {
        Err(format!("unexpected {r}"))
    }
}

/// Run every attack (or the one named) and print a table.
pub async fn run(only: Option<String>) -> Result<(), Error> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let exe = std::env::current_exe()?;
    let child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -n 1024 && exec '{}' role serve --addr 127.0.0.1:{port}", exe.display()))
        .stderr(Stdio::null())
        .spawn()?;
    let server = crate::ServerProcess(child);
    let url = format!("http://127.0.0.1:{port}/mcp");
    let started = Instant::now();
    while Mcp::open(&url, NEWCOMER).await.is_err() {
        if started.elapsed() > Duration::from_secs(10) {
            return Err("server did not start".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pid = server.0.id();
    println!("Ferry abuse: `ferry serve` (demo, embedded engine, default limits, ulimit -n 1024) on loopback");
    println!("idle RSS {:.1} MiB", crate::rss_kib(pid).unwrap_or_default() as f64 / 1024.0);
    println!("{:<20} {:>8} {:>10} {:>8}  answers", "attack", "sent", "peak MiB", "served");
    type Attack = fn(String, IpAddr) -> futures::future::BoxFuture<'static, Report>;
    let attacks: [(&str, Attack); 8] = [
        ("short-ttl", |u, a| Box::pin(short_ttl(u, a))),
        ("big-arguments", |u, a| Box::pin(big_arguments(u, a))),
        ("task-flood", |u, a| Box::pin(task_flood(u, a))),
        ("session-flood", |u, a| Box::pin(session_flood(u, a))),
        ("slowloris", |u, a| Box::pin(slowloris(u, a))),
        ("parse-amplification", |u, a| Box::pin(parse_amplification(u, a))),
        ("slow-sse-reader", |u, a| Box::pin(slow_reader(u, a))),
        ("blocked-waiters", |u, a| Box::pin(blocked_waiters(u, a))),
    ];
    for (n, (name, attack)) in (1u8..).zip(attacks) {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let peak = Peak::watch(pid);
        let mut report = attack(url.clone(), attacker(n)).await;
        report.peak_rss_kib = peak.finish();
        let answers: Vec<String> = report.answers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        println!(
            "{:<20} {:>8} {:>10.1} {:>8}  {}{}",
            name,
            report.sent,
            report.peak_rss_kib as f64 / 1024.0,
            if report.served { "yes" } else { "NO" },
            answers.join(", "),
            if report.note.is_empty() { String::new() } else { format!("  ({})", report.note) }
        );
        // Let what the attack left (expired sessions, cancelled tasks) settle.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!("RSS at the end {:.1} MiB", crate::rss_kib(pid).unwrap_or_default() as f64 / 1024.0);
    Ok(())
}

/// A task with a TTL shorter than its run must still be there, and finish.
async fn short_ttl(url: String, from: IpAddr) -> Report {
    let mut r = Report::default();
    let Ok(m) = Mcp::open(&url, from).await else { return r };
    r.sent = 1;
    let Ok(id) = m.call("tools/call", json!({"name": "sleep", "arguments": {"ms": 3000}, "task": {"ttl": 1500}})).await
    else {
        return r;
    };
    let id = id["task"]["taskId"].as_str().unwrap_or_default().to_string();
    tokio::time::sleep(Duration::from_millis(2000)).await;
    match m.call("tasks/get", json!({"taskId": id})).await {
        Ok(t) => r.count(format!("after 2 s: {}", t["status"].as_str().unwrap_or("?"))),
        Err(e) => r.count(format!("after 2 s: {e}")),
    }
    match m.call("tasks/result", json!({"taskId": id})).await {
        Ok(v) => r.count(format!("result: {}", v["content"][0]["text"].as_str().unwrap_or("?"))),
        Err(e) => r.count(format!("result: {e}")),
    }
    r.served = well_behaved(&url).await;
    r
}

/// 234 long tasks each carrying an ignored 4 MB argument.
async fn big_arguments(url: String, from: IpAddr) -> Report {
    let mut r = Report::default();
    let Ok(m) = Mcp::open(&url, from).await else { return r };
    let junk = Arc::new("x".repeat(4 * 1000 * 1000));
    let mut handles = Vec::new();
    for _ in 0..234 {
        let (m, junk) = (m.clone(), junk.clone());
        handles.push(tokio::spawn(async move { m.task("sleep", json!({"ms": 30_000, "junk": *junk})).await }));
        r.sent += 1;
    }
    let mut ids = Vec::new();
    for h in handles {
        match h.await {
            Ok(Ok(id)) => {
                r.count("ok");
                ids.push(id);
            }
            Ok(Err(e)) => r.count(e),
            Err(_) => r.count("panic"),
        }
    }
    r.served = well_behaved(&url).await;
    for id in ids {
        let _ = m.call("tasks/cancel", json!({"taskId": id})).await;
    }
    r
}

/// One client: 10,000 instant tasks, then 1,100 long ones.
async fn task_flood(url: String, from: IpAddr) -> Report {
    let mut r = Report::default();
    let Ok(m) = Mcp::open(&url, from).await else { return r };
    let flooder = m.clone();
    flood(&mut r, 10_000, move || {
        let m = flooder.clone();
        async move { m.task("add", json!({"a": 1, "b": 1})).await.map(|_| ()) }
    })
    .await;
    let mut long = Vec::new();
    for _ in 0..1_100 {
        r.sent += 1;
        match m.task("sleep", json!({"ms": 60_000})).await {
            Ok(id) => {
                r.count("long ok");
                long.push(id);
            }
            Err(e) => r.count(format!("long {e}")),
        }
    }
    r.served = well_behaved(&url).await;
    for id in long {
        let _ = m.call("tasks/cancel", json!({"taskId": id})).await;
    }
    r
}

/// Send `count` requests made by `request` from 32 concurrent loops; count the answers.
async fn flood<F, Fut>(r: &mut Report, count: u64, request: F)
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    let next = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for _ in 0..32 {
        let (next, request) = (next.clone(), request.clone());
        handles.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < count {
                answers.push(request().await);
            }
            answers
        }));
    }
    for h in handles {
        for a in h.await.unwrap_or_default() {
            r.sent += 1;
            r.count(a.err().unwrap_or_else(|| "ok".into()));
        }
    }
}

/// 10,000 `initialize` that are never used again.
async fn session_flood(url: String, from: IpAddr) -> Report {
    let mut r = Report::default();
    let target = url.clone();
    flood(&mut r, 10_000, move || {
        let url = target.clone();
        async move { Mcp::open(&url, from).await.map(|_| ()) }
    })
    .await;
    r.served = well_behaved(&url).await;
    r
}

/// 1,100 connections that send half a request header and stall.
async fn slowloris(url: String, from: IpAddr) -> Report {
    let mut r = Report::default();
    let addr = url.trim_start_matches("http://").trim_end_matches("/mcp").to_string();
    let mut held = Vec::new();
    for _ in 0..1_100 {
        r.sent += 1;
        match tokio::time::timeout(Duration::from_secs(2), connect_from(from, &addr)).await {
            Ok(Ok(mut s)) => {
                let _ = s.write_all(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: appl").await;
                r.count("connected");
                held.push(s);
            }
            _ => r.count("connect failed"),
        }
    }
    r.served = well_behaved(&url).await;
    // How many the server has closed by now.
    let mut closed = 0;
    for s in &held {
        let mut buf = [0u8; 1];
        // End of stream or an answer (408): the server let go; WouldBlock: still held open.
        if s.try_read(&mut buf).is_ok() {
            closed += 1;
        }
    }
    r.note = format!("{closed} closed by the server when the newcomer was done");
    r
}

/// 16 bodies of almost 4 MiB of small numbers at once.
async fn parse_amplification(url: String, from: IpAddr) -> Report {
    let mut r = Report::default();
    let Ok(m) = Mcp::open(&url, from).await else { return r };
    let numbers = vec!["1"; 1_900_000].join(",");
    let body = Arc::new(format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"add","arguments":{{"a":1,"b":2,"n":[{numbers}]}}}}}}"#
    ));
    let mut handles = Vec::new();
    for _ in 0..16 {
        let (m, body) = (m.clone(), body.clone());
        handles.push(tokio::spawn(async move {
            let mut req = m.http.post(&m.url).header("content-type", "application/json").header("accept", ACCEPT);
            if let Some(s) = &m.session {
                req = req.header("mcp-session-id", s).header("mcp-protocol-version", "2025-11-25");
            }
            match req.body(body.as_str().to_string()).send().await {
                Ok(resp) => format!("http {}", resp.status().as_u16()),
                Err(_) => "io error".into(),
            }
        }));
        r.sent += 1;
    }
    for h in handles {
        r.count(h.await.unwrap_or_else(|_| "panic".into()));
    }
    r.served = well_behaved(&url).await;
    r
}

/// A client that asks for a stream of progress and never reads it, for 5 s.
async fn slow_reader(url: String, from: IpAddr) -> Report {
    let mut r = Report::default();
    let Ok(m) = Mcp::open(&url, from).await else { return r };
    let addr = url.trim_start_matches("http://").trim_end_matches("/mcp").to_string();
    let body = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "progress",
        "arguments": {"steps": 1_000_000, "delay_ms": 0}, "_meta": {"progressToken": "p"}}})
    .to_string();
    let request = format!(
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: {ACCEPT}\r\n\
         Mcp-Session-Id: {}\r\nMcp-Protocol-Version: 2025-11-25\r\nContent-Length: {}\r\n\r\n{body}",
        m.session.clone().unwrap_or_default(),
        body.len()
    );
    r.sent = 1;
    if let Ok(mut s) = connect_from(from, &addr).await {
        let _ = s.write_all(request.as_bytes()).await;
        tokio::time::sleep(Duration::from_secs(5)).await; // never read
        r.served = well_behaved(&url).await;
        drop(s);
        r.count("stalled 5 s");
    }
    r
}

/// 1,000 callers blocked in `tasks/result`, and the throughput of quick tasks meanwhile.
async fn blocked_waiters(url: String, from: IpAddr) -> Report {
    let mut r = Report::default();
    let quick = |url: String| async move {
        let Ok(m) = Mcp::open(&url, NEWCOMER).await else { return 0 };
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut n = 0;
        while Instant::now() < deadline {
            if let Ok(id) = m.task("add", json!({"a": 1, "b": 1})).await {
                if m.call("tasks/result", json!({"taskId": id})).await.is_ok() {
                    n += 1;
                }
            }
        }
        n
    };
    let before = quick(url.clone()).await;
    // One client's session creates the tasks (so it runs at most its share of them at a
    // time); its 1,000 blocked `tasks/result` calls come over 8 of its addresses, each well
    // within the per-client connection bound.
    let Ok(m) = Mcp::open(&url, from).await else { return r };
    let IpAddr::V4(base) = from else { return r };
    let waiters: Vec<Mcp> = (0..8u8)
        .map(|k| {
            let [a, b, _, _] = base.octets();
            let mut w = Mcp::new(&url, IpAddr::V4(Ipv4Addr::new(a, b, 2, k + 1)));
            w.session = m.session.clone();
            w
        })
        .collect();
    let mut waiting = Vec::new();
    for i in 0..1_000 {
        r.sent += 1;
        match m.task("sleep", json!({"ms": 20_000})).await {
            Ok(id) => {
                r.count("ok");
                let w = waiters[i % waiters.len()].clone();
                let id2 = id.clone();
                waiting.push((
                    m.clone(),
                    id,
                    tokio::spawn(async move { w.call("tasks/result", json!({"taskId": id2})).await }),
                ));
            }
            Err(e) => r.count(e),
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let during = quick(url.clone()).await;
    r.served = well_behaved(&url).await;
    for (m, id, h) in waiting {
        let _ = m.call("tasks/cancel", json!({"taskId": id})).await;
        h.abort();
    }
    r.note = format!("quick tasks in 3 s: {before} before, {during} with 1,000 blocked");
    r
}
