//! What `ferry serve` writes on stderr: at the default level the life of the
//! process, not a line per task (a soak run logged 179 bytes per task, 504 MB in
//! 13.5 minutes); per-task lines at `--log-level debug` (or `RUST_LOG=debug`).

use ferry_client::{Client, ClientOptions, Mode};
use serde_json::json;

mod support;
use support::{serve_with_env, FERRY};

/// `n` tasks in each protocol era (one of them cancelled) plus `n` plain calls.
async fn run_tasks(url: &str, n: usize) {
    for mode in [Mode::Handshake, Mode::Modern] {
        let c = Client::connect_http(url, ClientOptions::default().mode(mode)).await.expect("connects");
        for i in 0..n {
            let task = c.call_tool_task("add", json!({"a": i, "b": 1})).await.expect("task created");
            let result = task.await.expect("task result");
            assert_eq!(result.content[0].as_text(), Some((i + 1).to_string().as_str()));
            c.call_tool("add", json!({"a": 1, "b": 1})).await.expect("plain call");
        }
        if n > 0 {
            let task = c.call_tool_task("sleep", json!({"ms": 600_000})).await.expect("task created");
            task.cancel().await.expect("cancelled");
        }
        c.close().await;
    }
}

/// Serve with `flags` and the environment `env`, run `n` tasks, stop; the stderr lines.
async fn log_of(flags: &[&str], env: &[(&str, Option<&str>)], n: usize) -> Vec<String> {
    let served = serve_with_env(flags, env);
    run_tasks(&served.url, n).await;
    served.stop()
}

const NO_RUST_LOG: &[(&str, Option<&str>)] = &[("RUST_LOG", None)];

fn task_lines(log: &[String]) -> usize {
    log.iter().filter(|l| l.contains("task created")).count()
}

#[tokio::test]
async fn the_default_level_logs_no_line_per_task() {
    let idle = log_of(&[], NO_RUST_LOG, 0).await;
    let busy = log_of(&[], NO_RUST_LOG, 50).await;
    assert!(!idle.is_empty(), "the start is logged");
    // 100 tasks, 100 calls and 2 cancellations later: the same few lifecycle lines.
    assert!(
        busy.len() < idle.len() + 3,
        "lines grew with the tasks: {} idle, {} busy: {busy:#?}",
        idle.len(),
        busy.len()
    );
    assert_eq!(task_lines(&busy), 0, "{busy:#?}");
}

#[tokio::test]
async fn log_level_debug_shows_each_task() {
    let log = log_of(&["--log-level", "debug"], NO_RUST_LOG, 10).await;
    // At least one per task (2026-07-28 clients may see plain calls run as tasks too).
    assert!(task_lines(&log) >= 22, "10 + 10 tasks and 2 cancelled ones: {log:#?}");
    assert_eq!(log.iter().filter(|l| l.contains("task cancelled")).count(), 2);
    // Directives as in RUST_LOG work too.
    let log = log_of(&["--log-level", "warn,ferry_server::tasks=debug"], NO_RUST_LOG, 10).await;
    assert!(task_lines(&log) >= 22, "{log:#?}");
}

#[tokio::test]
async fn rust_log_applies_without_the_flag_and_the_flag_wins_over_it() {
    let log = log_of(&[], &[("RUST_LOG", Some("debug"))], 5).await;
    assert!(task_lines(&log) >= 12, "RUST_LOG=debug alone: {log:#?}");
    let log = log_of(&["--log-level", "info"], &[("RUST_LOG", Some("debug"))], 5).await;
    assert_eq!(task_lines(&log), 0, "--log-level info over RUST_LOG=debug");
}

#[test]
fn a_bad_log_level_is_refused() {
    for bad in ["loud", "info,ferry_server=loud"] {
        let out = std::process::Command::new(FERRY)
            .args(["serve", "--addr", "127.0.0.1:0", "--log-level", bad])
            .env_remove("RUST_LOG")
            .output()
            .expect("ferry runs");
        assert!(!out.status.success(), "{bad}: {out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--log-level"), "{bad}: {out:?}");
    }
}

#[tokio::test]
async fn log_format_json_writes_a_json_object_per_line_with_the_span_fields() {
    let log = log_of(&["--log-format", "json", "--log-level", "debug"], NO_RUST_LOG, 3).await;
    let lines: Vec<serde_json::Value> =
        log.iter().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"))).collect();
    assert!(lines.iter().all(|l| l["level"].is_string() && l["fields"]["message"].is_string()), "{log:#?}");
    assert!(lines.iter().any(|l| l["fields"]["message"].as_str().is_some_and(|m| m.starts_with("MCP at "))));
    // A per-task line names the request it happened in, with the request span's fields.
    let created = lines.iter().find(|l| l["fields"]["message"] == "task created").expect("a task created line");
    assert_eq!(created["span"]["mcp.method.name"], "tools/call", "{created}");
    assert_eq!(created["span"]["gen_ai.tool.name"], "add", "{created}");
    assert!(created["span"]["mcp.protocol.version"].is_string(), "{created}");
    // And the environment variable chooses it too.
    let log = log_of(&[], &[("RUST_LOG", None), ("FERRY_LOG_FORMAT", Some("json"))], 0).await;
    assert!(log.iter().all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()), "{log:#?}");
}

#[test]
fn a_bad_log_format_is_refused() {
    let out = std::process::Command::new(FERRY)
        .args(["serve", "--addr", "127.0.0.1:0", "--log-format", "xml"])
        .output()
        .expect("ferry runs");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--log-format"), "{out:?}");
}

#[test]
fn worker_log_format_json_reports_errors_as_json_lines() {
    let out = std::process::Command::new(FERRY)
        .args(["worker", "--log-format", "json"])
        .env_remove("FERRY_REDIS_URL")
        .output()
        .expect("ferry runs");
    assert_eq!(out.status.code(), Some(2), "no --redis: {out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<serde_json::Value> =
        stderr.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
    let error = lines.iter().find(|l| l["level"] == "ERROR").expect("an error line");
    assert!(error["fields"]["message"].as_str().is_some_and(|m| m.contains("--redis")), "{error}");
}
