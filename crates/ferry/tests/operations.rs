//! Operating a deployment from outside: `ferry status`, `ferry admin tasks` and the admin
//! API of `ferry serve --admin-addr`, against real processes (a server, a `ferry worker`
//! that is killed) on Redis and on the embedded engine.

use serde_json::{json, Value};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::{serve, Proc, Served, FERRY};

const TOKEN: &str = "test-admin-token-0123456789";

/// Keys of a test prefix, deleted when dropped.
struct Prefix {
    url: String,
    name: String,
}

impl Drop for Prefix {
    fn drop(&mut self) {
        if let Ok(mut conn) = redis::Client::open(self.url.as_str()).and_then(|c| c.get_connection()) {
            let keys: Vec<String> =
                redis::cmd("KEYS").arg(format!("{}:*", self.name)).query(&mut conn).unwrap_or_default();
            if !keys.is_empty() {
                let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query(&mut conn);
            }
        }
    }
}

fn redis_prefix() -> Prefix {
    let url = ferry_redis::testing::redis_url();
    if let Err(e) = redis::Client::open(url.as_str()).and_then(|c| c.get_connection()) {
        panic!("these tests need Redis at {url} ({e}): apt-get install redis-server, or set FERRY_TEST_REDIS_URL");
    }
    Prefix { url, name: format!("ferry-ops-{}", ferry_server::engine::new_task_id()) }
}

/// Run `ferry ARGS` to its end.
fn ferry(args: &[&str]) -> Output {
    Command::new(FERRY).args(args).stdin(Stdio::null()).output().expect("ferry runs")
}

/// Run `ferry ARGS`, which must succeed, and read its stdout as JSON.
fn ferry_json(args: &[&str]) -> Value {
    let out = ferry(args);
    assert!(out.status.success(), "ferry {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("ferry {args:?} printed no JSON ({e})"))
}

/// Start a background `tool` call on the server at `url`; returns the task id.
fn start_task(url: &str, tool: &str, arguments: &[&str]) -> String {
    let mut args = vec!["call", url, tool, "--task", "--json"];
    args.extend(arguments);
    let task = ferry_json(&args);
    task["taskId"].as_str().unwrap_or_else(|| panic!("no task id in {task}")).to_string()
}

/// The admin API's base URL, from the server's log.
fn admin_url(served: &Served) -> String {
    let log = served.logged();
    let line = log.iter().find(|l| l.contains("admin API at ")).unwrap_or_else(|| panic!("no admin line in {log:?}"));
    let rest = line.split("admin API at ").nth(1).unwrap_or_default();
    rest.split("/admin/api/").next().unwrap_or_default().to_string()
}

/// Poll `f` until it returns `Some`, for up to 60 s.
fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn worker<'a>(stats: &'a Value, name: &str) -> Option<&'a Value> {
    stats["workers"].as_array()?.iter().find(|w| w["name"] == name)
}

#[test]
fn status_shows_a_worker_with_its_tasks_then_lapsed_after_it_was_killed() {
    let prefix = redis_prefix();
    let store = ["--redis", prefix.url.as_str(), "--prefix", prefix.name.as_str()];
    let mut args = vec!["--no-local-worker", "--admin-addr", "127.0.0.1:0", "--admin-token", TOKEN];
    args.extend(store);
    let server = serve(&args);
    let admin = admin_url(&server);
    let mut worker_args = vec!["worker", "--name", "w-ops", "--concurrency", "4", "--heartbeat-ms", "200"];
    worker_args.extend(store);
    let child = Command::new(FERRY).args(&worker_args).stdout(Stdio::null()).stderr(Stdio::null()).spawn();
    let worker_proc = Proc(child.expect("ferry worker starts"));

    let ids = [start_task(&server.url, "sleep", &["ms=600000"]), start_task(&server.url, "sleep", &["ms=600000"])];
    let mut status = vec!["status", "--json"];
    status.extend(store);
    let seen = wait_for("the worker to report both tasks", || {
        let stats = ferry_json(&status);
        let w = worker(&stats, "w-ops")?;
        let running: Vec<&str> = w["running"].as_array()?.iter().filter_map(Value::as_str).collect();
        (w["alive"] == true && ids.iter().all(|id| running.contains(&id.as_str()))).then(|| stats.clone())
    });
    assert_eq!(seen["running"], 2, "{seen}");
    let w = worker(&seen, "w-ops").unwrap();
    assert_eq!((w["concurrency"].as_u64(), w["reportEveryMs"].as_u64()), (Some(4), Some(200)), "{w}");
    assert_eq!(seen["tasksByStatus"]["working"], 2, "{seen}");
    // The same through the server's admin listener.
    let via_admin = ferry_json(&["status", "--json", "--admin-url", &admin, "--admin-token", TOKEN]);
    assert_eq!(worker(&via_admin, "w-ops").map(|w| w["alive"].clone()), Some(json!(true)), "{via_admin}");
    // One task whole: its worker and arguments.
    let mut show = vec!["admin", "tasks", "show", ids[0].as_str(), "--json"];
    show.extend(store);
    let detail = ferry_json(&show);
    assert_eq!((detail["worker"].as_str(), detail["arguments"].clone()), (Some("w-ops"), json!({"ms": 600000})));
    assert!(detail["claimedAtMs"].as_u64().is_some(), "{detail}");

    // Killed without a goodbye: the worker stays listed, lapsed once its reports stop.
    drop(worker_proc);
    let lapsed = wait_for("the killed worker to show as lapsed", || {
        let stats = ferry_json(&status);
        (worker(&stats, "w-ops")?["alive"] == false).then_some(stats)
    });
    assert!(worker(&lapsed, "w-ops").is_some());
    let mut text = vec!["status"];
    text.extend(store);
    let out = ferry(&text);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && shown.contains("LAPSED") && shown.contains("w-ops"), "{shown}");
    assert!(shown.contains("0 alive, 1 lapsed"), "{shown}");
}

/// Send `method path` to the admin API with an optional token: (status, WWW-Authenticate, JSON body).
fn http(method: &str, url: &str, token: Option<&str>) -> (u16, Option<String>, Value) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let mut request = client.request(method.parse().unwrap(), url);
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        let response = request.send().await.expect("admin API answers");
        let status = response.status().as_u16();
        let challenge = response.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_string());
        (status, challenge, response.json().await.unwrap_or(Value::Null))
    })
}

#[test]
fn the_admin_api_reads_filters_and_cancels_only_with_its_token() {
    // Without quick answers: `add` is to become a task like the others.
    let server = serve(&["--admin-addr", "127.0.0.1:0", "--admin-token", TOKEN, "--quick-answer-ms", "0"]);
    let admin = admin_url(&server);
    let slow = [start_task(&server.url, "sleep", &["ms=600000"]), start_task(&server.url, "sleep", &["ms=600000"])];
    let quick = start_task(&server.url, "add", &["a=1", "b=2"]);
    let _ = ferry(&["call", &server.url, "add", "a=1", "b=2"]);

    // Reads are open on a loopback listener.
    let (code, _, stats) = http("GET", &format!("{admin}/admin/api/status"), None);
    assert_eq!(code, 200, "{stats}");
    assert!(stats["workers"].as_array().is_some_and(|w| !w.is_empty()), "the local worker reports: {stats}");
    let (code, _, page) = http("GET", &format!("{admin}/admin/api/tasks?status=working&name=sleep"), None);
    assert_eq!(code, 200, "{page}");
    let listed: Vec<&str> = page["tasks"].as_array().unwrap().iter().filter_map(|t| t["id"].as_str()).collect();
    assert_eq!(listed, [slow[0].as_str(), slow[1].as_str()]);
    let (code, _, page) = http("GET", &format!("{admin}/admin/api/tasks?search={}", &quick[..12]), None);
    assert_eq!((code, page["tasks"][0]["id"].as_str()), (200, Some(quick.as_str())), "{page}");
    let (code, _, error) = http("GET", &format!("{admin}/admin/api/tasks?status=sleeping"), None);
    assert_eq!(code, 400);
    assert!(error["error"].as_str().is_some_and(|e| e.contains("sleeping")), "{error}");
    let (code, _, detail) = http("GET", &format!("{admin}/admin/api/tasks/{}", slow[0]), None);
    assert_eq!((code, detail["arguments"].clone()), (200, json!({"ms": 600000})), "{detail}");
    assert_eq!(http("GET", &format!("{admin}/admin/api/tasks/nope"), None).0, 404);

    // Cancelling needs the token.
    let cancel = format!("{admin}/admin/api/tasks/{}/cancel", slow[0]);
    let (code, challenge, _) = http("POST", &cancel, None);
    assert_eq!((code, challenge.as_deref()), (401, Some("Bearer")));
    assert_eq!(http("POST", &cancel, Some("not-the-token-at-all")).0, 401);
    let (code, _, record) = http("POST", &cancel, Some(TOKEN));
    assert_eq!((code, record["status"].as_str()), (200, Some("cancelled")), "{record}");

    // The command line over the same listener.
    let remote = ["--admin-url", admin.as_str(), "--admin-token", TOKEN];
    let mut cancel_cli = vec!["admin", "tasks", "cancel", slow[1].as_str()];
    cancel_cli.extend(remote);
    let out = ferry(&cancel_cli);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let again = ferry(&cancel_cli);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already ended"));
    let mut list = vec!["admin", "tasks", "list", "--status", "cancelled", "--tool", "sleep", "--json"];
    list.extend(remote);
    let page = ferry_json(&list);
    assert_eq!(page["tasks"].as_array().map(Vec::len), Some(2), "{page}");
    let out = ferry(&["status", "--admin-url", &admin]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && shown.contains("Workers") && shown.contains("2 cancelled"), "{shown}");
    // Bad input is a usage error.
    for bad in [&["--older-than", "5 minutes"][..], &["--status", "asleep"][..]] {
        let mut args = vec!["admin", "tasks", "list"];
        args.extend(bad);
        args.extend(remote);
        assert_eq!(ferry(&args).status.code(), Some(2), "{bad:?}");
    }
}

#[test]
fn without_an_admin_token_changes_are_refused_and_only_loopback_may_listen() {
    let server = serve(&["--admin-addr", "127.0.0.1:0"]);
    let admin = admin_url(&server);
    let id = start_task(&server.url, "sleep", &["ms=600000"]);
    let (code, _, error) = http("POST", &format!("{admin}/admin/api/tasks/{id}/cancel"), Some(TOKEN));
    assert_eq!(code, 403);
    assert!(error["error"].as_str().is_some_and(|e| e.contains("--admin-token")), "{error}");
    let out = ferry(&["admin", "tasks", "cancel", &id, "--admin-url", &admin]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("403"));
    // Anywhere but loopback the admin API needs a token.
    let open = ferry(&["serve", "--addr", "127.0.0.1:0", "--admin-addr", "0.0.0.0:0"]);
    assert_eq!(open.status.code(), Some(2), "{}", String::from_utf8_lossy(&open.stderr));
    assert!(String::from_utf8_lossy(&open.stderr).contains("--admin-token"));
    let weak = ferry(&["serve", "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--admin-token", "short"]);
    assert_eq!(weak.status.code(), Some(2), "{}", String::from_utf8_lossy(&weak.stderr));
}

#[test]
fn status_watch_refreshes_until_interrupted() {
    let server = serve(&["--admin-addr", "127.0.0.1:0"]);
    let admin = admin_url(&server);
    let mut watch = Command::new(FERRY)
        .args(["status", "--admin-url", &admin, "--json", "--watch", "0.2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("ferry status --watch starts");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(watch.stdout.take().unwrap()));
    for _ in 0..3 {
        let line = lines.next().expect("another refresh").expect("a line");
        let stats: Value = serde_json::from_str(&line).expect("one JSON document per refresh");
        assert!(stats["atMs"].as_u64().is_some(), "{stats}");
    }
    let _ = Command::new("kill").args(["-INT", &watch.id().to_string()]).status();
    let code = wait_for("ferry status --watch to end on Ctrl-C", || watch.try_wait().ok().flatten());
    assert!(code.success(), "{code:?}");
    let bad = ferry(&["status", "--admin-url", &admin, "--watch", "0"]);
    assert_eq!(bad.status.code(), Some(2));
}
