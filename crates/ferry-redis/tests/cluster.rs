//! On a Redis Cluster (3 masters, private to this test process): the backend contract with
//! 3 partitions and with 1, the session store contract, and the partitions spread over
//! the masters.

use ferry_redis::testing::Cluster;
use ferry_redis::{RedisBackend, RedisConfig};
use ferry_tasks::Backend;
use std::sync::OnceLock;
use std::time::Duration;

/// The cluster of this test process (its nodes stop when the process exits).
fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| Cluster::start(3, 0))
}

/// A backend on a fresh prefix of the cluster, with `partitions` partitions.
async fn backend(partitions: usize) -> RedisBackend {
    let prefix = format!("ferry-test-{}", ferry_tasks::new_task_id());
    let config = RedisConfig::new(cluster().url())
        .prefix(prefix)
        .partitions(partitions)
        .redelivery_timeout(Duration::from_millis(300));
    RedisBackend::connect(config).await.expect("the cluster answers")
}

mod three_partitions {
    use super::*;
    ferry_tasks::backend_contract_tests!(backend(3).await);
}

mod one_partition {
    use super::*;
    ferry_tasks::backend_contract_tests!(backend(1).await);
}

#[tokio::test]
async fn the_session_store_keeps_the_contract_on_a_cluster() {
    for n in [1, 3] {
        let b = backend(n).await;
        ferry_tasks::sessions::contract::run(&b.sessions(), "redis cluster").await;
    }
}

#[tokio::test]
async fn a_process_with_another_number_of_partitions_is_refused() {
    let b = backend(3).await;
    let other = RedisConfig::new(cluster().url()).prefix(b.config().prefix.clone()).partitions(2);
    let refused = RedisBackend::connect(other).await.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(refused.contains("3 partitions"), "{refused}");
    let read_only = RedisConfig::new(cluster().url()).prefix(b.config().prefix.clone()).stored_partitions();
    assert!(RedisBackend::connect(read_only).await.is_ok());
}

#[tokio::test]
async fn three_partitions_land_on_three_masters_and_each_gets_work() {
    let b = backend(3).await;
    let prefix = b.config().prefix.clone();
    for i in 0..60 {
        let owner = format!("session:s{i}");
        let (mut rec, mut job) = ferry_tasks::testkit::task(&owner);
        rec.id = b.new_task_id(&owner);
        job.task_id = rec.id.clone();
        b.submit(rec, job).await.unwrap();
    }
    // Each master holds one partition's job stream, with some of the 60 jobs.
    let mut holders = Vec::new();
    for port in cluster().masters(cluster().ports()[0]) {
        let mut conn = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap().get_connection().unwrap();
        let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}:*:jobs")).query(&mut conn).unwrap();
        assert_eq!(keys.len(), 1, "master {port} holds {keys:?}");
        let len: usize = redis::cmd("XLEN").arg(&keys[0]).query(&mut conn).unwrap();
        assert!(len > 0, "partition {} got no work", keys[0]);
        holders.push(keys[0].clone());
    }
    assert_eq!(holders.len(), 3);
    let claimed = b.claim_batch("w", 100, Duration::from_secs(2)).await.unwrap();
    assert!(!claimed.is_empty());
}

/// Hygiene on a cluster: once the tasks of every partition ended and expired, no key of
/// the deployment is left on any master but the queues, sequences and the partition count
/// (and the per-second counters, which expire on their own).
#[tokio::test]
async fn no_key_outlives_the_tasks_on_any_master() {
    let b = backend(3).await;
    let prefix = b.config().prefix.clone();
    for i in 0..12 {
        let owner = if i % 4 == 0 { ferry_tasks::ANONYMOUS_OWNER.to_string() } else { format!("session:s{i}") };
        let (mut rec, job) = ferry_tasks::testkit::task_in(&b, &owner);
        rec.ttl_ms = Some(200);
        b.submit(rec.clone(), job).await.unwrap();
        if i % 2 == 0 {
            b.cancel(&rec.id).await.unwrap();
        } else {
            let claimed = b.claim_batch("w", 12, Duration::from_millis(200)).await.unwrap();
            let done = ferry_tasks::Outcome::result(&serde_json::json!({}), false).unwrap();
            for job in claimed {
                b.complete(&job.task_id, done.clone()).await.unwrap();
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    let mut left = Vec::new();
    for port in cluster().masters(cluster().ports()[0]) {
        let mut conn = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap().get_connection().unwrap();
        let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}:*")).query(&mut conn).unwrap();
        left.extend(
            keys.into_iter().filter(|k| {
                ![":jobs", ":seq", ":partitions"].iter().any(|end| k.ends_with(end)) && !k.contains(":done:")
            }),
        );
    }
    assert_eq!(left, Vec::<String>::new());
}
