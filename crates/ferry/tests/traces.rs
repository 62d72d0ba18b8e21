//! Traces across processes: a real `ferry serve --no-local-worker` and a real
//! `ferry worker` on one Redis, both exporting over OTLP (HTTP/protobuf) to a
//! collector stub in this test. A task's run in the worker must join the trace of the
//! `tools/call` that created it in the front end, which joins the client's trace when
//! the client sends a W3C `traceparent`.

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use ferry_client::{Client, ClientOptions, Mode};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use prost::Message;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod support;
use support::{serve_with_env, Served, FERRY};

/// One span as the collector received it (ids in hex).
#[derive(Debug, Clone)]
struct Got {
    trace_id: String,
    span_id: String,
    parent: String,
    name: String,
    kind: i32,
    attributes: HashMap<String, String>,
    /// `trace_id-span_id` of each link.
    links: Vec<String>,
    resource: HashMap<String, String>,
}

impl Got {
    fn attr(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
    fn service(&self) -> &str {
        self.resource.get("service.name").map(String::as_str).unwrap_or_default()
    }
}

const SERVER: i32 = 2; // SpanKind::Server
const CONSUMER: i32 = 5; // SpanKind::Consumer

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn text(attributes: &[KeyValue]) -> HashMap<String, String> {
    attributes
        .iter()
        .map(|kv| {
            let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(AnyValue::StringValue(s)) => s.clone(),
                Some(AnyValue::IntValue(i)) => i.to_string(),
                Some(AnyValue::BoolValue(b)) => b.to_string(),
                Some(AnyValue::DoubleValue(d)) => d.to_string(),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), v)
        })
        .collect()
}

/// An OTLP/HTTP collector stub: `POST /v1/traces` with a protobuf body.
struct Collector {
    endpoint: String,
    spans: Arc<Mutex<Vec<Got>>>,
}

async fn receive(
    State(spans): State<Arc<Mutex<Vec<Got>>>>,
    body: Bytes,
) -> ([(&'static str, &'static str); 1], Vec<u8>) {
    let request = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf export");
    let mut got = spans.lock().unwrap();
    for rs in request.resource_spans {
        let resource = text(&rs.resource.map(|r| r.attributes).unwrap_or_default());
        for ss in rs.scope_spans {
            for s in ss.spans {
                got.push(Got {
                    trace_id: hex(&s.trace_id),
                    span_id: hex(&s.span_id),
                    parent: hex(&s.parent_span_id),
                    name: s.name,
                    kind: s.kind,
                    attributes: text(&s.attributes),
                    links: s.links.iter().map(|l| format!("{}-{}", hex(&l.trace_id), hex(&l.span_id))).collect(),
                    resource: resource.clone(),
                });
            }
        }
    }
    ([("content-type", "application/x-protobuf")], ExportTraceServiceResponse::default().encode_to_vec())
}

impl Collector {
    async fn start() -> Collector {
        let spans = Arc::new(Mutex::new(Vec::new()));
        let app = axum::Router::new().route("/v1/traces", post(receive)).with_state(spans.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Collector { endpoint, spans }
    }

    fn spans(&self) -> Vec<Got> {
        self.spans.lock().unwrap().clone()
    }

    /// Wait (generously) until `find` finds what it looks for among the spans received.
    async fn wait_for<T>(&self, what: &str, find: impl Fn(&[Got]) -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(found) = find(&self.spans()) {
                return found;
            }
            assert!(Instant::now() < deadline, "no {what} after 60 s; spans received: {:#?}", self.spans());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A child process stopped with SIGTERM (a graceful stop, which flushes its spans).
struct Proc(Child);

impl Proc {
    fn terminate(mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        let _ = self.0.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn terminate(mut served: Served) {
    let _ = Command::new("kill").args(["-TERM", &served.child.id().to_string()]).status();
    let _ = served.child.wait();
    served.stop();
}

/// A front end and a worker on a fresh prefix, exporting to `collector`; `env` is added
/// to both.
fn deployment(collector: &Collector, env: &[(&str, Option<&str>)]) -> (Served, Proc, String) {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let prefix = format!("ferry-traces-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    let redis = ferry_redis::testing::redis_url();
    let mut all: Vec<(&str, Option<&str>)> = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", Some(&collector.endpoint)),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", None),
        ("OTEL_SERVICE_NAME", None),
        ("OTEL_RESOURCE_ATTRIBUTES", None),
        ("OTEL_SDK_DISABLED", None),
        ("OTEL_TRACES_SAMPLER", None),
        // Export within a fraction of a second (the stop flushes the rest anyway).
        ("OTEL_BSP_SCHEDULE_DELAY", Some("200")),
        ("RUST_LOG", None),
    ];
    all.extend_from_slice(env);
    // Without quick answers: the `add` calls here are to become tasks (a trace across processes).
    let served =
        serve_with_env(&["--no-local-worker", "--quick-answer-ms", "0", "--redis", &redis, "--prefix", &prefix], &all);
    let mut worker = Command::new(FERRY);
    for (name, value) in &all {
        match value {
            Some(v) => worker.env(name, v),
            None => worker.env_remove(name),
        };
    }
    let worker = worker
        .args(["worker", "--redis", &redis, "--prefix", &prefix, "--name", &format!("{prefix}-w")])
        .args(["--shutdown-grace-secs", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ferry worker starts");
    (served, Proc(worker), prefix)
}

fn forget_prefix(prefix: &str) {
    let url = ferry_redis::testing::redis_url();
    if let Ok(mut conn) = redis::Client::open(url.as_str()).and_then(|c| c.get_connection()) {
        let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}:*")).query(&mut conn).unwrap_or_default();
        if !keys.is_empty() {
            let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query(&mut conn);
        }
    }
}

/// Run `add` as a task with `options` and return its task id once its result is in.
async fn add_as_task(url: &str, options: ClientOptions) -> String {
    let client = Client::connect_http(url, options).await.expect("connects");
    let task = client.call_tool_task("add", json!({"a": 4242, "b": 1717})).await.expect("task created");
    let id = task.id().expect("a task, not a direct answer").to_string();
    let result = task.await.expect("task result");
    assert_eq!(result.content[0].as_text(), Some("5959"));
    client.close().await;
    id
}

/// The front end's span for the `tools/call` that created `task`, and the worker's span
/// of the task's run.
fn spans_of_task(spans: &[Got], task: &str) -> Option<(Got, Got)> {
    let of = |kind: i32| spans.iter().find(|s| s.kind == kind && s.attr("ferry.task.id") == Some(task)).cloned();
    Some((of(SERVER)?, of(CONSUMER)?))
}

/// Whether `span`'s chain of parents (among `spans`) reaches `ancestor`.
fn descends_from(spans: &[Got], span: &Got, ancestor: &Got) -> bool {
    let mut parent = span.parent.clone();
    for _ in 0..32 {
        if parent == ancestor.span_id {
            return true;
        }
        match spans.iter().find(|s| s.span_id == parent) {
            Some(p) => parent = p.parent.clone(),
            None => return false,
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread")]
async fn a_task_run_in_a_worker_joins_the_trace_of_the_request_that_created_it() {
    let collector = Collector::start().await;
    let (served, worker, prefix) = deployment(&collector, &[]);

    // 1. The client sends a traceparent header: its span is the root of it all.
    let client_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let client_span = "00f067aa0ba902b7";
    for mode in [Mode::Handshake, Mode::Modern] {
        let options =
            ClientOptions::default().mode(mode).header("traceparent", format!("00-{client_trace}-{client_span}-01"));
        let task = add_as_task(&served.url, options).await;
        let (request, run) = collector.wait_for("spans of the task", |s| spans_of_task(s, &task)).await;
        assert_eq!(request.trace_id, client_trace, "{mode:?}: {request:#?}");
        assert_eq!(request.parent, client_span, "the request span is the client's span's child: {request:#?}");
        assert!(request.links.is_empty(), "one context, no link: {request:#?}");
        assert_eq!(run.trace_id, client_trace, "{mode:?}: the run is in the client's trace: {run:#?}");
        assert!(descends_from(&collector.spans(), &run, &request), "{run:#?} under {request:#?}");
        // Each from its own process.
        assert_eq!(request.name, "tools/call add");
        assert_eq!(request.attr("mcp.method.name"), Some("tools/call"));
        assert_eq!(request.attr("gen_ai.tool.name"), Some("add"));
        assert_eq!(request.resource.get("ferry.role").map(String::as_str), Some("serve"));
        assert_eq!(run.name, "execute_tool add");
        assert_eq!(run.attr("ferry.task.outcome"), Some("completed"));
        assert_eq!(run.attr("ferry.task.attempt"), Some("1"));
        assert_eq!(run.resource.get("ferry.role").map(String::as_str), Some("worker"));
        assert!(request.service().ends_with("-serve") && run.service().ends_with("-worker"), "{request:#?} {run:#?}");
        assert_ne!(request.resource.get("process.pid"), run.resource.get("process.pid"));
        // No argument value is recorded.
        for span in [&request, &run] {
            assert!(span.attributes.values().all(|v| !v.contains("4242") && !v.contains("1717")), "{span:#?}");
        }
    }

    // 2. No traceparent from the client: still one trace across the two processes.
    let task = add_as_task(&served.url, ClientOptions::default().mode(Mode::Modern)).await;
    let (request, run) = collector.wait_for("spans of the task", |s| spans_of_task(s, &task)).await;
    assert_eq!(request.parent, "", "a root span: {request:#?}");
    assert_ne!(request.trace_id, client_trace);
    assert_eq!(run.trace_id, request.trace_id, "{run:#?} {request:#?}");
    assert!(descends_from(&collector.spans(), &run, &request));

    // 3. `params._meta.traceparent` (the MCP convention) wins over the HTTP header.
    let meta_trace = "0af7651916cd43dd8448eb211c80319c";
    let meta_span = "b7ad6b7169203331";
    let body = json!({
        "jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": "add", "arguments": {"a": 1, "b": 1}, "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
            "traceparent": format!("00-{meta_trace}-{meta_span}-01"),
        }},
    });
    let answer: Value = reqwest::Client::new()
        .post(&served.url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "add")
        .header("traceparent", format!("00-{client_trace}-{client_span}-01"))
        .json(&body)
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("json");
    assert_eq!(answer["result"]["content"][0]["text"], "2", "{answer}");
    let request = collector
        .wait_for("the _meta request span", |s| {
            s.iter().find(|g| g.kind == SERVER && g.attr("jsonrpc.request.id") == Some("7")).cloned()
        })
        .await;
    assert_eq!((request.trace_id.as_str(), request.parent.as_str()), (meta_trace, meta_span), "{request:#?}");
    assert_eq!(request.links, vec![format!("{client_trace}-{client_span}")], "the header's context is linked");
    assert_eq!(request.attr("mcp.protocol.version"), Some("2026-07-28"));

    worker.terminate();
    terminate(served);
    forget_prefix(&prefix);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stop_flushes_the_spans_and_otel_sdk_disabled_exports_nothing() {
    // A long batch delay: only the flush on a graceful stop can deliver in time.
    let collector = Collector::start().await;
    let (served, worker, prefix) = deployment(&collector, &[("OTEL_BSP_SCHEDULE_DELAY", Some("600000"))]);
    let task = add_as_task(&served.url, ClientOptions::default()).await;
    worker.terminate();
    terminate(served);
    let (request, run) = collector.wait_for("spans flushed at the stop", |s| spans_of_task(s, &task)).await;
    assert_eq!(run.trace_id, request.trace_id);
    forget_prefix(&prefix);

    // The same with OTEL_SDK_DISABLED=true: the task runs, nothing arrives, not even at the stop.
    let quiet = Collector::start().await;
    let (served, worker, prefix) = deployment(&quiet, &[("OTEL_SDK_DISABLED", Some("true"))]);
    add_as_task(&served.url, ClientOptions::default()).await;
    worker.terminate();
    terminate(served);
    assert!(quiet.spans().is_empty(), "{:#?}", quiet.spans());
    forget_prefix(&prefix);
}

#[test]
fn a_bad_otlp_endpoint_is_a_usage_error() {
    let out = Command::new(FERRY)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")
        .env_remove("OTEL_SDK_DISABLED")
        .output()
        .expect("ferry runs");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("OTEL_EXPORTER_OTLP_ENDPOINT"), "{out:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn over_stdio_the_traceparent_in_meta_is_the_parent() {
    use std::io::{BufRead, BufReader, Write};
    let collector = Collector::start().await;
    let trace = "5bf92f3577b34da6a3ce929d0e0e4737";
    let parent = "10f067aa0ba902b8";
    let endpoint = collector.endpoint.clone();
    let answer = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(FERRY)
            .args(["serve", "--stdio"])
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
            .env_remove("OTEL_SDK_DISABLED")
            .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("ferry serve --stdio starts");
        let mut stdin = child.stdin.take().expect("stdin");
        let messages = [
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}),
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
            json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
                "name": "add", "arguments": {"a": 20, "b": 22},
                "_meta": {"traceparent": format!("00-{trace}-{parent}-01")}}}),
        ];
        for m in messages {
            writeln!(stdin, "{m}").expect("written");
        }
        let mut answer = Value::Null;
        for line in BufReader::new(child.stdout.take().expect("stdout")).lines() {
            let v: Value = serde_json::from_str(&line.expect("a line")).expect("json");
            if v["id"] == 2 {
                answer = v;
                break;
            }
        }
        drop(stdin); // end of input: the server stops, flushing its spans
        let _ = child.wait();
        answer
    })
    .await
    .expect("the stdio session ran");
    assert_eq!(answer["result"]["content"][0]["text"], "42", "{answer}");
    let request = collector
        .wait_for("the stdio request span", |s| {
            s.iter().find(|g| g.kind == SERVER && g.attr("mcp.method.name") == Some("tools/call")).cloned()
        })
        .await;
    assert_eq!((request.trace_id.as_str(), request.parent.as_str()), (trace, parent), "{request:#?}");
    assert_eq!(request.attr("network.transport"), Some("pipe"));
    assert_eq!(request.service(), "ferry-demo-serve");
}

#[tokio::test(flavor = "multi_thread")]
async fn on_the_embedded_engine_a_task_run_is_a_child_of_its_request_too() {
    let collector = Collector::start().await;
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", Some(collector.endpoint.as_str())),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", None),
        ("OTEL_SERVICE_NAME", Some("embedded")),
        ("OTEL_SDK_DISABLED", None),
        ("OTEL_BSP_SCHEDULE_DELAY", Some("200")),
    ];
    let served = serve_with_env(&["--quick-answer-ms", "0"], &env);
    let task = add_as_task(&served.url, ClientOptions::default()).await;
    let (request, run) = collector.wait_for("spans of the task", |s| spans_of_task(s, &task)).await;
    assert_eq!(run.trace_id, request.trace_id);
    assert!(descends_from(&collector.spans(), &run, &request));
    assert_eq!((request.service(), run.service()), ("embedded", "embedded"), "OTEL_SERVICE_NAME wins");
    terminate(served);
}
