//! What handlers may return and take, beyond the basics: content helpers and lists,
//! bytes from resources, progress kept per execution, prompt arguments typed from
//! their wire strings; each directly and as a task. And the tasks capability names
//! only the requests some component can run as a task.

mod support;

use support::{modern_meta, Peer};

use ferry_server::{Args, Content, PromptDef, ResourceDef, Server, TaskSupport, ToolDef};
use serde_json::{json, Value};

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Essay {
    topic: String,
    words: Option<u32>,
    shout: Option<bool>,
}

fn server() -> Server {
    Server::builder("ergonomics", "1")
        .default_task_support(TaskSupport::Optional)
        .tool(ToolDef::new("picture").handler(|| async {
            vec![Content::text("a dot:"), Content::image(&[0x89, b'P', b'N', b'G'], "image/png")]
        }))
        .tool(ToolDef::new("sound").handler(|| async { Content::audio(b"RIFF", "audio/wav") }))
        .tool(ToolDef::new("names").handler(|| async { vec!["ada".to_string(), "grace".to_string()] }))
        .tool(ToolDef::new("nothing").handler(|| async { Option::<String>::None }))
        .tool(ToolDef::new("counted").handler(|progress: ferry_server::Progress| async move {
            progress.set_total(4.0).await;
            progress.increment(1.0, None).await;
            progress.increment(2.0, Some("three")).await;
            let (now, total) = progress.current();
            format!("{now} of {total:?}")
        }))
        .resource(ResourceDef::new("x://bytes", "bytes").handler(|| async { vec![0u8, 159, 146, 150] }))
        .prompt(PromptDef::new("essay").handler(|Args(e): Args<Essay>| async move {
            let text = format!("{} words on {}", e.words.unwrap_or(100), e.topic);
            if e.shout == Some(true) {
                text.to_uppercase()
            } else {
                text
            }
        }))
        .build()
        .unwrap()
}

/// Call directly, then as a task (2025-11-25 session), and return both results.
async fn both_ways(p: &mut Peer, method: &str, params: Value) -> [Value; 2] {
    let direct = p.request(method, params.clone()).await;
    let mut with_task = params;
    with_task["task"] = json!({});
    let created = p.request(method, with_task).await;
    let id = created["result"]["task"]["taskId"].as_str().unwrap_or_else(|| panic!("{created}")).to_string();
    let mut through_task = p.request("tasks/result", json!({"taskId": id})).await;
    if let Some(r) = through_task["result"].as_object_mut() {
        r.remove("_meta");
    }
    [direct["result"].clone(), through_task["result"].clone()]
}

#[tokio::test]
async fn content_helpers_lists_and_none_become_content_blocks() {
    let mut p = Peer::session(server()).await;
    let tool = |name: &str| json!({"name": name, "arguments": {}});
    for r in both_ways(&mut p, "tools/call", tool("picture")).await {
        assert_eq!(r["content"][0], json!({"type": "text", "text": "a dot:"}), "{r}");
        assert_eq!(r["content"][1], json!({"type": "image", "data": "iVBORw==", "mimeType": "image/png"}), "{r}");
    }
    for r in both_ways(&mut p, "tools/call", tool("sound")).await {
        assert_eq!(r["content"][0], json!({"type": "audio", "data": "UklGRg==", "mimeType": "audio/wav"}), "{r}");
    }
    for r in both_ways(&mut p, "tools/call", tool("names")).await {
        assert_eq!(r["content"], json!([{"type": "text", "text": "ada"}, {"type": "text", "text": "grace"}]));
    }
    for r in both_ways(&mut p, "tools/call", tool("nothing")).await {
        assert_eq!(r["content"], json!([]), "{r}");
    }
}

#[tokio::test]
async fn bytes_from_a_resource_are_a_blob_at_its_uri() {
    let mut p = Peer::session(server()).await;
    for r in both_ways(&mut p, "resources/read", json!({"uri": "x://bytes"})).await {
        assert_eq!(
            r["contents"][0],
            json!({"uri": "x://bytes", "mimeType": "application/octet-stream", "blob": "AJ+Slg=="}),
            "{r}"
        );
    }
}

#[tokio::test]
async fn progress_is_kept_per_execution_and_increments_from_there() {
    let mut p = Peer::session(server()).await;
    let call = json!({"name": "counted", "arguments": {}, "_meta": {"progressToken": "t"}});
    for r in both_ways(&mut p, "tools/call", call).await {
        assert_eq!(r["content"][0]["text"], "3 of Some(4.0)", "{r}");
    }
}

#[tokio::test]
async fn prompt_arguments_sent_as_strings_reach_typed_parameters() {
    let mut p = Peer::session(server()).await;
    // What any spec client sends: every argument a string.
    let get = json!({"name": "essay", "arguments": {"topic": "tides", "words": "300", "shout": "true"}});
    for r in both_ways(&mut p, "prompts/get", get).await {
        assert_eq!(r["messages"][0]["content"]["text"], "300 WORDS ON TIDES", "{r}");
    }
    let bad = p.request("prompts/get", json!({"name": "essay", "arguments": {"topic": "t", "words": "many"}})).await;
    assert_eq!(bad["error"]["code"], -32602, "{bad}");
    let message = bad["error"]["message"].as_str().unwrap();
    assert!(message.contains("'words' must be integer or null, got \"many\""), "{message}");
    // The stateless wire too.
    let mut p = Peer::connect(server());
    let r = p
        .request(
            "prompts/get",
            json!({"name": "essay", "arguments": {"topic": "sea", "words": "5"}, "_meta": modern_meta(json!({}))}),
        )
        .await;
    assert_eq!(r["result"]["messages"][0]["content"]["text"], "5 words on sea", "{r}");
}

#[tokio::test]
async fn the_tasks_capability_names_only_requests_that_can_be_tasks() {
    let only_tools = Server::builder("t", "1")
        .tool(ToolDef::new("bg").task_support(TaskSupport::Optional).handler(|| async { "" }))
        .prompt(PromptDef::new("p").handler(|| async { String::new() }))
        .build()
        .unwrap();
    let mut p = Peer::connect(only_tools);
    let init = p
        .request(
            "initialize",
            json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}),
        )
        .await;
    assert_eq!(init["result"]["capabilities"]["tasks"]["requests"], json!({"tools": {"call": {}}}), "{init}");

    let no_tasks = Server::builder("t", "1").tool(ToolDef::new("plain").handler(|| async { "" })).build().unwrap();
    let mut p = Peer::connect(no_tasks.clone());
    let init = p
        .request(
            "initialize",
            json!({"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}),
        )
        .await;
    assert!(init["result"]["capabilities"].get("tasks").is_none(), "{init}");
    let mut p = Peer::connect(no_tasks);
    let discover = p.request("server/discover", json!({"_meta": modern_meta(json!({}))})).await;
    assert!(discover["result"]["capabilities"].get("extensions").is_none(), "{discover}");
}
