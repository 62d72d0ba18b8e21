//! `ServerConfig::accept_missing_routing_headers`: by default a 2026-07-28 request
//! without `Mcp-Method` or `Mcp-Name` is HTTP 400 with -32020; with the opt-in a
//! *missing* one is accepted when the body carries the value. A header that disagrees
//! with the body, a missing `MCP-Protocol-Version` and a missing `Mcp-Param-*` are
//! refused either way.

mod support;

use ferry_server::{Args, Server, ServerConfig, TaskSupport, ToolDef};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use support::modern_meta;

#[derive(Deserialize, JsonSchema)]
#[allow(dead_code)]
struct Query {
    #[schemars(extend("x-mcp-header" = "Region"))]
    region: String,
}

async fn serve(lenient: bool) -> String {
    let config = ServerConfig { accept_missing_routing_headers: lenient, ..ServerConfig::default() };
    let server = Server::builder("routing", "1")
        .config(config)
        .tool(ToolDef::new("echo").handler(|| async { "echoed" }))
        .tool(ToolDef::new("wait").task_support(TaskSupport::Optional).handler(|| async {
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            "waited"
        }))
        .tool(ToolDef::new("query").handler(|Args(q): Args<Query>| async move { q.region }))
        .build()
        .unwrap();
    support::serve_http(server).await
}

/// POST a 2026-07-28 request (with the tasks extension) carrying exactly these headers
/// besides the content headers; (HTTP status, JSON-RPC message).
async fn post(url: &str, method: &str, mut params: Value, headers: &[(&str, &str)]) -> (u16, Value) {
    params["_meta"] = modern_meta(json!({"extensions": {"io.modelcontextprotocol/tasks": {}}}));
    let body = json!({"jsonrpc": "2.0", "id": 3, "method": method, "params": params});
    support::post_json(url, headers, &body).await
}

const VERSION: (&str, &str) = ("mcp-protocol-version", "2026-07-28");

/// A task of `wait`, created with every header; its id.
async fn task(url: &str) -> String {
    let headers = [VERSION, ("mcp-method", "tools/call"), ("mcp-name", "wait")];
    let (status, r) = post(url, "tools/call", json!({"name": "wait", "arguments": {}}), &headers).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["result"]["resultType"], "task", "{r}");
    r["result"]["taskId"].as_str().unwrap().to_string()
}

fn assert_mismatch(what: &str, (status, r): (u16, Value)) {
    assert_eq!(status, 400, "{what}: {r}");
    assert_eq!(r["error"]["code"], -32020, "{what}: {r}");
}

fn assert_ok(what: &str, (status, r): (u16, Value)) {
    assert_eq!(status, 200, "{what}: {r}");
    assert!(r.get("result").is_some(), "{what}: {r}");
}

#[tokio::test]
async fn by_default_a_missing_mcp_name_or_mcp_method_is_refused() {
    let url = serve(false).await;
    let call = json!({"name": "echo", "arguments": {}});
    assert_mismatch(
        "no Mcp-Name",
        post(&url, "tools/call", call.clone(), &[VERSION, ("mcp-method", "tools/call")]).await,
    );
    assert_mismatch("no Mcp-Method", post(&url, "tools/call", call, &[VERSION, ("mcp-name", "echo")]).await);
    let id = task(&url).await;
    for method in ["tasks/get", "tasks/cancel"] {
        let r = post(&url, method, json!({"taskId": id}), &[VERSION, ("mcp-method", method)]).await;
        assert_mismatch(method, r);
    }
}

#[tokio::test]
async fn with_the_opt_in_a_missing_routing_header_is_read_from_the_body() {
    let url = serve(true).await;
    let call = json!({"name": "echo", "arguments": {}});
    let r = post(&url, "tools/call", call.clone(), &[VERSION, ("mcp-method", "tools/call")]).await;
    assert_ok("no Mcp-Name", r.clone());
    assert_eq!(r.1["result"]["content"][0]["text"], "echoed");
    assert_ok("no Mcp-Method", post(&url, "tools/call", call.clone(), &[VERSION, ("mcp-name", "echo")]).await);
    assert_ok("neither", post(&url, "tools/call", call, &[VERSION]).await);
    // What FastMCP's tasks client sends: tasks/* with Mcp-Method and without Mcp-Name.
    let id = task(&url).await;
    for method in ["tasks/get", "tasks/cancel", "tasks/get"] {
        let r = post(&url, method, json!({"taskId": id}), &[VERSION, ("mcp-method", method)]).await;
        assert_ok(method, r);
    }
    let r = post(&url, "tasks/get", json!({"taskId": id}), &[VERSION]).await;
    assert_eq!(r.1["result"]["status"], "cancelled", "{}", r.1);
}

#[tokio::test]
async fn with_the_opt_in_a_header_that_disagrees_is_still_refused() {
    let url = serve(true).await;
    let id = task(&url).await;
    let call = json!({"name": "echo", "arguments": {}});
    let wrong_name = [VERSION, ("mcp-method", "tools/call"), ("mcp-name", "query")];
    assert_mismatch("other Mcp-Name", post(&url, "tools/call", call.clone(), &wrong_name).await);
    let wrong_method = [VERSION, ("mcp-method", "prompts/get"), ("mcp-name", "echo")];
    assert_mismatch("other Mcp-Method", post(&url, "tools/call", call.clone(), &wrong_method).await);
    let other_task = [VERSION, ("mcp-method", "tasks/get"), ("mcp-name", "not-the-task")];
    assert_mismatch("other task id", post(&url, "tasks/get", json!({"taskId": id}), &other_task).await);
    // A name header that cannot be decoded is not "missing".
    let broken = [VERSION, ("mcp-method", "tools/call"), ("mcp-name", "=?base64?!!?=")];
    assert_mismatch("undecodable Mcp-Name", post(&url, "tools/call", call.clone(), &broken).await);
    // Not covered by the opt-in: the version header and x-mcp-header parameters.
    let r = post(&url, "tools/call", call, &[("mcp-method", "tools/call"), ("mcp-name", "echo")]).await;
    assert_mismatch("no MCP-Protocol-Version", r);
    let query = json!({"name": "query", "arguments": {"region": "eu"}});
    let r = post(&url, "tools/call", query.clone(), &[VERSION, ("mcp-method", "tools/call")]).await;
    assert_mismatch("no Mcp-Param-Region", r);
    let r = post(&url, "tools/call", query, &[VERSION, ("mcp-param-region", "eu")]).await;
    assert_ok("routing headers missing, parameter header there", r);
}
