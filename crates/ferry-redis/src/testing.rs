//! A Redis for tests (feature `testing`).
//!
//! [`redis_url`] finds one, in this order: `FERRY_TEST_REDIS_URL`; a server
//! answering on 127.0.0.1:6379; otherwise it starts a private `redis-server`
//! on a free port (stopped when the test process exits). Tests must still use
//! their own key prefix: the default server may be shared.
//!
//! [`Cluster`] starts a private Redis Cluster (masters, and replicas for failover tests).

mod cluster;
pub use cluster::Cluster;

use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn answers(url: &str) -> bool {
    redis::Client::open(url)
        .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(500)))
        .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
        .is_ok()
}

/// The URL of a Redis for tests; panics with instructions when none can be had.
pub fn redis_url() -> String {
    static URL: OnceLock<Result<String, String>> = OnceLock::new();
    match URL.get_or_init(find) {
        Ok(url) => url.clone(),
        Err(why) => panic!("{why}"),
    }
}

fn find() -> Result<String, String> {
    if let Ok(url) = std::env::var("FERRY_TEST_REDIS_URL") {
        return if answers(&url) { Ok(url) } else { Err(format!("FERRY_TEST_REDIS_URL={url} does not answer PING")) };
    }
    let default = "redis://127.0.0.1:6379/0".to_string();
    if answers(&default) {
        return Ok(default);
    }
    spawn_private()
}

/// The URL of a `redis-server` of this test process's own (started on a free port, stopped
/// when the process exits): for tests that watch or reset the whole server (`MONITOR`,
/// `CONFIG RESETSTAT`). Panics with instructions when it cannot be started.
pub fn private_redis_url() -> String {
    spawn_private().unwrap_or_else(|why| panic!("{why}"))
}

/// Start `redis-server` on a free port, with a watchdog that stops it when this process ends.
fn spawn_private() -> Result<String, String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port for a test Redis: {e}"))?;
    let parent = std::process::id();
    let script = format!(
        "redis-server --port {port} --bind 127.0.0.1 --save '' --appendonly no & r=$!; \
         while kill -0 {parent} 2>/dev/null; do sleep 1; done; kill $r"
    );
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run sh to start redis-server: {e}"))?;
    let url = format!("redis://127.0.0.1:{port}/0");
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if answers(&url) {
            return Ok(url);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err("Redis tests need Redis: none answers on 127.0.0.1:6379 and `redis-server` could not be started. \
         Install it (apt-get install redis-server), start it (redis-server --daemonize yes), \
         or point FERRY_TEST_REDIS_URL at one."
        .into())
}
