//! The quickstart server through the facade's own client: a plain call, the
//! same call as a task with progress, a tool error, a prompt and a template.

use mcp::client::{Client, ClientError, ClientOptions, Mode};
use serde_json::json;

async fn serve() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/mcp", listener.local_addr().expect("addr"));
    tokio::spawn(async move { quickstart::server().serve_listener(listener).await });
    url
}

#[tokio::test]
async fn macros_from_the_facade_make_a_working_server_in_both_eras() {
    let url = serve().await;
    for mode in [Mode::Handshake, Mode::Modern] {
        let client = Client::connect_http(&url, ClientOptions::default().mode(mode)).await.expect("connect");

        let tools = client.list_tools().await.expect("tools");
        assert_eq!(tools.len(), 1);
        let schema = serde_json::to_value(&tools[0].input_schema).expect("schema");
        assert_eq!(schema["properties"]["text"]["description"], "The text to count.", "{schema}");
        assert!(schema["properties"].get("progress").is_none(), "injected parameter in the schema: {schema}");
        assert_eq!(schema["required"], json!(["text"]), "{schema}");

        let plain = client.call_tool("count_words", json!({"text": "one two three"})).await.expect("call");
        assert_eq!(plain.content[0].as_text(), Some("3"), "{plain:?}");

        let task = client.call_tool_task("count_words", json!({"text": "a b c d", "pause_ms": 5})).await.expect("task");
        assert!(task.id().is_some(), "{mode:?}: the call did not become a task");
        let done = task.await.expect("task result");
        assert_eq!(done.content[0].as_text(), Some("4"), "{done:?}");

        let empty = client.call_tool("count_words", json!({"text": "  "})).await.expect("tool error is a result");
        assert!(empty.is_error);
        assert_eq!(empty.content[0].as_text(), Some("the text has no words"));

        let prompt = client.get_prompt("summarize", json!({"text": "Ferry"})).await.expect("prompt");
        let prompt = serde_json::to_value(&prompt).expect("prompt json");
        assert_eq!(prompt["messages"][0]["content"]["text"], "Summarize in one sentence: Ferry", "{prompt}");

        let notes = client.read_resource("notes://rust").await.expect("resource");
        assert_eq!(notes.contents[0].text.as_deref(), Some("No notes on rust yet."));

        let missing = client.get_prompt("summarize", json!({})).await.expect_err("missing argument");
        assert!(matches!(missing, ClientError::Rpc(ref e) if e.code == -32602), "{missing:?}");
        client.close().await;
    }
}
