//! What a task handle tells: waiting for a state, cancelling a task that already ended,
//! and use after its client was closed; in both protocol eras.

mod support;

use ferry_client::{Client, ClientError, ClientOptions, Mode, TaskStatus};
use ferry_server::{Context, Server, TaskSupport, ToolDef, ToolError};
use serde_json::json;
use std::time::Duration;

async fn serve() -> String {
    // Without quick answers: every call here is to become a task, however quick.
    let server = Server::builder("handles", "1")
        .configure(|c| c.quick_answer = Duration::ZERO)
        .default_task_support(TaskSupport::Optional)
        .tool(ToolDef::new("quick").handler(|| async { "done" }))
        .tool(ToolDef::new("broken").handler(|| async { Err::<String, _>(ToolError::retryable("no luck")) }))
        .tool(ToolDef::new("slow").handler(|| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            "late"
        }))
        .tool(ToolDef::new("asks").handler(|cx: Context| async move {
            let a = cx.elicit("Name?", json!({"type": "object"})).await?;
            Ok::<_, ToolError>(a.to_string())
        }))
        .build()
        .unwrap();
    support::serve_ferry(server).await
}

async fn client(url: &str, mode: Mode) -> Client {
    let options = ClientOptions::default().mode(mode).on_elicit(|_| async { Ok(json!({"action": "decline"})) });
    Client::connect_http(url, options).await.unwrap()
}

#[tokio::test]
async fn wait_for_a_state_cancel_an_ended_task_and_use_after_close() {
    let url = serve().await;
    for mode in [Mode::Handshake, Mode::Modern] {
        let c = client(&url, mode).await;
        // Waiting for a state the task reaches.
        let quick = c.call_tool_task("quick", json!({})).await.unwrap();
        let info = quick.wait_for(TaskStatus::Completed, Duration::from_secs(30)).await.unwrap();
        assert_eq!(info.status, TaskStatus::Completed, "{mode:?}");
        // Cancelling it now says it already ended, not that it is unknown.
        match quick.cancel().await {
            Err(ClientError::TaskEnded { status: TaskStatus::Completed, .. }) => {}
            other => panic!("{mode:?}: {other:?}"),
        }
        // A task that fails never reaches `completed`.
        let broken = c.call_tool_task("broken", json!({})).await.unwrap();
        match broken.wait_for(TaskStatus::Completed, Duration::from_secs(30)).await {
            Err(ClientError::TaskEnded { status: TaskStatus::Failed, .. }) => {}
            other => panic!("{mode:?}: {other:?}"),
        }
        // A wait that runs out of time leaves the task running.
        let slow = c.call_tool_task("slow", json!({})).await.unwrap();
        match slow.wait_for(TaskStatus::Completed, Duration::from_millis(200)).await {
            Err(ClientError::Timeout(_)) => {}
            other => panic!("{mode:?}: {other:?}"),
        }
        assert_eq!(slow.get().await.unwrap().status, TaskStatus::Working);
        // After close, the handle says so (and how to go on).
        let id = slow.id().unwrap().to_string();
        c.close().await;
        match slow.get().await {
            Err(e @ ClientError::Closed(_)) => assert!(e.to_string().contains("re-attach"), "{e}"),
            other => panic!("{mode:?}: {other:?}"),
        }
        if mode == Mode::Modern {
            // Stateless tasks outlive their client: a new one re-attaches by id and cancels it.
            let again = client(&url, mode).await.task::<ferry_client::CallToolResult>(&id);
            assert_eq!(again.cancel().await.unwrap().status, TaskStatus::Cancelled);
        }
    }
}

#[tokio::test]
async fn wait_for_input_required() {
    let url = serve().await;
    // A 2026-07-28 task asks through its status (the handle only follows it here).
    let c = client(&url, Mode::Modern).await;
    let asks = c.call_tool_task("asks", json!({})).await.unwrap();
    let info = asks.wait_for(TaskStatus::InputRequired, Duration::from_secs(30)).await.unwrap();
    assert_eq!(info.status, TaskStatus::InputRequired);
}
