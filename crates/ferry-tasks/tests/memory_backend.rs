//! The in-memory backend honours the `Backend` contract (the shared suite in
//! `ferry_tasks::testkit`) plus its own bound.

use ferry_tasks::testkit::task;
use ferry_tasks::{Backend, BackendError, MemoryBackend, MemoryConfig};
use std::time::Duration;

const SHORT: Duration = Duration::from_millis(20);

ferry_tasks::backend_contract_tests!(MemoryBackend::new(MemoryConfig {
    redelivery_timeout: Duration::from_millis(100),
    ..MemoryConfig::default()
}));

#[tokio::test]
async fn bounded_number_of_live_tasks() {
    let b = MemoryBackend::new(MemoryConfig { max_tasks: 2, ..Default::default() });
    for _ in 0..2 {
        let (rec, job) = task("s");
        b.submit(rec, job).await.unwrap();
    }
    let (rec, job) = task("s");
    assert!(matches!(b.submit(rec, job).await, Err(BackendError::Full(_))));
}

#[tokio::test]
async fn heartbeats_keep_a_job_from_being_redelivered() {
    let b = MemoryBackend::new(MemoryConfig { redelivery_timeout: Duration::from_millis(300), ..Default::default() });
    let (rec, job) = task("s");
    b.submit(rec, job.clone()).await.unwrap();
    b.claim("w", SHORT).await.unwrap().unwrap();
    // Heartbeat well within the timeout, several times; no other worker gets the job meanwhile.
    for _ in 0..4 {
        b.heartbeat("w", &job.task_id).await.unwrap();
        assert_eq!(b.claim("other", Duration::from_millis(100)).await.unwrap(), None);
    }
}

#[tokio::test]
async fn expired_tasks_go_without_new_submissions() {
    let b = MemoryBackend::default();
    for _ in 0..100 {
        let (mut rec, job) = task("s");
        rec.ttl_ms = Some(1);
        b.submit(rec, job).await.unwrap();
    }
    assert_eq!(b.held_tasks(), 100);
    tokio::time::sleep(Duration::from_millis(5)).await; // the TTL (1 ms) runs out
                                                        // No more submissions or listings after the burst: only a worker waiting for work.
                                                        // Its claims sweep (at most once a second), so the expired records go.
    for _ in 0..30 {
        if b.held_tasks() == 0 {
            break;
        }
        assert!(b.claim_batch("w", 10, Duration::from_millis(200)).await.unwrap().is_empty(), "all expired");
    }
    assert_eq!(b.held_tasks(), 0);
}
