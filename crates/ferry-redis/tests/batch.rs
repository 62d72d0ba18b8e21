//! Group commit: operations that arrive while a script call of their kind is out go
//! together in the next call, and each still gets its own answer (limits, duplicates and
//! compare-and-swap refusals decided per task, in order).
//!
//! The tests run on a private `redis-server` and count its script calls
//! (`INFO commandstats`) to show that the operations did share calls. On the test's
//! single-threaded runtime, operations started together (`join_all`) all queue before
//! the first call goes out: that one goes alone, the rest together.

use ferry_redis::{RedisBackend, RedisConfig};
use ferry_tasks::testkit::task;
use ferry_tasks::{Backend, BackendError, Outcome, TaskLimits, TaskStatus, TaskUpdate};
use futures::future::join_all;
use std::time::Duration;

/// Script calls Redis ran so far (`EVALSHA` and `EVAL`).
async fn script_calls(url: &str) -> u64 {
    let mut conn = redis::Client::open(url).expect("url").get_multiplexed_async_connection().await.expect("conn");
    let info: String = redis::cmd("INFO").arg("commandstats").query_async(&mut conn).await.expect("info");
    info.lines()
        .filter(|l| l.starts_with("cmdstat_evalsha:") || l.starts_with("cmdstat_eval:"))
        .filter_map(|l| l.split("calls=").nth(1)?.split(',').next()?.parse::<u64>().ok())
        .sum()
}

/// The counters of `P:live` (unfinished tasks and their bytes, in total and per owner).
async fn live(url: &str, prefix: &str) -> std::collections::HashMap<String, i64> {
    let mut conn = redis::Client::open(url).expect("url").get_multiplexed_async_connection().await.expect("conn");
    redis::cmd("HGETALL").arg(format!("{prefix}:live")).query_async(&mut conn).await.expect("hgetall")
}

async fn backend(url: &str, prefix: &str, limits: TaskLimits) -> RedisBackend {
    RedisBackend::connect(RedisConfig::new(url).prefix(prefix).limits(limits)).await.expect("connect")
}

#[tokio::test]
async fn a_batch_of_submissions_answers_each_on_its_own() {
    let url = ferry_redis::testing::private_redis_url();
    let limits = TaskLimits { max_live_per_owner: 2, ..TaskLimits::default() };
    let b = backend(&url, "batch-submit", limits).await;
    let (first, first_job) = task("session:first");
    let (a1, a1_job) = task("session:a");
    let (a2, a2_job) = task("session:a");
    let (a3, a3_job) = task("session:a");
    let (other, other_job) = task("session:b");
    let mut again = other.clone();
    again.owner = "session:c".into();
    // (Redis learns the script on its first use, which costs a refused call more.)
    let (known, known_job) = task("session:known");
    b.submit(known, known_job).await.expect("submit");
    let before = script_calls(&url).await;
    let answers = join_all([
        b.submit(first, first_job),
        b.submit(a1, a1_job),
        b.submit(a2, a2_job),
        b.submit(a3.clone(), a3_job),
        b.submit(other.clone(), other_job.clone()),
        b.submit(again, other_job),
    ])
    .await;
    let calls = script_calls(&url).await - before;
    assert!(answers[0].is_ok() && answers[1].is_ok() && answers[2].is_ok(), "{answers:?}");
    assert!(matches!(answers[3], Err(BackendError::Quota(_))), "the third of one owner is refused: {answers:?}");
    assert!(answers[4].is_ok(), "{answers:?}");
    assert!(matches!(&answers[5], Err(BackendError::Duplicate(id)) if *id == other.id), "{answers:?}");
    assert_eq!(calls, 2, "the first alone, the five that queued meanwhile in one call");
    // What was refused left nothing behind; what was admitted is stored and counted.
    assert!(b.get(&a3.id).await.expect("get").is_none());
    assert_eq!(b.get(&other.id).await.expect("get").expect("stored").owner, "session:b");
    let (a4, a4_job) = task("session:a");
    assert!(matches!(b.submit(a4, a4_job).await, Err(BackendError::Quota(_))), "session:a holds 2");
    let counts = live(&url, "batch-submit").await;
    assert_eq!((counts["n"], counts["n:session:a"], counts["o:session:a"]), (5, 2, 2), "{counts:?}");
}

#[tokio::test]
async fn a_batch_of_completions_answers_a_refused_compare_with_the_record_as_it_is() {
    let url = ferry_redis::testing::private_redis_url();
    let worker = backend(&url, "batch-swap", TaskLimits::default()).await;
    // Another process: its changes make the worker's remembered records stale.
    let front = backend(&url, "batch-swap", TaskLimits::default()).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let (rec, job) = task(&format!("session:s{i}"));
        ids.push(rec.id.clone());
        front.submit(rec, job).await.expect("submit");
    }
    let claimed = worker.claim_batch("w", 5, Duration::from_secs(1)).await.expect("claim");
    assert_eq!(claimed.len(), 5);
    front.update(&ids[2], TaskUpdate::Message("halfway".into())).await.expect("update").expect("record");
    front.cancel(&ids[3]).await.expect("cancel").expect("record");
    let before = script_calls(&url).await;
    let outcome = |i: usize| Outcome::result(&serde_json::json!({ "i": i }), false).expect("outcome");
    let answers = join_all(ids.iter().enumerate().map(|(i, id)| worker.complete(id, outcome(i)))).await;
    let calls = script_calls(&url).await - before;
    for (i, answer) in answers.into_iter().enumerate() {
        let rec = answer.expect("complete").expect("record");
        if i == 3 {
            assert_eq!(rec.status, TaskStatus::Cancelled, "a cancel stays: the answer is the record as it is");
            assert!(rec.outcome.is_none());
        } else {
            assert_eq!(rec.status, TaskStatus::Completed, "task {i}");
            assert_eq!(rec.outcome, Some(outcome(i)), "task {i}");
        }
    }
    let halfway = front.get(&ids[2]).await.expect("get").expect("record");
    assert_eq!(halfway.status_message.as_deref(), Some("halfway"), "the refused compare lost no change");
    assert!(calls <= 3, "{calls} script calls: the first alone, the rest together, the retry of the refused one");
    let counts = live(&url, "batch-swap").await;
    assert!(counts.is_empty(), "every completion released what its task held: {counts:?}");
    let mut conn = redis::Client::open(url.as_str()).expect("url").get_multiplexed_async_connection().await.expect("c");
    let pending: Vec<redis::Value> = redis::cmd("XPENDING")
        .arg("batch-swap:jobs")
        .arg("batch-swap:workers")
        .query_async(&mut conn)
        .await
        .expect("x");
    assert_eq!(pending.first(), Some(&redis::Value::Int(0)), "every job acknowledged: {pending:?}");
}
