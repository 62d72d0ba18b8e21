//! `/metrics`, `/healthz` and `/readyz` on the MCP listener: values move as requests
//! and tasks run, limit refusals are counted under their limit, and no label carries
//! an id. The recorder is process-wide, so every check compares a scrape with an
//! earlier one, on components no other test here uses.

#[path = "support/scrape.rs"]
mod scrape;
mod support;

use ferry_server::transport::HttpOptions;
use ferry_server::{Args, Server, TaskSupport, ToolDef};
use scrape::Scrape;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::{Duration, Instant};
use support::modern_meta;

/// What must happen eventually happens within this.
const CAP: Duration = Duration::from_secs(30);

/// A server with `sum`, `nap` (sleeps `ms`) and `stall` (times out, retried once) tools
/// that may run as tasks, serving
/// metrics and probes; its base URL.
async fn serve(max_body: usize) -> String {
    let server = Server::builder("metrics", "1")
        .tool(
            ToolDef::new("sum")
                .task_support(TaskSupport::Optional)
                .handler(|Args(a): Args<Value>| async move { (a["a"].as_i64().unwrap_or(0) + 1).to_string() }),
        )
        .tool(ToolDef::new("nap").task_support(TaskSupport::Optional).handler(|Args(a): Args<Value>| async move {
            tokio::time::sleep(Duration::from_millis(a["ms"].as_u64().unwrap_or(0))).await;
            "rested"
        }))
        .tool(
            ToolDef::new("stall")
                .task_support(TaskSupport::Optional)
                .timeout(Duration::from_millis(50))
                .retries(1)
                .handler(|| async {
                    tokio::time::sleep(Duration::from_secs(600)).await;
                    "never"
                }),
        )
        .configure(|c| {
            c.max_body_bytes = max_body;
            // Without quick answers: the calls here are to become tasks, however quick.
            c.quick_answer = Duration::ZERO;
        })
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let options = HttpOptions { metrics: true, ..HttpOptions::default() };
    tokio::spawn(async move { server.serve_listener_with(listener, options).await });
    base
}

fn task_meta() -> Value {
    modern_meta(json!({"extensions": {"io.modelcontextprotocol/tasks": {}}}))
}

/// A 2026-07-28 request with its routing headers; the JSON-RPC answer.
async fn call(base: &str, method: &str, name: &str, params: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let headers = [("mcp-protocol-version", "2026-07-28"), ("mcp-method", method), ("mcp-name", name)];
    let (status, answer) = support::post_json(&format!("{base}/mcp"), &headers, &body).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

/// Start `tool` as a task; its id.
async fn start(base: &str, tool: &str, arguments: Value) -> String {
    let r = call(base, "tools/call", tool, json!({"name": tool, "arguments": arguments, "_meta": task_meta()})).await;
    assert_eq!(r["result"]["resultType"], "task", "{r}");
    r["result"]["taskId"].as_str().expect("a task id").to_string()
}

async fn status(base: &str, id: &str) -> String {
    let r = call(base, "tasks/get", id, json!({"taskId": id, "_meta": task_meta()})).await;
    r["result"]["status"].as_str().unwrap_or_default().to_string()
}

async fn wait_for(base: &str, id: &str, wanted: &str) {
    let deadline = Instant::now() + CAP;
    loop {
        let now = status(base, id).await;
        if now == wanted {
            return;
        }
        assert!(Instant::now() < deadline, "task {id} is {now}, not {wanted}, after {CAP:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_as_tasks_run_and_carry_no_ids() {
    let base = serve(4 * 1024 * 1024).await;
    let before = Scrape::take(&base).await;

    let mut ids = Vec::new();
    for a in 0..3 {
        let id = start(&base, "sum", json!({"a": a})).await;
        wait_for(&base, &id, "completed").await;
        ids.push(id);
    }
    let long = start(&base, "nap", json!({"ms": 60_000})).await;
    wait_for(&base, &long, "working").await;
    let r = call(&base, "tasks/cancel", &long, json!({"taskId": long, "_meta": task_meta()})).await;
    assert!(r.get("error").is_none(), "{r}");
    ids.push(long);
    // A 2025-11-25 session, for the sessions gauge (and its id, which must appear nowhere).
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let resp = reqwest::Client::new()
        .post(format!("{base}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(init.to_string())
        .send()
        .await
        .unwrap();
    let session = resp.headers()["mcp-session-id"].to_str().unwrap().to_string();

    let after = Scrape::take(&base).await;
    let delta = |metric: &str, labels: &[(&str, &str)]| after.get(metric, labels) - before.get(metric, labels);
    assert_eq!(delta("ferry_tasks_created_total", &[("component", "sum")]), 3.0);
    assert_eq!(delta("ferry_tasks_ended_total", &[("component", "sum"), ("status", "completed")]), 3.0);
    assert_eq!(delta("ferry_task_run_seconds", &[("component", "sum")]), 3.0);
    assert_eq!(delta("ferry_task_queue_wait_seconds", &[("component", "sum")]), 3.0);
    assert_eq!(delta("ferry_tasks_created_total", &[("component", "nap")]), 1.0);
    assert_eq!(delta("ferry_tasks_ended_total", &[("component", "nap"), ("status", "cancelled")]), 1.0);
    assert!(delta("ferry_requests_total", &[("method", "tools/call"), ("outcome", "ok")]) >= 4.0);
    assert!(delta("ferry_requests_total", &[("method", "tasks/get"), ("outcome", "ok")]) >= 4.0);
    assert!(delta("ferry_request_duration_seconds", &[("method", "tasks/cancel")]) >= 1.0);
    assert!(after.get("ferry_sessions", &[]) >= 1.0, "the session just opened is counted");
    // Gauges from the engine's stats (this server's embedded engine), read at most once a
    // second: a scrape within a second of the last one shows that one's.
    let deadline = Instant::now() + CAP;
    loop {
        let now = Scrape::take(&base).await;
        let (completed, cancelled) =
            (now.get("ferry_tasks", &[("status", "completed")]), now.get("ferry_tasks", &[("status", "cancelled")]));
        if completed >= 3.0 && cancelled >= 1.0 {
            assert_eq!(now.get("ferry_engine_stats_up", &[]), 1.0);
            break;
        }
        assert!(Instant::now() < deadline, "ferry_tasks shows {completed} completed, {cancelled} cancelled");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    ids.push(session);
    after.assert_no_label_holds(&ids);
    let methods: HashSet<&str> = ferry_server::metrics::METHODS.iter().copied().chain(["other"]).collect();
    for s in &after.0 {
        if let Some(m) = s.labels.get("method") {
            assert!(methods.contains(m), "method label {m}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_and_retries_are_counted() {
    let base = serve(4 * 1024 * 1024).await;
    let before = Scrape::take(&base).await;
    let id = start(&base, "stall", json!({})).await;
    wait_for(&base, &id, "failed").await;
    let after = Scrape::take(&base).await;
    let delta = |metric: &str, labels: &[(&str, &str)]| after.get(metric, labels) - before.get(metric, labels);
    assert_eq!(delta("ferry_task_timeouts_total", &[("component", "stall")]), 2.0, "both runs timed out");
    assert_eq!(delta("ferry_task_retries_total", &[("component", "stall")]), 1.0, "the first was retried");
    assert_eq!(delta("ferry_task_run_seconds", &[("component", "stall")]), 2.0);
    assert_eq!(delta("ferry_task_queue_wait_seconds", &[("component", "stall")]), 1.0, "first run only");
    assert_eq!(delta("ferry_tasks_ended_total", &[("component", "stall"), ("status", "failed")]), 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_refusals_are_counted_by_limit() {
    let base = serve(1024).await;
    let before = Scrape::take(&base).await;
    let big = json!({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"pad": "x".repeat(4096)}});
    let (status, _) = support::post_json(&format!("{base}/mcp"), &[], &big).await;
    assert_eq!(status, 413);
    let deep = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{"a":{}0{}}}}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    let resp = reqwest::Client::new()
        .post(format!("{base}/mcp"))
        .header("content-type", "application/json")
        .body(deep)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let after = Scrape::take(&base).await;
    let delta = |limit: &str| {
        after.get("ferry_limit_refusals_total", &[("limit", limit)])
            - before.get("ferry_limit_refusals_total", &[("limit", limit)])
    };
    assert!(delta("body_size") >= 1.0, "the 413 is counted");
    assert!(delta("json_shape") >= 1.0, "the too-deep message is counted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_answer_on_the_mcp_listener() {
    let base = serve(4 * 1024 * 1024).await;
    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.json::<Value>().await.unwrap()["status"], "ready");
}

#[tokio::test]
async fn a_draining_server_is_not_ready() {
    let server = Server::builder("drain", "1").build().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let probes = server.probes();
    tokio::spawn(async move { server.serve_listener(listener).await });
    assert_eq!(reqwest::get(format!("{base}/readyz")).await.unwrap().status(), 200);
    probes.set_draining();
    let r = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.json::<Value>().await.unwrap()["reason"], "shutting down");
    // Without HttpOptions::metrics there is no /metrics.
    assert_eq!(reqwest::get(format!("{base}/metrics")).await.unwrap().status(), 404);
}
