//! The `ferry` command line says what went wrong and why (issue 10): targets that do not
//! start, unreachable servers and Redis, arguments read by the tool's schema, the server's
//! log messages, `prompt get`, one JSON document per command.

use ferry_server::{Context, Server, ToolDef};
use serde_json::{json, Value};
use std::process::{Command, Output};

mod support;
use support::{serve, FERRY};

fn ferry(args: &[&str]) -> Output {
    Command::new(FERRY).args(args).env_remove("RUST_LOG").output().expect("ferry runs")
}

async fn ferry_async(args: &[&str]) -> Output {
    tokio::process::Command::new(FERRY).args(args).env_remove("RUST_LOG").output().await.expect("ferry runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// A port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Serve `server` over HTTP in this process; its `/mcp` URL.
async fn serve_here(server: Server) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { server.serve_listener(listener).await });
    url
}

#[test]
fn a_stdio_target_that_fails_shows_its_exit_status_and_stderr() {
    let typo = format!("{FERRY} serve --stdoi");
    let out = ferry(&["tools", &typo]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = stderr(&out);
    assert!(err.contains("exited (exit status: 2)") && err.contains("unexpected argument '--stdoi'"), "{err}");

    let out = ferry(&["tools", "no-such-ferry-server-here"]);
    let err = stderr(&out);
    assert!(err.contains("exit status: 127") && err.contains("not found"), "{err}");
    assert!(!err.contains("did you mean"), "{err}");

    let out = ferry(&["tools", "127.0.0.1:8765/mcp"]);
    assert!(stderr(&out).contains("did you mean http://127.0.0.1:8765/mcp?"), "{out:?}");
    let out = ferry(&["tools", "localhost:8765/mcp"]);
    assert!(stderr(&out).contains("did you mean http://localhost:8765/mcp?"), "{out:?}");
}

#[test]
fn a_command_that_never_answers_the_handshake_times_out() {
    let out = ferry(&["tools", "cat", "--timeout", "0.5"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = stderr(&out);
    assert!(err.contains("no answer to the MCP handshake from the command 'cat'"), "{err}");
    assert!(err.contains("does it serve MCP on stdio?"), "{err}");
    let out = ferry(&["tools", "cat", "--timeout", "0"]);
    assert_eq!(out.status.code(), Some(2), "a timeout must be above 0: {out:?}");
}

#[test]
fn connection_errors_name_their_cause() {
    let url = format!("http://127.0.0.1:{}/mcp", closed_port());
    let out = ferry(&["tools", &url]);
    let err = stderr(&out);
    assert!(err.contains(&format!("cannot connect to {url}")) && err.contains("refused"), "{err}");

    let s = serve(&[]);
    let wrong_path = s.url.trim_end_matches("mcp").to_string();
    let err = stderr(&ferry(&["tools", &wrong_path]));
    assert!(err.contains("HTTP 404") && err.contains("a Ferry server's is /mcp"), "{err}");

    let addr = s.url.trim_start_matches("http://").trim_end_matches("/mcp");
    let out = ferry(&["serve", "--addr", addr]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = stderr(&out);
    assert!(err.contains(&format!("cannot listen on {addr}")) && err.contains("in use"), "{err}");
}

#[test]
fn a_bad_redis_url_fails_at_once_with_status_2() {
    let worker = ["worker", "--redis", "localhost:16379"];
    let serve = ["serve", "--addr", "127.0.0.1:0", "--redis", "localhost:16379"];
    for args in [&worker[..], &serve[..]] {
        let out = ferry(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let err = stderr(&out);
        assert!(err.contains("--redis 'localhost:16379' is not a Redis URL") && err.contains("redis://"), "{err}");
        assert!(!err.contains("unreachable"), "not retried: {err}");
    }
}

#[test]
fn an_unreachable_redis_is_retried_then_given_up_on() {
    let url = format!("redis://127.0.0.1:{}", closed_port());
    let out = ferry(&["worker", "--redis", &url, "--redis-wait-secs", "3"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = stderr(&out);
    assert!(
        err.contains(&format!("gave up on Redis at {url}: still unreachable after 3s (--redis-wait-secs)")),
        "{err}"
    );
    // Each failed attempt before that is reported with when the next comes.
    let retries = err.lines().filter(|l| l.contains("unreachable") && l.contains("trying again in")).count();
    let attempts = err.lines().filter(|l| l.contains("unreachable")).count();
    assert_eq!(attempts, retries + 1, "{err}");
}

#[test]
fn arguments_follow_the_tool_schema_and_are_checked_before_sending() {
    let s = serve(&[]);
    // `message` is a string: 123 is sent as text (the tool fails with it, as it should).
    let out = ferry(&["call", &s.url, "fail", "message=123"]);
    assert_eq!(stdout(&out), "123", "{out:?}");
    assert!(stderr(&out).contains("the tool reported an error"), "{out:?}");
    for (args, said) in [
        (&["add", "a=1", "c=2"][..], "tool 'add' has no argument 'c'; its arguments: a, b"),
        (&["add", "a=1", "a=2", "b=1"][..], "argument 'a' is given twice"),
        (&["add", "a=x", "b=1"][..], "argument a=x: tool 'add' wants an integer there"),
        (&["add", "a=1"][..], "tool 'add' needs b"),
        (&["nope"][..], "no tool 'nope' on this server; it has: add, sleep"),
    ] {
        let out = ferry(&[&["call", s.url.as_str()][..], args].concat());
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(stderr(&out).contains(said), "{args:?}: {out:?}");
    }
}

#[test]
fn task_support_is_respected_in_both_eras() {
    let s = serve(&[]);
    for mode in ["auto", "handshake"] {
        let out = ferry(&["call", &s.url, "no_task", "x=1", "--task", "--mode", mode]);
        assert_eq!(out.status.code(), Some(2), "{mode}: {out:?}");
        assert!(stderr(&out).contains("does not run as a task"), "{mode}: {out:?}");
        assert!(stdout(&out).is_empty(), "{mode}: not called: {out:?}");
        // A tool that only runs as a task, called plainly: its task is followed to the result.
        let out = ferry(&["call", &s.url, "must_task", "x=4", "--mode", mode]);
        assert_eq!(stdout(&out), "8", "{mode}: {out:?}");
    }
}

#[test]
fn a_task_started_on_a_stdio_server_is_said_to_be_gone() {
    let cmd = format!("{FERRY} serve --stdio");
    let out = ferry(&["call", &cmd, "sleep", "ms=10", "--task"]);
    assert!(out.status.success(), "{out:?}");
    let err = stderr(&out);
    assert!(err.contains("the task is gone") && err.contains("--wait"), "{err}");
    assert!(!err.contains("fetch it later with"), "{err}");
    let out = ferry(&["call", &cmd, "sleep", "ms=10", "--task", "--wait"]);
    assert_eq!(stdout(&out), "slept 10", "{out:?}");
}

fn talking_server() -> Server {
    Server::builder("talker", "1")
        .tool(ToolDef::new("chatty").handler(|cx: Context| async move {
            cx.info("warming up");
            // Long after the log message: it has reached the client before the result.
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            "done"
        }))
        .tool(ToolDef::new("ask").handler(|cx: Context| async move {
            let schema = json!({"type": "object", "properties": {"name": {"type": "string"}}});
            cx.elicit("Your name?", schema).await.map(|a| a.to_string())
        }))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_messages_are_printed_on_stderr_at_the_level_asked() {
    let url = serve_here(talking_server()).await;
    for mode in ["auto", "handshake"] {
        let out = ferry_async(&["call", &url, "chatty", "--mode", mode]).await;
        assert_eq!(stdout(&out), "done", "{mode}: {out:?}");
        assert!(stderr(&out).contains("[info] talker: warming up"), "{mode}: {out:?}");
        let out = ferry_async(&["call", &url, "chatty", "--mode", mode, "--log-level", "warning"]).await;
        assert!(out.status.success() && !stderr(&out).contains("warming up"), "{mode}: {out:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_asking_for_user_input_says_the_command_line_cannot_answer() {
    let url = serve_here(talking_server()).await;
    for mode in ["auto", "handshake"] {
        let out = ferry_async(&["call", &url, "ask", "--mode", mode]).await;
        assert_eq!(out.status.code(), Some(1), "{mode}: {out:?}");
        assert!(stderr(&out).contains("which the ferry command line cannot answer"), "{mode}: {out:?}");
    }
}

#[test]
fn prompt_get_renders_a_prompt() {
    let s = serve(&[]);
    let out = ferry(&["prompt", "get", &s.url, "greet", "name=Ada"]);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).starts_with("[user]\n") && stdout(&out).contains("Ada"), "{out:?}");
    let out = ferry(&["prompt", "get", &s.url, "greet"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(stderr(&out).contains("prompt 'greet' needs name"), "{out:?}");
    let out = ferry(&["prompt", "get", &s.url, "greet", "name=Ada", "--json"]);
    let v: Value = serde_json::from_str(&stdout(&out)).expect("one JSON document");
    assert_eq!(v["messages"][0]["role"], "user");
}

#[test]
fn tasks_list_says_why_it_is_empty() {
    let s = serve(&[]);
    let out = ferry(&["tasks", "list", &s.url]);
    assert!(out.status.success() && stdout(&out).is_empty(), "{out:?}");
    assert!(stderr(&out).contains("without credentials (--token)"), "{out:?}");
}

#[test]
fn json_output_is_one_document_per_command() {
    let s = serve(&[]);
    let id = stdout(&ferry(&["call", &s.url, "sleep", "ms=10", "--task"]));
    let commands: [(&[&str], &str); 9] = [
        (&["tools"], "/tools/0/name"),
        (&["prompts"], "/prompts/0/name"),
        (&["resources"], "/resources/0/uri"),
        (&["tasks", "list"], "/tasks"),
        (&["call", "add", "a=1", "b=2"], "/content/0/text"),
        // Long enough that the server's quick answer (2 ms by default) cannot take it.
        (&["call", "sleep", "ms=200", "--task"], "/taskId"),
        (&["call", "sleep", "ms=1", "--task", "--wait"], "/content/0/text"),
        (&["tasks", "get", &id], "/taskId"),
        (&["tasks", "result", &id], "/content/0/text"),
    ];
    for (args, pointer) in commands {
        let (head, rest) = args.split_at(if args[0] == "tasks" { 2 } else { 1 });
        let out = ferry(&[head, &[s.url.as_str()], rest, &["--json"]].concat());
        assert!(out.status.success(), "{args:?}: {out:?}");
        let doc: Value = serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| panic!("{args:?}: {e}: {out:?}"));
        assert!(doc.pointer(pointer).is_some(), "{args:?}: {doc}");
    }
}

#[test]
fn the_binary_has_a_usage_error_status_for_bad_input() {
    let s = serve(&[]);
    let out = ferry(&["call", &s.url, "add", "a=1", "b=2", "--header", "no colon"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(stderr(&out).contains("header 'no colon' is not 'Name: value'"), "{out:?}");
}
