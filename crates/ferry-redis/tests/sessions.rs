//! The Redis session store keeps the `SessionStore` contract, and every key it writes expires.

mod common;

use ferry_tasks::{SessionChange, SessionStore};
use std::time::Duration;

#[tokio::test]
async fn the_redis_session_store_keeps_the_contract() {
    let backend = common::backend().await;
    ferry_tasks::sessions::contract::run(&backend.0.sessions(), "redis").await;
}

#[tokio::test]
async fn every_session_key_expires() {
    let backend = common::backend().await;
    let store = backend.0.sessions();
    let prefix = backend.0.config().prefix.clone();
    let state = ferry_tasks::SessionState {
        id: "s1".into(),
        subject: None,
        client: Some("ip:10.0.0.1".into()),
        protocol_version: "2025-11-25".into(),
        client_capabilities: serde_json::json!({}),
        client_info: serde_json::Value::Null,
        log_level: ferry_protocol::types::LoggingLevel::Debug,
        subscriptions: Default::default(),
        established: false,
        created_ms: 1,
    };
    let ttl = Duration::from_secs(60);
    assert!(store.open(&state, ttl, 0).await.unwrap());
    assert!(store.change("s1", state.client.as_deref(), &SessionChange::Subscribe("a://b".into()), ttl).await.unwrap());
    let mut conn = redis::Client::open(common::redis_url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}:session*")).query_async(&mut conn).await.unwrap();
    assert_eq!(keys.len(), 2, "{keys:?}");
    for key in keys {
        let ttl: i64 = redis::cmd("PTTL").arg(&key).query_async(&mut conn).await.unwrap();
        assert!(ttl > 0 && ttl <= 60_000, "{key} has PTTL {ttl}");
    }
}
