//! The in-memory backend honours the `Backend` contract (the shared suite in
//! `ferry_tasks::testkit`) plus its own bound.

use ferry_tasks::testkit::task;
use ferry_tasks::{Backend, BackendError, MemoryBackend, MemoryConfig, Outcome, TaskLimits};
use serde_json::json;
use std::time::Duration;

const SHORT: Duration = Duration::from_millis(20);

ferry_tasks::backend_contract_tests!(MemoryBackend::new(MemoryConfig {
    redelivery_timeout: Duration::from_millis(100),
    ..MemoryConfig::default()
}));

fn limited(limits: TaskLimits) -> MemoryBackend {
    MemoryBackend::new(MemoryConfig { limits, ..Default::default() })
}

fn done() -> Outcome {
    Outcome::result(&json!({"ok": true}), false).unwrap()
}

#[tokio::test]
async fn one_owner_cannot_take_every_live_slot() {
    let b = limited(TaskLimits { max_live: 5, max_live_per_owner: 2, ..Default::default() });
    for _ in 0..2 {
        let (rec, job) = task("greedy");
        b.submit(rec, job).await.unwrap();
    }
    let (rec, job) = task("greedy");
    let refused = b.submit(rec, job).await.unwrap_err();
    assert!(matches!(refused, BackendError::Quota(_)), "{refused}");
    assert!(refused.to_string().contains("unfinished tasks"), "{refused}");
    // Others still get in, until the total bound.
    for owner in ["a", "b", "c"] {
        let (rec, job) = task(owner);
        b.submit(rec, job).await.unwrap();
    }
    let (rec, job) = task("d");
    assert!(matches!(b.submit(rec, job).await, Err(BackendError::Full(_))));
    assert_eq!(b.usage().live, 5);
}

#[tokio::test]
async fn a_finished_task_frees_its_live_slot_at_once() {
    let b = limited(TaskLimits { max_live_per_owner: 1, ..Default::default() });
    let (first, job) = task("s");
    b.submit(first.clone(), job).await.unwrap();
    b.complete(&first.id, done()).await.unwrap();
    let (rec, job) = task("s");
    b.submit(rec, job).await.unwrap();
    // The finished one is still there to read.
    assert_eq!(b.get(&first.id).await.unwrap().unwrap().status, ferry_tasks::TaskStatus::Completed);
}

#[tokio::test]
async fn live_argument_bytes_are_bounded_per_owner() {
    let b = limited(TaskLimits { max_live_bytes_per_owner: 3_000, ..Default::default() });
    let big = || {
        let (rec, mut job) = task("s");
        job.arguments = json!({ "blob": "x".repeat(1_000) });
        (rec, job)
    };
    for _ in 0..2 {
        let (rec, job) = big();
        b.submit(rec, job).await.unwrap();
    }
    let (rec, job) = big();
    assert!(matches!(b.submit(rec, job).await, Err(BackendError::Quota(_))));
    assert!(b.usage().live_bytes > 2_000);
    let (rec, job) = task("other");
    b.submit(rec, job).await.unwrap();
}

#[tokio::test]
async fn ended_tasks_make_room_oldest_first_from_the_owner_keeping_most() {
    let b = limited(TaskLimits { max_retained: 4, max_retained_per_owner: 3, ..Default::default() });
    let run = |owner: &'static str| {
        let b = b.clone();
        async move {
            let (rec, job) = task(owner);
            b.submit(rec.clone(), job).await.unwrap();
            b.complete(&rec.id, done()).await.unwrap();
            rec.id
        }
    };
    let quiet = run("quiet").await;
    let mut flood = Vec::new();
    for _ in 0..10 {
        flood.push(run("flood").await);
    }
    // The flooding owner keeps its newest three; the quiet owner's result stays.
    assert!(b.get(&quiet).await.unwrap().is_some(), "the quiet owner's result survives the flood");
    let kept: Vec<bool> = kept(&b, &flood).await;
    assert_eq!(kept, [vec![false; 7], vec![true; 3]].concat());
    assert_eq!(b.usage().ended, 4);
    // Past the total bound, the largest owner gives up its oldest.
    let other = run("other").await;
    assert!(b.get(&other).await.unwrap().is_some());
    assert!(b.get(&quiet).await.unwrap().is_some());
    assert!(b.get(&flood[7]).await.unwrap().is_none());
    assert_eq!(b.usage().ended, 4);
}

async fn kept(b: &MemoryBackend, ids: &[String]) -> Vec<bool> {
    let mut kept = Vec::new();
    for id in ids {
        kept.push(b.get(id).await.unwrap().is_some());
    }
    kept
}

#[tokio::test]
async fn accounting_returns_to_zero_when_everything_expired() {
    let b = MemoryBackend::default();
    for i in 0..50 {
        let (mut rec, job) = task(&format!("owner-{}", i % 7));
        rec.ttl_ms = Some(1);
        b.submit(rec.clone(), job).await.unwrap();
        if i % 2 == 0 {
            b.complete(&rec.id, done()).await.unwrap();
        } else {
            b.cancel(&rec.id).await.unwrap();
        }
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(b.usage(), ferry_tasks::StoreUsage::default());
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
        rec.ttl_ms = Some(1_000);
        b.submit(rec.clone(), job).await.unwrap();
        b.cancel(&rec.id).await.unwrap(); // ended: its TTL starts
    }
    assert!(b.held_tasks() > 0);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    // No more submissions or listings after the burst: only a worker waiting for work.
    // Its claims sweep, so the expired records go.
    for _ in 0..30 {
        if b.held_tasks() == 0 {
            break;
        }
        assert!(b.claim_batch("w", 10, Duration::from_millis(200)).await.unwrap().is_empty(), "all expired");
    }
    assert_eq!(b.held_tasks(), 0);
}

#[tokio::test]
async fn owners_take_turns_for_workers() {
    let b = limited(TaskLimits { max_running_per_owner: 100, ..Default::default() });
    let mut flood = Vec::new();
    for _ in 0..50 {
        let (rec, job) = task("flood");
        flood.push(rec.id.clone());
        b.submit(rec, job).await.unwrap();
    }
    let (quiet, job) = task("quiet");
    b.submit(quiet.clone(), job).await.unwrap();
    // The quiet owner's job comes second, not after the flood's fifty.
    let first = b.claim_batch("w", 2, SHORT).await.unwrap();
    assert_eq!(first.iter().map(|j| j.task_id.clone()).collect::<Vec<_>>(), vec![flood[0].clone(), quiet.id.clone()]);
    let rest = b.claim_batch("w", 100, SHORT).await.unwrap();
    assert_eq!(rest.len(), 49, "the flood's jobs all follow, in order");
    assert_eq!(rest[0].task_id, flood[1]);
}

#[tokio::test]
async fn one_owner_runs_at_most_its_share_of_jobs_at_once() {
    let b = limited(TaskLimits { max_running_per_owner: 2, ..Default::default() });
    for _ in 0..5 {
        let (rec, job) = task("busy");
        b.submit(rec, job).await.unwrap();
    }
    let running = b.claim_batch("w", 10, SHORT).await.unwrap();
    assert_eq!(running.len(), 2, "two of the busy owner's jobs run; the rest wait");
    let (other, job) = task("other");
    b.submit(other.clone(), job).await.unwrap();
    let next = b.claim_batch("w", 10, SHORT).await.unwrap();
    assert_eq!(
        next.iter().map(|j| j.task_id.clone()).collect::<Vec<_>>(),
        vec![other.id],
        "another owner still gets a worker"
    );
    // One of the busy owner's jobs ends: the next of its jobs may run.
    b.complete(&running[0].task_id, done()).await.unwrap();
    assert_eq!(b.claim_batch("w", 10, SHORT).await.unwrap().len(), 1);
}
