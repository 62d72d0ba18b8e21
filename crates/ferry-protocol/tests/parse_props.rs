//! Parsing never panics, and classifies every input as a message or a typed error.

use ferry_protocol::{ErrorCode, Message};
use proptest::prelude::*;
use serde_json::{json, Value};

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::hash_map("[a-z]{1,8}|jsonrpc|id|method|params|result|error", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn arbitrary_bytes_parse_or_fail_with_a_parse_or_request_error(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        match Message::parse(&bytes) {
            Ok(_) => {}
            Err(e) => prop_assert!(e.code == ErrorCode::PARSE_ERROR || e.code == ErrorCode::INVALID_REQUEST, "{e:?}"),
        }
    }

    #[test]
    fn arbitrary_json_is_a_message_or_an_invalid_request(v in arb_json()) {
        match Message::from_value(v.clone()) {
            Ok(m) => {
                // What was accepted serializes back to an object with jsonrpc 2.0.
                let back = m.to_value();
                prop_assert_eq!(back.get("jsonrpc"), Some(&json!("2.0")));
            }
            Err(e) => prop_assert_eq!(e.code, ErrorCode::INVALID_REQUEST),
        }
    }

    #[test]
    fn well_formed_requests_round_trip(id in any::<i64>(), method in "[a-z/]{1,20}", p in arb_json()) {
        let params = match p { Value::Object(_) => p, other => json!({"x": other}) };
        let v = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let m = Message::from_value(v.clone()).expect("a request");
        prop_assert_eq!(m.to_value(), v);
    }
}

/// What `Message::parse` answered before its one-pass shortcut: a `Value` tree, then the envelope.
fn parse_through_a_tree(bytes: &[u8]) -> Result<Message, ferry_protocol::ErrorObject> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| ferry_protocol::ErrorObject::parse_error(format!("Parse error: {e}")))?;
    Message::from_value(value)
}

fn envelope_member() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!("2.0")),
        Just(json!("1.0")),
        Just(Value::Null),
        Just(json!(7)),
        Just(json!("tools/call")),
        Just(json!({"name": "add", "arguments": {"a": 1}})),
        Just(json!([1, 2])),
        Just(json!(1.5)),
        Just(json!(u64::MAX)),
    ]
}

proptest! {
    #[test]
    fn the_one_pass_parse_answers_as_the_tree_did(
        members in prop::collection::vec(("jsonrpc|id|method|params|result|error|extra", envelope_member()), 0..7),
        spacing in any::<bool>(),
    ) {
        // Built by hand so that members can repeat (last one wins in a tree).
        let body: Vec<String> = members.iter().map(|(k, v)| format!("{k:?}:{v}")).collect();
        let text = if spacing { format!("{{ {} }}", body.join(" , ")) } else { format!("{{{}}}", body.join(",")) };
        prop_assert_eq!(Message::parse(text.as_bytes()), parse_through_a_tree(text.as_bytes()), "{}", text);
    }

    #[test]
    fn arbitrary_json_parses_as_through_a_tree(v in arb_json()) {
        let text = v.to_string();
        prop_assert_eq!(Message::parse(text.as_bytes()), parse_through_a_tree(text.as_bytes()));
    }
}

#[test]
fn requests_and_notifications_parse_typed() {
    let m = Message::parse(br#"{"jsonrpc":"2.0","id":"a","method":"m","params":{"x":[1]},"result":1}"#).unwrap();
    assert_eq!(
        m,
        Message::Request(ferry_protocol::Request::new(
            ferry_protocol::RequestId::String("a".into()),
            "m",
            Some(json!({"x": [1]}))
        ))
    );
    let m = Message::parse(br#"{"method":"n","params":null,"jsonrpc":"2.0"}"#).unwrap();
    assert_eq!(m, Message::Notification(ferry_protocol::Notification::new("n", None)));
    for bad in
        [&br#"{"jsonrpc":"2.0","id":null,"method":"m"}"#[..], br#"{"jsonrpc":"2.0","id":1,"method":"m","params":3}"#]
    {
        assert_eq!(Message::parse(bad).unwrap_err().code, ErrorCode::INVALID_REQUEST);
    }
    assert_eq!(Message::parse(br#"{"jsonrpc":"2.0","id":1,"method":5, "#).unwrap_err().code, ErrorCode::PARSE_ERROR);
}
