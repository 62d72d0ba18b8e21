//! Shared helpers of the Redis tests.
#![allow(dead_code)]

use ferry_redis::{RedisBackend, RedisConfig};
use ferry_tasks::Backend;
use std::time::Duration;

/// The Redis the tests use (found or started by `ferry_redis::testing`).
pub fn redis_url() -> String {
    ferry_redis::testing::redis_url()
}

/// A key prefix no other test (or run) uses.
pub fn unique_prefix() -> String {
    format!("ferry-test-{}", ferry_tasks::new_task_id())
}

/// A backend on its own prefix; every key under it is deleted when dropped.
pub struct TestBackend(pub RedisBackend);

impl AsRef<dyn Backend> for TestBackend {
    fn as_ref(&self) -> &(dyn Backend + 'static) {
        &self.0
    }
}

impl Drop for TestBackend {
    fn drop(&mut self) {
        // Synchronous, on a fresh connection: the test's runtime may be shutting down.
        let pattern = format!("{}:*", self.0.config().prefix);
        let Ok(mut conn) = redis::Client::open(redis_url()).and_then(|c| c.get_connection()) else { return };
        let keys: Vec<String> = redis::cmd("KEYS").arg(&pattern).query(&mut conn).unwrap_or_default();
        if !keys.is_empty() {
            let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query(&mut conn);
        }
    }
}

/// Connect with `config`, or fail with instructions when there is no Redis.
pub async fn connect(config: RedisConfig) -> RedisBackend {
    match RedisBackend::connect(config).await {
        Ok(b) => b,
        Err(e) => panic!(
            "Redis tests need a Redis server at {} ({e}). Install it (apt-get install redis-server) and start it \
             (redis-server --daemonize yes), or point FERRY_TEST_REDIS_URL at one.",
            redis_url()
        ),
    }
}

/// A backend on a fresh prefix, with a short redelivery timeout.
pub async fn backend() -> TestBackend {
    let config = RedisConfig::new(redis_url()).prefix(unique_prefix()).redelivery_timeout(Duration::from_millis(300));
    TestBackend(connect(config).await)
}
