//! `bench soak --minutes M [--after-seconds S] [--every N]`: a long mixed load on
//! the demo server on the embedded engine, watching the server's memory.
//!
//! Clients, each one request at a time until the load ends (so the load is bounded
//! by the number of clients): Form A (2025-11-25 sessions: tools/call with a task,
//! tasks/get, tasks/result; a fresh session every `--session-tasks` tasks), Form B
//! (2026-07-28: tools/call, tasks/get polling every `--poll-ms`), and plain
//! tools/call in a session. Every N seconds it prints the server's RSS and how many
//! task records the engine holds, then keeps printing for S seconds after the load:
//! memory should fall back toward idle once the tasks' TTL (10 s) has run out.

use crate::client::{free_addr, rss_kib, spawn_server, wait_for, Client, Error};
use std::io::{BufRead, BufReader};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Settings of a soak run.
pub struct Options {
    load: Duration,
    after: Duration,
    every: Duration,
    form_a: usize,
    form_b: usize,
    plain: usize,
    poll: Duration,
    session_tasks: u64,
}

impl Options {
    /// From `--minutes M --after-seconds S --every N --clients-a A --clients-b B
    /// --clients-plain P --poll-ms MS --session-tasks K`.
    pub fn from_args(args: &[String]) -> Result<Options, Error> {
        let flag = |name: &str, default: f64| -> Result<f64, Error> {
            match args.iter().position(|a| a == name) {
                Some(i) => Ok(args.get(i + 1).ok_or(format!("{name} needs a value"))?.parse()?),
                None => Ok(default),
            }
        };
        let minutes = flag("--minutes", 3.0)?;
        if !(minutes > 0.0 && minutes <= 60.0) {
            return Err("--minutes wants a number in (0, 60]".into());
        }
        Ok(Options {
            load: Duration::from_secs_f64(minutes * 60.0),
            after: Duration::from_secs_f64(flag("--after-seconds", 60.0)?.clamp(0.0, 3600.0)),
            every: Duration::from_secs_f64(flag("--every", 10.0)?.max(1.0)),
            form_a: flag("--clients-a", 16.0)? as usize,
            form_b: flag("--clients-b", 4.0)? as usize,
            plain: flag("--clients-plain", 4.0)? as usize,
            poll: Duration::from_millis(flag("--poll-ms", 100.0)? as u64),
            session_tasks: (flag("--session-tasks", 1000.0)? as u64).max(1),
        })
    }
}

/// Round trips done so far, per kind, and failures.
#[derive(Default)]
struct Counts {
    a: AtomicU64,
    b: AtomicU64,
    plain: AtomicU64,
    errors: AtomicU64,
}

#[derive(Clone, Copy)]
enum Kind {
    A,
    B,
    Plain,
}

/// Run the soak; prints a Markdown table.
pub async fn run(o: Options) -> Result<(), Error> {
    let addr = free_addr()?;
    let mut server = spawn_server(&addr, &["--stats-every-ms", "1000"], true)?;
    let pid = server.0.id();
    // The server prints `tasks N` every second; keep the latest.
    let held = Arc::new(AtomicU64::new(u64::MAX));
    if let Some(out) = server.0.stdout.take() {
        let held = held.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if let Some(n) = line.strip_prefix("tasks ").and_then(|n| n.parse().ok()) {
                    held.store(n, Ordering::Relaxed);
                }
            }
        });
    }
    let url = Arc::new(format!("http://{addr}/mcp"));
    let http = reqwest::Client::builder().pool_max_idle_per_host(256).timeout(Duration::from_secs(60)).build()?;
    wait_for(&http, &url).await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    println!(
        "Ferry soak: demo server (pid {pid}, {url}) on the embedded engine (task TTL 10 s), {:.1} min of load, \
         then {} s idle",
        o.load.as_secs_f64() / 60.0,
        o.after.as_secs()
    );
    println!(
        "clients: {} Form A (tools/call+task, tasks/get, tasks/result), {} Form B (tasks/get every {} ms), \
         {} plain tools/call",
        o.form_a,
        o.form_b,
        o.poll.as_millis(),
        o.plain
    );
    println!();
    println!("| t (s) | phase | RSS (MiB) | tasks held | Form A | Form B | plain calls | errors |");
    println!("|---:|---|---:|---:|---:|---:|---:|---:|");
    let start = Instant::now();
    let counts = Arc::new(Counts::default());
    let row = |phase: &str| {
        let rss = rss_kib(pid).map_or("?".to_string(), |k| format!("{:.1}", k as f64 / 1024.0));
        let held = match held.load(Ordering::Relaxed) {
            u64::MAX => "?".to_string(),
            n => n.to_string(),
        };
        println!(
            "| {:.0} | {phase} | {rss} | {held} | {} | {} | {} | {} |",
            start.elapsed().as_secs_f64(),
            counts.a.load(Ordering::Relaxed),
            counts.b.load(Ordering::Relaxed),
            counts.plain.load(Ordering::Relaxed),
            counts.errors.load(Ordering::Relaxed),
        );
    };
    row("idle");

    let load_end = start + o.load;
    let mut clients = Vec::new();
    let kinds = [(Kind::A, o.form_a), (Kind::B, o.form_b), (Kind::Plain, o.plain)];
    for (kind, n) in kinds {
        for _ in 0..n {
            let client = Client::new(&http, &url);
            clients.push(tokio::spawn(drive(client, kind, load_end, o.poll, o.session_tasks, counts.clone())));
        }
    }
    let mut next = start + o.every;
    while next < load_end {
        tokio::time::sleep_until(next).await;
        row("load");
        next += o.every;
    }
    // Each client stops after its current round trip (requests time out after 60 s).
    for c in clients {
        c.await?;
    }
    let ended = Instant::now();
    row("load end");
    let mut next = ended + o.every;
    while next <= ended + o.after {
        tokio::time::sleep_until(next).await;
        row("after");
        next += o.every;
    }
    if let Some(peak) = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.split_whitespace().nth(1).map(str::to_string))
        })
        .flatten()
        .and_then(|k| k.parse::<u64>().ok())
    {
        println!();
        println!("peak RSS {:.1} MiB", peak as f64 / 1024.0);
    }
    Ok(())
}

/// One client's loop until `end`; failures are counted, and the client starts over.
async fn drive(mut c: Client, kind: Kind, end: Instant, poll: Duration, session_tasks: u64, counts: Arc<Counts>) {
    let mut done = 0u64;
    while Instant::now() < end {
        let needs_session = matches!(kind, Kind::A | Kind::Plain);
        if needs_session && (c.session.is_none() || done % session_tasks == session_tasks - 1) {
            let _ = c.close().await;
            if c.initialize().await.is_err() {
                counts.errors.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        }
        let (result, counter) = match kind {
            Kind::A => (c.round_trip_a().await, &counts.a),
            Kind::B => (c.round_trip_b(poll).await.map(|_| ()), &counts.b),
            Kind::Plain => (c.plain_call().await, &counts.plain),
        };
        done += 1;
        match result {
            Ok(()) => {
                counter.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                counts.errors.fetch_add(1, Ordering::Relaxed);
                c.session = None;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    let _ = c.close().await;
}
