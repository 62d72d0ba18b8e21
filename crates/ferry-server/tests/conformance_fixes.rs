//! Regression tests for what the official conformance suites found
//! (`examples/conformance`, `INTEROP.md`): cacheable 2026-07-28 results,
//! a `$schema` a type declares, a prepare step that resolves input before a
//! task is created (MRTR composition), and error answers that echo a request
//! id they could read.

mod support;

use support::{modern_meta as meta, stateless_call, Peer};

use ferry_server::{Args, BuildError, Context, Prepared, Server, TaskSupport, ToolDef, ToolError};
use serde_json::{json, Value};
use std::time::Duration;

const TASKS: &str = "io.modelcontextprotocol/tasks";

fn name_schema() -> Value {
    json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]})
}

/// Ask for a name in the prepare step; the handler (often a task) greets it.
fn greeter(support: TaskSupport) -> ToolDef {
    ToolDef::new("greeter")
        .description("Asks a name first, then greets")
        .task_support(support)
        .prepare(|cx: Context| async move {
            let answer = cx.elicit("Your name?", name_schema()).await?;
            Ok::<_, ToolError>(answer["content"]["name"].as_str().unwrap_or("?").to_string())
        })
        .handler(|Prepared(name): Prepared<String>, cx: Context| async move {
            let from = if cx.task_id().is_some() { "task" } else { "direct" };
            format!("Hello, {name}! ({from})")
        })
}

fn server() -> Server {
    Server::builder("fixes", "1")
        .tool(greeter(TaskSupport::Required))
        .tool(
            ToolDef::new("greeter_optional")
                .task_support(TaskSupport::Optional)
                .prepare(|cx: Context| async move {
                    let first = cx.elicit("First name?", name_schema()).await?;
                    Ok::<_, ToolError>(first["content"]["name"].as_str().unwrap_or("?").to_string())
                })
                .handler(|Prepared(first): Prepared<String>, cx: Context| async move {
                    // A question of the handler itself comes after the prepare step's.
                    let last = cx.elicit("Last name?", name_schema()).await?;
                    Ok::<_, ToolError>(format!("{first} {}", last["content"]["name"].as_str().unwrap_or("?")))
                }),
        )
        .tool(
            ToolDef::new("refusing")
                .task_support(TaskSupport::Required)
                .prepare(|| async { Err::<(), _>(ToolError::new("not today")) })
                .handler(|| async { "never" }),
        )
        .tool(ToolDef::new("log_once").handler(|cx: Context| async move {
            // Logs, then answers at once: the log must not be lost.
            cx.info("just once");
            "logged"
        }))
        .resource(ferry_server::ResourceDef::new("test://r", "r").handler(|| async { "r".to_string() }))
        .build()
        .unwrap()
}

async fn poll_terminal(p: &mut Peer, id: &str, m: &Value) -> Value {
    for _ in 0..100 {
        let r = p.request("tasks/get", json!({"taskId": id, "_meta": m})).await;
        let status = r["result"]["status"].as_str().unwrap_or_default().to_string();
        if ["completed", "failed", "cancelled"].contains(&status.as_str()) {
            return r["result"].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("task {id} did not finish");
}

#[tokio::test]
async fn discover_and_lists_are_cacheable_results_on_the_modern_wire() {
    let mut p = Peer::connect(server());
    let m = meta(json!({}));
    let d = p.request("server/discover", json!({"_meta": m})).await;
    assert_eq!(d["result"]["cacheScope"], "public", "{d}");
    assert_eq!(d["result"]["ttlMs"], 0, "{d}");
    assert_eq!(d["result"]["resultType"], "complete");
    for method in ["tools/list", "prompts/list", "resources/list", "resources/templates/list"] {
        let r = p.request(method, json!({"_meta": m})).await;
        assert_eq!(r["result"]["cacheScope"], "public", "{method}: {r}");
        assert!(r["result"]["ttlMs"].is_u64(), "{method}: {r}");
    }
    let r = p.request("resources/read", json!({"uri": "test://r", "_meta": m})).await;
    assert_eq!(r["result"]["cacheScope"], "private", "{r}");
    // Not cacheable: tool results.
    let r = p.request("tools/call", json!({"name": "greeter_optional", "arguments": {}, "_meta": m})).await;
    assert!(r["result"].get("cacheScope").is_none(), "{r}");
}

#[tokio::test]
async fn handshake_results_get_no_cache_fields() {
    let mut p = Peer::session(server()).await;
    let r = p.request("tools/list", json!({})).await;
    assert!(r["result"].get("cacheScope").is_none() && r["result"].get("resultType").is_none(), "{r}");
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("$schema" = "https://json-schema.org/draft/2020-12/schema"))]
#[allow(dead_code)]
struct Declared {
    name: Option<String>,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
#[allow(dead_code)]
struct Plain {
    name: String,
}

#[test]
fn input_schema_keeps_a_declared_schema_keyword_and_adds_none_itself() {
    let declared = ferry_server::schema::input_schema::<Declared>();
    assert_eq!(declared["$schema"], "https://json-schema.org/draft/2020-12/schema", "{declared}");
    assert_eq!(declared["additionalProperties"], false);
    let plain = ferry_server::schema::input_schema::<Plain>();
    assert!(plain.get("$schema").is_none(), "{plain}");
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
#[allow(dead_code)]
#[schemars(rename = "place", extend("$anchor" = "placeDef"))]
struct Place {
    city: String,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
#[allow(dead_code)]
#[schemars(extend(
    "allOf" = [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if" = {"properties": {"phone": {"const": ""}}},
    "then" = {"required": ["email"]},
    "else" = {"required": ["phone"]},
))]
struct Contact {
    phone: Option<String>,
    email: Option<String>,
    place: Option<Place>,
}

#[tokio::test]
async fn every_2020_12_keyword_a_type_declares_reaches_tools_list_unchanged() {
    // SEP-2106: composition, conditionals and `$anchor` survive into `inputSchema`.
    let server = Server::builder("schemas", "1")
        .tool(ToolDef::new("contact").handler(|Args(_): Args<Contact>| async { "ok" }))
        .build()
        .unwrap();
    let mut p = Peer::connect(server);
    let r = p.request("tools/list", json!({"_meta": meta(json!({}))})).await;
    let schema = &r["result"]["tools"][0]["inputSchema"];
    assert_eq!(schema["allOf"][0]["anyOf"][1], json!({"required": ["email"]}), "{schema}");
    assert_eq!(schema["if"], json!({"properties": {"phone": {"const": ""}}}), "{schema}");
    assert_eq!(schema["then"], json!({"required": ["email"]}));
    assert_eq!(schema["else"], json!({"required": ["phone"]}));
    assert_eq!(schema["$defs"]["place"]["$anchor"], "placeDef", "{schema}");
}

#[tokio::test]
async fn prepare_step_takes_mrtr_rounds_before_the_task_is_created() {
    let mut p = Peer::connect(server());
    let m = meta(json!({"elicitation": {}, "extensions": {TASKS: {}}}));
    let r1 = p.request("tools/call", json!({"name": "greeter", "arguments": {}, "_meta": m})).await;
    let res = &r1["result"];
    assert_eq!(res["resultType"], "input_required", "{r1}");
    assert!(res.get("taskId").is_none(), "no task before the input is in: {r1}");
    assert!(res.get("cacheScope").is_none(), "{r1}");
    let (key, asked) = res["inputRequests"].as_object().unwrap().iter().next().unwrap();
    assert_eq!(asked["method"], "elicitation/create");
    assert_eq!(asked["params"]["message"], "Your name?");

    let answers = json!({ key.clone(): {"action": "accept", "content": {"name": "Alice"}} });
    let r2 = p
        .request("tools/call", json!({"name": "greeter", "arguments": {}, "inputResponses": answers, "_meta": m}))
        .await;
    let created = &r2["result"];
    assert_eq!(created["resultType"], "task", "{r2}");
    assert!(created.get("inputRequests").is_none() && created.get("requestState").is_none(), "{r2}");
    let id = created["taskId"].as_str().unwrap().to_string();
    let done = poll_terminal(&mut p, &id, &m).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["result"]["content"][0]["text"], "Hello, Alice! (task)");
}

#[tokio::test]
async fn required_tool_with_prepare_step_checks_the_extension_before_asking() {
    let mut p = Peer::connect(server());
    let r = p
        .request("tools/call", json!({"name": "greeter", "arguments": {}, "_meta": meta(json!({"elicitation": {}}))}))
        .await;
    assert_eq!(r["error"]["code"], -32021, "{r}");
}

#[tokio::test]
async fn prepare_step_error_ends_the_call_without_a_task() {
    let mut p = Peer::connect(server());
    let m = meta(json!({"extensions": {TASKS: {}}}));
    let r = p.request("tools/call", json!({"name": "refusing", "arguments": {}, "_meta": m})).await;
    assert_eq!(r["result"]["isError"], true, "{r}");
    assert_eq!(r["result"]["content"][0]["text"], "not today");
    assert!(r["result"].get("taskId").is_none());
}

#[tokio::test]
async fn direct_call_numbers_handler_questions_after_the_prepare_steps() {
    let mut p = Peer::connect(server());
    let m = meta(json!({"elicitation": {}}));
    let call =
        |answers: Value| json!({"name": "greeter_optional", "arguments": {}, "inputResponses": answers, "_meta": m});
    let r1 = p.request("tools/call", call(json!({}))).await;
    assert_eq!(r1["result"]["inputRequests"]["input-1"]["params"]["message"], "First name?", "{r1}");
    let a1 = json!({"input-1": {"action": "accept", "content": {"name": "Ada"}}});
    let r2 = p.request("tools/call", call(a1)).await;
    assert_eq!(r2["result"]["inputRequests"]["input-2"]["params"]["message"], "Last name?", "{r2}");
    let a2 = json!({"input-1": {"action": "accept", "content": {"name": "Ada"}},
                    "input-2": {"action": "accept", "content": {"name": "Lovelace"}}});
    let r3 = p.request("tools/call", call(a2)).await;
    assert_eq!(r3["result"]["content"][0]["text"], "Ada Lovelace", "{r3}");
}

#[tokio::test]
async fn prepare_step_asks_on_the_request_stream_of_a_2025_11_25_session() {
    let mut p = Peer::connect(server());
    let init = p
        .request(
            "initialize",
            json!({"protocolVersion": "2025-11-25", "capabilities": {"elicitation": {}},
                   "clientInfo": {"name": "t", "version": "1"}}),
        )
        .await;
    assert_eq!(init["result"]["protocolVersion"], "2025-11-25");
    let call = p.send("tools/call", json!({"name": "greeter", "arguments": {}, "task": {"ttl": 60000}})).await;
    // The question arrives before the task exists.
    let ask = p.recv().await;
    assert_eq!(ask["method"], "elicitation/create", "{ask}");
    assert!(ask["params"]["_meta"].get("io.modelcontextprotocol/related-task").is_none(), "{ask}");
    let answer = json!({"jsonrpc": "2.0", "id": ask["id"], "result": {"action": "accept", "content": {"name": "Bo"}}});
    p.send_raw(&answer).await;
    let created = loop {
        let m = p.recv().await;
        if m["id"] == json!(call) {
            break m;
        }
    };
    let id = created["result"]["task"]["taskId"].as_str().expect("a task").to_string();
    let result = p.request("tasks/result", json!({"taskId": id})).await;
    assert_eq!(result["result"]["content"][0]["text"], "Hello, Bo! (task)", "{result}");
}

#[test]
fn prepared_without_a_prepare_step_is_a_build_error() {
    let err = Server::builder("s", "1")
        .tool(ToolDef::new("t").handler(|Prepared(n): Prepared<i64>| async move { n }))
        .build()
        .err()
        .expect("build error");
    assert!(matches!(err, BuildError::NoPrepareStep { ref component } if component == "tool 't'"), "{err}");
}

#[tokio::test]
async fn unreadable_message_with_a_readable_id_is_answered_with_that_id() {
    let mut p = Peer::connect(server());
    // `params` must be an object: the message is invalid, but its id can be read.
    p.send_raw(&json!({"jsonrpc": "2.0", "id": 41, "method": "ping", "params": "nope"})).await;
    let r = p.recv().await;
    assert_eq!(r["error"]["code"], -32600, "{r}");
    assert_eq!(r["id"], 41, "{r}");
}

async fn http_server() -> String {
    support::serve_http(server()).await
}

async fn post(url: &str, headers: &[(&str, &str)], body: Value) -> (u16, Value) {
    support::post_json(url, headers, &body).await
}

#[tokio::test]
async fn http_errors_after_the_body_is_read_echo_the_request_id() {
    let url = http_server().await;
    let ping = |id: i64| json!({"jsonrpc": "2.0", "id": id, "method": "ping"});
    let (status, body) = post(&url, &[("mcp-session-id", "no-such-session")], ping(7)).await;
    assert_eq!(status, 404);
    assert_eq!(body["id"], 7, "{body}");
    let (status, body) = post(&url, &[("mcp-protocol-version", "1999-01-01")], ping(8)).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], -32022, "{body}");
    assert_eq!(body["id"], 8, "{body}");
    let list = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/list"});
    let (status, body) = post(&url, &[], list).await;
    assert_eq!(status, 400);
    assert_eq!(body["id"], 9, "missing session id: {body}");
    let (status, body) =
        post(&url, &[], json!({"jsonrpc": "2.0", "id": "s-1", "method": "ping", "params": "nope"})).await;
    assert_eq!(status, 400);
    assert_eq!(body["id"], "s-1", "invalid request with a readable id: {body}");
}

#[tokio::test]
async fn http_message_sent_just_before_a_quick_answer_is_not_lost() {
    let url = http_server().await;
    // A stateless request gets log messages only when it asks for a level.
    let mut m = meta(json!({}));
    m["io.modelcontextprotocol/logLevel"] = json!("debug");
    let call = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
        "params": {"name": "log_once", "arguments": {}, "_meta": m}});
    for _ in 0..20 {
        let resp = stateless_call(&url, "log_once", &call).send().await.unwrap();
        let content_type = resp.headers()["content-type"].to_str().unwrap().to_string();
        let body = resp.text().await.unwrap();
        assert!(content_type.starts_with("text/event-stream"), "{content_type}: {body}");
        let log = body.find("notifications/message").expect("the log arrives");
        let result = body.find("\"result\"").expect("the result arrives");
        assert!(log < result, "{body}");
    }
}
