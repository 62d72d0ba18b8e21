//! The client against the Ferry demo server over Streamable HTTP, in both eras.

use ferry_client::{Client, ClientError, ClientOptions, Mode, TaskStatus};
use ferry_server::{Context, TaskSupport, ToolDef};
use futures::StreamExt;
use serde_json::json;

async fn serve(server: ferry_server::Server) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { server.serve_listener(listener).await });
    url
}

/// The demo without quick answers: a task call of a modern client becomes a task however
/// quick the tool (these tests are about task handles).
async fn demo() -> String {
    let server = demo::builder()
        .configure(|c| {
            c.poll_interval = ferry_server::PollInterval::Fixed(50);
            c.quick_answer = std::time::Duration::ZERO;
        })
        .build()
        .unwrap();
    serve(server).await
}

async fn connect(url: &str, mode: Mode) -> Client {
    let c = Client::connect_http(url, ClientOptions::default().mode(mode)).await.unwrap();
    assert_eq!(c.is_modern(), mode == Mode::Modern);
    c
}

fn text(r: &ferry_client::CallToolResult) -> &str {
    r.content[0].as_text().unwrap()
}

#[tokio::test]
async fn auto_mode_picks_the_stateless_protocol_on_a_ferry_server() {
    let url = demo().await;
    let c = Client::connect_http(&url, ClientOptions::default()).await.unwrap();
    assert!(c.is_modern());
    assert_eq!(c.protocol_version(), "2026-07-28");
    assert_eq!(c.server_info()["name"], "ferry-demo");
}

#[tokio::test]
async fn handshake_mode_negotiates_2025_11_25_and_lists_task_support() {
    let url = demo().await;
    let c = connect(&url, Mode::Handshake).await;
    assert_eq!(c.protocol_version(), "2025-11-25");
    let tools = c.list_tools().await.unwrap();
    let must = tools.iter().find(|t| t.name == "must_task").unwrap();
    assert_eq!(must.execution.as_ref().unwrap().task_support, TaskSupport::Required);
    assert!(c.server_capabilities().pointer("/tasks/requests/tools/call").is_some());
}

#[tokio::test]
async fn direct_calls_in_both_eras() {
    let url = demo().await;
    for mode in [Mode::Handshake, Mode::Modern] {
        let c = connect(&url, mode).await;
        assert_eq!(text(&c.call_tool("add", json!({"a": 2, "b": 3})).await.unwrap()), "5");
        let failed = c.call_tool("fail", json!({"message": "boom"})).await.unwrap();
        assert!(failed.is_error);
        assert_eq!(text(&failed), "boom");
        let prompt = c.get_prompt("greet", json!({"name": "Ada"})).await.unwrap();
        assert!(prompt.messages[0].content.as_text().unwrap().contains("Ada"));
        let res = c.read_resource("ferry://demo/greeting/Ada").await.unwrap();
        assert_eq!(res.contents[0].text.as_deref(), Some("Hello, Ada!"));
        match c.call_tool("nope", json!({})).await {
            Err(ClientError::Rpc(e)) => assert_eq!(e.code, -32602),
            other => panic!("{mode:?}: expected -32602, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn task_handles_await_the_typed_result_in_both_eras() {
    let url = demo().await;
    for mode in [Mode::Handshake, Mode::Modern] {
        let c = connect(&url, mode).await;
        let task = c.call_tool_task("add", json!({"a": 20, "b": 22})).await.unwrap();
        assert!(task.id().is_some(), "{mode:?}: a task was created");
        assert_eq!(text(&task.await.unwrap()), "42");
        let task = c.call_tool_task("must_task", json!({"x": 21})).await.unwrap();
        assert_eq!(text(&task.await.unwrap()), "42");
        // A tool error is a result with is_error, in both eras.
        let task = c.call_tool_task("fail", json!({"message": "nope"})).await.unwrap();
        let r = task.await.unwrap();
        assert!(r.is_error, "{mode:?}");
    }
}

#[tokio::test]
async fn a_default_server_may_answer_a_modern_task_call_with_its_result() {
    // Quick answers are on by default: a tool that ends at once is answered directly and
    // the handle holds the result. The window is short, so on a loaded machine one call
    // may still get its task: of many calls, some must come back direct.
    let url = serve(demo::builder().build().unwrap()).await;
    let c = connect(&url, Mode::Modern).await;
    let mut direct = 0;
    for _ in 0..50 {
        let task = c.call_tool_task("add", json!({"a": 20, "b": 22})).await.unwrap();
        if task.id().is_none() {
            direct += 1;
        }
        assert_eq!(text(&task.await.unwrap()), "42");
    }
    assert!(direct > 0, "no call of 50 was answered directly");
    // A plain call too: the result, whichever way the server answered.
    assert_eq!(text(&c.call_tool("add", json!({"a": 1, "b": 2})).await.unwrap()), "3");
}

#[tokio::test]
async fn status_stream_reports_progress_and_ends_terminal() {
    let url = demo().await;
    for mode in [Mode::Handshake, Mode::Modern] {
        let c = connect(&url, mode).await;
        let task = c.call_tool_task("progress", json!({"steps": 3, "delay_ms": 150})).await.unwrap();
        let states: Vec<_> = task.status().map(|s| s.unwrap()).collect().await;
        let last = states.last().unwrap();
        assert_eq!(last.status, TaskStatus::Completed, "{mode:?}: {states:?}");
        assert!(
            states.iter().any(|s| s.status_message.as_deref().is_some_and(|m| m.starts_with("step "))),
            "{mode:?}: {states:?}"
        );
        assert_eq!(text(&task.result().await.unwrap()), "done 3");
    }
}

/// 2026-07-28 follows tasks over `subscriptions/listen`: with the stream
/// acknowledged, the client needs no polling although the server asks for a
/// 20 ms poll interval (a polling client would send dozens of `tasks/get`).
#[tokio::test]
async fn modern_clients_follow_tasks_on_a_listen_stream_instead_of_polling() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let gets = Arc::new(AtomicUsize::new(0));
    let counter = gets.clone();
    let server =
        demo::builder().configure(|c| c.poll_interval = ferry_server::PollInterval::Fixed(20)).build().unwrap();
    let router = server.router().layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            if req.headers().get("mcp-method").is_some_and(|m| m == "tasks/get") {
                counter.fetch_add(1, Ordering::SeqCst);
            }
            next.run(req)
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let c = connect(&url, Mode::Modern).await;
    let mut pushed = c.notifications();
    let task = c.call_tool_task("progress", json!({"steps": 5, "delay_ms": 100})).await.unwrap();
    let states: Vec<_> = task.status().map(|s| s.unwrap()).collect().await;
    assert_eq!(states.last().unwrap().status, TaskStatus::Completed, "{states:?}");
    let steps = states.iter().filter(|s| s.status_message.as_deref().is_some_and(|m| m.starts_with("step "))).count();
    assert!(steps >= 2, "progress arrived on the stream: {states:?}");
    assert!(states.iter().any(|s| s.progress.is_some_and(|(_, total)| total == Some(5.0))), "{states:?}");
    let from_stream =
        std::iter::from_fn(|| pushed.try_recv().ok()).filter(|n| n.method == "notifications/tasks").count();
    assert!(from_stream >= 2, "notifications/tasks were pushed ({from_stream})");
    // One read when following starts, one after the acknowledgement, at most one when the stream ends.
    let after_status = gets.load(Ordering::SeqCst);
    assert!(after_status <= 3, "{after_status} tasks/get for a followed task");

    // Awaiting a second task also rides the stream, and the result comes inlined.
    let task = c.call_tool_task("progress", json!({"steps": 5, "delay_ms": 100})).await.unwrap();
    assert_eq!(text(&task.await.unwrap()), "done 5");
    let for_await = gets.load(Ordering::SeqCst) - after_status;
    assert!(for_await <= 3, "{for_await} tasks/get while awaiting");
}

#[tokio::test]
async fn cancel_ends_the_task_cancelled() {
    let url = demo().await;
    for mode in [Mode::Handshake, Mode::Modern] {
        let c = connect(&url, mode).await;
        let task = c.call_tool_task("sleep", json!({"ms": 600_000})).await.unwrap();
        let after = task.cancel().await.unwrap();
        assert_eq!(after.status, TaskStatus::Cancelled, "{mode:?}");
        match task.await {
            Err(ClientError::TaskCancelled(_)) => {}
            other => panic!("{mode:?}: expected TaskCancelled, got {:?}", other.map(|r| r.content)),
        }
    }
}

#[tokio::test]
async fn forbidden_tools_and_unknown_tasks_are_typed_errors() {
    let url = demo().await;
    let c = connect(&url, Mode::Handshake).await;
    assert!(matches!(c.call_tool_task("no_task", json!({"x": 1})).await, Err(ClientError::TaskForbidden(_))));
    let ghost = c.task::<ferry_client::CallToolResult>("0000000000000000000000000");
    assert!(matches!(ghost.get().await, Err(ClientError::TaskNotFound(_))));
    assert!(matches!(ghost.result().await, Err(ClientError::TaskNotFound(_))));
    // The modern server runs a forbidden tool synchronously: the handle holds the result already.
    let m = connect(&url, Mode::Modern).await;
    let handle = m.call_tool_task("no_task", json!({"x": 4})).await.unwrap();
    assert!(handle.id().is_none());
    assert_eq!(text(&handle.await.unwrap()), "8");
}

#[tokio::test]
async fn a_task_can_be_fetched_later_by_id() {
    let url = demo().await;
    // Stateless era: any client holding the id can fetch it.
    let first = connect(&url, Mode::Modern).await;
    let id = first.call_tool_task("sleep", json!({"ms": 100})).await.unwrap().id().unwrap().to_string();
    drop(first);
    let later = connect(&url, Mode::Modern).await;
    let r = later.task::<ferry_client::CallToolResult>(&id).await.unwrap();
    assert_eq!(text(&r), "slept 100");
    // Session era: the task belongs to its session; re-attach on the same client.
    let c = connect(&url, Mode::Handshake).await;
    let id = c.call_tool_task("add", json!({"a": 1, "b": 1})).await.unwrap().id().unwrap().to_string();
    assert_eq!(text(&c.task::<ferry_client::CallToolResult>(&id).await.unwrap()), "2");
    let other = connect(&url, Mode::Handshake).await;
    assert!(matches!(other.task::<ferry_client::CallToolResult>(&id).get().await, Err(ClientError::TaskNotFound(_))));
}

#[tokio::test]
async fn list_tasks_pages_through_own_tasks() {
    let url = serve(demo::builder().configure(|c| c.page_size = 2).build().unwrap()).await;
    let c = connect(&url, Mode::Handshake).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(c.call_tool_task("add", json!({"a": i, "b": 0})).await.unwrap().id().unwrap().to_string());
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let (tasks, next) = c.list_tasks(cursor.as_deref()).await.unwrap();
        assert!(tasks.len() <= 2);
        seen.extend(tasks.into_iter().map(|t| t.task_id));
        match next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, ids);
}

#[tokio::test]
async fn prompts_and_resources_as_tasks() {
    let url = demo().await;
    let c = connect(&url, Mode::Handshake).await;
    let p = c.get_prompt_task("greet", json!({"name": "Ada"})).await.unwrap();
    assert!(p.id().is_some());
    assert!(p.await.unwrap().messages[0].content.as_text().unwrap().contains("Ada"));
    let r = c.read_resource_task("ferry://demo/readme").await.unwrap();
    assert!(r.await.unwrap().contents[0].text.as_deref().unwrap().contains("Ferry demo"));
}

#[tokio::test]
async fn input_requests_are_answered_by_the_callback_in_both_eras() {
    let server = ferry_server::Server::builder("ask", "1")
        .configure(|c| c.poll_interval = ferry_server::PollInterval::Fixed(50))
        .tool(ToolDef::new("ask").task_support(TaskSupport::Optional).handler(|cx: Context| async move {
            let answer =
                cx.elicit("Your name?", json!({"type": "object", "properties": {"name": {"type": "string"}}})).await?;
            Ok::<_, ferry_server::ToolError>(format!("Hello, {}!", answer["content"]["name"].as_str().unwrap_or("?")))
        }))
        .tool(ToolDef::new("ask_now").task_support(TaskSupport::Forbidden).handler(|cx: Context| async move {
            let first = cx.elicit("First name?", json!({"type": "object"})).await?;
            let last = cx.elicit("Last name?", json!({"type": "object"})).await?;
            Ok::<_, ferry_server::ToolError>(format!(
                "{} {}",
                first["content"]["name"].as_str().unwrap_or("?"),
                last["content"]["name"].as_str().unwrap_or("?")
            ))
        }))
        .build()
        .unwrap();
    let url = serve(server).await;
    for mode in [Mode::Handshake, Mode::Modern] {
        let options = ClientOptions::default().mode(mode).on_elicit(|req| async move {
            assert!(req["message"].as_str().is_some_and(|m| m.ends_with("name?")), "{req}");
            Ok(json!({"action": "accept", "content": {"name": "Ada"}}))
        });
        let c = Client::connect_http(&url, options).await.unwrap();
        let task = c.call_tool_task("ask", json!({})).await.unwrap();
        assert_eq!(text(&task.await.unwrap()), "Hello, Ada!", "{mode:?}");
        // Direct calls too: a request to the client on the session (2025-11-25), or input
        // rounds answered and retried (2026-07-28, two questions = two rounds).
        assert_eq!(text(&c.call_tool("ask_now", json!({})).await.unwrap()), "Ada Ada", "{mode:?}");
    }
}

#[tokio::test]
async fn requested_ttl_is_granted_and_an_expired_task_is_a_typed_error() {
    let url = demo().await;
    let c = Client::connect_http(&url, ClientOptions::default().mode(Mode::Handshake).task_ttl_ms(1500)).await.unwrap();
    let task = c.call_tool_task("sleep", json!({"ms": 50})).await.unwrap();
    assert_eq!(task.get().await.unwrap().ttl_ms, Some(1500));
    let id = task.id().unwrap().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        match c.task::<ferry_client::CallToolResult>(&id).result().await {
            Err(ClientError::TaskNotFound(_)) => break,
            Ok(_) => assert!(std::time::Instant::now() < deadline, "task never expired"),
            Err(e) => panic!("unexpected {e}"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_panicking_input_callback_answers_with_an_error_instead_of_hanging() {
    let server = ferry_server::Server::builder("ask", "1")
        .tool(ToolDef::new("ask_now").handler(|cx: Context| async move {
            match cx.elicit("Name?", json!({"type": "object"})).await {
                Ok(_) => "answered".to_string(),
                Err(e) => format!("no answer: {e}"),
            }
        }))
        .build()
        .unwrap();
    let url = serve(server).await;
    for mode in [Mode::Handshake, Mode::Modern] {
        let options = ClientOptions::default().mode(mode).on_elicit(|_req| async move {
            panic!("the user's callback is broken");
        });
        let c = Client::connect_http(&url, options).await.unwrap();
        let r = tokio::time::timeout(std::time::Duration::from_secs(10), c.call_tool("ask_now", json!({}))).await;
        match r.expect("no hang") {
            Ok(result) => assert!(text(&result).starts_with("no answer"), "{mode:?}: {result:?}"),
            Err(ClientError::Rpc(e)) => assert_eq!(e.code, -32603, "{mode:?}: {e}"),
            Err(e) => panic!("{mode:?}: {e}"),
        }
    }
}

#[tokio::test]
async fn a_response_stream_the_server_closes_is_resumed_until_the_answer() {
    let server = ferry_server::Server::builder("closing", "1")
        .tool(ToolDef::new("in_parts").handler(|cx: Context| async move {
            for part in 1..=3 {
                cx.info(format!("part {part}"));
                assert!(cx.close_stream(), "a 2025-11-25 client over SSE can resume");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            "whole"
        }))
        .build()
        .unwrap();
    let options =
        ferry_server::transport::HttpOptions { sse_retry: std::time::Duration::from_millis(20), ..Default::default() };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let router = server.router_with(options);
    tokio::spawn(async move { axum::serve(listener, router).await });

    let c = connect(&url, Mode::Handshake).await;
    let mut inbox = c.notifications();
    let result = c.call_tool("in_parts", json!({})).await.expect("the answer arrives after three resumptions");
    assert_eq!(text(&result), "whole");
    let mut parts = Vec::new();
    while let Ok(n) = inbox.try_recv() {
        if n.method == "notifications/message" {
            parts.push(n.params.unwrap()["data"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(parts, ["part 1", "part 2", "part 3"], "every message once, in order");
}

/// Reports when the handler holding it stops, however it stops.
struct Stopped(tokio::sync::mpsc::UnboundedSender<()>);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

/// Dropping a call's future cancels the call on the server (`notifications/cancelled`);
/// dropping a wait for a task's result leaves the task alone.
#[tokio::test]
async fn an_abandoned_call_is_cancelled_on_the_server_but_an_abandoned_wait_is_not() {
    let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel::<()>();
    let (stopped_tx, mut stopped) = tokio::sync::mpsc::unbounded_channel::<()>();
    let server = demo::builder()
        .tool(ToolDef::new("wait_forever").handler(move || {
            let (started, guard) = (started_tx.clone(), Stopped(stopped_tx.clone()));
            async move {
                let _ = started.send(());
                tokio::time::sleep(std::time::Duration::from_secs(600)).await;
                drop(guard);
                "never seen"
            }
        }))
        .build()
        .unwrap();
    let url = serve(server).await;
    let c = connect(&url, Mode::Handshake).await;
    let within = |what: &'static str| {
        move |r: Result<Option<()>, tokio::time::error::Elapsed>| r.unwrap_or_else(|_| panic!("{what} in time"))
    };
    let call = c.call_tool("wait_forever", json!({}));
    tokio::select! {
        _ = call => panic!("the call cannot finish on its own"),
        _ = started.recv() => {} // running on the server: give up on it
    }
    let stop = tokio::time::timeout(std::time::Duration::from_secs(20), stopped.recv()).await;
    assert_eq!(within("the handler stopped")(stop), Some(()));
    // The session goes on.
    assert_eq!(text(&c.call_tool("add", json!({"a": 1, "b": 2})).await.unwrap()), "3");

    // Giving up on `tasks/result` cancels that request, not the task.
    let task = c.call_tool_task("sleep", json!({"ms": 300})).await.unwrap();
    let id = task.id().unwrap().to_string();
    let wait = c.request("tasks/result", json!({"taskId": id}));
    assert!(tokio::time::timeout(std::time::Duration::from_millis(50), wait).await.is_err());
    let done = tokio::time::timeout(std::time::Duration::from_secs(20), c.task::<ferry_client::CallToolResult>(&id));
    assert_eq!(text(&done.await.expect("the task finished in time").unwrap()), "slept 300");
}

/// Waits for the next notification of `method`.
async fn next_notification(pushed: &mut tokio::sync::broadcast::Receiver<ferry_protocol::Notification>, method: &str) {
    loop {
        let n = tokio::time::timeout(std::time::Duration::from_secs(20), pushed.recv()).await.unwrap().unwrap();
        if n.method == method {
            return;
        }
    }
}

/// Waits for the next `notifications/resources/updated`.
async fn next_update(pushed: &mut tokio::sync::broadcast::Receiver<ferry_protocol::Notification>) {
    next_notification(pushed, "notifications/resources/updated").await;
}

/// The server's standalone stream follows the session: when it breaks, the client
/// comes back where it was, and what the server sent meanwhile still arrives.
#[tokio::test]
async fn the_standalone_stream_is_resumed_after_a_break() {
    let server = demo::builder().build().unwrap();
    let app = server.clone();
    let url = serve(server).await;
    let c = connect(&url, Mode::Handshake).await;
    let mut pushed = c.notifications();
    c.request("resources/subscribe", json!({"uri": "ferry://demo/readme"})).await.unwrap();
    app.notify_resource_updated("ferry://demo/readme").await.unwrap();
    next_update(&mut pushed).await;
    // Someone else takes the session's stream: the server ends the client's reader.
    let session = c.session_id().expect("an HTTP session");
    let thief = reqwest::Client::new()
        .get(&url)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &session)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .unwrap();
    assert_eq!(thief.status(), 200);
    // Sent while the client is away (or back already): it arrives either way.
    app.notify_resource_updated("ferry://demo/readme").await.unwrap();
    next_update(&mut pushed).await;
    drop(thief);
}

/// A tool replaced while the client is connected: the client forgets what it knew
/// of the old one when the server says the list changed.
#[tokio::test]
async fn the_client_rereads_task_support_after_the_tool_list_changes() {
    let server = demo::builder().build().unwrap();
    let app = server.clone();
    let url = serve(server).await;
    let c = connect(&url, Mode::Handshake).await;
    let mut pushed = c.notifications();
    assert!(matches!(c.call_tool_task("no_task", json!({"x": 1})).await, Err(ClientError::TaskForbidden(_))));
    // `no_task` comes back allowing tasks.
    assert!(app.remove_tool("no_task"));
    let again = ToolDef::new("no_task")
        .task_support(TaskSupport::Optional)
        .handler(|ferry_server::Args(v): ferry_server::Args<serde_json::Value>| async move { v["x"].to_string() });
    app.add_tool(again).unwrap();
    for _ in 0..2 {
        next_notification(&mut pushed, "notifications/tools/list_changed").await;
    }
    let task = c.call_tool_task("no_task", json!({"x": 7})).await.unwrap();
    assert_eq!(text(&task.await.unwrap()), "7");
}

/// `subscribe_resource` in both eras: `resources/subscribe` in a session, a listen
/// stream in 2026-07-28; unknown resources are refused.
#[tokio::test]
async fn resource_subscriptions_in_both_eras() {
    let server = demo::builder().build().unwrap();
    let app = server.clone();
    let url = serve(server).await;
    for mode in [Mode::Handshake, Mode::Modern] {
        let c = connect(&url, mode).await;
        let mut updates = c.subscribe_resource("ferry://demo/readme").await.unwrap();
        assert_eq!(updates.uri(), "ferry://demo/readme");
        app.notify_resource_updated("ferry://demo/greeting/x").await.unwrap(); // another one
        app.notify_resource_updated("ferry://demo/readme").await.unwrap();
        let next = tokio::time::timeout(std::time::Duration::from_secs(20), updates.next()).await;
        assert!(next.expect("an update in time"), "{mode:?}");
        match c.subscribe_resource("ferry://demo/nothing").await {
            Err(ClientError::Rpc(e)) => assert_eq!(e.code, -32002, "{mode:?}: {e:?}"),
            Err(e) => panic!("{mode:?}: {e:?}"),
            Ok(_) => panic!("{mode:?}: subscribed to nothing"),
        }
        drop(updates);
    }
}
