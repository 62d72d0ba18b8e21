//! Servers that authenticate: tasks belong to the caller's subject, in every
//! session, era and connection, and to nobody else.

mod support;

use ferry_client::{CallToolResult, Client, ClientError, ClientOptions, Mode};
use ferry_server::{Context, TaskSupport, ToolDef};
use serde_json::json;

/// The demo's tools plus `whoami`, behind two bearer tokens.
async fn serve() -> String {
    let server = demo::builder()
        // Without quick answers: the task calls here are to become tasks, however quick.
        .configure(|c| c.quick_answer = std::time::Duration::ZERO)
        .tool(
            ToolDef::new("whoami")
                .task_support(TaskSupport::Optional)
                .handler(|cx: Context| async move { cx.auth_subject().unwrap_or("nobody").to_string() }),
        )
        .authenticate(|headers| match headers.get("authorization")?.to_str().ok()? {
            "Bearer alice-token" => Some("alice".into()),
            "Bearer bob-token" => Some("bob".into()),
            _ => None,
        })
        .build()
        .unwrap();
    support::serve_ferry(server).await
}

async fn connect(url: &str, mode: Mode, token: &str) -> Client {
    Client::connect_http(url, ClientOptions::default().mode(mode).bearer_token(token)).await.unwrap()
}

fn text(r: &CallToolResult) -> &str {
    r.content[0].as_text().unwrap()
}

#[tokio::test]
async fn requests_without_valid_credentials_are_refused_with_401() {
    let url = serve().await;
    for options in [ClientOptions::default(), ClientOptions::default().bearer_token("wrong")] {
        match Client::connect_http(&url, options).await {
            Err(ClientError::Unauthorized(m)) => assert!(m.contains("Bearer"), "{m}"),
            Err(e) => panic!("expected Unauthorized, got {e}"),
            Ok(_) => panic!("expected Unauthorized, got a connection"),
        }
    }
    // On the wire: 401, a WWW-Authenticate challenge and a JSON-RPC error body.
    let resp = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32600, "{body}");
}

#[tokio::test]
async fn tasks_belong_to_the_subject_across_sessions_and_eras() {
    let url = serve().await;
    // Alice starts a task in one 2025-11-25 session ...
    let first = connect(&url, Mode::Handshake, "alice-token").await;
    let task = first.call_tool_task("whoami", json!({})).await.unwrap();
    let id = task.id().unwrap().to_string();
    assert_eq!(text(&task.await.unwrap()), "alice", "the background task knows its subject");
    // ... and a stateless one.
    let modern = connect(&url, Mode::Modern, "alice-token").await;
    let stateless = modern.call_tool_task("add", json!({"a": 1, "b": 2})).await.unwrap();
    let stateless_id = stateless.id().unwrap().to_string();
    assert_eq!(text(&stateless.await.unwrap()), "3");

    // A new session of hers (another process, as far as the server knows) lists and fetches both.
    let second = connect(&url, Mode::Handshake, "alice-token").await;
    let (listed, _) = second.list_tasks(None).await.unwrap();
    let ids: Vec<_> = listed.iter().map(|t| t.task_id.as_str()).collect();
    assert!(ids.contains(&id.as_str()) && ids.contains(&stateless_id.as_str()), "{ids:?}");
    assert_eq!(text(&second.task::<CallToolResult>(&id).await.unwrap()), "alice");

    // Bob sees none of it, in either era, even knowing the ids.
    let bob = connect(&url, Mode::Handshake, "bob-token").await;
    assert!(bob.list_tasks(None).await.unwrap().0.is_empty());
    for client in [bob, connect(&url, Mode::Modern, "bob-token").await] {
        for task_id in [&id, &stateless_id] {
            let handle = client.task::<CallToolResult>(task_id);
            assert!(matches!(handle.get().await, Err(ClientError::TaskNotFound(_))));
            assert!(matches!(handle.cancel().await, Err(ClientError::TaskNotFound(_))));
        }
    }
}

#[tokio::test]
async fn a_session_is_only_usable_by_the_subject_that_opened_it() {
    let url = serve().await;
    let http = reqwest::Client::new();
    let post = |token: &'static str, session: Option<String>, body: serde_json::Value| {
        let mut req = http
            .post(&url)
            .bearer_auth(token)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-11-25");
        if let Some(s) = session {
            req = req.header("mcp-session-id", s);
        }
        req.body(body.to_string()).send()
    };
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let resp = post("alice-token", None, init).await.unwrap();
    assert_eq!(resp.status(), 200);
    let session = resp.headers()["mcp-session-id"].to_str().unwrap().to_string();
    let ping = json!({"jsonrpc": "2.0", "id": 2, "method": "ping"});
    assert_eq!(post("alice-token", Some(session.clone()), ping.clone()).await.unwrap().status(), 200);
    // Bob holding Alice's session id gets what an unknown session gets.
    assert_eq!(post("bob-token", Some(session.clone()), ping).await.unwrap().status(), 404);
    let delete = http.delete(&url).bearer_auth("bob-token").header("mcp-session-id", &session).send();
    assert_eq!(delete.await.unwrap().status(), 404);
    let delete = http.delete(&url).bearer_auth("alice-token").header("mcp-session-id", &session).send();
    assert_eq!(delete.await.unwrap().status(), 200);
}

#[tokio::test]
async fn listing_tasks_on_a_stateless_connection_is_a_typed_error() {
    let url = serve().await;
    let modern = connect(&url, Mode::Modern, "alice-token").await;
    assert!(matches!(modern.list_tasks(None).await, Err(ClientError::NoTaskSupport(_))));
}
