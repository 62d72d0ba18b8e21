//! A 2025-11-25 client follows its task on the status notifications the server
//! pushes on the session's stream (`notifications/tasks/status`), so the end
//! reaches it without waiting out a poll interval. The server here asks for a
//! poll a minute (the client polls at most every 5 s): the `tasks/get` requests
//! are counted to show that the terminal status came pushed.

use ferry_client::{Client, ClientOptions, Mode, TaskStatus};
use futures::StreamExt;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The demo server with a one-minute poll interval; its URL and a count of `tasks/get`.
async fn counted_demo() -> (String, Arc<AtomicUsize>) {
    let gets = Arc::new(AtomicUsize::new(0));
    let counter = gets.clone();
    let server =
        demo::builder().configure(|c| c.poll_interval = ferry_server::PollInterval::Fixed(60_000)).build().unwrap();
    let router = server.router().layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            let counter = counter.clone();
            async move {
                // Handshake-era requests name their method only in the body.
                let (parts, body) = req.into_parts();
                let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
                if String::from_utf8_lossy(&bytes).contains(r#""method":"tasks/get""#) {
                    counter.fetch_add(1, Ordering::SeqCst);
                }
                next.run(axum::extract::Request::from_parts(parts, axum::body::Body::from(bytes))).await
            }
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, gets)
}

#[tokio::test]
async fn handshake_clients_hear_the_end_of_a_task_without_polling() {
    let (url, gets) = counted_demo().await;
    let c = Client::connect_http(&url, ClientOptions::default().mode(Mode::Handshake)).await.unwrap();
    let task = c.call_tool_task("sleep", json!({"ms": 300})).await.unwrap();
    let states: Vec<_> = task.status().map(|s| s.unwrap()).collect().await;
    assert_eq!(states.last().unwrap().status, TaskStatus::Completed, "{states:?}");
    assert_eq!(states.last().unwrap().poll_interval_ms, Some(60_000), "the server's interval is reported");
    // One read when following starts; the end came pushed (a poll would be the second).
    assert_eq!(gets.load(Ordering::SeqCst), 1, "tasks/get for a followed task");
    // The result itself: tasks/result, no polling.
    assert_eq!(task.await.unwrap().content[0].as_text(), Some("slept 300"));
    assert_eq!(gets.load(Ordering::SeqCst), 1);
}
