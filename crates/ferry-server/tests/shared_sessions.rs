//! Two front ends sharing sessions (one session store, one task backend) serve any
//! request of any 2025-11-25 session: adoption, tasks seen by the session on either,
//! log level and subscriptions set on one applying to the other's stream, `DELETE`
//! ending it on both, the per-client limit counted across both.

#[path = "support/sse.rs"]
mod sse;
mod support;

use ferry_server::engine::{Backend, MemoryBackend, MemorySessionStore, SessionStore};
use ferry_server::{Context, ResourceDef, Server, TaskSupport, ToolDef, ToolError};
use futures::StreamExt;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use support::serve_http;

fn front_end(store: Arc<dyn SessionStore>, backend: Arc<dyn Backend>) -> Server {
    Server::builder("shared", "1")
        .configure(|c| c.max_sessions_per_client = 2)
        .session_store(store)
        .backend(backend)
        .resource(ResourceDef::new("mem://board", "board").handler(|| async { String::from("board") }))
        .tool(ToolDef::new("touch").handler(|cx: Context| async move {
            cx.notify_resource_updated("mem://board").await.map_err(ToolError::from)?;
            Ok::<_, ToolError>("touched")
        }))
        .tool(ToolDef::new("ask").task_support(TaskSupport::Optional).handler(|cx: Context| async move {
            let schema = json!({"type": "object", "properties": {"name": {"type": "string"}}});
            let answer = cx.elicit("Your name?", schema).await?;
            Ok::<_, ToolError>(format!("hello {}", answer["content"]["name"].as_str().unwrap_or("nobody")))
        }))
        .tool(ToolDef::new("hang").handler(|cx: Context| async move {
            cx.info("started");
            tokio::time::sleep(Duration::from_secs(60)).await;
            "finished"
        }))
        .tool(ToolDef::new("chatty").task_support(TaskSupport::Optional).handler(|cx: Context| async move {
            cx.info("an info line");
            cx.log(ferry_server::LoggingLevel::Error, json!("an error line"));
            "said it"
        }))
        .build()
        .unwrap()
}

/// Two front ends on one store and one backend.
async fn pair() -> (String, String) {
    let store: Arc<dyn SessionStore> = Arc::new(MemorySessionStore::default());
    let backend: Arc<dyn Backend> = Arc::new(MemoryBackend::default());
    let a = serve_http(front_end(store.clone(), backend.clone())).await;
    let b = serve_http(front_end(store, backend)).await;
    (a, b)
}

/// POST a message in session `id` (or none) to `url`: (status, headers, JSON or SSE-carried answer).
async fn post(url: &str, session: Option<&str>, body: Value) -> (u16, Option<String>, Value) {
    let mut req = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    if let Some(s) = session {
        req = req.header("mcp-session-id", s).header("mcp-protocol-version", "2025-11-25");
    }
    let resp = req.body(body.to_string()).send().await.unwrap();
    let status = resp.status().as_u16();
    let id = resp.headers().get("mcp-session-id").map(|v| v.to_str().unwrap().to_string());
    let sse = resp.headers().get("content-type").is_some_and(|c| c.to_str().unwrap().starts_with("text/event-stream"));
    let value = if sse {
        let (events, _) = sse::read_events(resp, None).await;
        events.iter().map(sse::SseEvent::json).find(|v| v.get("id").is_some()).unwrap_or(Value::Null)
    } else {
        resp.json().await.unwrap_or(Value::Null)
    };
    (status, id, value)
}

async fn open(url: &str) -> String {
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {"elicitation": {}}, "clientInfo": {"name": "t", "version": "1"}}});
    let (status, id, body) = post(url, None, init).await;
    assert_eq!(status, 200, "{body}");
    let id = id.expect("a session id");
    let (status, _, _) = post(url, Some(&id), json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await;
    assert_eq!(status, 202);
    id
}

async fn request(url: &str, session: &str, method: &str, params: Value) -> Value {
    let (status, _, body) =
        post(url, Some(session), json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params})).await;
    assert_eq!(status, 200, "{method}: {body}");
    body
}

/// The session's standalone stream on `url`.
async fn listen(url: &str, session: &str) -> futures::stream::BoxStream<'static, reqwest::Result<axum::body::Bytes>> {
    let resp = reqwest::Client::new()
        .get(url)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.bytes_stream().boxed()
}

type Stream = futures::stream::BoxStream<'static, reqwest::Result<axum::body::Bytes>>;

/// POST a request in `session` and keep its answer's stream.
async fn post_stream(url: &str, session: &str, body: &Value) -> Stream {
    let resp = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", "2025-11-25")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    resp.bytes_stream().boxed()
}

/// What a stream sends until it ends, which must be `within` (else the test fails).
async fn rest_of(mut stream: Stream, within: Duration) -> String {
    let mut rest = String::new();
    while let Some(chunk) = tokio::time::timeout(within, stream.next()).await.expect("the stream ends in time") {
        rest.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
    }
    rest
}

/// Messages from a stream until one whose method is `method`.
async fn until(
    stream: &mut futures::stream::BoxStream<'static, reqwest::Result<axum::body::Bytes>>,
    method: &str,
) -> Vec<Value> {
    let (mut buf, mut seen) = (String::new(), Vec::new());
    loop {
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.next()).await.expect("a message in time");
        buf.push_str(&String::from_utf8_lossy(&chunk.expect("stream open").unwrap()));
        for ev in sse::parse_events(&mut buf) {
            let v = ev.json();
            let done = v["method"] == method;
            if !v.is_null() {
                seen.push(v);
            }
            if done {
                return seen;
            }
        }
    }
}

#[tokio::test]
async fn a_session_opened_on_one_front_end_is_served_by_the_other_with_its_tasks() {
    let (a, b) = pair().await;
    let id = open(&a).await;
    let tools = request(&b, &id, "tools/list", json!({})).await;
    assert!(tools["result"]["tools"].as_array().is_some_and(|t| t.len() == 4), "{tools}");

    let created = request(&a, &id, "tools/call", json!({"name": "chatty", "arguments": {}, "task": {}})).await;
    let task = created["result"]["task"]["taskId"].as_str().expect("a task").to_string();
    let result = request(&b, &id, "tasks/result", json!({"taskId": task})).await;
    assert_eq!(result["result"]["content"][0]["text"], "said it", "{result}");
    let listed = request(&b, &id, "tasks/list", json!({})).await;
    assert_eq!(listed["result"]["tasks"][0]["taskId"], task, "{listed}");
    let got = request(&a, &id, "tasks/get", json!({"taskId": task})).await;
    assert_eq!(got["result"]["status"], "completed", "{got}");

    // Another session sees none of them, on either front end.
    let other = open(&b).await;
    let listed = request(&a, &other, "tasks/list", json!({})).await;
    assert_eq!(listed["result"]["tasks"], json!([]), "{listed}");
}

#[tokio::test]
async fn level_and_subscriptions_set_on_one_front_end_apply_to_the_stream_on_the_other() {
    let (a, b) = pair().await;
    let id = open(&a).await;
    let mut stream = listen(&b, &id).await;
    request(&a, &id, "resources/subscribe", json!({"uri": "mem://board"})).await;
    request(&a, &id, "logging/setLevel", json!({"level": "error"})).await;

    request(&a, &id, "tools/call", json!({"name": "touch", "arguments": {}})).await;
    let seen = until(&mut stream, "notifications/resources/updated").await;
    assert_eq!(seen.last().unwrap()["params"]["uri"], "mem://board");

    let created = request(&a, &id, "tools/call", json!({"name": "chatty", "arguments": {}, "task": {}})).await;
    let task = created["result"]["task"]["taskId"].as_str().unwrap().to_string();
    request(&a, &id, "tasks/result", json!({"taskId": task})).await;
    let seen = until(&mut stream, "notifications/message").await;
    let logs: Vec<&Value> = seen.iter().filter(|m| m["method"] == "notifications/message").collect();
    assert_eq!(logs.len(), 1, "{seen:?}");
    assert_eq!(
        logs[0]["params"]["data"], "an error line",
        "the info line is below the level set on the other front end"
    );

    // Unsubscribed on a: the update no longer reaches the stream (the next status notification does).
    request(&a, &id, "resources/unsubscribe", json!({"uri": "mem://board"})).await;
    request(&a, &id, "tools/call", json!({"name": "touch", "arguments": {}})).await;
    let created = request(&a, &id, "tools/call", json!({"name": "chatty", "arguments": {}, "task": {}})).await;
    let task = created["result"]["task"]["taskId"].as_str().unwrap().to_string();
    request(&b, &id, "tasks/result", json!({"taskId": task})).await;
    let seen = until(&mut stream, "notifications/message").await;
    assert!(seen.iter().all(|m| m["method"] != "notifications/resources/updated"), "{seen:?}");
}

#[tokio::test]
async fn delete_on_one_front_end_ends_the_session_on_both() {
    let (a, b) = pair().await;
    let id = open(&a).await;
    request(&b, &id, "ping", json!({})).await;
    let deleted = reqwest::Client::new()
        .delete(&b)
        .header("mcp-session-id", &id)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    // The other front end drops its copy when the notice arrives (at once, in one process).
    let mut status = 0;
    for _ in 0..100 {
        (status, _, _) = post(&a, Some(&id), json!({"jsonrpc": "2.0", "id": 1, "method": "ping"})).await;
        if status == 404 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, 404);
    let (status, _, _) = post(&b, Some(&id), json!({"jsonrpc": "2.0", "id": 1, "method": "ping"})).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_per_client_limit_counts_sessions_on_every_front_end() {
    let (a, b) = pair().await;
    open(&a).await;
    open(&b).await;
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let (status, id, body) = post(&a, None, init).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(id, None);
}

#[tokio::test]
async fn a_standalone_stream_of_another_front_end_is_opened_afresh() {
    let (a, b) = pair().await;
    let id = open(&a).await;
    // The client read a's standalone stream and comes back to b with its last event id.
    let mut first = listen(&a, &id).await;
    let chunk = tokio::time::timeout(Duration::from_secs(10), first.next()).await.unwrap().unwrap().unwrap();
    let mut buf = String::from_utf8_lossy(&chunk).to_string();
    let priming = sse::parse_events(&mut buf).remove(0).id.expect("a priming event id");
    let resp = reqwest::Client::new()
        .get(&b)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &id)
        .header("mcp-protocol-version", "2025-11-25")
        .header("last-event-id", &priming)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut stream = resp.bytes_stream().boxed();
    request(&a, &id, "resources/subscribe", json!({"uri": "mem://board"})).await;
    request(&a, &id, "tools/call", json!({"name": "touch", "arguments": {}})).await;
    until(&mut stream, "notifications/resources/updated").await;
}

#[tokio::test]
async fn a_cancellation_sent_to_the_other_front_end_stops_the_call() {
    let (a, b) = pair().await;
    let id = open(&a).await;
    let call = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": {"name": "hang", "arguments": {}}});
    let mut stream = post_stream(&a, &id, &call).await;
    until(&mut stream, "notifications/message").await; // the call runs on a
    let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 9}});
    let (status, _, _) = post(&b, Some(&id), cancel).await;
    assert_eq!(status, 202);
    // The call ends without its result (a cancelled request gets no response); left
    // alone it would answer "finished" after a minute.
    let rest = rest_of(stream, Duration::from_secs(30)).await;
    assert!(!rest.contains("finished"), "{rest}");
}

#[tokio::test]
async fn an_answer_sent_to_the_other_front_end_reaches_the_task_that_asked() {
    let (a, b) = pair().await;
    let id = open(&a).await;
    let created = request(&a, &id, "tools/call", json!({"name": "ask", "arguments": {}, "task": {}})).await;
    let task = created["result"]["task"]["taskId"].as_str().expect("a task").to_string();
    let wait = json!({"jsonrpc": "2.0", "id": 3, "method": "tasks/result", "params": {"taskId": task}});
    let mut stream = post_stream(&a, &id, &wait).await;
    let asked = until(&mut stream, "elicitation/create").await.pop().unwrap();
    let answer =
        json!({"jsonrpc": "2.0", "id": asked["id"], "result": {"action": "accept", "content": {"name": "Ada"}}});
    let (status, _, _) = post(&b, Some(&id), answer).await;
    assert_eq!(status, 202);
    let rest = rest_of(stream, Duration::from_secs(10)).await;
    assert!(rest.contains("hello Ada"), "{rest}");
}
