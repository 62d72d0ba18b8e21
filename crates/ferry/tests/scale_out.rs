//! Front ends behind a real load balancer, without sticky sessions.
//!
//! HAProxy (HTTP mode, round robin, no stickiness; a connection refused is retried on
//! another front end, as any deployment configures it) in front of three `ferry serve
//! --no-local-worker` processes, two `ferry worker`s and a private `redis-server`.
//! Clients in 2025-11-25 sessions run task calls, watch progress, cancel, list their
//! tasks and hold a resource subscription while one front end is killed (SIGKILL) and
//! restarted on its port. Every call that failed must have been in flight when the
//! front end died; every accepted task must reach a final state visible via `tasks/get`.

mod support;

use ferry_client::{Client, ClientOptions, Mode, TaskStatus};
use futures::StreamExt;
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{free_port, peer_available, serve_at, Proc, Served, FERRY};

const FRONT_ENDS: usize = 3;
const CLIENTS: usize = 4;
const RESOURCE: &str = "ferry://demo/readme";

/// The deployment: Redis, front ends, workers and the load balancer in front.
struct Deployment {
    redis_url: String,
    prefix: String,
    ports: Vec<u16>,
    fronts: Vec<Option<Served>>,
    _workers: Vec<Proc>,
    _lb: Proc,
    lb_url: String,
    _redis: Proc,
    dir: std::path::PathBuf,
}

fn start_redis(port: u16) -> Proc {
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server is installed (apt-get install redis-server)");
    let url = format!("redis://127.0.0.1:{port}/0");
    let deadline = Instant::now() + Duration::from_secs(10);
    while redis::Client::open(url.as_str()).and_then(|c| c.get_connection()).is_err() {
        assert!(Instant::now() < deadline, "private redis-server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Proc(child)
}

/// Round robin over the front ends, no stickiness. A refused connection is retried on
/// another front end (`retries`, `redispatch`), and every request gets a connection of its
/// own to a front end (`http-reuse never`): a pooled one to a process killed a moment
/// before would fail the request it carries, an artifact of the balancer no server sees.
fn haproxy_config(lb_port: u16, ports: &[u16]) -> String {
    let mut cfg = format!(
        "global\n  maxconn 2000\n\
         defaults\n  mode http\n  timeout connect 1s\n  timeout client 60s\n  timeout server 60s\n\
         \x20 retries 3\n  option redispatch 1\n  http-reuse never\n\
         frontend mcp\n  bind 127.0.0.1:{lb_port}\n  default_backend fronts\n\
         backend fronts\n  balance roundrobin\n  option httpchk GET /healthz\n\
         \x20 default-server inter 200ms fall 1 rise 2\n"
    );
    for (i, port) in ports.iter().enumerate() {
        cfg.push_str(&format!("  server fe{i} 127.0.0.1:{port} check\n"));
    }
    cfg
}

impl Deployment {
    fn start() -> Deployment {
        let redis_port = free_port();
        let redis = start_redis(redis_port);
        let redis_url = format!("redis://127.0.0.1:{redis_port}/0");
        let prefix = format!("ferry-scale-{}", std::process::id());
        let ports: Vec<u16> = (0..FRONT_ENDS).map(|_| free_port()).collect();
        let mut d = Deployment {
            redis_url,
            prefix,
            fronts: Vec::new(),
            _workers: Vec::new(),
            _lb: Proc(Command::new("true").spawn().expect("true")),
            lb_url: String::new(),
            _redis: redis,
            dir: std::env::temp_dir().join(format!("ferry-scale-{}-{}", std::process::id(), free_port())),
            ports,
        };
        for i in 0..FRONT_ENDS {
            let served = d.start_front(i);
            d.fronts.push(Some(served));
        }
        for i in 0..2 {
            let mut args =
                vec!["worker".to_string(), "--name".into(), format!("w{i}"), "--concurrency".into(), "8".into()];
            args.extend(d.store_args());
            let child = Command::new(FERRY)
                .args(&args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("ferry worker");
            d._workers.push(Proc(child));
        }
        std::fs::create_dir_all(&d.dir).unwrap();
        let lb_port = free_port();
        let cfg = d.dir.join("haproxy.cfg");
        std::fs::write(&cfg, haproxy_config(lb_port, &d.ports)).unwrap();
        let lb = Command::new("haproxy").arg("-db").arg("-f").arg(&cfg).stdout(Stdio::null()).spawn().expect("haproxy");
        d._lb = Proc(lb);
        d.lb_url = format!("http://127.0.0.1:{lb_port}/mcp");
        d
    }

    fn store_args(&self) -> Vec<String> {
        let url = self.redis_url.clone();
        vec![
            "--redis".into(),
            url,
            "--prefix".into(),
            self.prefix.clone(),
            "--redelivery-timeout-ms".into(),
            "2000".into(),
        ]
    }

    fn start_front(&self, i: usize) -> Served {
        let mut args = vec!["--no-local-worker".to_string()];
        args.extend(self.store_args());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        serve_at(&format!("127.0.0.1:{}", self.ports[i]), &args)
    }

    /// Until the load balancer answers through every front end.
    async fn wait_ready(&self) {
        let http = reqwest::Client::new();
        let probe = self.lb_url.replace("/mcp", "/healthz");
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut ok = 0;
        while ok < 2 * FRONT_ENDS {
            assert!(Instant::now() < deadline, "the load balancer did not come up");
            match http.get(&probe).send().await {
                Ok(r) if r.status().is_success() => ok += 1,
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Publish a resource update as any process of the deployment would (the task
/// backend's notice channel), so no front end is its source.
fn publish_update(redis_url: &str, prefix: &str, seq: usize) {
    let mut conn = redis::Client::open(redis_url).unwrap().get_connection().unwrap();
    let notice = json!({"session": null, "method": "notifications/resources/updated",
        "params": {"uri": RESOURCE, "seq": seq}});
    let _: i64 = redis::cmd("PUBLISH").arg(format!("{prefix}:notes")).arg(notice.to_string()).query(&mut conn).unwrap();
}

/// Until the subscriber heard an update published after `after`.
async fn wait_for_update(heard: &Mutex<Vec<u64>>, after: u64, when: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !heard.lock().unwrap().iter().any(|s| *s > after) {
        assert!(Instant::now() < deadline, "no resource update {when} reached the subscriber");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn epoch_ms() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("a clock after 1970");
    u64::try_from(since.as_millis()).expect("ms fit")
}

/// Run `interop/ts-scale-client.mjs` for `duration_ms` (it writes `ready` when its workload
/// starts); its JSON summary.
fn run_ts_client(url: &str, duration_ms: u64, ready: &std::path::Path) -> Value {
    let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop/run.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(url)
        .arg(duration_ms.to_string())
        .env("FERRY_INTEROP_SCRIPT", "ts-scale-client.mjs")
        .env("FERRY_SCALE_READY_FILE", ready)
        .output()
        .expect("interop/run.sh runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the TypeScript client failed:\n{stdout}\n{stderr}");
    serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("a JSON summary")
}

/// The TypeScript client's calls failed only when in flight at the kill, its tasks all
/// ended, and its subscription heard updates after the restart.
fn check_ts_client(ts: &Value, (killed_at_ms, dead_at_ms): (u64, u64), restarted_at_ms: u64) {
    let calls = ts["calls"].as_array().expect("calls");
    let in_flight = |c: &Value| c["start"].as_u64() <= Some(dead_at_ms) && c["end"].as_u64() >= Some(killed_at_ms);
    let failed: Vec<&Value> = calls.iter().filter(|c| !c["error"].is_null()).collect();
    let stray: Vec<String> = failed.iter().filter(|c| !in_flight(c)).map(|c| c.to_string()).collect();
    for c in failed.iter().filter(|c| in_flight(c)) {
        eprintln!("scale-out (TypeScript SDK): failed in flight: {c}");
    }
    eprintln!(
        "scale-out (TypeScript SDK): {} calls, {} failed ({} in flight at the kill), {} tasks, {} cancels, {} progress notifications, {} updates",
        calls.len(),
        failed.len(),
        calls.iter().filter(|c| in_flight(c)).count(),
        ts["tasks"],
        ts["cancelled"],
        ts["progress"],
        ts["updates"].as_array().map_or(0, Vec::len),
    );
    assert!(stray.is_empty(), "TypeScript calls failed that were not in flight at the kill:\n{}", stray.join("\n"));
    assert_eq!(ts["lost"], json!([]), "TypeScript tasks lost");
    assert!(ts["tasks"].as_u64() > Some(0) && ts["cancelled"].as_u64() > Some(0), "{ts}");
    assert!(ts["progress"].as_u64() > Some(0), "the TypeScript client saw no progress: {ts}");
    let heard = ts["updates"].as_array().expect("updates");
    let after = heard.iter().filter(|t| t.as_u64() > Some(restarted_at_ms)).count();
    assert!(after > 0, "no update after the restart reached the TypeScript client: {heard:?}");
}

/// One call a client made: when, what, and how it ended.
struct Outcome {
    what: String,
    started: Instant,
    ended: Instant,
    error: Option<String>,
}

/// What the clients did, shared by their loops.
#[derive(Default)]
struct Record {
    calls: Mutex<Vec<Outcome>>,
    /// Accepted tasks, by client number.
    tasks: Mutex<Vec<(usize, String)>>,
    progress_seen: AtomicUsize,
    cancelled: AtomicUsize,
}

impl Record {
    fn note<T, E: std::fmt::Display>(&self, what: &str, started: Instant, r: &Result<T, E>) {
        let error = r.as_ref().err().map(|e| e.to_string());
        self.calls.lock().unwrap().push(Outcome { what: what.into(), started, ended: Instant::now(), error });
    }
}

/// A client through the balancer: a 2025-11-25 session (`Handshake`) or stateless 2026-07-28 (`Modern`).
async fn connect(url: &str, mode: Mode) -> Client {
    let options = ClientOptions::default().client_info("scale-out", "1").mode(mode);
    Client::connect_http(url, options).await.expect("a session through the load balancer")
}

/// One client's loop: a task with progress, a task cancelled, a list, a plain call.
async fn work(n: usize, client: Client, record: Arc<Record>, stop: Arc<AtomicBool>) {
    let mut round = 0usize;
    while !stop.load(Ordering::Relaxed) {
        round += 1;
        let t = Instant::now();
        let created = client.call_tool_task("progress", json!({"steps": 4, "delay_ms": 60})).await;
        record.note("create progress task", t, &created);
        if let Ok(handle) = created {
            let id = handle.id().expect("a task").to_string();
            record.tasks.lock().unwrap().push((n, id));
            // Its states as they change (status notifications, else polling), progress included.
            let t = Instant::now();
            let mut states = std::pin::pin!(handle.status());
            let mut followed = Ok(());
            let mut progressed = false;
            while let Some(state) = states.next().await {
                match state {
                    Ok(info) => progressed |= info.progress.is_some(),
                    Err(e) => followed = Err(e),
                }
            }
            record.note("task status", t, &followed);
            if progressed {
                record.progress_seen.fetch_add(1, Ordering::Relaxed);
            }
            let t = Instant::now();
            let result = handle.result().await;
            record.note("tasks/result", t, &result);
            if let Ok(r) = &result {
                let r = serde_json::to_value(r).expect("JSON");
                assert_eq!(r["content"][0]["text"], "done 4", "client {n} round {round}: {r}");
            }
        }
        let t = Instant::now();
        let created = client.call_tool_task("sleep", json!({"ms": 20_000})).await;
        record.note("create sleep task", t, &created);
        if let Ok(handle) = created {
            record.tasks.lock().unwrap().push((n, handle.id().expect("a task").to_string()));
            let t = Instant::now();
            let cancelled = handle.cancel().await;
            record.note("tasks/cancel", t, &cancelled);
            if cancelled.is_ok_and(|i| i.status == TaskStatus::Cancelled) {
                record.cancelled.fetch_add(1, Ordering::Relaxed);
            }
        }
        if !client.is_modern() {
            // 2026-07-28 has no tasks/list.
            let t = Instant::now();
            let listed = client.list_tasks(None).await;
            record.note("tasks/list", t, &listed);
        }
        let t = Instant::now();
        let added = client.call_tool("add", json!({"a": round, "b": n})).await;
        record.note("tools/call add", t, &added);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn front_ends_behind_a_load_balancer_lose_nothing_but_calls_in_flight_on_a_killed_one() {
    if !peer_available("haproxy", "needs HAProxy (apt-get install haproxy)") {
        return;
    }
    let mut d = Deployment::start();
    d.wait_ready().await;

    // Both protocol eras: half the clients in sessions, half stateless.
    let modes = (0..CLIENTS).map(|n| if n % 2 == 0 { Mode::Handshake } else { Mode::Modern });
    let clients: Vec<Client> = futures::future::join_all(modes.map(|m| connect(&d.lb_url, m))).await;
    // A subscription made through the balancer (so on any front end), heard on the
    // client's stream (held by any front end).
    let watcher = connect(&d.lb_url, Mode::Handshake).await;
    let mut updates = watcher.notifications();
    watcher.request("resources/subscribe", json!({"uri": RESOURCE})).await.expect("subscribed");

    let record = Arc::new(Record::default());
    let stop = Arc::new(AtomicBool::new(false));
    // The TypeScript SDK client, through the same balancer, over the same period.
    let ts_ready = d.dir.join("ts-ready");
    let ts_client =
        peer_available("node", "needs Node.js >= 20 and npm on PATH (apt-get install nodejs npm)").then(|| {
            let (url, ready) = (d.lb_url.clone(), ts_ready.clone());
            tokio::task::spawn_blocking(move || run_ts_client(&url, 9000, &ready))
        });
    let loops: Vec<_> = clients
        .iter()
        .enumerate()
        .map(|(n, c)| tokio::spawn(work(n, c.clone(), record.clone(), stop.clone())))
        .collect();

    let heard = Arc::new(Mutex::new(Vec::<u64>::new()));
    let listener = {
        let heard = heard.clone();
        tokio::spawn(async move {
            while let Ok(n) = updates.recv().await {
                if n.method == "notifications/resources/updated" {
                    let seq = n.params.as_ref().and_then(|p| p.get("seq")).and_then(Value::as_u64).unwrap_or(0);
                    heard.lock().unwrap().push(seq);
                }
            }
        })
    };
    // Resource updates all along, published as any process of the deployment would.
    let seq = Arc::new(AtomicUsize::new(0));
    let publisher = {
        let (seq, stop, url, prefix) = (seq.clone(), stop.clone(), d.redis_url.clone(), d.prefix.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                publish_update(&url, &prefix, seq.fetch_add(1, Ordering::Relaxed) + 1);
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
        })
    };
    wait_for_update(&heard, 0, "before the kill").await;
    if ts_client.is_some() {
        let deadline = Instant::now() + Duration::from_secs(120); // a first run installs the SDK
        while !ts_ready.exists() {
            assert!(Instant::now() < deadline, "the TypeScript client did not start its workload");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    tokio::time::sleep(Duration::from_secs(2)).await;
    let victim = 1;
    let killed_at = Instant::now();
    let killed_at_ms = epoch_ms();
    if let Some(mut served) = d.fronts[victim].take() {
        served.child.kill().expect("SIGKILL"); // Child::kill sends SIGKILL
        let _ = served.child.wait();
    }
    // Until it is reaped, the dying process still holds connections (and its listening
    // socket): calls that reached it until then were in flight on it too.
    let dead_at = Instant::now();
    let dead_at_ms = epoch_ms();
    tokio::time::sleep(Duration::from_secs(2)).await;
    d.fronts[victim] = Some(d.start_front(victim));
    let restarted_at = Instant::now();
    let seq_at_restart = seq.load(Ordering::Relaxed) as u64;
    let restarted_at_ms = epoch_ms();
    tokio::time::sleep(Duration::from_secs(3)).await;
    // The subscriber's stream may have been on the killed front end: the client
    // reconnected it through the balancer, and updates reach it again.
    wait_for_update(&heard, seq_at_restart, "after the restart").await;

    stop.store(true, Ordering::Relaxed);
    for l in loops {
        l.await.expect("a client loop");
    }
    let ts = match ts_client {
        Some(c) => Some(c.await.expect("the TypeScript client")),
        None => None,
    };
    publisher.await.expect("the publisher");
    listener.abort();
    if let Some(ts) = ts {
        check_ts_client(&ts, (killed_at_ms, dead_at_ms), restarted_at_ms);
    }

    // Only calls in flight when the front end died may have failed.
    let calls = std::mem::take(&mut *record.calls.lock().unwrap());
    let failed: Vec<&Outcome> = calls.iter().filter(|c| c.error.is_some()).collect();
    let on_victim = |c: &&Outcome| c.started <= dead_at && c.ended >= killed_at;
    let in_flight = calls.iter().filter(on_victim).count();
    let stray: Vec<String> = failed
        .iter()
        .filter(|c| !on_victim(c))
        .map(|c| {
            format!(
                "{} at {:?} after the kill: {}",
                c.what,
                c.started.saturating_duration_since(killed_at),
                c.error.as_deref().unwrap_or_default()
            )
        })
        .collect();
    eprintln!("scale-out: the killed front end took {:?} to die", dead_at - killed_at);
    eprintln!(
        "scale-out: {} calls, {} failed ({} in flight at the kill), {} after the restart, {} cancels, progress seen {} times",
        calls.len(),
        failed.len(),
        in_flight,
        calls.iter().filter(|c| c.started >= restarted_at).count(),
        record.cancelled.load(Ordering::Relaxed),
        record.progress_seen.load(Ordering::Relaxed),
    );
    for c in &failed {
        eprintln!("scale-out: failed in flight: {}: {}", c.what, c.error.as_deref().unwrap_or_default());
    }
    assert!(stray.is_empty(), "calls failed that were not in flight on the killed front end:\n{}", stray.join("\n"));
    assert!(calls.iter().any(|c| c.started >= restarted_at && c.error.is_none()), "work went on after the restart");
    assert!(record.cancelled.load(Ordering::Relaxed) > 0, "some task was cancelled");
    assert!(record.progress_seen.load(Ordering::Relaxed) > 0, "some task's progress was seen");

    // No accepted task is lost: each reaches a final state its session sees.
    let tasks = std::mem::take(&mut *record.tasks.lock().unwrap());
    for (n, id) in &tasks {
        let handle = clients[*n].task::<Value>(id);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match handle.get().await {
                Ok(info) if info.status.is_terminal() => break,
                Ok(_) => {}
                Err(e) => panic!("task {id} of client {n} is lost: {e}"),
            }
            assert!(Instant::now() < deadline, "task {id} of client {n} never ended");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    eprintln!("scale-out: {} accepted tasks, all ended and visible", tasks.len());
}
