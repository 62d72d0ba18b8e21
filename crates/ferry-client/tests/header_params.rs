//! The client mirrors `x-mcp-header` arguments into `Mcp-Param-*` headers (SEP-2243):
//! against a Ferry server that insists on them, and against a recording server that
//! shows exactly what was sent and offers a tool with a broken annotation.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::Json;
use ferry_client::{Client, ClientOptions, Mode};
use ferry_server::{Args, Server, ToolDef};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

#[derive(Deserialize, JsonSchema)]
struct Query {
    #[schemars(extend("x-mcp-header" = "Region"))]
    region: String,
    #[serde(default)]
    #[schemars(extend("x-mcp-header" = "Priority"))]
    priority: Option<i64>,
    query: String,
}

async fn listen(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn calls_carry_the_headers_a_ferry_server_requires_even_before_listing() {
    let server =
        Server::builder("headers", "1")
            .tool(ToolDef::new("run_query").handler(|Args(q): Args<Query>| async move {
                format!("{} in {} ({:?})", q.query, q.region, q.priority)
            }))
            .build()
            .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { server.serve_listener(listener).await });
    let c = Client::connect_http(&url, ClientOptions::default().mode(Mode::Modern)).await.unwrap();
    // Not listed yet: the server refuses the call without headers, the client reads the
    // tools and sends it again with them.
    let r = c.call_tool("run_query", json!({"region": "eu-west1", "priority": 2, "query": "a"})).await.unwrap();
    assert_eq!(r.content[0].as_text(), Some("a in eu-west1 (Some(2))"));
    let r = c.call_tool("run_query", json!({"region": " Zürich ", "query": "b"})).await.unwrap();
    assert_eq!(r.content[0].as_text(), Some("b in  Zürich  (None)"));
}

type Seen = Arc<Mutex<Vec<HeaderMap>>>;

/// A 2026-07-28 server that lists one good and one broken tool and records the
/// headers of every call.
async fn recording(State(seen): State<Seen>, headers: HeaderMap, Json(msg): Json<Value>) -> Json<Value> {
    let result = match msg["method"].as_str().unwrap_or_default() {
        "server/discover" => json!({"supportedVersions": ["2026-07-28"], "capabilities": {"tools": {}},
            "serverInfo": {"name": "recorder", "version": "1"}}),
        "tools/list" => json!({"tools": [
            {"name": "good", "inputSchema": {"type": "object", "properties": {
                "region": {"type": "string", "x-mcp-header": "Region"},
                "n": {"type": "integer", "x-mcp-header": "N"},
                "on": {"type": "boolean", "x-mcp-header": "On"},
                "query": {"type": "string"}}}},
            {"name": "broken", "inputSchema": {"type": "object", "properties": {
                "score": {"type": "number", "x-mcp-header": "Score"}}}}
        ]}),
        "tools/call" => {
            seen.lock().unwrap().push(headers);
            json!({"content": [{"type": "text", "text": "ok"}]})
        }
        _ => json!({}),
    };
    let mut result = result;
    result["resultType"] = json!("complete");
    Json(json!({"jsonrpc": "2.0", "id": msg["id"], "result": result}))
}

#[tokio::test]
async fn the_client_encodes_the_marked_arguments_and_drops_tools_with_broken_annotations() {
    let seen: Seen = Default::default();
    let url = listen(axum::Router::new().route("/mcp", post(recording)).with_state(seen.clone())).await;
    let c = Client::connect_http(&url, ClientOptions::default().mode(Mode::Modern)).await.unwrap();
    let names: Vec<String> = c.list_tools().await.unwrap().into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["good"], "a tool with x-mcp-header on a number is left out");

    c.call_tool("good", json!({"region": "Hello, 世界", "n": -7, "on": false, "query": "not mirrored"})).await.unwrap();
    c.call_tool("good", json!({"region": null, "query": "q"})).await.unwrap();
    let seen = seen.lock().unwrap();
    let h = |i: usize, name: &str| seen[i].get(name).map(|v| v.to_str().unwrap().to_string());
    assert_eq!(h(0, "mcp-param-region").as_deref(), Some("=?base64?SGVsbG8sIOS4lueVjA==?="));
    assert_eq!(h(0, "mcp-param-n").as_deref(), Some("-7"));
    assert_eq!(h(0, "mcp-param-on").as_deref(), Some("false"));
    assert_eq!(h(0, "mcp-param-query"), None);
    assert_eq!(h(0, "mcp-name").as_deref(), Some("good"));
    assert_eq!(h(1, "mcp-param-region"), None, "null and absent arguments send no header");
    assert_eq!(h(1, "mcp-param-n"), None);
}
