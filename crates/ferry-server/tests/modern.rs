//! 2026-07-28 specifics beyond the basic task wire: multi-round-trip input
//! (MRTR) for stateless direct calls, and `subscriptions/listen` for tasks.

mod support;

use support::{modern_meta as meta, Peer};

use ferry_server::{Context, Server, TaskSupport, ToolDef};
use serde_json::{json, Value};
use std::time::Duration;

fn server() -> Server {
    Server::builder("modern", "1")
        .tool(ToolDef::new("two_questions").handler(|cx: Context| async move {
            let first = cx.elicit("First name?", json!({"type": "object"})).await?;
            let last = cx.elicit("Last name?", json!({"type": "object"})).await?;
            Ok::<_, ferry_server::ToolError>(format!(
                "{} {}",
                first["content"]["name"].as_str().unwrap_or("?"),
                last["content"]["name"].as_str().unwrap_or("?")
            ))
        }))
        .tool(ToolDef::new("chatty").handler(|cx: Context| async move {
            cx.log(ferry_server::LoggingLevel::Info, "info");
            cx.log(ferry_server::LoggingLevel::Warning, "warning");
            cx.log(ferry_server::LoggingLevel::Error, "error");
            "said it"
        }))
        .tool(ToolDef::new("slow").task_support(TaskSupport::Optional).handler(|| async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            "done"
        }))
        .build()
        .unwrap()
}

#[tokio::test]
async fn stateless_elicitation_takes_rounds_until_all_answers_are_in() {
    let mut p = Peer::connect(server());
    let caps = json!({"elicitation": {}});
    let r1 =
        p.request("tools/call", json!({"name": "two_questions", "arguments": {}, "_meta": meta(caps.clone())})).await;
    assert_eq!(r1["result"]["resultType"], "input_required");
    let asked = r1["result"]["inputRequests"].as_object().unwrap();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked["input-1"]["method"], "elicitation/create");
    assert_eq!(asked["input-1"]["params"]["message"], "First name?");

    let answers = json!({"input-1": {"action": "accept", "content": {"name": "Ada"}}});
    let r2 = p
        .request(
            "tools/call",
            json!({"name": "two_questions", "arguments": {}, "inputResponses": answers, "_meta": meta(caps.clone())}),
        )
        .await;
    assert_eq!(r2["result"]["resultType"], "input_required");
    assert_eq!(r2["result"]["inputRequests"]["input-2"]["params"]["message"], "Last name?");

    let answers = json!({
        "input-1": {"action": "accept", "content": {"name": "Ada"}},
        "input-2": {"action": "accept", "content": {"name": "Lovelace"}},
    });
    let r3 = p
        .request(
            "tools/call",
            json!({"name": "two_questions", "arguments": {}, "inputResponses": answers, "_meta": meta(caps)}),
        )
        .await;
    assert_eq!(r3["result"]["resultType"], "complete");
    assert_eq!(r3["result"]["content"][0]["text"], "Ada Lovelace");
}

#[tokio::test]
async fn stateless_elicitation_without_the_capability_is_missing_capability() {
    let mut p = Peer::connect(server());
    let r = p.request("tools/call", json!({"name": "two_questions", "arguments": {}, "_meta": meta(json!({}))})).await;
    assert_eq!(r["error"]["code"], -32021, "{r}");
    assert_eq!(r["error"]["data"]["requiredCapabilities"], json!({"elicitation": {}}), "{r}");
}

#[tokio::test]
async fn stateless_requests_get_log_messages_only_when_they_ask_for_a_level() {
    let mut p = Peer::connect(server());
    let quiet = p.send("tools/call", json!({"name": "chatty", "arguments": {}, "_meta": meta(json!({}))})).await;
    loop {
        let m = p.recv().await;
        assert_ne!(m["method"], "notifications/message", "no level asked, no logs: {m}");
        if m["id"] == json!(quiet) {
            break;
        }
    }
    let mut asked = meta(json!({}));
    asked["io.modelcontextprotocol/logLevel"] = json!("warning");
    let loud = p.send("tools/call", json!({"name": "chatty", "arguments": {}, "_meta": asked})).await;
    let mut levels = Vec::new();
    loop {
        let m = p.recv().await;
        if m["method"] == "notifications/message" {
            levels.push(m["params"]["level"].as_str().unwrap_or_default().to_string());
        }
        if m["id"] == json!(loud) {
            break;
        }
    }
    assert_eq!(levels, vec!["warning", "error"], "only messages at or above the asked level");
}

#[tokio::test]
async fn listen_streams_task_states_until_terminal() {
    let mut p = Peer::connect(server());
    let m = meta(json!({"extensions": {"io.modelcontextprotocol/tasks": {}}}));
    let created = p.request("tools/call", json!({"name": "slow", "arguments": {}, "_meta": m})).await;
    let id = created["result"]["taskId"].as_str().unwrap().to_string();
    let listen =
        p.send("subscriptions/listen", json!({"notifications": {"taskIds": [id, "not-mine"]}, "_meta": m})).await;
    let ack = p.recv().await;
    assert_eq!(ack["method"], "notifications/subscriptions/acknowledged");
    assert_eq!(ack["params"]["notifications"]["taskIds"], json!([id]));
    assert_eq!(ack["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], json!(listen));
    let mut last = Value::Null;
    loop {
        let msg = p.recv().await;
        if msg["id"] == json!(listen) {
            assert_eq!(msg["result"]["resultType"], "complete");
            break;
        }
        assert_eq!(msg["method"], "notifications/tasks");
        assert_eq!(msg["params"]["taskId"], json!(id));
        assert_eq!(msg["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], json!(listen));
        last = msg;
    }
    assert_eq!(last["params"]["status"], "completed");
    assert_eq!(last["params"]["result"]["content"][0]["text"], "done");
}

#[tokio::test]
async fn listen_for_tasks_needs_the_extension() {
    let mut p = Peer::connect(server());
    let r =
        p.request("subscriptions/listen", json!({"notifications": {"taskIds": ["x"]}, "_meta": meta(json!({}))})).await;
    assert_eq!(r["error"]["code"], -32021);
    assert_eq!(r["error"]["data"]["requiredCapabilities"]["extensions"]["io.modelcontextprotocol/tasks"], json!({}));
}
