//! rmcp 3.11's client against the Ferry demo server over Streamable HTTP: the
//! `initialize` era (2025-11-25), `server/discover` (2026-07-28) and its automatic choice;
//! calls, progress, errors, and task calls of the 2026-07-28 extension ("Form B":
//! `call_tool_once` -> `CreateTaskResult`, `tasks/get` until terminal, `tasks/cancel`).
//! rmcp has no 2025-11-25 tasks ("Form A"), so that era checks plain calls only.

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CancelTaskParams, ClientCapabilities, ClientConfig,
    GetTaskParams, Implementation, ProgressNotificationParam, ProtocolVersion, TaskPayload, TaskStatus,
};
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientHandler, ClientLifecycleMode, ClientServiceExt, RoleClient};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// An rmcp client that records the progress it is sent.
#[derive(Clone)]
struct Recorder {
    info: ClientConfig,
    progress: Arc<Mutex<Vec<f64>>>,
}

impl ClientHandler for Recorder {
    fn get_info(&self) -> ClientConfig {
        self.info.clone()
    }

    async fn on_progress(&self, params: ProgressNotificationParam, _context: NotificationContext<RoleClient>) {
        self.progress.lock().unwrap().push(params.progress);
    }
}

type Rmcp = RunningService<RoleClient, Recorder>;

/// The demo with the default quick-answer window (quick tools answered directly).
async fn ferry() -> String {
    serve(ferry_server::DEFAULT_QUICK_ANSWER).await
}

/// The demo answering task-optional calls after waiting `quick` for them to end
/// (`Duration::ZERO`: always with their task).
async fn serve(quick: Duration) -> String {
    let server = demo::builder()
        .configure(|c| {
            c.poll_interval = ferry_server::PollInterval::Fixed(20);
            c.quick_answer = quick;
        })
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { server.serve_listener(listener).await });
    url
}

async fn connect(url: &str, lifecycle: ClientLifecycleMode, tasks: bool) -> (Rmcp, Arc<Mutex<Vec<f64>>>) {
    let caps = if tasks { ClientCapabilities::builder().enable_tasks().build() } else { ClientCapabilities::default() };
    let progress = Arc::new(Mutex::new(Vec::new()));
    let info = ClientConfig::new(caps, Implementation::new("rmcp-client", "3.11.0"));
    let client = Recorder { info, progress: progress.clone() };
    let transport = StreamableHttpClientTransport::from_uri(url.to_string());
    (client.serve_with_lifecycle(transport, lifecycle).await.expect("rmcp connects"), progress)
}

/// The protocol version the client settled on.
fn version(c: &Rmcp) -> String {
    c.peer_info().map(|i| i.protocol_version.to_string()).unwrap_or_default()
}

fn call(name: &str, arguments: Value) -> CallToolRequestParams {
    let Value::Object(arguments) = arguments else { panic!("arguments are an object") };
    CallToolRequestParams::new(name.to_string()).with_arguments(arguments)
}

fn text(r: &CallToolResult) -> String {
    r.content.first().and_then(|c| c.as_text()).map(|t| t.text.clone()).unwrap_or_default()
}

/// Plain calls, progress and errors: the same in both eras (no tasks declared).
async fn plain(c: &Rmcp, progress: &Mutex<Vec<f64>>, label: &str) {
    let tools = c.list_tools(None).await.unwrap();
    assert_eq!(tools.tools.len(), 6, "{label}");
    assert_eq!(text(&c.call_tool(call("add", json!({"a": 2, "b": 40}))).await.unwrap()), "42", "{label}");
    let r = c.call_tool(call("progress", json!({"steps": 3, "delay_ms": 20}))).await.unwrap();
    assert_eq!(text(&r), "done 3", "{label}");
    assert_eq!(progress.lock().unwrap().clone(), vec![1.0, 2.0, 3.0], "{label}: progress notifications");
    let r = c.call_tool(call("fail", json!({"message": "boom"}))).await.unwrap();
    assert!(r.is_error == Some(true) && text(&r) == "boom", "{label}: {r:?}");
    assert!(c.call_tool(call("nope", json!({}))).await.is_err(), "{label}: unknown tool");
    // A tool that only runs as a task, asked without one.
    assert!(c.call_tool(call("must_task", json!({"x": 1}))).await.is_err(), "{label}");
}

#[tokio::test]
async fn rmcp_client_calls_ferry_over_initialize_2025_11_25() {
    let url = ferry().await;
    let (c, progress) = connect(&url, ClientLifecycleMode::Initialize, false).await;
    assert_eq!(c.peer_info().and_then(|i| i.server_info.clone()).map(|s| s.name).as_deref(), Some("ferry-demo"));
    assert_eq!(version(&c), "2025-11-25");
    plain(&c, &progress, "2025-11-25").await;
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn rmcp_client_calls_ferry_over_discover_2026_07_28() {
    let url = ferry().await;
    let modern = vec![ProtocolVersion::V_2026_07_28];
    let (c, progress) = connect(&url, ClientLifecycleMode::Discover { preferred_versions: modern }, false).await;
    assert_eq!(version(&c), "2026-07-28");
    plain(&c, &progress, "2026-07-28").await;
    c.cancel().await.unwrap();
}

#[tokio::test]
async fn rmcp_client_in_auto_mode_picks_2026_07_28_on_ferry() {
    let url = ferry().await;
    let auto = ClientLifecycleMode::Auto {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        legacy_version: Some(ProtocolVersion::V_2025_11_25),
    };
    let (c, progress) = connect(&url, auto, false).await;
    assert_eq!(version(&c), "2026-07-28");
    plain(&c, &progress, "auto").await;
    c.cancel().await.unwrap();
}

/// Start a task; its id.
async fn create(c: &Rmcp, name: &str, arguments: Value) -> String {
    match c.call_tool_once(call(name, arguments)).await.unwrap() {
        CallToolResponse::Task(created) => created.task.task_id,
        other => panic!("{name}: expected a task, got {other:?}"),
    }
}

/// Poll `tasks/get` until the task ends (bounded by count, not time).
async fn finish(c: &Rmcp, id: &str) -> TaskPayload {
    for _ in 0..500 {
        let got = c.get_task(GetTaskParams::new(id.to_string())).await.unwrap();
        if got.task.status().is_terminal() {
            return got.task.payload;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("task {id} did not end");
}

fn completed(payload: TaskPayload) -> CallToolResult {
    match payload {
        TaskPayload::Completed { result } => serde_json::from_value(Value::Object(result)).unwrap(),
        other => panic!("expected completed, got {other:?}"),
    }
}

#[tokio::test]
async fn rmcp_client_drives_ferry_tasks_of_the_2026_07_28_extension() {
    // Without quick answers, so that the quick tools below become tasks too.
    let url = serve(Duration::ZERO).await;
    let modern = vec![ProtocolVersion::V_2026_07_28];
    let (c, _) = connect(&url, ClientLifecycleMode::Discover { preferred_versions: modern }, true).await;

    let id = create(&c, "sleep", json!({"ms": 30})).await;
    assert_eq!(text(&completed(finish(&c, &id).await)), "slept 30");
    let id = create(&c, "must_task", json!({"x": 21})).await;
    assert_eq!(text(&completed(finish(&c, &id).await)), "42");
    // A tool error: completed, with isError.
    let id = create(&c, "fail", json!({"message": "boom"})).await;
    let r = completed(finish(&c, &id).await);
    assert!(r.is_error == Some(true) && text(&r) == "boom", "{r:?}");

    let id = create(&c, "sleep", json!({"ms": 60_000})).await;
    c.cancel_task(CancelTaskParams::new(id.clone())).await.unwrap();
    assert!(matches!(finish(&c, &id).await, TaskPayload::Cancelled));
    let got = c.get_task(GetTaskParams::new(id)).await.unwrap();
    assert_eq!(got.task.status(), TaskStatus::Cancelled);

    // A tool that never runs as a task answers at once.
    match c.call_tool_once(call("no_task", json!({"x": 4}))).await.unwrap() {
        CallToolResponse::Complete(r) => assert_eq!(text(&r), "8"),
        other => panic!("no_task: {other:?}"),
    }
    // An unknown task.
    assert!(c.get_task(GetTaskParams::new("no-such-task".to_string())).await.is_err());
    c.cancel().await.unwrap();
}

/// A default Ferry answers a quick task-optional call directly (a quick answer), even
/// to a client that declared the tasks extension: rmcp's `call_tool_once` takes the
/// result as such. (rmcp's `call_tool` refuses a task answer with `UnexpectedResponse`,
/// so for its users a quick answer is the difference between a result and an error.)
#[tokio::test]
async fn rmcp_client_takes_quick_answers_of_a_default_ferry() {
    let url = ferry().await;
    let modern = vec![ProtocolVersion::V_2026_07_28];
    let (c, _) = connect(&url, ClientLifecycleMode::Discover { preferred_versions: modern }, true).await;
    assert_eq!(version(&c), "2026-07-28");
    // The default window is short: on a loaded machine one call may miss it, so of
    // many calls of a tool that ends at once, some must be answered directly.
    let mut direct = 0;
    for _ in 0..50 {
        match c.call_tool_once(call("fail", json!({"message": "boom"}))).await.unwrap() {
            CallToolResponse::Complete(r) => {
                assert!(r.is_error == Some(true) && text(&r) == "boom", "{r:?}");
                direct += 1;
            }
            CallToolResponse::Task(created) => {
                let r = completed(finish(&c, &created.task.task_id).await);
                assert!(r.is_error == Some(true) && text(&r) == "boom", "{r:?}");
            }
            other => panic!("fail: {other:?}"),
        }
    }
    assert!(direct > 0, "no call of 50 was answered directly");
    c.cancel().await.unwrap();
}

/// rmcp offers its task calls on a 2025-11-25 session too, when the `initialize`
/// capabilities carry the extension; the extension belongs to 2026-07-28, so Ferry
/// ignores it there and answers plainly (and a task-only tool is refused).
#[tokio::test]
async fn the_tasks_extension_declared_on_2025_11_25_makes_no_tasks() {
    let url = ferry().await;
    let (c, _) = connect(&url, ClientLifecycleMode::Initialize, true).await;
    assert_eq!(version(&c), "2025-11-25");
    match c.call_tool_once(call("sleep", json!({"ms": 10}))).await.unwrap() {
        CallToolResponse::Complete(r) => assert_eq!(text(&r), "slept 10"),
        other => panic!("sleep: {other:?}"),
    }
    assert!(c.call_tool_once(call("must_task", json!({"x": 1}))).await.is_err());
    c.cancel().await.unwrap();
}
