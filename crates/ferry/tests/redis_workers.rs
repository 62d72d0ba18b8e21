//! A server and separate `ferry worker` processes sharing one Redis.
//!
//! These tests start real processes: `ferry serve --redis ... --no-local-worker`
//! and `ferry worker --redis ...`, on the Redis at 127.0.0.1:6379 (or
//! `FERRY_TEST_REDIS_URL`) under a fresh key prefix, or on a private
//! `redis-server` they spawn when they need to restart it.

use serde_json::{json, Value};

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

mod support;
use support::{free_port, serve, Proc, Served, FERRY};

fn redis_url() -> String {
    ferry_redis::testing::redis_url()
}

fn require_redis(url: &str) -> redis::Connection {
    match redis::Client::open(url).and_then(|c| c.get_connection()) {
        Ok(c) => c,
        Err(e) => panic!(
            "these tests need Redis at {url} ({e}): install redis-server (apt-get install redis-server) and start it \
             (redis-server --daemonize yes), or set FERRY_TEST_REDIS_URL"
        ),
    }
}

/// One deployment: a prefix in Redis, a front-end server, workers.
struct Deployment {
    url: String,
    prefix: String,
    http: String,
    server: Option<Served>,
    workers: Vec<(String, Proc)>,
}

impl Deployment {
    fn new(url: &str) -> Deployment {
        require_redis(url);
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let prefix = format!("ferry-test-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        Deployment { url: url.into(), prefix, http: String::new(), server: None, workers: Vec::new() }
    }

    fn common_args(&self) -> Vec<String> {
        vec![
            "--redis".into(),
            self.url.clone(),
            "--prefix".into(),
            self.prefix.clone(),
            "--redelivery-timeout-ms".into(),
            "1000".into(),
        ]
    }

    fn start_server(&mut self) {
        let mut args = vec!["--no-local-worker".to_string()];
        args.extend(self.common_args());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let served = serve(&args);
        self.http = served.url.clone();
        self.server = Some(served);
    }

    fn start_worker(&mut self, name: &str) {
        let mut args = vec![
            "worker".to_string(),
            "--name".into(),
            name.into(),
            "--concurrency".into(),
            "2".into(),
            "--shutdown-grace-secs".into(),
            "1".into(),
        ];
        args.extend(self.common_args());
        let child =
            Command::new(FERRY).args(&args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("ferry worker");
        self.workers.push((name.into(), Proc(child)));
    }

    /// Pending (claimed, unacknowledged) jobs per worker name.
    fn pending(&self) -> Vec<(String, i64)> {
        let mut conn = require_redis(&self.url);
        let raw: redis::RedisResult<Vec<Vec<redis::Value>>> = redis::cmd("XINFO")
            .arg("CONSUMERS")
            .arg(format!("{}:jobs", self.prefix))
            .arg(format!("{}:workers", self.prefix))
            .query(&mut conn);
        let mut out = Vec::new();
        for consumer in raw.unwrap_or_default() {
            let mut name = String::new();
            let mut pending = 0;
            for pair in consumer.chunks(2) {
                if let [redis::Value::BulkString(k), v] = pair {
                    match (k.as_slice(), v) {
                        (b"name", redis::Value::BulkString(n)) => name = String::from_utf8_lossy(n).into(),
                        (b"pending", redis::Value::Int(p)) => pending = *p,
                        _ => {}
                    }
                }
            }
            out.push((name, pending));
        }
        out
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        self.workers.clear();
        self.server = None;
        if let Ok(mut conn) = redis::Client::open(self.url.as_str()).and_then(|c| c.get_connection()) {
            let keys: Vec<String> =
                redis::cmd("KEYS").arg(format!("{}:*", self.prefix)).query(&mut conn).unwrap_or_default();
            if !keys.is_empty() {
                let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query(&mut conn);
            }
        }
    }
}

/// A 2025-11-25 session over HTTP.
struct Session {
    http: reqwest::Client,
    url: String,
    id: String,
    next: u64,
}

impl Session {
    async fn open(url: &str) -> Session {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
            let sent = http
                .post(url)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .json(&init)
                .send()
                .await;
            if let Ok(resp) = sent {
                if let Some(id) = resp.headers().get("mcp-session-id").and_then(|v| v.to_str().ok()) {
                    return Session { http, url: url.into(), id: id.into(), next: 1 };
                }
            }
            assert!(Instant::now() < deadline, "server at {url} did not come up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Send a request; returns the whole JSON-RPC response.
    async fn request(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let body = json!({"jsonrpc": "2.0", "id": self.next, "method": method, "params": params});
        let resp = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", &self.id)
            .json(&body)
            .send()
            .await
            .expect("request sent");
        let sse = resp.headers().get("content-type").is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        let text = resp.text().await.expect("body");
        let last = if sse {
            text.lines().filter_map(|l| l.strip_prefix("data: ")).next_back().unwrap_or("null").to_string()
        } else {
            text
        };
        serde_json::from_str(&last).expect("JSON response")
    }

    async fn start_task(&mut self, tool: &str, arguments: Value, ttl: u64) -> String {
        let r = self.request("tools/call", json!({"name": tool, "arguments": arguments, "task": {"ttl": ttl}})).await;
        r["result"]["task"]["taskId"].as_str().unwrap_or_else(|| panic!("no task in {r}")).to_string()
    }

    /// Poll tasks/get until `pred` holds (errors, e.g. during an outage, are retried).
    async fn wait_status(&mut self, id: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            let r = self.request("tasks/get", json!({"taskId": id})).await;
            if pred(&r) {
                return r;
            }
            assert!(Instant::now() < deadline, "task {id} never reached the state; last: {r}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn status(r: &Value) -> &str {
    r["result"]["status"].as_str().unwrap_or("")
}

async fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn tasks_run_on_separate_worker_processes_and_are_spread_over_them() {
    let mut d = Deployment::new(&redis_url());
    d.start_server();
    d.start_worker("w1");
    d.start_worker("w2");
    let mut s = Session::open(&d.http).await;
    // Four long tasks, two workers of concurrency 2: each worker must hold two.
    let mut ids = Vec::new();
    for _ in 0..4 {
        ids.push(s.start_task("sleep", json!({"ms": 1500}), 60_000).await);
    }
    wait_until("both workers to hold two jobs", || {
        let p = d.pending();
        p.iter().filter(|(n, c)| (n == "w1" || n == "w2") && *c == 2).count() == 2
    })
    .await;
    for id in &ids {
        let r = s.request("tasks/result", json!({"taskId": id})).await;
        assert_eq!(r["result"]["content"][0]["text"], "slept 1500", "{r}");
    }
    // Quick tasks too, with a result computed in a worker process.
    let id = s.start_task("add", json!({"a": 20, "b": 22}), 60_000).await;
    let r = s.request("tasks/result", json!({"taskId": id})).await;
    assert_eq!(r["result"]["content"][0]["text"], "42");
}

#[tokio::test]
async fn a_killed_worker_s_task_is_finished_by_another() {
    let mut d = Deployment::new(&redis_url());
    d.start_server();
    d.start_worker("victim");
    let mut s = Session::open(&d.http).await;
    let id = s.start_task("sleep", json!({"ms": 2000}), 120_000).await;
    wait_until("the victim to hold the job", || d.pending().iter().any(|(n, c)| n == "victim" && *c == 1)).await;
    d.workers[0].1.signal("-KILL");
    d.start_worker("survivor");
    let r = s.request("tasks/result", json!({"taskId": id})).await;
    assert_eq!(r["result"]["content"][0]["text"], "slept 2000", "{r}");
    assert!(d.pending().iter().all(|(_, c)| *c == 0), "nothing left pending: {:?}", d.pending());
}

#[tokio::test]
async fn cancel_on_the_server_stops_the_handler_in_the_worker() {
    let mut d = Deployment::new(&redis_url());
    d.start_server();
    d.start_worker("w1");
    let mut s = Session::open(&d.http).await;
    let id = s.start_task("sleep", json!({"ms": 600_000}), 120_000).await;
    wait_until("the worker to hold the job", || d.pending().iter().any(|(n, c)| n == "w1" && *c == 1)).await;
    let r = s.request("tasks/cancel", json!({"taskId": id})).await;
    assert_eq!(r["result"]["status"], "cancelled", "{r}");
    // The worker stopped the handler and released the job.
    wait_until("the job to be released", || d.pending().iter().all(|(_, c)| *c == 0)).await;
    let r = s.request("tasks/get", json!({"taskId": id})).await;
    assert_eq!(status(&r), "cancelled");
    // The worker is free again.
    let id = s.start_task("add", json!({"a": 1, "b": 1}), 60_000).await;
    let r = s.request("tasks/result", json!({"taskId": id})).await;
    assert_eq!(r["result"]["content"][0]["text"], "2");
}

#[tokio::test]
async fn progress_from_a_worker_reaches_the_server() {
    let mut d = Deployment::new(&redis_url());
    d.start_server();
    d.start_worker("w1");
    let mut s = Session::open(&d.http).await;
    let id = s.start_task("progress", json!({"steps": 3, "delay_ms": 300}), 60_000).await;
    let r = s.wait_status(&id, |r| r["result"]["statusMessage"].as_str().is_some_and(|m| m.starts_with("step"))).await;
    assert!(r["result"]["statusMessage"].as_str().unwrap().ends_with("/3"));
    let r = s.request("tasks/result", json!({"taskId": id})).await;
    assert_eq!(r["result"]["content"][0]["text"], "done 3");
}

#[tokio::test]
async fn expired_tasks_disappear_from_redis() {
    let mut d = Deployment::new(&redis_url());
    d.start_server();
    d.start_worker("w1");
    let mut s = Session::open(&d.http).await;
    let id = s.start_task("add", json!({"a": 1, "b": 2}), 300).await;
    let r = s.wait_status(&id, |r| r["error"]["code"] == -32602).await;
    assert!(r["error"]["message"].as_str().unwrap().contains("not found"));
    let mut conn = require_redis(&d.url);
    let exists: bool = redis::cmd("EXISTS").arg(format!("{}:task:{id}", d.prefix)).query(&mut conn).unwrap();
    assert!(!exists);
}

#[tokio::test]
async fn work_survives_a_redis_restart() {
    // A private redis-server with an append-only file, so a restart keeps what it accepted.
    let dir = std::env::temp_dir().join(format!("ferry-redis-{}-{}", std::process::id(), free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let start_redis = || {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed (apt-get install redis-server)");
        Proc(child)
    };
    let url = format!("redis://127.0.0.1:{port}/0");
    let mut redis_proc = start_redis();
    let deadline = Instant::now() + Duration::from_secs(10);
    while redis::Client::open(url.as_str()).and_then(|c| c.get_connection()).is_err() {
        assert!(Instant::now() < deadline, "private redis-server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut d = Deployment::new(&url);
    d.start_server();
    d.start_worker("w1");
    // A second front end that stays idle through the outage.
    let mut args = vec!["--no-local-worker".to_string()];
    args.extend(d.common_args());
    let quiet = serve(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let mut q = Session::open(&quiet.url).await;
    let mut s = Session::open(&d.http).await;
    let id = s.start_task("sleep", json!({"ms": 1500}), 120_000).await;
    wait_until("the worker to hold the job", || d.pending().iter().any(|(n, c)| n == "w1" && *c == 1)).await;

    // A caller blocked on the result before the outage waits it out.
    let mut waiter = Session::open(&d.http).await;
    waiter.id = s.id.clone();
    let blocked = {
        let id = id.clone();
        tokio::spawn(async move { waiter.request("tasks/result", json!({"taskId": id})).await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await; // let it block (it passes either way)

    // Crash Redis while the task runs; requests meanwhile get a clear error.
    redis_proc.signal("-KILL");
    let _ = redis_proc.0.wait();
    let r = s.request("tasks/get", json!({"taskId": id})).await;
    assert_eq!(r["error"]["code"], -32603, "{r}");
    assert!(r["error"]["message"].as_str().unwrap().contains("unavailable"), "{r}");
    let r = s.request("tasks/get", json!({"taskId": id})).await;
    assert_eq!(r["error"]["code"], -32603, "still out: {r}");

    redis_proc = start_redis();
    let deadline = Instant::now() + Duration::from_secs(10);
    while redis::Client::open(url.as_str()).and_then(|c| c.get_connection()).is_err() {
        assert!(Instant::now() < deadline, "private redis-server did not restart");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The first request after Redis is back is answered (no stale connection error), on
    // the front end that sent nothing during the outage too.
    let r = q.request("tasks/list", json!({})).await;
    assert!(r.get("result").is_some(), "first request after the outage, idle front end: {r}");
    let r = s.request("tasks/get", json!({"taskId": id})).await;
    assert!(r.get("result").is_some(), "first request after the outage: {r}");
    let r = blocked.await.unwrap();
    assert_eq!(r["result"]["content"][0]["text"], "slept 1500", "the blocked tasks/result rode out the outage: {r}");
    let r = s.wait_status(&id, |r| status(r) == "completed").await;
    assert_eq!(r["result"]["status"], "completed");
    let r = s.request("tasks/result", json!({"taskId": id})).await;
    assert_eq!(r["result"]["content"][0]["text"], "slept 1500", "{r}");
    drop(d);
    drop(redis_proc);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn sigterm_hands_running_work_back_to_the_queue() {
    let mut d = Deployment::new(&redis_url());
    d.start_server();
    d.start_worker("leaving");
    let mut s = Session::open(&d.http).await;
    let id = s.start_task("sleep", json!({"ms": 4000}), 120_000).await;
    wait_until("the worker to hold the job", || d.pending().iter().any(|(n, c)| n == "leaving" && *c == 1)).await;
    // Grace is 1 s, the job needs 4 s: the worker stops claiming, waits, then hands the job back.
    d.workers[0].1.signal("-TERM");
    let code = d.workers[0].1 .0.wait().expect("worker exits");
    assert!(code.success(), "graceful exit, got {code:?}");
    assert!(d.pending().iter().all(|(_, c)| *c == 0), "job handed back: {:?}", d.pending());
    d.start_worker("next");
    let r = s.request("tasks/result", json!({"taskId": id})).await;
    assert_eq!(r["result"]["content"][0]["text"], "slept 4000", "{r}");
}

/// Sessions that create tasks and go away leave no key behind once their tasks' TTLs
/// are over: not the tasks, not their owner indexes, not the live counts (only the
/// deployment's job stream and sequence counter stay, and, with an expiry of their own,
/// the running worker's report and the last two minutes' throughput counters).
#[tokio::test]
async fn sessions_that_went_away_leave_no_keys_after_their_tasks_ttl() {
    let mut d = Deployment::new(&redis_url());
    let mut args = vec!["--no-local-worker".to_string(), "--min-ttl-ms".into(), "300".into()];
    args.extend(d.common_args());
    let server = serve(&args.iter().map(String::as_str).collect::<Vec<_>>());
    d.start_worker("w1");
    for _ in 0..4 {
        let mut s = Session::open(&server.url).await;
        let mut ids = Vec::new();
        for i in 0..3 {
            ids.push(s.start_task("add", json!({"a": i, "b": 1}), 300).await);
        }
        for id in &ids {
            s.wait_status(id, |r| status(r) == "completed").await;
        }
        let closed = s.http.delete(&s.url).header("mcp-session-id", &s.id).send().await.expect("DELETE sent");
        assert!(closed.status().is_success(), "session closed: {}", closed.status());
    }
    let mut conn = require_redis(&d.url);
    let lasting = |conn: &mut redis::Connection| -> Vec<String> {
        let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{}:*", d.prefix)).query(conn).unwrap_or_default();
        let deployment = |k: &str| k.ends_with(":jobs") || k.ends_with(":seq") || k.ends_with(":partitions");
        let operator = |k: &str| k.contains(":done:") || k.contains(":worker-reports");
        let mut left: Vec<String> = keys.into_iter().filter(|k| !deployment(k) && !operator(k)).collect();
        left.sort();
        left
    };
    // While the results are kept, every key has an expiry.
    let all: Vec<String> = redis::cmd("KEYS").arg(format!("{}:*", d.prefix)).query(&mut conn).unwrap_or_default();
    // What a deployment keeps: its queue, sequence and number of partitions.
    let kept = |k: &str| k.ends_with(":jobs") || k.ends_with(":seq") || k.ends_with(":partitions");
    for key in all.into_iter().filter(|k| !kept(k)) {
        let ttl: i64 = redis::cmd("PTTL").arg(&key).query(&mut conn).unwrap();
        // -1: no expiry; 0: expiring within the millisecond; -2: gone meanwhile.
        assert!(ttl != -1, "{key} has no expiry ({ttl})");
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = lasting(&mut conn);
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "keys left after the tasks' TTL: {left:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
