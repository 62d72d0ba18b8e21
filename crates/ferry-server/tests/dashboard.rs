//! The dashboard's HTTP side: its page and files, and the event stream's credential,
//! bound and content, on a real listener (the browser test is `crates/ferry/tests/dashboard_browser.rs`).

use ferry_protocol::time_fmt::now_ms;
use ferry_server::admin::{self, AdminConfig};
use ferry_server::dashboard::{self, DashboardConfig};
use ferry_server::engine::{Backend, Job, MemoryBackend, TaskRecord, TaskUpdate};
use futures::StreamExt;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOKEN: &str = "a-dashboard-admin-token";

/// The admin API with the dashboard on a free loopback port: its base URL.
async fn start(backend: Arc<dyn Backend>, open_reads: bool, config: DashboardConfig) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = dashboard::router(backend, AdminConfig { token: Some(TOKEN.into()), open_reads }, config);
    tokio::spawn(admin::serve(listener, router));
    base
}

/// Read an event stream until `want` is in it (panics after a generous deadline).
async fn read_until(response: reqwest::Response, want: &str) -> String {
    let mut body = response.bytes_stream();
    let mut text = String::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !text.contains(want) {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, body.next()).await.unwrap_or_else(|_| panic!("no {want} in: {text}"));
        text.push_str(&String::from_utf8_lossy(&chunk.expect("the stream is open").unwrap()));
    }
    text
}

#[tokio::test]
async fn the_page_and_its_files_are_served_with_the_security_headers() {
    let base = start(Arc::new(MemoryBackend::default()), false, DashboardConfig::default()).await;
    for (path, kind) in [
        ("/dashboard", "text/html"),
        ("/dashboard/app.js", "text/javascript"),
        ("/dashboard/api.js", "text/javascript"),
        ("/dashboard/chart.js", "text/javascript"),
        ("/dashboard/util.js", "text/javascript"),
        ("/dashboard/app.css", "text/css"),
        ("/dashboard/favicon.svg", "image/svg+xml"),
    ] {
        // No token: the page holds no data, and a browser cannot send one when it navigates.
        let r = reqwest::get(format!("{base}{path}")).await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let h = r.headers();
        assert!(h["content-type"].to_str().unwrap().starts_with(kind), "{path}");
        assert!(h["content-security-policy"].to_str().unwrap().starts_with("default-src 'self'"), "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
    }
    // Data reads stay behind the token; the admin API's answers carry the same headers.
    let refused = reqwest::get(format!("{base}/admin/api/tasks")).await.unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.headers()["x-content-type-options"], "nosniff");
    assert!(refused.headers().contains_key("content-security-policy"));
    // The scripts never read task text as markup, and load nothing from elsewhere.
    for file in ["app.js", "api.js", "chart.js", "util.js"] {
        let js = reqwest::get(format!("{base}/dashboard/{file}")).await.unwrap().text().await.unwrap();
        assert!(!js.contains("innerHTML") && !js.contains("outerHTML") && !js.contains("insertAdjacentHTML"), "{file}");
        let js = js.replace("'http://www.w3.org/2000/svg'", ""); // a namespace name, not a URL to load
        assert!(!js.contains("eval(") && !js.contains("http://") && !js.contains("https://"), "{file}");
    }
    let html = reqwest::get(format!("{base}/dashboard")).await.unwrap().text().await.unwrap();
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("<script>"), "{html}");
}

#[tokio::test]
async fn the_event_stream_needs_the_admin_token_unless_reads_are_open() {
    let backend: Arc<dyn Backend> = Arc::new(MemoryBackend::default());
    let closed = start(backend.clone(), false, DashboardConfig::default()).await;
    let client = reqwest::Client::new();
    let refused = client.get(format!("{closed}/admin/api/events")).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let wrong = client.get(format!("{closed}/admin/api/events")).bearer_auth("nope").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let ok = client.get(format!("{closed}/admin/api/events")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert!(ok.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));

    let open = start(backend, true, DashboardConfig::default()).await;
    assert_eq!(client.get(format!("{open}/admin/api/events")).send().await.unwrap().status(), 200);
    // Open reads are for loopback: a page reaching it under another name (DNS rebinding) is refused.
    let rebound =
        client.get(format!("{open}/admin/api/events")).header("host", "evil.example:80").send().await.unwrap();
    assert_eq!(rebound.status(), 403);
    assert_eq!(rebound.headers()["x-content-type-options"], "nosniff");
    let rebound = client.get(format!("{open}/admin/api/tasks")).header("host", "evil.example").send().await.unwrap();
    assert_eq!(rebound.status(), 403);
}

#[tokio::test]
async fn event_streams_beyond_the_bound_get_503_until_one_closes() {
    let config = DashboardConfig { max_event_streams: 2, ..DashboardConfig::default() };
    let base = start(Arc::new(MemoryBackend::default()), true, config).await;
    let url = format!("{base}/admin/api/events");
    let first = reqwest::get(&url).await.unwrap();
    let second = reqwest::get(&url).await.unwrap();
    assert_eq!((first.status().as_u16(), second.status().as_u16()), (200, 200));
    let third = reqwest::get(&url).await.unwrap();
    assert_eq!(third.status(), 503);
    assert_eq!(third.headers()["retry-after"], "5");
    assert!(third.text().await.unwrap().contains("at most 2"));
    drop(first);
    // The slot comes back once the server sees the stream closed (at its next event).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let again = reqwest::get(&url).await.unwrap();
        if again.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "a closed stream's slot never came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(second);
}

#[tokio::test]
async fn task_changes_and_stats_reach_the_stream_without_arguments() {
    let backend: Arc<dyn Backend> = Arc::new(MemoryBackend::default());
    let config = DashboardConfig { stats_every: Duration::from_millis(100), ..DashboardConfig::default() };
    let base = start(backend.clone(), true, config).await;
    let stream = reqwest::get(format!("{base}/admin/api/events")).await.unwrap();
    assert_eq!(stream.status(), 200);

    let record = TaskRecord::new("subject:alice", "tools/call", "slow", now_ms());
    let id = record.id.clone();
    let job = Job {
        task_id: id.clone(),
        kind: "tools/call".into(),
        name: "slow".into(),
        arguments: json!({"password": "hunter2-secret"}),
        context: json!({}),
        attempt: 1,
        not_before: None,
        trace: None,
    };
    // Submitted after the stream is open (its subscription is made before the answer).
    backend.submit(record, job).await.unwrap();
    let update = TaskUpdate::Progress { progress: 3.0, total: Some(10.0), message: Some("three of ten".into()) };
    backend.update(&id, update).await.unwrap();

    let text = read_until(stream, "three of ten").await;
    assert!(text.contains("event: task"), "{text}");
    assert!(text.contains(&format!("\"id\":\"{id}\"")), "{text}");
    assert!(text.contains("\"progress\":3.0") && text.contains("\"total\":10.0"), "{text}");
    assert!(text.contains("event: stats") && text.contains("\"queued\""), "{text}");
    assert!(!text.contains("hunter2"), "arguments must not reach the stream: {text}");
}
