//! `ferry serve --dashboard` and `ferry dashboard` as real processes (the page itself is
//! tested in a browser by `dashboard_browser.rs`).

use ferry_client::{Client, ClientOptions, TaskStatus};
use futures::StreamExt;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::{serve, Proc, FERRY};

/// Run `ferry ARGS` and return it with the URL of its "dashboard at" line.
fn start_with_dashboard(args: &[&str]) -> (Proc, String) {
    let mut child =
        Command::new(FERRY).args(args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("ferry starts");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut seen = Vec::new();
    let url = loop {
        let Some(Ok(line)) = lines.next() else {
            let _ = child.kill();
            panic!("ferry {args:?} ended before serving the dashboard:\n{}", seen.join("\n"));
        };
        if let Some(rest) = line.split("dashboard at ").nth(1) {
            break rest.split_whitespace().next().unwrap_or_default().to_string();
        }
        seen.push(line);
    };
    std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
    (Proc(child), url)
}

/// Follow an event stream until a `task` event says task `id` has `status`; returns the
/// task events seen (as JSON), or panics after a generous deadline.
async fn until_task_event(response: reqwest::Response, id: &str, status: &str) -> Vec<Value> {
    let mut body = response.bytes_stream();
    let (mut buffer, mut seen) = (String::new(), Vec::new());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            let mut lines = frame.lines();
            if lines.next() != Some("event: task") {
                continue;
            }
            let data: Value =
                serde_json::from_str(lines.next().and_then(|l| l.strip_prefix("data: ")).unwrap()).unwrap();
            let done = data["id"] == json!(id) && data["status"] == json!(status);
            seen.push(data);
            if done {
                return seen;
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(chunk) = tokio::time::timeout(left, body.next()).await else {
            panic!("no task event with {id} {status}; saw {seen:?}")
        };
        buffer.push_str(&String::from_utf8_lossy(&chunk.expect("the stream is open").unwrap()));
    }
}

#[tokio::test]
async fn serve_dashboard_without_a_token_makes_one_for_the_run_and_accepts_it() {
    let (_server, url) =
        start_with_dashboard(&["serve", "--addr", "127.0.0.1:0", "--dashboard", "--admin-addr", "127.0.0.1:0"]);
    let (page, token) = url.split_once("#token=").expect("the URL hands the page a token");
    let base = page.trim_end_matches("/dashboard").to_string();
    assert!(token.len() >= 26, "{token}");
    let html = reqwest::get(page).await.unwrap();
    assert_eq!(html.status(), 200);

    // Reads are open on loopback.
    let status: Value = reqwest::get(format!("{base}/admin/api/status")).await.unwrap().json().await.unwrap();
    assert!(status.get("queued").is_some(), "{status}");

    let http = reqwest::Client::new();
    let wrong = http.post(format!("{base}/admin/api/tasks/nope/cancel")).bearer_auth("not-it").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let unknown = http.post(format!("{base}/admin/api/tasks/nope/cancel")).bearer_auth(token).send().await.unwrap();
    assert_eq!(unknown.status(), 404, "the made token is accepted");
}

#[tokio::test]
async fn the_dashboard_command_follows_a_redis_deployment() {
    let redis = ferry_redis::testing::redis_url();
    let prefix = format!("ferry-dash-{}", std::process::id());
    let server = serve(&["--redis", &redis, "--prefix", &prefix]);
    let (_dashboard, url) = start_with_dashboard(&[
        "dashboard",
        "--redis",
        &redis,
        "--prefix",
        &prefix,
        "--addr",
        "127.0.0.1:0",
        "--admin-token",
        "dashboard-cli-admin-token",
    ]);
    assert!(!url.contains("#token="), "a given token is not printed: {url}");
    let base = url.trim_end_matches("/dashboard").to_string();
    let events = reqwest::get(format!("{base}/admin/api/events")).await.unwrap();
    assert_eq!(events.status(), 200);

    let client = Client::connect_http(&server.url, ClientOptions::default()).await.unwrap();
    let task = client.call_tool_task("progress", json!({"steps": 3, "delay_ms": 50})).await.unwrap();
    let id = task.id().expect("a task id").to_string();
    task.wait_for(TaskStatus::Completed, Duration::from_secs(30)).await.unwrap();
    // Another process's task, seen through Redis: its changes on the stream, then in the listing.
    let seen = until_task_event(events, &id, "completed").await;
    assert!(seen.iter().any(|t| t["id"] == json!(id) && t["progress"].is_number()), "progress seen: {seen:?}");
    let listed: Value = reqwest::get(format!("{base}/admin/api/tasks")).await.unwrap().json().await.unwrap();
    assert!(listed["tasks"].as_array().unwrap().iter().any(|t| t["id"] == json!(id)), "{listed}");

    if let Ok(mut conn) = redis::Client::open(redis.as_str()).and_then(|c| c.get_connection()) {
        let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}:*")).query(&mut conn).unwrap_or_default();
        if !keys.is_empty() {
            let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query(&mut conn);
        }
    }
}

#[test]
fn the_dashboard_command_wants_a_token_off_loopback_and_redis() {
    let out = Command::new(FERRY)
        .args(["dashboard", "--redis", "redis://127.0.0.1:1", "--addr", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs --admin-token"));
    let out = Command::new(FERRY).args(["dashboard"]).env_remove("FERRY_REDIS_URL").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs --redis"));
}
