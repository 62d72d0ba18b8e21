//! Dependency providers run where the handler runs: in the worker, not the front end.

use ferry_redis::{RedisBackend, RedisConfig};
use ferry_server::engine::{Worker, WorkerConfig};
use ferry_server::{Context, Dep, Provided, Server, TaskSupport, ToolDef};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

struct Place {
    name: &'static str,
}

#[derive(Default)]
struct Counts {
    made: AtomicUsize,
    cleaned: AtomicUsize,
}

/// The same application, built for one role; `counts` records what its providers did.
fn app(backend: Arc<RedisBackend>, role: &'static str, counts: Arc<Counts>, local_worker: bool) -> Server {
    Server::builder("app", "1")
        .backend(backend)
        .configure(|c| c.local_worker = local_worker)
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
        .build()
        .expect("valid app")
}

#[tokio::test]
async fn providers_run_and_clean_up_in_the_worker() {
    let url = ferry_redis::testing::redis_url();
    let prefix = format!("ferry-test-providers-{}", ferry_server::engine::new_task_id());
    let connect = || async {
        RedisBackend::connect(RedisConfig::new(url.clone()).prefix(prefix.clone())).await.unwrap_or_else(|e| {
            panic!("this test needs Redis at {url} ({e}); install and start redis-server or set FERRY_TEST_REDIS_URL")
        })
    };
    let front_counts = Arc::new(Counts::default());
    let worker_counts = Arc::new(Counts::default());
    let front = app(Arc::new(connect().await), "front end", front_counts.clone(), false);
    let worker_backend = Arc::new(connect().await);
    let worker_app = app(worker_backend.clone(), "worker", worker_counts.clone(), false);
    let worker = Worker::new(worker_backend.clone(), worker_app.executor(), WorkerConfig::default()).start();

    // Talk to the front end over stdio-style lines.
    let (ours, theirs) = tokio::io::duplex(1 << 16);
    let (r, w) = tokio::io::split(theirs);
    tokio::spawn(async move { front.serve_io(r, w).await });
    let (r, mut w) = tokio::io::split(ours);
    let mut lines = BufReader::new(r).lines();
    let ask = |id: i64, method: &str, params: Value| {
        json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string() + "\n"
    };
    w.write_all(
        ask(
            1,
            "initialize",
            json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}),
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    w.write_all(ask(2, "tools/call", json!({"name": "where", "task": {"ttl": 60000}})).as_bytes()).await.unwrap();
    let mut task_id = String::new();
    let mut result = Value::Null;
    while result.is_null() {
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await.unwrap().unwrap().unwrap();
        let v: Value = serde_json::from_str(&line).unwrap();
        if v["id"] == 2 {
            task_id = v["result"]["task"]["taskId"].as_str().unwrap().to_string();
            w.write_all(ask(3, "tasks/result", json!({"taskId": task_id})).as_bytes()).await.unwrap();
        } else if v["id"] == 3 {
            result = v;
        }
    }
    assert!(!task_id.is_empty());
    assert_eq!(result["result"]["content"][0]["text"], "ran in the worker");
    for _ in 0..200 {
        if worker_counts.cleaned.load(Ordering::SeqCst) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(worker_counts.made.load(Ordering::SeqCst), 1);
    assert_eq!(worker_counts.cleaned.load(Ordering::SeqCst), 1);
    assert_eq!(front_counts.made.load(Ordering::SeqCst), 0, "the front end ran no provider");
    worker.shutdown().await;
    let _ = worker_backend.purge().await;
}
