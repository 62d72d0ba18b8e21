//! Metrics and probes of a real deployment: `ferry serve --redis ... --no-local-worker`
//! and `ferry worker --metrics-addr`, on a PRIVATE `redis-server` this test starts on a
//! free port (so it can stop and restart it without touching anyone's Redis).

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../../ferry-server/tests/support/scrape.rs"]
mod scrape;
mod support;
use scrape::Scrape;
use support::{free_port, serve, Proc, FERRY};

/// What must happen eventually happens within this.
const CAP: Duration = Duration::from_secs(30);

/// A private `redis-server` on `port`, ready to answer.
fn start_redis(port: u16) -> Proc {
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server is installed (apt-get install redis-server)");
    let url = format!("redis://127.0.0.1:{port}/0");
    let deadline = Instant::now() + CAP;
    while redis::Client::open(url.as_str()).and_then(|c| c.get_connection()).is_err() {
        assert!(Instant::now() < deadline, "the private redis-server did not start on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    Proc(child)
}

/// `ferry worker ... --metrics-addr 127.0.0.1:0`; the process and the base URL of its probes.
fn start_worker(args: &[&str]) -> (Proc, String) {
    let mut child = Command::new(FERRY)
        .args(["worker", "--metrics-addr", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ferry worker starts");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let base = loop {
        let line = lines.next().expect("ferry worker exited before serving metrics").expect("log line");
        if let Some(rest) = line.split("metrics at ").nth(1) {
            break rest.trim_end_matches("/metrics").to_string();
        }
    };
    // Keep draining its log so the worker never blocks on a full pipe.
    std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
    (Proc(child), base)
}

fn task_meta() -> Value {
    json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {"extensions": {"io.modelcontextprotocol/tasks": {}}}})
}

/// A 2026-07-28 request; the JSON-RPC answer.
async fn call(mcp: &str, method: &str, name: &str, params: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let resp = reqwest::Client::new()
        .post(mcp)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method)
        .header("mcp-name", name)
        .body(body.to_string())
        .send()
        .await
        .expect("request sent");
    resp.json().await.expect("a JSON answer")
}

/// Poll `base/path` until it answers `status`.
async fn wait_status(base: &str, path: &str, status: u16) {
    let deadline = Instant::now() + CAP;
    loop {
        let got = reqwest::get(format!("{base}{path}")).await.map(|r| r.status().as_u16()).unwrap_or(0);
        if got == status {
            return;
        }
        assert!(Instant::now() < deadline, "{base}{path} answers {got}, not {status}, after {CAP:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_shows_run_and_queue_histograms_and_readiness_follows_redis() {
    let port = free_port();
    let mut redis = start_redis(port);
    let url = format!("redis://127.0.0.1:{port}/0");
    let prefix = format!("ferry-metrics-{}", std::process::id());
    let store = ["--redis", url.as_str(), "--prefix", prefix.as_str(), "--redis-wait-secs", "0"];
    // Without quick answers: each call below is to become a task (polled with tasks/get).
    let server = serve(&[&["--no-local-worker", "--quick-answer-ms", "0"][..], &store].concat());
    let front = server.url.trim_end_matches("/mcp").to_string();
    let (_worker, back) = start_worker(&store);

    let mut ids = Vec::new();
    for a in 0..3 {
        let r = call(
            &server.url,
            "tools/call",
            "add",
            json!({"name": "add", "arguments": {"a": a, "b": 1}, "_meta": task_meta()}),
        )
        .await;
        let id = r["result"]["taskId"].as_str().unwrap_or_else(|| panic!("a task: {r}")).to_string();
        let deadline = Instant::now() + CAP;
        loop {
            let got = call(&server.url, "tasks/get", &id, json!({"taskId": id, "_meta": task_meta()})).await;
            if got["result"]["status"] == "completed" {
                break;
            }
            assert!(Instant::now() < deadline, "task {id} did not complete: {got}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        ids.push(id);
    }

    // The worker ran them: run times, queue waits and ends are in its metrics...
    let worker = Scrape::take(&back).await;
    assert_eq!(worker.get("ferry_task_run_seconds", &[("component", "add")]), 3.0);
    assert_eq!(worker.get("ferry_task_queue_wait_seconds", &[("component", "add")]), 3.0);
    assert_eq!(worker.get("ferry_tasks_ended_total", &[("component", "add"), ("status", "completed")]), 3.0);
    // ... the front end created them and answered the calls.
    let front_end = Scrape::take(&front).await;
    assert_eq!(front_end.get("ferry_tasks_created_total", &[("component", "add")]), 3.0);
    assert!(front_end.get("ferry_requests_total", &[("method", "tools/call"), ("outcome", "ok")]) >= 3.0);
    assert_eq!(front_end.get("ferry_task_run_seconds", &[("component", "add")]), 0.0, "no local worker");
    // Gauges from the engine's stats, read at scrape time: the store as a whole.
    assert_eq!(worker.get("ferry_engine_stats_up", &[]), 1.0);
    assert!(worker.get("ferry_workers_alive", &[]) >= 1.0, "the worker reported itself");
    assert!(front_end.get("ferry_tasks", &[("status", "completed")]) >= 3.0);
    assert_eq!(front_end.get("ferry_queue_depth", &[]), 0.0);
    worker.assert_no_label_holds(&ids);
    front_end.assert_no_label_holds(&ids);

    // Readiness follows Redis, on both listeners.
    for base in [&front, &back] {
        wait_status(base, "/readyz", 200).await;
    }
    drop(redis);
    for base in [&front, &back] {
        wait_status(base, "/readyz", 503).await;
        let r: Value = reqwest::get(format!("{base}/readyz")).await.unwrap().json().await.unwrap();
        assert!(r["reason"].as_str().is_some_and(|m| m.contains("task store")), "{r}");
        wait_status(base, "/healthz", 200).await;
    }
    redis = start_redis(port);
    for base in [&front, &back] {
        wait_status(base, "/readyz", 200).await;
    }
    drop(redis);
}
