//! `connect_in_process`: a client and a server in one process, no port, no subprocess,
//! in both protocol eras, with tasks and with the server asking the client.

use ferrymcp::client::{ClientOptions, Mode};
use ferrymcp::{Context, Server, TaskSupport, ToolDef, ToolError};
use serde_json::json;

fn server() -> Server {
    Server::builder("inproc", "1")
        .tool(ToolDef::new("double").task_support(TaskSupport::Optional).handler(|cx: Context| async move {
            let _ = cx.task_id();
            "42"
        }))
        .tool(ToolDef::new("ask").handler(|cx: Context| async move {
            let a = cx.elicit("Name?", json!({"type": "object", "properties": {"name": {"type": "string"}}})).await?;
            Ok::<_, ToolError>(format!("hi {}", a["content"]["name"].as_str().unwrap_or("?")))
        }))
        .build()
        .unwrap()
}

#[tokio::test]
async fn calls_tasks_and_questions_work_in_both_eras() {
    let server = server();
    for mode in [Mode::Handshake, Mode::Modern] {
        let options = ClientOptions::default()
            .mode(mode)
            .on_elicit(|_| async { Ok(json!({"action": "accept", "content": {"name": "Ada"}})) });
        let client = ferrymcp::connect_in_process(&server, options).await.unwrap();
        assert_eq!(client.call_tool("double", json!({})).await.unwrap().content[0].as_text(), Some("42"));
        let task = client.call_tool_task("double", json!({})).await.unwrap();
        assert_eq!(task.await.unwrap().content[0].as_text(), Some("42"), "{mode:?}");
        let asked = client.call_tool("ask", json!({})).await.unwrap();
        assert_eq!(asked.content[0].as_text(), Some("hi Ada"), "{mode:?}");
    }
}
