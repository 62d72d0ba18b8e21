//! The demo server over real Streamable HTTP, handshake era: initialize and
//! version negotiation, listings, pagination, every tool called directly,
//! prompts and resources.

mod common;

/// These suites run on the embedded engine.
const BACKEND: common::Backend = common::Backend::Memory;

use common::*;
use serde_json::{json, Value};

fn names(items: &Value, key: &str) -> Vec<String> {
    items.as_array().unwrap().iter().map(|i| i[key].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn initialize_2025_11_25_negotiates_it_and_declares_form_a_tasks() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    assert_eq!(s.init["protocolVersion"], "2025-11-25");
    assert_eq!(s.init["serverInfo"]["name"], "ferry-demo");
    assert!(s.init["instructions"].as_str().is_some_and(|i| i.contains("Demo server")));
    let tasks = &s.init["capabilities"]["tasks"];
    assert_eq!(tasks["list"], json!({}));
    assert_eq!(tasks["cancel"], json!({}));
    assert_eq!(tasks["requests"]["tools"]["call"], json!({}));
    assert!(s.init["capabilities"]["tools"].is_object());
    assert!(s.init["capabilities"].get("extensions").is_none(), "no Form B advertisement in a handshake");
    assert!(s.init.get("resultType").is_none(), "no resultType on the handshake wire");
}

#[tokio::test]
async fn initialize_2025_06_18_negotiates_it_without_tasks() {
    let srv = TestServer::demo().await;
    let s = Session::open_with(&srv.url, "2025-06-18", json!({})).await;
    assert_eq!(s.init["protocolVersion"], "2025-06-18");
    assert!(s.init["capabilities"].get("tasks").is_none(), "{}", s.init);
}

#[tokio::test]
async fn initialize_with_an_unknown_version_answers_2025_11_25() {
    let srv = TestServer::demo().await;
    let s = Session::open_with(&srv.url, "1999-01-01", json!({})).await;
    assert_eq!(s.init["protocolVersion"], "2025-11-25");
    let s = Session::open_with(&srv.url, "2026-07-28", json!({})).await;
    assert_eq!(s.init["protocolVersion"], "2025-11-25", "initialize never answers with the stateless version");
}

#[tokio::test]
async fn initialize_gives_each_session_its_own_id() {
    let srv = TestServer::demo().await;
    let a = srv.session().await;
    let b = srv.session().await;
    assert_ne!(a.id, b.id);
    assert!(!a.id.is_empty());
}

#[tokio::test]
async fn ping_answers_an_empty_result_on_a_session_and_without_one() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    assert_eq!(s.ok("ping", json!({})).await, json!({}));
    let r = post_raw(&http_client(), &srv.url, &JSON_HEADERS, rpc(1, "ping", json!({})).to_string()).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.result(), &json!({}));
}

#[tokio::test]
async fn tools_list_on_2025_11_25_carries_execution_task_support() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let r = s.ok("tools/list", json!({})).await;
    let tools = r["tools"].as_array().unwrap();
    assert_eq!(names(&r["tools"], "name"), DEMO_TOOLS);
    let support = |name: &str| tools.iter().find(|t| t["name"] == name).unwrap()["execution"]["taskSupport"].clone();
    for t in ["add", "sleep", "fail", "progress"] {
        assert_eq!(support(t), "optional", "{t}");
    }
    assert_eq!(support("must_task"), "required");
    assert_eq!(support("no_task"), "forbidden");
    let add = tools.iter().find(|t| t["name"] == "add").unwrap();
    assert_eq!(add["description"], "Add two integers.");
    assert_eq!(add["inputSchema"]["type"], "object");
    assert!(add["inputSchema"]["properties"]["a"].is_object(), "{add}");
    assert!(r.get("nextCursor").is_none());
}

#[tokio::test]
async fn tools_list_on_2025_06_18_has_no_execution() {
    let srv = TestServer::demo().await;
    let s = Session::open_with(&srv.url, "2025-06-18", json!({})).await;
    let r = s.ok("tools/list", json!({})).await;
    assert_eq!(names(&r["tools"], "name"), DEMO_TOOLS);
    for t in r["tools"].as_array().unwrap() {
        assert!(t.get("execution").is_none(), "{t}");
    }
}

#[tokio::test]
async fn tools_list_on_2026_07_28_has_no_execution() {
    let srv = TestServer::demo().await;
    let r = srv.modern_tasks().ok("tools/list", json!({})).await;
    assert_eq!(names(&r["tools"], "name"), DEMO_TOOLS);
    for t in r["tools"].as_array().unwrap() {
        assert!(t.get("execution").is_none(), "{t}");
    }
    assert_eq!(r["resultType"], "complete");
}

#[tokio::test]
async fn tools_list_pages_with_a_small_page_size() {
    let srv = TestServer::demo_with(|c| c.page_size = 4).await;
    let s = srv.session().await;
    let first = s.ok("tools/list", json!({})).await;
    assert_eq!(first["tools"].as_array().unwrap().len(), 4);
    let cursor = first["nextCursor"].as_str().expect("a nextCursor on a partial page").to_string();
    let second = s.ok("tools/list", json!({"cursor": cursor})).await;
    assert_eq!(second["tools"].as_array().unwrap().len(), 2);
    assert!(second.get("nextCursor").is_none(), "last page: {second}");
    let mut all = names(&first["tools"], "name");
    all.extend(names(&second["tools"], "name"));
    assert_eq!(all, DEMO_TOOLS);
}

#[tokio::test]
async fn tools_list_pages_of_one_walk_every_tool_once() {
    let srv = TestServer::demo_with(|c| c.page_size = 1).await;
    let s = srv.session().await;
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..20 {
        let params = cursor.as_ref().map(|c| json!({"cursor": c})).unwrap_or(json!({}));
        let page = s.ok("tools/list", params).await;
        all.extend(names(&page["tools"], "name"));
        match page.get("nextCursor").and_then(Value::as_str) {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(all, DEMO_TOOLS);
}

#[tokio::test]
async fn invalid_cursor_is_invalid_params() {
    let srv = TestServer::demo_with(|c| c.page_size = 2).await;
    let s = srv.session().await;
    for cursor in [json!("not-a-cursor"), json!("999"), json!(7)] {
        let e = s.err("tools/list", json!({"cursor": cursor})).await;
        assert_eq!(e["code"], -32602, "cursor {cursor}: {e}");
    }
    let e = s.err("prompts/list", json!({"cursor": "nope"})).await;
    assert_eq!(e["code"], -32602);
}

#[tokio::test]
async fn add_called_directly_returns_the_sum() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let r = s.call("add", json!({"a": 2, "b": 3})).await;
    let result = &r["result"];
    assert_eq!(text(result), "5");
    assert_ne!(result["isError"], true);
    assert!(result.get("task").is_none());
}

#[tokio::test]
async fn sleep_called_directly_says_it_slept() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let r = s.call("sleep", json!({"ms": 10})).await;
    assert_eq!(text(&r["result"]), "slept 10");
}

#[tokio::test]
async fn fail_called_directly_is_a_tool_error_result() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let r = s.call("fail", json!({"message": "boom"})).await;
    assert!(r.get("error").is_none(), "a tool error is a result, not a JSON-RPC error: {r}");
    assert_eq!(r["result"]["isError"], true);
    assert_eq!(text(&r["result"]), "boom");
}

#[tokio::test]
async fn progress_called_directly_streams_progress_notifications_before_the_result() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let reply = s
        .send(
            "tools/call",
            json!({"name": "progress", "arguments": {"steps": 3, "delay_ms": 1}, "_meta": {"progressToken": "p-1"}}),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert!(reply.is_sse(), "a call that reports progress is upgraded to SSE: {reply:?}");
    assert_eq!(text(reply.result()), "done 3");
    let progress: Vec<&Value> =
        reply.others().into_iter().filter(|m| m["method"] == "notifications/progress").collect();
    assert_eq!(progress.len(), 3, "{:?}", reply.messages);
    for (i, p) in progress.iter().enumerate() {
        assert_eq!(p["params"]["progressToken"], "p-1");
        assert_eq!(p["params"]["progress"], json!((i + 1) as f64));
        assert_eq!(p["params"]["total"], json!(3.0));
        assert_eq!(p["params"]["message"], format!("step {}/3", i + 1));
    }
    assert!(reply.messages.last().unwrap().get("result").is_some(), "the response comes last");
}

#[tokio::test]
async fn progress_called_directly_without_a_token_answers_plain_json() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let reply = s.send("tools/call", json!({"name": "progress", "arguments": {"steps": 2, "delay_ms": 1}})).await;
    assert!(!reply.is_sse(), "{reply:?}");
    assert!(reply.content_type().starts_with("application/json"));
    assert_eq!(text(reply.result()), "done 2");
}

#[tokio::test]
async fn no_task_called_directly_doubles_x() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let r = s.call("no_task", json!({"x": 21})).await;
    assert_eq!(text(&r["result"]), "42");
}

#[tokio::test]
async fn must_task_called_directly_on_2025_11_25_is_method_not_found() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let r = s.call("must_task", json!({"x": 1})).await;
    assert_eq!(r["error"]["code"], -32601, "{r}");
}

#[tokio::test]
async fn must_task_called_on_2025_06_18_is_method_not_found() {
    let srv = TestServer::demo().await;
    let s = Session::open_with(&srv.url, "2025-06-18", json!({})).await;
    let r = s.call("must_task", json!({"x": 1})).await;
    assert_eq!(r["error"]["code"], -32601, "{r}");
}

#[tokio::test]
async fn task_param_is_ignored_on_2025_06_18_sessions() {
    let srv = TestServer::demo().await;
    let s = Session::open_with(&srv.url, "2025-06-18", json!({})).await;
    let r = s.ok("tools/call", json!({"name": "add", "arguments": {"a": 1, "b": 1}, "task": {"ttl": 1000}})).await;
    assert!(r.get("task").is_none(), "{r}");
    assert_eq!(text(&r), "2");
}

#[tokio::test]
async fn prompts_list_and_get() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let list = s.ok("prompts/list", json!({})).await;
    let prompts = list["prompts"].as_array().unwrap();
    assert_eq!(prompts.len(), 1);
    assert_eq!(prompts[0]["name"], "greet");
    assert_eq!(prompts[0]["description"], "Ask the model to greet someone.");
    let args = prompts[0]["arguments"].as_array().expect("prompt arguments listed");
    assert!(args.iter().any(|a| a["name"] == "name"), "{args:?}");

    let got = s.ok("prompts/get", json!({"name": "greet", "arguments": {"name": "Ada"}})).await;
    assert_eq!(got["messages"][0]["role"], "user");
    assert_eq!(got["messages"][0]["content"]["text"], "Please greet Ada warmly.");
    assert_eq!(got["description"], "Ask the model to greet someone.");
}

#[tokio::test]
async fn prompts_get_unknown_or_bad_arguments_is_invalid_params() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    assert_eq!(s.err("prompts/get", json!({"name": "nope"})).await["code"], -32602);
    assert_eq!(s.err("prompts/get", json!({"name": "greet", "arguments": {}})).await["code"], -32602);
}

#[tokio::test]
async fn resources_list_and_read() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let list = s.ok("resources/list", json!({})).await;
    let resources = list["resources"].as_array().unwrap();
    assert_eq!(resources.len(), 1);
    assert_eq!(resources[0]["uri"], "ferry://demo/readme");
    assert_eq!(resources[0]["name"], "readme");
    assert_eq!(resources[0]["mimeType"], "text/plain");

    let read = s.ok("resources/read", json!({"uri": "ferry://demo/readme"})).await;
    let c = &read["contents"][0];
    assert_eq!(c["uri"], "ferry://demo/readme");
    assert!(c["text"].as_str().unwrap().starts_with("Ferry demo server"), "{c}");
}

#[tokio::test]
async fn resource_templates_list_and_read_through_the_template() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let list = s.ok("resources/templates/list", json!({})).await;
    let templates = list["resourceTemplates"].as_array().unwrap();
    assert_eq!(templates.len(), 1);
    assert_eq!(templates[0]["uriTemplate"], "ferry://demo/greeting/{name}");
    assert_eq!(templates[0]["name"], "greeting");

    let read = s.ok("resources/read", json!({"uri": "ferry://demo/greeting/Ada"})).await;
    assert_eq!(read["contents"][0]["uri"], "ferry://demo/greeting/Ada");
    assert_eq!(read["contents"][0]["text"], "Hello, Ada!");
}

#[tokio::test]
async fn unknown_resource_is_resource_not_found() {
    let srv = TestServer::demo().await;
    let s = srv.session().await;
    let e = s.err("resources/read", json!({"uri": "ferry://demo/nothing-here"})).await;
    assert_eq!(e["code"], -32002, "{e}");
    assert_eq!(e["data"]["uri"], "ferry://demo/nothing-here");
}

#[tokio::test]
async fn modern_requests_work_without_any_session() {
    let srv = TestServer::demo().await;
    let m = srv.modern_plain();
    let r = m.call("add", json!({"a": 40, "b": 2})).await;
    assert_eq!(text(&r), "42");
    let read = m.ok("resources/read", json!({"uri": "ferry://demo/greeting/Bo"})).await;
    assert_eq!(read["contents"][0]["text"], "Hello, Bo!");
    let got = m.ok("prompts/get", json!({"name": "greet", "arguments": {"name": "Bo"}})).await;
    assert_eq!(got["messages"][0]["content"]["text"], "Please greet Bo warmly.");
}
