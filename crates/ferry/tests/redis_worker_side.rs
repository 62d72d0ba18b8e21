//! What a handler does in a worker process: its dependency providers run there,
//! not in the front end; its log messages still reach the caller's session, and
//! its resource updates the sessions subscribed on the front end.
//!
//! The front end and the worker are two `Server`s on two Redis connections, as
//! in two processes; the client talks to the front end over a stdio pipe.

use ferry_redis::{RedisBackend, RedisConfig};
use ferry_server::engine::{Worker, WorkerConfig};
use ferry_server::{Context, Dep, LoggingLevel, Provided, ResourceDef, Server, TaskSupport, ToolDef, ToolError};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, Lines, ReadHalf, WriteHalf};

struct Place {
    name: &'static str,
}

#[derive(Default)]
struct Counts {
    made: AtomicUsize,
    cleaned: AtomicUsize,
}

/// The same application, built for one role; `counts` records what its providers did.
fn app(backend: Arc<RedisBackend>, role: &'static str, counts: Arc<Counts>) -> Server {
    Server::builder("app", "1")
        .backend(backend)
        .configure(|c| c.local_worker = false)
        .provider(move |_cx: Context| {
            let counts = counts.clone();
            async move {
                counts.made.fetch_add(1, Ordering::SeqCst);
                Ok(Provided::new(Place { name: role }).on_cleanup(move |_r| async move {
                    counts.cleaned.fetch_add(1, Ordering::SeqCst);
                }))
            }
        })
        .tool(
            ToolDef::new("where")
                .task_support(TaskSupport::Required)
                .handler(|r: Dep<Place>| async move { format!("ran in the {}", r.name) }),
        )
        .tool(ToolDef::new("chatty").task_support(TaskSupport::Required).handler(|cx: Context| async move {
            cx.log(LoggingLevel::Debug, "too quiet to pass");
            for i in 1..=3 {
                cx.info(format!("line {i} from {}", cx.session_id().unwrap_or("nowhere")));
            }
            "said three lines"
        }))
        .resource(ResourceDef::new("app://board", "board").handler(|| async { String::from("the board") }))
        .tool(ToolDef::new("pin").task_support(TaskSupport::Required).handler(|cx: Context| async move {
            cx.notify_resource_updated("app://board").await.map_err(ToolError::from)?;
            Ok::<_, ToolError>("pinned")
        }))
        .build()
        .expect("valid app")
}

/// A front end and a worker process sharing a fresh Redis prefix, and a client session.
struct Deployment {
    worker_backend: Arc<RedisBackend>,
    worker: ferry_server::engine::WorkerHandle,
    tx: WriteHalf<DuplexStream>,
    rx: Lines<BufReader<ReadHalf<DuplexStream>>>,
}

impl Deployment {
    async fn start(front: Arc<Counts>, back: Arc<Counts>) -> Deployment {
        let url = ferry_redis::testing::redis_url();
        let prefix = format!("ferry-test-worker-side-{}", ferry_server::engine::new_task_id());
        let connect = || async {
            let config = RedisConfig::new(url.clone()).prefix(prefix.clone());
            Arc::new(RedisBackend::connect(config).await.unwrap_or_else(|e| {
                panic!(
                    "this test needs Redis at {url} ({e}); install and start redis-server or set FERRY_TEST_REDIS_URL"
                )
            }))
        };
        let front = app(connect().await, "front end", front);
        let worker_backend = connect().await;
        let worker_app = app(worker_backend.clone(), "worker", back);
        let worker = Worker::new(worker_backend.clone(), worker_app.executor(), WorkerConfig::default()).start();
        let (ours, theirs) = tokio::io::duplex(1 << 16);
        let (r, w) = tokio::io::split(theirs);
        tokio::spawn(async move { front.serve_io(r, w).await });
        let (r, tx) = tokio::io::split(ours);
        let mut d = Deployment { worker_backend, worker, tx, rx: BufReader::new(r).lines() };
        let init =
            json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}});
        d.send(1, "initialize", init).await;
        d.until_answer(1).await;
        d
    }

    async fn send(&mut self, id: i64, method: &str, params: Value) {
        let line = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string() + "\n";
        self.tx.write_all(line.as_bytes()).await.unwrap();
    }

    /// Read until the answer to `id`; returns it and the notifications seen on the way.
    async fn until_answer(&mut self, id: i64) -> (Value, Vec<Value>) {
        let mut seen = Vec::new();
        loop {
            let line =
                tokio::time::timeout(Duration::from_secs(20), self.rx.next_line()).await.unwrap().unwrap().unwrap();
            let v: Value = serde_json::from_str(&line).unwrap();
            if v["id"] == id {
                return (v, seen);
            }
            seen.push(v);
        }
    }

    /// Start `tool` as a task and return its result, with the notifications seen meanwhile.
    async fn run_task(&mut self, tool: &str) -> (Value, Vec<Value>) {
        self.send(2, "tools/call", json!({"name": tool, "task": {"ttl": 60000}})).await;
        let (created, mut seen) = self.until_answer(2).await;
        let task_id = created["result"]["task"]["taskId"].as_str().expect("a task").to_string();
        self.send(3, "tasks/result", json!({"taskId": task_id})).await;
        let (result, more) = self.until_answer(3).await;
        seen.extend(more);
        (result, seen)
    }

    async fn stop(self) {
        self.worker.shutdown().await;
        let _ = self.worker_backend.purge().await;
    }
}

#[tokio::test]
async fn providers_run_and_clean_up_in_the_worker() {
    let (front, back) = (Arc::new(Counts::default()), Arc::new(Counts::default()));
    let mut d = Deployment::start(front.clone(), back.clone()).await;
    let (result, _) = d.run_task("where").await;
    assert_eq!(result["result"]["content"][0]["text"], "ran in the worker", "{result}");
    for _ in 0..200 {
        if back.cleaned.load(Ordering::SeqCst) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(back.made.load(Ordering::SeqCst), 1);
    assert_eq!(back.cleaned.load(Ordering::SeqCst), 1);
    assert_eq!(front.made.load(Ordering::SeqCst), 0, "the front end ran no provider");
    d.stop().await;
}

#[tokio::test]
async fn log_messages_of_a_worker_reach_the_caller_in_order_at_its_level() {
    let mut d = Deployment::start(Arc::default(), Arc::default()).await;
    d.send(9, "logging/setLevel", json!({"level": "info"})).await;
    d.until_answer(9).await;
    let (result, seen) = d.run_task("chatty").await;
    assert_eq!(result["result"]["content"][0]["text"], "said three lines", "{result}");
    // The result can overtake the last relayed lines: read on until all three arrived.
    let mut logs: Vec<Value> = seen.into_iter().filter(|v| v["method"] == "notifications/message").collect();
    while logs.len() < 3 {
        let line = tokio::time::timeout(Duration::from_secs(20), d.rx.next_line()).await.unwrap().unwrap().unwrap();
        let v: Value = serde_json::from_str(&line).unwrap();
        if v["method"] == "notifications/message" {
            logs.push(v);
        }
    }
    let texts: Vec<&str> = logs.iter().map(|l| l["params"]["data"].as_str().unwrap()).collect();
    assert!(texts.iter().all(|t| !t.contains("quiet")), "below the session's level: {texts:?}");
    assert_eq!(texts.len(), 3, "{texts:?}");
    for (i, t) in texts.iter().enumerate() {
        // In order, and the worker knew the caller's session id.
        assert!(t.starts_with(&format!("line {} from ", i + 1)) && !t.ends_with("nowhere"), "{texts:?}");
    }
    let task = &logs[0]["params"]["_meta"]["io.modelcontextprotocol/related-task"]["taskId"];
    assert!(task.is_string(), "related to its task: {}", logs[0]);
    d.stop().await;
}

#[tokio::test]
async fn resource_updates_from_a_worker_reach_subscribed_sessions() {
    let mut d = Deployment::start(Arc::default(), Arc::default()).await;
    d.send(9, "resources/subscribe", json!({"uri": "app://board"})).await;
    assert_eq!(d.until_answer(9).await.0["result"], json!({}));
    let (result, mut seen) = d.run_task("pin").await;
    assert_eq!(result["result"]["content"][0]["text"], "pinned", "{result}");
    while !seen.iter().any(|v| v["method"] == "notifications/resources/updated") {
        let line = tokio::time::timeout(Duration::from_secs(20), d.rx.next_line()).await.unwrap().unwrap().unwrap();
        seen.push(serde_json::from_str(&line).unwrap());
    }
    let n = seen.iter().find(|v| v["method"] == "notifications/resources/updated").unwrap();
    assert_eq!(n["params"], json!({"uri": "app://board"}));
    d.stop().await;
}
