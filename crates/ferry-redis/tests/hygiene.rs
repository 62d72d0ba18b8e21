//! Redis keeps no leftovers of expired tasks: not in an owner's index that nobody
//! lists, not in the in-flight table when a worker died holding the job, and no key
//! without an expiry once the tasks it is about are gone.

mod common;

use ferry_tasks::testkit::task;
use ferry_tasks::Backend;
use redis::AsyncCommands;
use std::time::Duration;

async fn raw() -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(common::redis_url()).expect("redis url");
    client.get_multiplexed_async_connection().await.expect("redis connection")
}

/// Submit `dead` tasks of `owner` that end at once and expire, wait until they have, then
/// `kept` tasks that stay; nothing is listed.
async fn dead_then_kept(b: &common::TestBackend, owner: &str, dead: usize, kept: usize) {
    for _ in 0..dead {
        let (mut rec, job) = task(owner);
        rec.ttl_ms = Some(1);
        b.0.submit(rec.clone(), job).await.unwrap();
        b.0.cancel(&rec.id).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(20)).await; // every one of them has expired
    for _ in 0..kept {
        let (mut rec, job) = task(owner);
        rec.ttl_ms = Some(3_600_000);
        b.0.submit(rec, job).await.unwrap();
    }
}

#[tokio::test]
async fn submitting_prunes_expired_ids_from_an_owner_index_nobody_lists() {
    let b = common::backend().await;
    let prefix = b.0.config().prefix.clone();
    dead_then_kept(&b, "busy", 40, 25).await;
    // The dead ones are gone (the index expires with its last ended task, and submissions
    // prune it; without either it would hold 65), and nothing was listed.
    let mut conn = raw().await;
    assert_eq!(conn.zcard::<_, usize>(format!("{prefix}:owner:busy")).await.unwrap(), 25);
}

#[tokio::test]
async fn submitting_prunes_an_owner_index_that_never_expires() {
    let b = common::backend().await;
    let prefix = b.0.config().prefix.clone();
    // One task of the owner keeps running throughout: its index never expires as a whole.
    let (runner, job) = task("busy");
    b.0.submit(runner, job).await.unwrap();
    dead_then_kept(&b, "busy", 40, 24).await;
    // Every 8th submission checks the index's 16 oldest ids (and 8 at random): three of them
    // after the wait, so the 40 dead ids are gone (without pruning the index would hold 65).
    let mut conn = raw().await;
    let index = format!("{prefix}:owner:busy");
    assert_eq!(conn.zcard::<_, usize>(&index).await.unwrap(), 25);
    assert_eq!(conn.pttl::<_, i64>(&index).await.unwrap(), -1, "no expiry while a task runs");
}

#[tokio::test]
async fn submitting_prunes_expired_ids_from_the_operator_index_nobody_lists() {
    let b = common::backend().await;
    let prefix = b.0.config().prefix.clone();
    // One task keeps running throughout: the index never expires as a whole.
    let (runner, job) = task("runner");
    b.0.submit(runner, job).await.unwrap();
    for i in 0..64 {
        let (mut rec, job) = task(&format!("owner-{i}"));
        rec.ttl_ms = Some(1);
        b.0.submit(rec.clone(), job).await.unwrap();
        b.0.cancel(&rec.id).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(20)).await; // every one of them has expired
    let mut conn = raw().await;
    let index = format!("{prefix}:all");
    for _ in 0..64 {
        let (mut rec, job) = task("later");
        rec.ttl_ms = Some(3_600_000);
        b.0.submit(rec, job).await.unwrap();
    }
    // Every 16th submit checks eight oldest and eight random ids: the dead ones shrink away
    // (without pruning the index would hold 129), though not necessarily to none.
    let held: usize = conn.zcard(&index).await.unwrap();
    assert!(held < 129 - 32, "the operator index was not pruned: {held}");
    assert_eq!(conn.pttl::<_, i64>(&index).await.unwrap(), -1, "no expiry while a task runs");
    // A listing drops every dead id it meets.
    let all = b.0.list_all(&ferry_tasks::TaskFilter::default(), None, 500).await.unwrap();
    assert_eq!(all.tasks.len(), 65);
    assert_eq!(conn.zcard::<_, usize>(&index).await.unwrap(), 65);
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
    // The task is cancelled and its worker dies silently; the task expires; the
    // redelivery timeout passes.
    b.0.cancel(&id).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(b.0.get(&id).await.unwrap().is_none(), "expired");
    let next = b.0.claim_batch("survivor", 1, Duration::from_millis(200)).await.unwrap();
    assert!(next.is_empty(), "an expired task's job is not run again");
    assert!(!conn.hexists::<_, _, bool>(&inflight, &id).await.unwrap(), "no in-flight entry left");
    assert_eq!(conn.xlen::<_, usize>(format!("{prefix}:jobs")).await.unwrap(), 0, "no stream entry left");
}

/// Every key under `prefix` that has no expiry, but for the deployment's own stream and counter.
async fn keys_without_expiry(prefix: &str) -> Vec<String> {
    let mut conn = raw().await;
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}:*")).query_async(&mut conn).await.unwrap();
    let mut lasting = Vec::new();
    for key in keys {
        // What a deployment keeps: its queue, sequence and number of partitions.
        if [":jobs", ":seq", ":partitions"].iter().any(|end| key == format!("{prefix}{end}")) {
            continue;
        }
        let ttl: i64 = conn.pttl(&key).await.unwrap();
        if ttl == -1 {
            lasting.push(key);
        }
    }
    lasting.sort();
    lasting
}

#[tokio::test]
async fn no_key_outlives_the_tasks_of_sessions_that_went_away() {
    let b = common::backend().await;
    let prefix = b.0.config().prefix.clone();
    // Sessions that each create tasks, then go away; their tasks end and expire.
    for session in 0..6 {
        for i in 0..5 {
            let (mut rec, job) = task(&format!("session:s{session}"));
            rec.ttl_ms = Some(300 + 50 * i);
            b.0.submit(rec.clone(), job).await.unwrap();
            if i % 2 == 0 {
                b.0.cancel(&rec.id).await.unwrap();
            } else {
                b.0.claim_batch("w", 1, Duration::from_millis(50)).await.unwrap();
                let done = ferry_tasks::Outcome::result(&serde_json::json!({}), false).unwrap();
                b.0.complete(&rec.id, done).await.unwrap();
            }
        }
    }
    assert_eq!(keys_without_expiry(&prefix).await, Vec::<String>::new(), "while the results are kept");
    tokio::time::sleep(Duration::from_millis(700)).await;
    let mut conn = raw().await;
    let left: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}:*")).query_async(&mut conn).await.unwrap();
    // The per-second throughput counters (`P:done:...`) expire on their own two minutes on.
    let mut left: Vec<String> = left
        .into_iter()
        .filter(|k| ![":jobs", ":seq", ":partitions"].iter().any(|end| k.ends_with(end)) && !k.contains(":done:"))
        .collect();
    left.sort();
    assert_eq!(left, Vec::<String>::new(), "after the TTLs nothing is left");
}

#[tokio::test]
async fn an_owner_index_lasts_while_a_task_of_it_runs() {
    let b = common::backend().await;
    let prefix = b.0.config().prefix.clone();
    let index = format!("{prefix}:owner:session:x");
    let (mut long, job) = task("session:x");
    long.ttl_ms = Some(200);
    b.0.submit(long.clone(), job).await.unwrap();
    let (mut quick, job) = task("session:x");
    quick.ttl_ms = Some(100);
    b.0.submit(quick.clone(), job).await.unwrap();
    b.0.cancel(&quick.id).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The quick one is gone; the long one still runs and is still listed.
    let mut conn = raw().await;
    assert_eq!(conn.pttl::<_, i64>(&index).await.unwrap(), -1, "no expiry while a task runs");
    let listed = b.0.list("session:x", None, 10).await.unwrap().tasks;
    assert_eq!(listed.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), vec![long.id.clone()]);
    b.0.cancel(&long.id).await.unwrap();
    let ttl: i64 = conn.pttl(&index).await.unwrap();
    assert!(ttl > 0 && ttl <= 200, "the index expires with its last task ({ttl})");
    assert_eq!(keys_without_expiry(&prefix).await, Vec::<String>::new());
}

#[tokio::test]
async fn unfinished_tasks_are_bounded_per_owner_and_in_total_across_front_ends() {
    let limits = ferry_tasks::TaskLimits { max_live: 3, max_live_per_owner: 2, ..Default::default() };
    let config = ferry_redis::RedisConfig::new(common::redis_url()).prefix(common::unique_prefix()).limits(limits);
    let a = common::TestBackend(common::connect(config.clone()).await);
    let other_front_end = common::connect(config).await;
    let mut first = Vec::new();
    for _ in 0..2 {
        let (rec, job) = task("greedy");
        first.push(rec.id.clone());
        a.0.submit(rec, job).await.unwrap();
    }
    let (rec, job) = task("greedy");
    let refused = other_front_end.submit(rec, job).await.unwrap_err();
    assert!(matches!(refused, ferry_tasks::BackendError::Quota(_)), "{refused}");
    let (rec, job) = task("b");
    other_front_end.submit(rec, job).await.unwrap();
    let (rec, job) = task("c");
    assert!(matches!(a.0.submit(rec, job).await, Err(ferry_tasks::BackendError::Full(_))));
    // An ended task frees its slot at once.
    a.0.cancel(&first[0]).await.unwrap();
    let (rec, job) = task("greedy");
    a.0.submit(rec, job).await.unwrap();
    // Oversized arguments are refused before anything is stored.
    let (rec, mut job) = task("c");
    job.arguments = serde_json::json!({"blob": "x".repeat(ferry_tasks::TaskLimits::default().max_argument_bytes)});
    assert!(matches!(a.0.submit(rec, job).await, Err(ferry_tasks::BackendError::TooLarge(_))));
}

#[tokio::test]
async fn live_counts_return_to_nothing() {
    let b = common::backend().await;
    let prefix = b.0.config().prefix.clone();
    for i in 0..20 {
        let (rec, job) = task(&format!("o{}", i % 3));
        b.0.submit(rec.clone(), job).await.unwrap();
        b.0.cancel(&rec.id).await.unwrap();
    }
    let mut conn = raw().await;
    assert!(!conn.exists::<_, bool>(format!("{prefix}:live")).await.unwrap(), "the live table empties");
}

#[tokio::test]
async fn workers_that_are_gone_leave_the_consumer_group() {
    let config = ferry_redis::RedisConfig::new(common::redis_url())
        .prefix(common::unique_prefix())
        .stale_consumer_after(Duration::from_millis(100));
    let b = common::TestBackend(common::connect(config).await);
    for _ in 0..2 {
        let (rec, job) = task("o");
        b.0.submit(rec, job).await.unwrap();
    }
    let finished = b.0.claim_batch("finished", 1, Duration::from_millis(100)).await.unwrap();
    let done = ferry_tasks::Outcome::result(&serde_json::json!({}), false).unwrap();
    b.0.complete(&finished[0].task_id, done).await.unwrap();
    assert_eq!(b.0.claim_batch("busy", 1, Duration::from_millis(100)).await.unwrap().len(), 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // "finished" holds nothing: gone; "busy" still holds a job: kept (its job is redelivered first).
    assert_eq!(b.0.prune_consumers().await.unwrap(), vec!["finished".to_string()]);
    assert!(b.0.prune_consumers().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_read_outs_work_on_a_purged_deployment() {
    let b = common::backend().await;
    let (rec, job) = task("s");
    b.0.submit(rec.clone(), job).await.unwrap();
    b.0.purge().await.unwrap();
    let stats = b.0.stats().await.unwrap();
    assert_eq!((stats.queued, stats.running), (0, 0));
    assert!(b.0.detail(&rec.id).await.unwrap().is_none());
    assert!(b.0.list_all(&ferry_tasks::TaskFilter::default(), None, 10).await.unwrap().tasks.is_empty());
}
