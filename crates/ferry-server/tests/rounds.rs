//! Multi round-trip requests (SEP-2322) on the stateless wire: keyed questions, answers
//! carried in the sealed `requestState`, the handler's own state, and every way a
//! state or an answer is refused.

mod support;

use support::{modern_meta as meta, Peer};

use ferry_server::{Context, PromptDef, PromptMessage, Server, ServerConfig, ToolDef, ToolError};
use serde_json::{json, Value};

fn ask_schema(field: &str) -> Value {
    json!({"type": "object", "properties": {field: {"type": "string"}}, "required": [field]})
}

fn accept(field: &str, value: &str) -> Value {
    json!({"action": "accept", "content": {field: value}})
}

fn server_with(config: ServerConfig) -> Server {
    Server::builder("rounds", "1")
        .config(config)
        .tool(ToolDef::new("book").handler(|cx: Context| async move {
            let who = cx.input("who").elicit("Who?", ask_schema("name")).await?;
            let day = cx.input("day").elicit("Which day?", ask_schema("day")).await?;
            Ok::<_, ToolError>(format!("{} on {}", who["content"]["name"], day["content"]["day"]))
        }))
        .tool(ToolDef::new("all_at_once").handler(|cx: Context| async move {
            let (a, b, c) = tokio::join!(
                cx.input("name").elicit("Name?", ask_schema("name")),
                cx.input("model").sample(json!({"messages": [], "maxTokens": 5})),
                cx.input("roots").list_roots(),
            );
            let (a, b, c) = (a?, b?, c?);
            Ok::<_, ToolError>(format!("{} {} {}", a["content"]["name"], b["content"]["text"], c["roots"][0]["uri"]))
        }))
        .tool(ToolDef::new("counter").handler(|cx: Context| async move {
            // Counts its rounds in its own state.
            let n = cx.request_state().and_then(|s| s["round"].as_u64()).unwrap_or(0) + 1;
            cx.set_request_state(json!({"round": n}));
            let _ = cx.input("one").elicit("1?", ask_schema("x")).await?;
            let _ = cx.input("two").elicit("2?", ask_schema("x")).await?;
            Ok::<_, ToolError>(format!("rounds: {n}"))
        }))
        .tool(ToolDef::new("polite").handler(|cx: Context| async move {
            if !cx.client_supports("elicitation") {
                return Ok("nobody to ask".to_string());
            }
            let a = cx.input("name").elicit("Name?", ask_schema("name")).await?;
            Ok::<_, ToolError>(format!("hi {}", a["content"]["name"]))
        }))
        .prompt(PromptDef::new("ask_first").handler(|cx: Context| async move {
            let a = cx.input("topic").elicit("Topic?", ask_schema("topic")).await?;
            Ok::<_, ToolError>(vec![PromptMessage::user(format!("Talk about {}", a["content"]["topic"]))])
        }))
        .build()
        .unwrap()
}

fn server() -> Server {
    server_with(ServerConfig::default())
}

fn caps() -> Value {
    json!({"elicitation": {}, "sampling": {}, "roots": {}})
}

async fn call(p: &mut Peer, name: &str, args: Value, extra: Value) -> Value {
    let mut params = json!({"name": name, "arguments": args, "_meta": meta(caps())});
    for (k, v) in extra.as_object().unwrap() {
        params[k] = v.clone();
    }
    p.request("tools/call", params).await
}

/// The retry of `previous` (an `InputRequiredResult`) of `name` with `answers`.
async fn retry(p: &mut Peer, name: &str, previous: &Value, answers: Value) -> Value {
    call(p, name, json!({}), json!({"inputResponses": answers, "requestState": previous["result"]["requestState"]}))
        .await
}

#[tokio::test]
async fn questions_in_sequence_need_only_the_newest_answer_per_round() {
    let mut p = Peer::connect(server());
    let r1 = call(&mut p, "book", json!({}), json!({})).await;
    assert_eq!(r1["result"]["resultType"], "input_required", "{r1}");
    assert_eq!(r1["result"]["inputRequests"]["who"]["params"]["message"], "Who?");
    let state1 = r1["result"]["requestState"].as_str().expect("a requestState").to_string();

    let r2 = call(
        &mut p,
        "book",
        json!({}),
        json!({"inputResponses": {"who": accept("name", "Ada")}, "requestState": state1}),
    )
    .await;
    assert_eq!(r2["result"]["resultType"], "input_required", "{r2}");
    let asked: Vec<&String> = r2["result"]["inputRequests"].as_object().unwrap().keys().collect();
    assert_eq!(asked, ["day"], "the first answer is not asked again");
    let state2 = r2["result"]["requestState"].as_str().unwrap().to_string();
    assert_ne!(state1, state2);

    // Round 3 sends only the day: the name comes back from the state.
    let r3 = call(
        &mut p,
        "book",
        json!({}),
        json!({"inputResponses": {"day": accept("day", "Monday")}, "requestState": state2}),
    )
    .await;
    assert_eq!(r3["result"]["resultType"], "complete", "{r3}");
    assert_eq!(r3["result"]["content"][0]["text"], "\"Ada\" on \"Monday\"");
}

#[tokio::test]
async fn questions_asked_together_come_in_one_round() {
    let mut p = Peer::connect(server());
    let r1 = call(&mut p, "all_at_once", json!({}), json!({})).await;
    let asked = r1["result"]["inputRequests"].as_object().unwrap();
    assert_eq!(asked.len(), 3, "{r1}");
    assert_eq!(asked["name"]["method"], "elicitation/create");
    assert_eq!(asked["model"]["method"], "sampling/createMessage");
    assert_eq!(asked["roots"], json!({"method": "roots/list", "params": {}}));
    let answers = json!({
        "name": accept("name", "Ada"),
        "model": {"role": "assistant", "content": {"type": "text", "text": "hello"}, "model": "m"},
        "roots": {"roots": [{"uri": "file:///tmp"}]},
    });
    let state = r1["result"]["requestState"].clone();
    let r2 = call(&mut p, "all_at_once", json!({}), json!({"inputResponses": answers, "requestState": state})).await;
    assert_eq!(r2["result"]["content"][0]["text"], "\"Ada\" \"hello\" \"file:///tmp\"", "{r2}");
}

#[tokio::test]
async fn the_handler_state_travels_from_round_to_round() {
    let mut p = Peer::connect(server());
    let r1 = call(&mut p, "counter", json!({}), json!({})).await;
    let r2 = retry(&mut p, "counter", &r1, json!({"one": accept("x", "1")})).await;
    let r3 = retry(&mut p, "counter", &r2, json!({"two": accept("x", "2")})).await;
    assert_eq!(r3["result"]["content"][0]["text"], "rounds: 3", "{r3}");
}

#[tokio::test]
async fn a_changed_foreign_or_misused_state_is_refused_before_the_handler_runs() {
    let mut p = Peer::connect(server());
    let r1 = call(&mut p, "book", json!({"x": 1}), json!({})).await;
    let state = r1["result"]["requestState"].as_str().unwrap().to_string();
    let answer = json!({"who": accept("name", "Ada")});
    let mut flipped = state.clone().into_bytes();
    flipped[3] = if flipped[3] == b'A' { b'B' } else { b'A' };
    let cases = [
        ("tampered", "book", json!({"x": 1}), json!(format!("{state}-TAMPERED"))),
        ("flipped", "book", json!({"x": 1}), json!(String::from_utf8(flipped).unwrap())),
        ("garbage", "book", json!({"x": 1}), json!("not a state")),
        ("not a string", "book", json!({"x": 1}), json!({"a": 1})),
        ("other arguments", "book", json!({"x": 2}), json!(state)),
        ("other tool", "counter", json!({"x": 1}), json!(state)),
    ];
    for (what, tool, args, state) in cases {
        let r = call(&mut p, tool, args, json!({"inputResponses": answer, "requestState": state})).await;
        assert_eq!(r["error"]["code"], -32602, "{what}: {r}");
        assert!(r["error"]["message"].as_str().unwrap().contains("requestState"), "{what}: {r}");
    }
    // Another server (another secret) refuses it too.
    let mut other = Peer::connect(server());
    let r = call(&mut other, "book", json!({"x": 1}), json!({"inputResponses": answer, "requestState": state})).await;
    assert_eq!(r["error"]["code"], -32602, "{r}");
}

#[tokio::test]
async fn front_ends_with_one_secret_accept_each_others_states() {
    let config = || ServerConfig {
        request_state_secret: Some(b"0123456789abcdef0123456789abcdef".to_vec()),
        ..Default::default()
    };
    let (mut a, mut b) = (Peer::connect(server_with(config())), Peer::connect(server_with(config())));
    let r1 = call(&mut a, "book", json!({}), json!({})).await;
    let r2 = retry(&mut b, "book", &r1, json!({"who": accept("name", "Ada")})).await;
    assert_eq!(r2["result"]["resultType"], "input_required", "{r2}");
    assert!(r2["result"]["inputRequests"]["day"].is_object(), "{r2}");
}

#[tokio::test]
async fn an_expired_state_is_refused() {
    let config = ServerConfig { request_state_ttl: std::time::Duration::ZERO, ..Default::default() };
    let mut p = Peer::connect(server_with(config));
    let r1 = call(&mut p, "book", json!({}), json!({})).await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let r2 = retry(&mut p, "book", &r1, json!({"who": accept("name", "Ada")})).await;
    assert_eq!(r2["error"]["code"], -32602, "{r2}");
    assert!(r2["error"]["message"].as_str().unwrap().contains("expired"), "{r2}");
}

#[tokio::test]
async fn answers_of_the_wrong_shape_are_invalid_params_and_unknown_ones_are_ignored() {
    let mut p = Peer::connect(server());
    for bad in [json!({"who": 12345}), json!({"who": {"content": {"name": "no action"}}}), json!("x")] {
        let r = call(&mut p, "book", json!({}), json!({"inputResponses": bad})).await;
        assert_eq!(r["error"]["code"], -32602, "{bad}: {r}");
    }
    // Answers to nothing asked, and a missing answer: the question is asked again.
    let r = call(&mut p, "book", json!({}), json!({"inputResponses": {"wrong_key": accept("x", "y")}})).await;
    assert_eq!(r["result"]["resultType"], "input_required", "{r}");
    assert!(r["result"]["inputRequests"]["who"].is_object(), "{r}");
}

#[tokio::test]
async fn handlers_ask_only_what_the_client_declared() {
    let mut p = Peer::connect(server());
    let r = p.request("tools/call", json!({"name": "polite", "arguments": {}, "_meta": meta(json!({}))})).await;
    assert_eq!(r["result"]["content"][0]["text"], "nobody to ask", "{r}");
    let r = call(&mut p, "polite", json!({}), json!({})).await;
    assert_eq!(r["result"]["resultType"], "input_required", "{r}");
}

#[tokio::test]
async fn prompts_take_rounds_too() {
    let mut p = Peer::connect(server());
    let get = |extra: Value| {
        let mut params = json!({"name": "ask_first", "_meta": meta(caps())});
        for (k, v) in extra.as_object().unwrap() {
            params[k] = v.clone();
        }
        params
    };
    let r1 = p.request("prompts/get", get(json!({}))).await;
    assert_eq!(r1["result"]["resultType"], "input_required", "{r1}");
    let state = r1["result"]["requestState"].clone();
    let r2 = p
        .request(
            "prompts/get",
            get(json!({"inputResponses": {"topic": accept("topic", "tides")}, "requestState": state})),
        )
        .await;
    assert_eq!(r2["result"]["messages"][0]["content"]["text"], "Talk about \"tides\"", "{r2}");
    // A prompt's state does not open a tool call of the same name.
    let r1 = p.request("prompts/get", get(json!({}))).await;
    let r = p
        .request(
            "tools/call",
            json!({"name": "ask_first", "arguments": {}, "requestState": r1["result"]["requestState"], "_meta": meta(caps())}),
        )
        .await;
    assert_eq!(r["error"]["code"], -32602, "{r}");
    assert!(r["error"]["message"].as_str().unwrap().contains("requestState"), "{r}");
}

#[tokio::test]
async fn a_state_larger_than_the_limit_fails_the_round_clearly() {
    let config = ServerConfig { max_request_state_bytes: 300, ..Default::default() };
    let mut p = Peer::connect(server_with(config));
    let big = "x".repeat(400);
    let r = call(&mut p, "book", json!({}), json!({"inputResponses": {"who": accept("name", &big)}})).await;
    assert_eq!(r["error"]["code"], -32603, "{r}");
    assert!(r["error"]["message"].as_str().unwrap().contains("limit of 300"), "{r}");
}
