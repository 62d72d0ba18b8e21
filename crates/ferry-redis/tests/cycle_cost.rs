//! What one task's life costs Redis (run by hand to compare trees; ignored in the suite):
//! `FERRY_TEST_REDIS_URL=redis://127.0.0.1:PORT cargo test -p ferry-redis --test cycle_cost -- --ignored --nocapture`
//! on a private Redis (it resets that server's command statistics).

mod common;

use ferry_tasks::testkit::task;
use ferry_tasks::{Backend, Outcome};
use std::time::{Duration, Instant};

#[tokio::test]
#[ignore]
async fn cost_of_submit_claim_complete() {
    let b = common::backend().await;
    let mut conn = redis::Client::open(common::redis_url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let n = 3000;
    let _: () = redis::cmd("CONFIG").arg("RESETSTAT").query_async(&mut conn).await.unwrap();
    let begin = Instant::now();
    for i in 0..n {
        let (rec, job) = task(&format!("owner-{}", i % 10));
        b.0.submit(rec.clone(), job).await.unwrap();
        let claimed = b.0.claim_batch("w", 1, Duration::from_secs(1)).await.unwrap();
        assert_eq!(claimed.len(), 1);
        let done = Outcome::result(&serde_json::json!({"ok": i}), false).unwrap();
        b.0.complete(&rec.id, done).await.unwrap();
    }
    let elapsed = begin.elapsed();
    let info: String = redis::cmd("INFO").arg("commandstats").query_async(&mut conn).await.unwrap();
    let mut calls = 0u64;
    let mut usec = 0u64;
    for line in info.lines().filter(|l| l.starts_with("cmdstat_")) {
        let field = |name: &str| -> u64 {
            line.split(&[':', ','][..])
                .find_map(|kv| kv.strip_prefix(&format!("{name}=")).and_then(|v| v.parse().ok()))
                .unwrap_or(0)
        };
        if !line.starts_with("cmdstat_info") && !line.starts_with("cmdstat_config") {
            calls += field("calls");
            usec += field("usec");
        }
    }
    println!(
        "{n} tasks: {:.1} us wall per task, Redis {:.1} commands and {:.1} us of command time per task",
        elapsed.as_micros() as f64 / n as f64,
        calls as f64 / n as f64,
        usec as f64 / n as f64
    );
}
