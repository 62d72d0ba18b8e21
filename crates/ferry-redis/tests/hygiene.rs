//! Redis keeps no leftovers of expired tasks: neither in an owner's index that
//! nobody lists, nor in the in-flight table when a worker died holding the job.

mod common;

use ferry_tasks::testkit::task;
use ferry_tasks::Backend;
use redis::AsyncCommands;
use std::time::Duration;

async fn raw() -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(common::redis_url()).expect("redis url");
    client.get_multiplexed_async_connection().await.expect("redis connection")
}

#[tokio::test]
async fn submitting_prunes_expired_ids_from_an_owner_index_nobody_lists() {
    let b = common::backend().await;
    let prefix = b.0.config().prefix.clone();
    for _ in 0..40 {
        let (mut rec, job) = task("busy");
        rec.ttl_ms = Some(1);
        b.0.submit(rec, job).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(20)).await; // every one of them has expired
    for _ in 0..25 {
        let (mut rec, job) = task("busy");
        rec.ttl_ms = Some(3_600_000);
        b.0.submit(rec, job).await.unwrap();
    }
    // Each submit checks the two oldest ids (plus two at random), so the 40 dead ones are
    // gone (without pruning the index would hold 65), and nothing was listed.
    let mut conn = raw().await;
    assert_eq!(conn.zcard::<_, usize>(format!("{prefix}:owner:busy")).await.unwrap(), 25);
}

#[tokio::test]
async fn a_dead_workers_job_whose_task_expired_leaves_nothing_behind() {
    let b = common::backend().await; // redelivery after 300 ms
    let prefix = b.0.config().prefix.clone();
    let (mut rec, job) = task("o");
    rec.ttl_ms = Some(200);
    let id = rec.id.clone();
    b.0.submit(rec, job).await.unwrap();
    let claimed = b.0.claim_batch("doomed", 1, Duration::from_secs(1)).await.unwrap();
    assert_eq!(claimed.len(), 1);
    let mut conn = raw().await;
    let inflight = format!("{prefix}:inflight");
    assert!(conn.hexists::<_, _, bool>(&inflight, &id).await.unwrap());
    // The worker dies silently; the task expires; the redelivery timeout passes.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(b.0.get(&id).await.unwrap().is_none(), "expired");
    let next = b.0.claim_batch("survivor", 1, Duration::from_millis(200)).await.unwrap();
    assert!(next.is_empty(), "an expired task's job is not run again");
    assert!(!conn.hexists::<_, _, bool>(&inflight, &id).await.unwrap(), "no in-flight entry left");
    assert_eq!(conn.xlen::<_, usize>(format!("{prefix}:jobs")).await.unwrap(), 0, "no stream entry left");
}
