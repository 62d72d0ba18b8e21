//! The Rust client against `ferry serve`, over both transports, in both protocol
//! eras, on both task backends (embedded and Redis).

use ferry_client::{CallToolResult, Client, ClientError, ClientOptions, CompletionReference, Mode, TaskStatus};
use futures::StreamExt;
use serde_json::json;
use std::process::Stdio;

mod support;
use support::{serve, FERRY};

fn redis_url() -> String {
    ferry_redis::testing::redis_url()
}

/// Deletes every key under a prefix when dropped.
struct Purge(String);

impl Drop for Purge {
    fn drop(&mut self) {
        if let Ok(mut conn) = redis::Client::open(redis_url()).and_then(|c| c.get_connection()) {
            let keys: Vec<String> =
                redis::cmd("KEYS").arg(format!("{}:*", self.0)).query(&mut conn).unwrap_or_default();
            if !keys.is_empty() {
                let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query(&mut conn);
            }
        }
    }
}

/// `--redis URL --prefix P` for a fresh prefix, after checking Redis answers.
fn redis_args() -> (Vec<String>, Purge) {
    let url = redis_url();
    if let Err(e) = redis::Client::open(url.as_str()).and_then(|c| c.get_connection()) {
        panic!("these tests need Redis at {url} ({e}): install and start redis-server, or set FERRY_TEST_REDIS_URL");
    }
    let prefix = format!("ferry-test-client-{}-{}", std::process::id(), ferry_server::engine::new_task_id());
    (vec!["--redis".into(), url, "--prefix".into(), prefix.clone()], Purge(prefix))
}

async fn connect_stdio(extra: &[String], mode: Mode) -> Client {
    let mut cmd = tokio::process::Command::new(FERRY);
    // Without quick answers: the scenario's task calls are to become tasks, however quick.
    cmd.args(["serve", "--stdio", "--quick-answer-ms", "0"]).args(extra).stderr(Stdio::null());
    Client::connect_stdio(cmd, ClientOptions::default().mode(mode)).await.expect("stdio client")
}

fn text(r: &CallToolResult) -> &str {
    r.content[0].as_text().unwrap_or_default()
}

/// What every combination must do.
async fn scenario(c: &Client, label: &str) {
    assert_eq!(text(&c.call_tool("add", json!({"a": 2, "b": 3})).await.unwrap()), "5", "{label}");
    let task = c.call_tool_task("add", json!({"a": 20, "b": 22})).await.unwrap();
    assert!(task.id().is_some(), "{label}");
    assert_eq!(text(&task.await.unwrap()), "42", "{label}");
    let task = c.call_tool_task("progress", json!({"steps": 2, "delay_ms": 100})).await.unwrap();
    let states: Vec<_> = task.status().map(|s| s.unwrap()).collect().await;
    assert_eq!(states.last().unwrap().status, TaskStatus::Completed, "{label}: {states:?}");
    assert_eq!(text(&task.result().await.unwrap()), "done 2", "{label}");
    let task = c.call_tool_task("sleep", json!({"ms": 600_000})).await.unwrap();
    assert_eq!(task.cancel().await.unwrap().status, TaskStatus::Cancelled, "{label}");
    assert!(matches!(task.result().await, Err(ClientError::TaskCancelled(_))), "{label}");
    let failed = c.call_tool_task("fail", json!({"message": "boom"})).await.unwrap().await.unwrap();
    assert!(failed.is_error, "{label}");
    let prompts = c.list_prompts().await.unwrap();
    assert_eq!(prompts.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["greet"], "{label}");
    assert_eq!(prompts[0].arguments[0].name, "name", "{label}");
    let resources = c.list_resources().await.unwrap();
    assert_eq!(resources[0].uri, "ferry://demo/readme", "{label}");
    let templates = c.list_resource_templates().await.unwrap();
    assert_eq!(templates[0].uri_template, "ferry://demo/greeting/{name}", "{label}");
    // Argument completion: the demo's prompt (a fixed list) and template (a completer function).
    let greet = CompletionReference::Prompt { name: "greet".into() };
    let names = c.complete_argument(greet, "name", "gr", &[]).await.unwrap();
    assert_eq!((names.values, names.total, names.has_more), (vec!["Grace".into(), "Grete".into()], Some(2), false));
    let template = CompletionReference::Resource { uri: "ferry://demo/greeting/{name}".into() };
    let names = c.complete_argument(template, "name", "a", &[("unused", "x")]).await.unwrap();
    assert_eq!(names.values, ["Ada", "Alan"], "{label}");
    let unknown = CompletionReference::Prompt { name: "nope".into() };
    match c.complete_argument(unknown, "name", "", &[]).await {
        Err(ClientError::Rpc(e)) => assert_eq!(e.code, -32602, "{label}: {e:?}"),
        other => panic!("{label}: {other:?}"),
    }
    c.close().await;
}

#[tokio::test]
async fn stdio_embedded_both_eras() {
    for mode in [Mode::Handshake, Mode::Modern] {
        let c = connect_stdio(&[], mode).await;
        scenario(&c, &format!("stdio/memory/{mode:?}")).await;
    }
}

#[tokio::test]
async fn stdio_redis_both_eras() {
    for mode in [Mode::Handshake, Mode::Modern] {
        let (args, _purge) = redis_args();
        let c = connect_stdio(&args, mode).await;
        scenario(&c, &format!("stdio/redis/{mode:?}")).await;
    }
}

#[tokio::test]
async fn http_embedded_both_eras() {
    let server = serve(&["--quick-answer-ms", "0"]);
    for mode in [Mode::Handshake, Mode::Modern] {
        let c = Client::connect_http(&server.url, ClientOptions::default().mode(mode)).await.unwrap();
        scenario(&c, &format!("http/memory/{mode:?}")).await;
    }
}

#[tokio::test]
async fn http_redis_both_eras() {
    let (args, _purge) = redis_args();
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    args.extend(["--quick-answer-ms", "0"]);
    let server = serve(&args);
    for mode in [Mode::Handshake, Mode::Modern] {
        let c = Client::connect_http(&server.url, ClientOptions::default().mode(mode)).await.unwrap();
        scenario(&c, &format!("http/redis/{mode:?}")).await;
    }
}
