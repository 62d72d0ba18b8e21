//! Tasks that need input from the client (`input_required`), over real
//! Streamable HTTP, with a small server built here: Form A delivers the
//! `elicitation/create` request on the `tasks/result` stream and takes the
//! client's JSON-RPC response; Form B shows `inputRequests` in `tasks/get` and
//! takes `tasks/update`.

use crate::common::*;
use ferry_server::{Context, Server, ServerBuilder, TaskSupport, ToolDef, ToolError};
use serde_json::{json, Value};

fn name_schema() -> Value {
    json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]})
}

fn greeting(answer: &Value) -> String {
    match answer["action"].as_str() {
        Some("accept") => format!("Hello, {}!", answer["content"]["name"].as_str().unwrap_or("?")),
        other => format!("no name ({})", other.unwrap_or("?")),
    }
}

fn ask_server() -> ServerBuilder {
    Server::builder("ask", "1")
        .tool(ToolDef::new("ask").task_support(TaskSupport::Optional).handler(|cx: Context| async move {
            let answer = cx.elicit("Your name?", name_schema()).await?;
            Ok::<_, ToolError>(greeting(&answer))
        }))
        .tool(ToolDef::new("ask_twice").task_support(TaskSupport::Optional).handler(|cx: Context| async move {
            let first = cx.elicit("First name?", name_schema()).await?;
            let last = cx.elicit("Last name?", name_schema()).await?;
            Ok::<_, ToolError>(format!(
                "{} {}",
                first["content"]["name"].as_str().unwrap_or("?"),
                last["content"]["name"].as_str().unwrap_or("?")
            ))
        }))
        .tool(ToolDef::new("ask_both").task_support(TaskSupport::Optional).handler(|cx: Context| async move {
            let (a, b) = futures::join!(cx.elicit("Name A?", name_schema()), cx.elicit("Name B?", name_schema()));
            Ok::<_, ToolError>(format!(
                "{} & {}",
                a?["content"]["name"].as_str().unwrap_or("?"),
                b?["content"]["name"].as_str().unwrap_or("?")
            ))
        }))
}

/// Open `tasks/result` for `task_id` as a stream (it stays open until the task ends).
async fn open_result_stream(s: &Session, task_id: &str) -> SseReader {
    let body = rpc(s.next_id(), "tasks/result", json!({"taskId": task_id}));
    let resp = s
        .http
        .post(&s.url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", &s.id)
        .header("mcp-protocol-version", &s.version)
        .body(body.to_string())
        .send()
        .await
        .expect("POST tasks/result");
    assert_eq!(resp.status().as_u16(), 200);
    let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert!(ct.starts_with("text/event-stream"), "tasks/result streams the input request: {ct}");
    SseReader::new(resp)
}

/// The next `elicitation/create` request on a stream, checked for the related-task tag.
async fn next_elicitation(stream: &mut SseReader, task_id: &str) -> Value {
    let req = stream.next_within_deadline("elicitation/create").await.expect("the stream carries a request");
    assert_eq!(req["method"], "elicitation/create", "{req}");
    assert!(req["id"].is_string() || req["id"].is_number(), "a request, with an id: {req}");
    assert_eq!(req["params"]["_meta"][RELATED_TASK]["taskId"], task_id, "tagged with the task: {req}");
    assert_eq!(req["params"]["mode"], "form");
    assert_eq!(req["params"]["requestedSchema"], name_schema());
    req
}

/// POST the client's answer to a server request on the session.
async fn answer(s: &Session, request: &Value, task_id: &str, name: &str) {
    let response = json!({"jsonrpc": "2.0", "id": request["id"], "result": {
        "action": "accept", "content": {"name": name},
        "_meta": {RELATED_TASK: {"taskId": task_id}}}});
    assert_eq!(s.post(&response).await.status, 202);
}

/// The response at the end of a `tasks/result` stream.
async fn final_response(stream: &mut SseReader) -> Value {
    loop {
        let m = stream.next_within_deadline("the tasks/result response").await.expect("a response before the end");
        if m.get("result").is_some() || m.get("error").is_some() {
            return m;
        }
    }
}

async fn elicit_session(url: &str) -> Session {
    Session::open_with(url, LATEST, json!({"elicitation": {}})).await
}

#[tokio::test]
async fn form_a_input_request_arrives_on_the_tasks_result_stream_and_the_answer_completes_the_task() {
    let srv = TestServer::start(ask_server()).await;
    let s = elicit_session(&srv.url).await;
    let id = s.call_task("ask", json!({})).await["taskId"].as_str().unwrap().to_string();
    let waiting = s.wait_status(&id, "input_required").await;
    assert_eq!(waiting["taskId"], id.as_str());

    let mut stream = open_result_stream(&s, &id).await;
    let req = next_elicitation(&mut stream, &id).await;
    assert_eq!(req["params"]["message"], "Your name?");
    answer(&s, &req, &id, "Luca").await;

    let resp = final_response(&mut stream).await;
    let result = &resp["result"];
    assert_eq!(text(result), "Hello, Luca!");
    assert_eq!(result["_meta"][RELATED_TASK]["taskId"], id.as_str());
    assert!(stream.next_within_deadline("the end of the stream").await.is_none(), "the stream ends after the response");
    assert_eq!(s.get_task(&id).await["status"], "completed");
}

#[tokio::test]
async fn form_a_tasks_result_opened_before_input_is_needed_still_delivers_the_request() {
    let srv = TestServer::start(ask_server()).await;
    let s = elicit_session(&srv.url).await;
    let id = s.call_task("ask", json!({})).await["taskId"].as_str().unwrap().to_string();
    let mut stream = open_result_stream(&s, &id).await;
    let req = next_elicitation(&mut stream, &id).await;
    answer(&s, &req, &id, "Mia").await;
    assert_eq!(text(&final_response(&mut stream).await["result"]), "Hello, Mia!");
}

#[tokio::test]
async fn form_a_two_questions_in_turn_on_one_stream() {
    let srv = TestServer::start(ask_server()).await;
    let s = elicit_session(&srv.url).await;
    let id = s.call_task("ask_twice", json!({})).await["taskId"].as_str().unwrap().to_string();
    let mut stream = open_result_stream(&s, &id).await;
    let first = next_elicitation(&mut stream, &id).await;
    assert_eq!(first["params"]["message"], "First name?");
    answer(&s, &first, &id, "Ada").await;
    let second = next_elicitation(&mut stream, &id).await;
    assert_eq!(second["params"]["message"], "Last name?");
    assert_ne!(first["id"], second["id"], "each server request has its own id");
    answer(&s, &second, &id, "Lovelace").await;
    assert_eq!(text(&final_response(&mut stream).await["result"]), "Ada Lovelace");
}

#[tokio::test]
async fn form_a_declined_input_reaches_the_handler() {
    let srv = TestServer::start(ask_server()).await;
    let s = elicit_session(&srv.url).await;
    let id = s.call_task("ask", json!({})).await["taskId"].as_str().unwrap().to_string();
    let mut stream = open_result_stream(&s, &id).await;
    let req = next_elicitation(&mut stream, &id).await;
    let decline = json!({"jsonrpc": "2.0", "id": req["id"], "result": {"action": "decline"}});
    assert_eq!(s.post(&decline).await.status, 202);
    assert_eq!(text(&final_response(&mut stream).await["result"]), "no name (decline)");
}

#[tokio::test]
async fn form_a_input_request_is_asked_again_on_a_new_tasks_result_after_the_first_stream_is_dropped() {
    let srv = TestServer::start(ask_server()).await;
    let s = elicit_session(&srv.url).await;
    let id = s.call_task("ask", json!({})).await["taskId"].as_str().unwrap().to_string();
    let mut first = open_result_stream(&s, &id).await;
    next_elicitation(&mut first, &id).await;
    drop(first); // the client lost the stream before answering

    let mut second = open_result_stream(&s, &id).await;
    let req = next_elicitation(&mut second, &id).await;
    answer(&s, &req, &id, "Noor").await;
    assert_eq!(text(&final_response(&mut second).await["result"]), "Hello, Noor!");
}

#[tokio::test]
async fn form_a_tasks_result_without_sse_does_not_hold_back_the_input_request() {
    let srv = TestServer::start(ask_server()).await;
    let s = std::sync::Arc::new(elicit_session(&srv.url).await);
    let id = s.call_task("ask", json!({})).await["taskId"].as_str().unwrap().to_string();
    s.wait_status(&id, "input_required").await;
    // A client that accepts only JSON cannot be asked anything on its tasks/result ...
    let json_only = {
        let (s, id) = (s.clone(), id.clone());
        tokio::spawn(async move {
            let mut headers = vec![("content-type", "application/json"), ("accept", "application/json")];
            headers.extend([("mcp-session-id", s.id.as_str()), ("mcp-protocol-version", s.version.as_str())]);
            post_raw(&s.http, &s.url, &headers, rpc(s.next_id(), "tasks/result", json!({"taskId": id})).to_string())
                .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(50)).await; // let it reach the server first
                                                                    // ... so a streaming tasks/result gets the request.
    let mut stream = open_result_stream(&s, &id).await;
    let req = next_elicitation(&mut stream, &id).await;
    answer(&s, &req, &id, "Kai").await;
    assert_eq!(text(&final_response(&mut stream).await["result"]), "Hello, Kai!");
    let plain = tokio::time::timeout(DEADLINE, json_only).await.expect("the JSON tasks/result answers").unwrap();
    assert!(!plain.is_sse());
    assert_eq!(text(plain.result()), "Hello, Kai!");
}

#[tokio::test]
async fn form_a_cancel_while_input_required_ends_the_task_cancelled() {
    let srv = TestServer::start(ask_server()).await;
    let s = elicit_session(&srv.url).await;
    let id = s.call_task("ask", json!({})).await["taskId"].as_str().unwrap().to_string();
    s.wait_status(&id, "input_required").await;
    assert_eq!(s.ok("tasks/cancel", json!({"taskId": id})).await["status"], "cancelled");
    assert_eq!(s.get_task(&id).await["status"], "cancelled");
}

fn modern_asker(url: &str) -> Modern {
    let mut m = Modern::new(url, true);
    m.caps = json!({"elicitation": {}, "extensions": {TASKS_EXT: {}}});
    m
}

/// The one outstanding input request of a Form B task: (key, request).
fn only_input_request(task: &Value) -> (String, Value) {
    let reqs = task["inputRequests"].as_object().unwrap_or_else(|| panic!("inputRequests: {task}"));
    assert_eq!(reqs.len(), 1, "{task}");
    let (k, v) = reqs.iter().next().unwrap();
    (k.clone(), v.clone())
}

#[tokio::test]
async fn form_b_input_requests_in_tasks_get_and_tasks_update_completes_the_task() {
    let srv = TestServer::start(ask_server()).await;
    let m = modern_asker(&srv.url);
    let created = m.call("ask", json!({})).await;
    assert_eq!(created["resultType"], "task");
    let id = created["taskId"].as_str().unwrap().to_string();
    let waiting = m.wait_status(&id, "input_required").await;
    assert_eq!(waiting["resultType"], "complete");
    let (key, req) = only_input_request(&waiting);
    assert_eq!(req["method"], "elicitation/create");
    assert_eq!(req["params"]["message"], "Your name?");
    assert_eq!(req["params"]["requestedSchema"], name_schema());
    assert!(req.get("id").is_none() && req.get("jsonrpc").is_none(), "{req}");
    assert!(req["params"].get("_meta").is_none_or(|m| m.get(RELATED_TASK).is_none()), "{req}");

    let ack = m
        .ok(
            "tasks/update",
            json!({"taskId": id, "inputResponses": {key: {"action": "accept", "content": {"name": "Luca"}}}}),
        )
        .await;
    assert_eq!(ack["resultType"], "complete");
    let done = m.wait_status(&id, "completed").await;
    assert_eq!(text(&done["result"]), "Hello, Luca!");
    assert!(done.get("inputRequests").is_none(), "{done}");
}

#[tokio::test]
async fn form_b_responses_for_unknown_keys_are_ignored() {
    let srv = TestServer::start(ask_server()).await;
    let m = modern_asker(&srv.url);
    let id = m.call("ask", json!({})).await["taskId"].as_str().unwrap().to_string();
    let waiting = m.wait_status(&id, "input_required").await;
    let (key, _) = only_input_request(&waiting);
    let ack = m
        .ok(
            "tasks/update",
            json!({"taskId": id, "inputResponses": {"never-asked": {"action": "accept", "content": {"name": "X"}}}}),
        )
        .await;
    assert_eq!(ack["resultType"], "complete");
    let still = m.get_task(&id).await;
    assert_eq!(still["status"], "input_required");
    assert_eq!(only_input_request(&still).0, key);
    m.ok(
        "tasks/update",
        json!({"taskId": id, "inputResponses": {key: {"action": "accept", "content": {"name": "Y"}}}}),
    )
    .await;
    assert_eq!(text(&m.wait_status(&id, "completed").await["result"]), "Hello, Y!");
}

#[tokio::test]
async fn form_b_keys_are_unique_over_the_task_lifetime() {
    let srv = TestServer::start(ask_server()).await;
    let m = modern_asker(&srv.url);
    let id = m.call("ask_twice", json!({})).await["taskId"].as_str().unwrap().to_string();
    let first = m.wait_status(&id, "input_required").await;
    let (k1, r1) = only_input_request(&first);
    assert_eq!(r1["params"]["message"], "First name?");
    m.ok(
        "tasks/update",
        json!({"taskId": id, "inputResponses": {&k1: {"action": "accept", "content": {"name": "Ada"}}}}),
    )
    .await;
    let second = m
        .wait_task(&id, "the second question", |t| {
            t["inputRequests"].as_object().is_some_and(|r| r.values().any(|v| v["params"]["message"] == "Last name?"))
        })
        .await;
    let (k2, _) = only_input_request(&second);
    assert_ne!(k1, k2, "a key is never reused");
    // Answering the old key again changes nothing.
    m.ok(
        "tasks/update",
        json!({"taskId": id, "inputResponses": {&k1: {"action": "accept", "content": {"name": "Bad"}}}}),
    )
    .await;
    m.ok(
        "tasks/update",
        json!({"taskId": id, "inputResponses": {&k2: {"action": "accept", "content": {"name": "Lovelace"}}}}),
    )
    .await;
    assert_eq!(text(&m.wait_status(&id, "completed").await["result"]), "Ada Lovelace");
}

#[tokio::test]
async fn form_b_cancel_while_input_required_ends_cancelled_without_input_requests() {
    let srv = TestServer::start(ask_server()).await;
    let m = modern_asker(&srv.url);
    let id = m.call("ask", json!({})).await["taskId"].as_str().unwrap().to_string();
    m.wait_status(&id, "input_required").await;
    assert_eq!(m.ok("tasks/cancel", json!({"taskId": id})).await["resultType"], "complete");
    let t = m.wait_status(&id, "cancelled").await;
    assert!(t.get("inputRequests").is_none(), "{t}");
}

#[tokio::test]
async fn form_b_stateless_direct_call_asks_through_input_required_rounds() {
    let srv = TestServer::start(ask_server()).await;
    let mut m = Modern::new(&srv.url, false);
    m.caps = json!({"elicitation": {}});
    let r1 = m.call("ask", json!({})).await;
    assert_eq!(r1["resultType"], "input_required", "{r1}");
    let (key, _) = only_input_request(&r1);
    let r2 = m
        .ok(
            "tools/call",
            json!({"name": "ask", "arguments": {},
                   "inputResponses": {key: {"action": "accept", "content": {"name": "Ode"}}}}),
        )
        .await;
    assert_eq!(r2["resultType"], "complete");
    assert_eq!(text(&r2), "Hello, Ode!");
}

#[tokio::test]
async fn form_a_task_never_asks_a_client_without_the_elicitation_capability() {
    let srv = TestServer::start(ask_server()).await;
    let s = srv.session().await; // declares no capabilities
    let id = s.call_task("ask", json!({})).await["taskId"].as_str().unwrap().to_string();
    let done = s.wait_task(&id, "a terminal status", |t| t["status"] == "failed" || t["status"] == "completed").await;
    assert_eq!(done["status"], "failed", "{done}");
    let r = s.ok("tasks/result", json!({"taskId": id})).await;
    assert_eq!(r["isError"], true);
    assert!(text(&r).contains("does not support elicitation"), "{r}");
}

#[tokio::test]
async fn form_b_task_never_asks_a_client_without_the_elicitation_capability() {
    // Without quick answers: the call is to become a task, however quickly it fails.
    let srv = TestServer::start(ask_server().configure(|c| c.quick_answer = std::time::Duration::ZERO)).await;
    let m = srv.modern_tasks(); // the extension, but no elicitation
    let id = m.call("ask", json!({})).await["taskId"].as_str().unwrap().to_string();
    let done = m.wait_task(&id, "a terminal status", |t| t["status"] == "failed" || t["status"] == "completed").await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["result"]["isError"], true);
    assert!(text(&done["result"]).contains("does not support elicitation"), "{done}");
}

#[tokio::test]
async fn form_a_two_parallel_questions_arrive_together_and_both_answers_complete_the_task() {
    let srv = TestServer::start(ask_server()).await;
    let s = elicit_session(&srv.url).await;
    let id = s.call_task("ask_both", json!({})).await["taskId"].as_str().unwrap().to_string();
    s.wait_task(&id, "two questions", |t| t["status"] == "input_required").await;
    let mut stream = open_result_stream(&s, &id).await;
    let mut asked = Vec::new();
    while asked.len() < 2 {
        asked.push(next_elicitation(&mut stream, &id).await);
    }
    let mut messages: Vec<&str> = asked.iter().map(|r| r["params"]["message"].as_str().unwrap()).collect();
    messages.sort();
    assert_eq!(messages, ["Name A?", "Name B?"]);
    for r in &asked {
        let name = if r["params"]["message"] == "Name A?" { "Ann" } else { "Bob" };
        answer(&s, r, &id, name).await;
    }
    assert_eq!(text(&final_response(&mut stream).await["result"]), "Ann & Bob");
}

#[tokio::test]
async fn form_a_cancel_while_a_tasks_result_stream_waits_for_input_ends_that_stream() {
    let srv = TestServer::start(ask_server()).await;
    let s = elicit_session(&srv.url).await;
    let id = s.call_task("ask", json!({})).await["taskId"].as_str().unwrap().to_string();
    let mut stream = open_result_stream(&s, &id).await;
    next_elicitation(&mut stream, &id).await;
    assert_eq!(s.ok("tasks/cancel", json!({"taskId": id})).await["status"], "cancelled");
    let end = final_response(&mut stream).await;
    assert!(end.get("error").is_some(), "a cancelled task has no result: {end}");
    assert_eq!(s.get_task(&id).await["status"], "cancelled");
}

#[tokio::test]
async fn form_b_partial_answers_keep_the_task_input_required_with_the_rest_outstanding() {
    let srv = TestServer::start(ask_server()).await;
    let m = modern_asker(&srv.url);
    let id = m.call("ask_both", json!({})).await["taskId"].as_str().unwrap().to_string();
    let both = m
        .wait_task(&id, "two outstanding requests", |t| t["inputRequests"].as_object().is_some_and(|r| r.len() == 2))
        .await;
    let reqs = both["inputRequests"].as_object().unwrap().clone();
    let key_of = |msg: &str| reqs.iter().find(|(_, v)| v["params"]["message"] == msg).unwrap().0.clone();
    let (ka, kb) = (key_of("Name A?"), key_of("Name B?"));
    m.ok(
        "tasks/update",
        json!({"taskId": id, "inputResponses": {&ka: {"action": "accept", "content": {"name": "Ann"}}}}),
    )
    .await;
    let partial = m.get_task(&id).await;
    assert_eq!(partial["status"], "input_required", "{partial}");
    let left: Vec<&String> = partial["inputRequests"].as_object().unwrap().keys().collect();
    assert_eq!(left, vec![&kb], "the answered key is gone: {partial}");
    m.ok(
        "tasks/update",
        json!({"taskId": id, "inputResponses": {&kb: {"action": "accept", "content": {"name": "Bob"}}}}),
    )
    .await;
    assert_eq!(text(&m.wait_status(&id, "completed").await["result"]), "Ann & Bob");
}
