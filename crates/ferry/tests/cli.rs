//! The `ferry` command line as a new user runs it (the session shown in the README):
//! serve in one terminal, call tools and follow tasks from another.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};

mod support;
use support::{serve, FERRY};

fn ferry(args: &[&str]) -> Output {
    Command::new(FERRY).args(args).output().expect("ferry runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[test]
fn call_a_tool() {
    let s = serve(&[]);
    let out = ferry(&["call", &s.url, "add", "a=2", "b=3"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout(&out), "5");
}

#[test]
fn tool_errors_and_bad_arguments_fail_the_command_with_a_message() {
    let s = serve(&[]);
    let out = ferry(&["call", &s.url, "fail", "message=boom"]);
    assert!(!out.status.success());
    assert_eq!(stdout(&out), "boom");
    let out = ferry(&["call", &s.url, "add", "a=x", "b=1"]);
    assert_eq!(out.status.code(), Some(2), "refused before sending: {out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("wants an integer"), "{out:?}");
    let out = ferry(&["call", &s.url, "add", "5"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not key=value"));
    let out = ferry(&["call", "http://127.0.0.1:9/mcp", "add"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ferry:"), "{out:?}");
}

#[test]
fn start_a_task_and_fetch_its_result_from_another_process() {
    let s = serve(&[]);
    let out = ferry(&["call", &s.url, "sleep", "ms=300", "--task"]);
    assert!(out.status.success(), "{out:?}");
    let id = stdout(&out);
    assert_eq!(id.len(), 26, "a task id: {id}");
    let got = ferry(&["tasks", "get", &s.url, &id, "--json"]);
    let info: serde_json::Value = serde_json::from_str(&stdout(&got)).expect("JSON");
    assert_eq!(info["taskId"], id.as_str());
    let result = ferry(&["tasks", "result", &s.url, &id]);
    assert_eq!(stdout(&result), "slept 300");
}

#[test]
fn wait_follows_a_long_task_to_its_result() {
    let s = serve(&[]);
    let out = ferry(&["call", &s.url, "progress", "steps=3", "delay_ms=100", "--task", "--wait"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout(&out), "done 3");
}

#[test]
fn cancel_a_task() {
    let s = serve(&[]);
    let id = stdout(&ferry(&["call", &s.url, "sleep", "ms=600000", "--task"]));
    let out = ferry(&["tasks", "cancel", &s.url, &id]);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).contains("cancelled"), "{out:?}");
    let out = ferry(&["tasks", "result", &s.url, &id]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cancelled"), "{out:?}");
}

#[test]
fn ctrl_c_while_waiting_cancels_the_task() {
    let s = serve(&[]);
    let mut child = Command::new(FERRY)
        .args(["call", &s.url, "sleep", "ms=600000", "--task", "--wait"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ferry call");
    // Wait until the task is announced, then interrupt.
    let mut err = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let started = err.by_ref().map_while(Result::ok).find(|l| l.contains("started")).expect("task announced");
    let id = started.split_whitespace().nth(2).expect("id").to_string();
    let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
    let rest: Vec<String> = err.map_while(Result::ok).collect();
    let out = child.wait_with_output().expect("exits");
    assert_eq!(out.status.code(), Some(130), "{out:?} {rest:?}");
    assert!(rest.iter().any(|l| l.contains("cancelled task")), "{rest:?}");
    assert!(stdout(&out).contains("cancelled"));
    let state = stdout(&ferry(&["tasks", "get", &s.url, &id]));
    assert!(state.contains("cancelled"), "{state}");
}

#[test]
fn list_tools_and_call_a_stdio_server() {
    let s = serve(&[]);
    let out = ferry(&["tools", &s.url]);
    let text = stdout(&out);
    for tool in ["add(a, b)", "sleep(ms)", "progress(", "must_task(x)", "no_task(x)"] {
        assert!(text.contains(tool), "{text}");
    }
    let cmd = format!("{FERRY} serve --stdio");
    let out = ferry(&["call", &cmd, "add", "a=40", "b=2"]);
    assert_eq!(stdout(&out), "42", "{out:?}");
}

#[test]
fn with_auth_tokens_tasks_follow_the_token_from_process_to_process() {
    let s = serve(&["--auth-token", "alice=s3cret,bob=hunter2"]);
    let out = ferry(&["call", &s.url, "add", "a=1", "b=1"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unauthorized"), "{out:?}");

    let out = ferry(&["call", &s.url, "sleep", "ms=10", "--task", "--token", "s3cret"]);
    assert!(out.status.success(), "{out:?}");
    let id = stdout(&out);
    // Another process with the same token lists the task (a 2025-11-25 session of its own) ...
    let listed = Command::new(FERRY).args(["tasks", "list", &s.url]).env("FERRY_TOKEN", "s3cret").output().unwrap();
    assert!(listed.status.success(), "{listed:?}");
    assert!(stdout(&listed).contains(&id), "{listed:?}");
    assert_eq!(stdout(&ferry(&["tasks", "result", &s.url, &id, "--token", "s3cret"])), "slept 10");
    // ... another token does not see it.
    let bob = ferry(&["tasks", "list", &s.url, "--token", "hunter2"]);
    assert!(bob.status.success() && !stdout(&bob).contains(&id), "{bob:?}");
    let bob = ferry(&["tasks", "get", &s.url, &id, "--token", "hunter2"]);
    assert!(!bob.status.success(), "{bob:?}");
}

#[test]
fn list_prompts_and_resources_and_read_one() {
    let s = serve(&[]);
    let text = stdout(&ferry(&["prompts", &s.url]));
    assert!(text.starts_with("greet(name)  Ask the model to greet someone."), "{text}");
    let text = stdout(&ferry(&["resources", &s.url]));
    assert!(text.contains("ferry://demo/readme") && text.contains("ferry://demo/greeting/{name}"), "{text}");
    assert_eq!(stdout(&ferry(&["read", &s.url, "ferry://demo/greeting/Ada"])), "Hello, Ada!");
    let out = ferry(&["read", &s.url, "ferry://demo/nothing", "--json"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"), "{out:?}");
    let json: serde_json::Value = serde_json::from_str(&stdout(&ferry(&["resources", &s.url, "--json"]))).unwrap();
    assert_eq!(json["resourceTemplates"][0]["uriTemplate"], "ferry://demo/greeting/{name}");
}

#[tokio::test]
async fn serve_takes_session_bounds_from_its_flags() {
    let s = serve(&["--max-sessions-per-client", "1", "--session-handshake-timeout-secs", "600"]);
    let http = reqwest::Client::new();
    let init =
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{}}}"#;
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let r = http
            .post(&s.url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(init)
            .send()
            .await
            .expect("POST");
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [200, 429], "one session per client");
}

#[test]
fn serve_takes_a_fixed_poll_interval_from_its_flag() {
    let interval = |s: &support::Served| {
        let out = ferry(&["call", &s.url, "sleep", "ms=10", "--task", "--json"]);
        let info: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
        info["pollIntervalMs"].clone()
    };
    assert_eq!(interval(&serve(&["--poll-interval-ms", "250"])), 250);
    assert_eq!(interval(&serve(&[])), 10, "adaptive by default: a tool with no history starts at 10 ms");
}
