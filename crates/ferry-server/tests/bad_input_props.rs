//! Whatever a client sends, the server answers each request exactly once with a
//! well-formed response (a result or a JSON-RPC error) and keeps serving.

mod support;

use proptest::prelude::*;
use serde_json::{json, Value};
use support::{modern_meta, Peer};

const METHODS: &[&str] = &[
    "ping",
    "initialize",
    "tools/list",
    "tools/call",
    "prompts/list",
    "prompts/get",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "resources/subscribe",
    "logging/setLevel",
    "completion/complete",
    "tasks/get",
    "tasks/result",
    "tasks/list",
    "tasks/cancel",
    "tasks/update",
    "server/discover",
    "subscriptions/listen",
    "nope/nothing",
];

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i32>().prop_map(|n| json!(n)),
        prop_oneof![
            Just("add".to_string()),
            Just("sleep".to_string()),
            Just("ferry://demo/readme".to_string()),
            ".{0,8}"
        ]
        .prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::hash_map(
                prop_oneof![
                    Just("name".to_string()),
                    Just("arguments".to_string()),
                    Just("uri".to_string()),
                    Just("taskId".to_string()),
                    Just("cursor".to_string()),
                    Just("task".to_string()),
                    Just("ttl".to_string()),
                    Just("level".to_string()),
                    Just("inputResponses".to_string()),
                    Just("ms".to_string()),
                    Just("a".to_string()),
                    Just("b".to_string()),
                    "[a-z]{1,6}"
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn demo_like() -> ferry_server::Server {
    use ferry_server::{Args, TaskSupport, ToolDef};
    #[derive(serde::Deserialize, schemars::JsonSchema)]
    struct Add {
        a: i64,
        b: i64,
    }
    ferry_server::Server::builder("props", "1")
        .default_task_support(TaskSupport::Optional)
        .tool(ToolDef::new("add").handler(|Args(x): Args<Add>| async move { x.a.wrapping_add(x.b) }))
        .tool(ToolDef::new("sleep").handler(|| async { "slept" }))
        .build()
        .expect("valid")
}

fn check_response(resp: &Value, id: i64) -> Result<(), TestCaseError> {
    prop_assert_eq!(&resp["jsonrpc"], &json!("2.0"));
    prop_assert_eq!(&resp["id"], &json!(id));
    let has_result = resp.get("result").is_some();
    let has_error = resp.get("error").is_some();
    prop_assert!(has_result != has_error, "exactly one of result/error: {}", resp);
    if has_error {
        prop_assert!(resp["error"]["code"].is_i64(), "{}", resp);
        prop_assert!(resp["error"]["message"].is_string(), "{}", resp);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn every_request_gets_one_well_formed_answer(
        calls in prop::collection::vec((prop::sample::select(METHODS), arb_json(), any::<bool>()), 1..8)
    ) {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async move {
            let mut p = Peer::session(demo_like()).await;
            let mut id = 1000;
            for (method, params, modern) in calls {
                let mut params = match params { Value::Object(_) => params, other => json!({"x": other}) };
                if modern {
                    params["_meta"] = modern_meta(json!({"extensions": {"io.modelcontextprotocol/tasks": {}}}));
                }
                // tasks/result and subscriptions/listen may legitimately wait; skip blocking ids.
                if matches!(method, "tasks/result" | "subscriptions/listen") && params.get("taskId").is_some() {
                    continue;
                }
                id += 1;
                let resp = p.request_with_id(id, method, params).await;
                check_response(&resp, id)?;
            }
            // Still serving.
            let pong = p.request("ping", json!({})).await;
            prop_assert_eq!(&pong["result"], &json!({}));
            Ok(())
        })?;
    }
}
