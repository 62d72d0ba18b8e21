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
