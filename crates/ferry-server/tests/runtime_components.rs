//! Components added and removed while the server runs: lists and calls follow at
//! once, clients hear `notifications/<kind>/list_changed` (sessions on their
//! stream, 2026-07-28 clients on `subscriptions/listen` when they asked), a change
//! is checked like `build()`, and a call already running finishes.

mod support;

use support::{modern_meta, Peer};

use ferry_server::{Args, BuildError, PromptDef, ResourceTemplateDef, Server, State, ToolDef};
use serde_json::{json, Value};
use tokio::sync::mpsc;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Who {
    name: String,
}

fn names(list: &Value, key: &str) -> Vec<String> {
    list["result"][key].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_string()).collect()
}

/// The next notification of `method`, skipping others.
async fn next(p: &mut Peer, method: &str) -> Value {
    loop {
        let m = p.recv().await;
        if m["method"] == method {
            return m;
        }
    }
}

#[tokio::test]
async fn a_handler_changes_the_tools_through_its_context() {
    let server = Server::builder("self-changing", "1")
        .tool(ToolDef::new("grow").handler(|cx: ferry_server::Context| async move {
            let added = cx.server().add_tool(ToolDef::new("grown").handler(|| async { "new" }));
            added.map(|()| "grew").map_err(|e| ferry_server::ToolError::new(e.to_string()))
        }))
        .build()
        .unwrap();
    let mut p = Peer::session(server).await;
    assert_eq!(p.call("grow", json!({})).await["result"]["content"][0]["text"], "grew");
    assert_eq!(names(&p.request("tools/list", json!({})).await, "tools"), ["grow", "grown"]);
    assert_eq!(p.call("grown", json!({})).await["result"]["content"][0]["text"], "new");
    let again = p.call("grow", json!({})).await;
    assert_eq!(again["result"]["isError"], true, "a second 'grown' is a duplicate: {again}");
}

#[tokio::test]
async fn sessions_follow_tools_prompts_and_templates_added_and_removed() {
    let server = Server::builder("growing", "1").tool(ToolDef::new("first").handler(|| async { "1" })).build().unwrap();
    let mut p = Peer::session(server.clone()).await;
    let init = p.request("tools/list", json!({})).await;
    assert_eq!(names(&init, "tools"), ["first"]);

    server.add_tool(ToolDef::new("second").handler(|| async { "2" })).unwrap();
    next(&mut p, "notifications/tools/list_changed").await;
    assert_eq!(names(&p.request("tools/list", json!({})).await, "tools"), ["first", "second"]);
    assert_eq!(p.call("second", json!({})).await["result"]["content"][0]["text"], "2");

    assert!(server.remove_tool("first"));
    next(&mut p, "notifications/tools/list_changed").await;
    assert!(!server.remove_tool("first"), "already gone");
    let r = p.call("first", json!({})).await;
    assert_eq!(r["error"]["code"], -32602, "{r}");
    assert_eq!(names(&p.request("tools/list", json!({})).await, "tools"), ["second"]);

    server
        .add_prompt(PromptDef::new("hi").handler(|Args(w): Args<Who>| async move { format!("Say hi to {}", w.name) }))
        .unwrap();
    next(&mut p, "notifications/prompts/list_changed").await;
    let r = p.request("prompts/get", json!({"name": "hi", "arguments": {"name": "Ada"}})).await;
    assert_eq!(r["result"]["messages"][0]["content"]["text"], "Say hi to Ada", "{r}");

    server
        .add_resource_template(
            ResourceTemplateDef::new("hi://{name}", "hi").handler(|Args(w): Args<Who>| async move { w.name }),
        )
        .unwrap();
    next(&mut p, "notifications/resources/list_changed").await;
    let r = p.request("resources/read", json!({"uri": "hi://Grace"})).await;
    assert_eq!(r["result"]["contents"][0]["text"], "Grace", "{r}");
    assert!(server.remove_resource_template("hi://{name}"));
    next(&mut p, "notifications/resources/list_changed").await;
    assert_eq!(p.request("resources/read", json!({"uri": "hi://Grace"})).await["error"]["code"], -32002);
}

#[tokio::test]
async fn a_change_is_checked_like_build() {
    struct Missing;
    let server = Server::builder("checked", "1").tool(ToolDef::new("only").handler(|| async { "x" })).build().unwrap();
    let dup = server.add_tool(ToolDef::new("only").handler(|| async { "y" }));
    assert!(matches!(dup, Err(BuildError::Duplicate { kind: "tool", .. })), "{dup:?}");
    let missing = server.add_tool(ToolDef::new("needs").handler(|_s: State<Missing>| async { "z" }));
    assert!(matches!(missing, Err(BuildError::MissingState { .. })), "{missing:?}");
    let no_handler = server.add_prompt(PromptDef::new("empty"));
    assert!(matches!(no_handler, Err(BuildError::NoHandler { .. })), "{no_handler:?}");
    // Nothing changed.
    let mut p = Peer::session(server).await;
    assert_eq!(names(&p.request("tools/list", json!({})).await, "tools"), ["only"]);
}

#[tokio::test]
async fn a_call_already_running_finishes_after_its_tool_is_removed() {
    let (started_tx, mut started) = mpsc::unbounded_channel::<()>();
    let (go_tx, go) = mpsc::unbounded_channel::<()>();
    let go = std::sync::Arc::new(tokio::sync::Mutex::new(go));
    let server = Server::builder("removing", "1")
        .tool(ToolDef::new("slow").handler(move || {
            let (started, go) = (started_tx.clone(), go.clone());
            async move {
                let _ = started.send(());
                go.lock().await.recv().await;
                "finished"
            }
        }))
        .build()
        .unwrap();
    let mut p = Peer::session(server.clone()).await;
    let id = p.send("tools/call", json!({"name": "slow", "arguments": {}})).await;
    started.recv().await.unwrap();
    assert!(server.remove_tool("slow"));
    go_tx.send(()).unwrap();
    loop {
        let m = p.recv().await;
        if m["id"] == json!(id) {
            assert_eq!(m["result"]["content"][0]["text"], "finished", "{m}");
            break;
        }
    }
}

#[tokio::test]
async fn stateless_clients_hear_the_list_changes_they_listen_for() {
    let server = Server::builder("listening", "1").build().unwrap();
    let mut p = Peer::connect(server.clone());
    let filter = json!({"promptsListChanged": true, "toolsListChanged": false});
    let id = p.send("subscriptions/listen", json!({"notifications": filter, "_meta": modern_meta(json!({}))})).await;
    let ack = p.recv().await;
    assert_eq!(ack["params"]["notifications"], json!({"promptsListChanged": true}), "{ack}");
    server.add_tool(ToolDef::new("t").handler(|| async { "t" })).unwrap(); // not listened to
    server.add_prompt(PromptDef::new("p").handler(|| async { String::from("p") })).unwrap();
    let n = p.recv().await;
    assert_eq!(n["method"], "notifications/prompts/list_changed", "{n}");
    assert_eq!(n["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"], id, "{n}");
    let d = p.request("server/discover", json!({"_meta": modern_meta(json!({}))})).await;
    assert_eq!(d["result"]["capabilities"]["tools"]["listChanged"], true, "{d}");
}
