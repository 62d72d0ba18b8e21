//! The in-memory backend honours the `Backend` contract.

use ferry_protocol::time_fmt::now_ms;
use ferry_tasks::{
    Backend, BackendError, Job, MemoryBackend, MemoryConfig, Outcome, TaskEvent, TaskRecord, TaskStatus, TaskUpdate,
};
use serde_json::json;
use std::time::Duration;

fn task(owner: &str) -> (TaskRecord, Job) {
    let rec = TaskRecord::new(owner, "tools/call", "add", now_ms());
    let job = Job {
        task_id: rec.id.clone(),
        kind: "tools/call".into(),
        name: "add".into(),
        arguments: json!({"a": 1}),
        context: json!({}),
        attempt: 1,
    };
    (rec, job)
}

const SHORT: Duration = Duration::from_millis(20);

#[tokio::test]
async fn submitted_task_is_gettable_and_claimable_once() {
    let b = MemoryBackend::default();
    let (rec, job) = task("s1");
    b.submit(rec.clone(), job.clone()).await.unwrap();
    assert_eq!(b.get(&rec.id).await.unwrap().unwrap().status, TaskStatus::Working);
    assert_eq!(b.claim("w", SHORT).await.unwrap(), Some(job));
    assert_eq!(b.claim("w", SHORT).await.unwrap(), None);
}

#[tokio::test]
async fn duplicate_submission_is_refused() {
    let b = MemoryBackend::default();
    let (rec, job) = task("s1");
    b.submit(rec.clone(), job.clone()).await.unwrap();
    assert!(matches!(b.submit(rec, job).await, Err(BackendError::Duplicate(_))));
}

#[tokio::test]
async fn complete_sets_terminal_status_and_later_changes_are_ignored() {
    let b = MemoryBackend::default();
    let (rec, job) = task("s1");
    b.submit(rec.clone(), job).await.unwrap();
    b.claim("w", SHORT).await.unwrap();
    let done = b.complete(&rec.id, Outcome::Result { value: json!({"x": 1}), is_error: false }).await.unwrap().unwrap();
    assert_eq!(done.status, TaskStatus::Completed);
    // Terminal: cancel, a second outcome and updates change nothing.
    let after = b.cancel(&rec.id).await.unwrap().unwrap();
    assert_eq!(after.status, TaskStatus::Completed);
    b.complete(&rec.id, Outcome::Error { error: ferry_protocol::ErrorObject::internal("late") }).await.unwrap();
    b.update(&rec.id, TaskUpdate::Message("late".into())).await.unwrap();
    let rec = b.get(&rec.id).await.unwrap().unwrap();
    assert_eq!(rec.status, TaskStatus::Completed);
    assert_eq!(rec.status_message, None);
}

#[tokio::test]
async fn error_outcome_fails_the_task_with_its_message() {
    let b = MemoryBackend::default();
    let (rec, job) = task("s1");
    b.submit(rec.clone(), job).await.unwrap();
    let r = b
        .complete(&rec.id, Outcome::Error { error: ferry_protocol::ErrorObject::internal("boom") })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.status, TaskStatus::Failed);
    assert_eq!(r.status_message.as_deref(), Some("boom"));
}

#[tokio::test]
async fn cancelled_while_queued_is_never_handed_out() {
    let b = MemoryBackend::default();
    let (rec, job) = task("s1");
    b.submit(rec.clone(), job).await.unwrap();
    assert_eq!(b.cancel(&rec.id).await.unwrap().unwrap().status, TaskStatus::Cancelled);
    assert_eq!(b.claim("w", SHORT).await.unwrap(), None);
    // Completing a cancelled task keeps it cancelled.
    b.complete(&rec.id, Outcome::Result { value: json!({}), is_error: false }).await.unwrap();
    assert_eq!(b.get(&rec.id).await.unwrap().unwrap().status, TaskStatus::Cancelled);
}

#[tokio::test]
async fn expired_tasks_disappear() {
    let b = MemoryBackend::default();
    let (mut rec, job) = task("s1");
    rec.ttl_ms = Some(1);
    b.submit(rec.clone(), job).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(b.get(&rec.id).await.unwrap().is_none());
    assert!(b.list("s1", None, 10).await.unwrap().tasks.is_empty());
    assert!(b.update(&rec.id, TaskUpdate::Message("x".into())).await.unwrap().is_none());
}

#[tokio::test]
async fn list_is_per_owner_paginated_and_rejects_foreign_cursors() {
    let b = MemoryBackend::default();
    let mut mine = Vec::new();
    for i in 0..5 {
        let (rec, job) = task(if i % 2 == 0 { "me" } else { "other" });
        if i % 2 == 0 {
            mine.push(rec.id.clone());
        }
        b.submit(rec, job).await.unwrap();
    }
    let p1 = b.list("me", None, 2).await.unwrap();
    assert_eq!(p1.tasks.iter().map(|t| t.id.clone()).collect::<Vec<_>>(), mine[..2]);
    let p2 = b.list("me", p1.next_cursor.as_deref(), 2).await.unwrap();
    assert_eq!(p2.tasks.iter().map(|t| t.id.clone()).collect::<Vec<_>>(), mine[2..]);
    assert!(p2.next_cursor.is_none());
    assert!(matches!(b.list("me", Some("not-a-cursor"), 2).await, Err(BackendError::InvalidCursor)));
    assert!(matches!(b.list("me", Some("999999"), 2).await, Err(BackendError::InvalidCursor)));
}

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
async fn job_of_a_silent_worker_is_redelivered_with_next_attempt() {
    let b = MemoryBackend::new(MemoryConfig { redelivery_timeout: Duration::from_millis(30), ..Default::default() });
    let (rec, job) = task("s");
    b.submit(rec, job.clone()).await.unwrap();
    let first = b.claim("dead-worker", SHORT).await.unwrap().unwrap();
    assert_eq!(first.attempt, 1);
    let again = b.claim("live-worker", Duration::from_secs(5)).await.unwrap().unwrap();
    assert_eq!(again.task_id, job.task_id);
    assert_eq!(again.attempt, 2);
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
async fn requeue_with_delay_hands_the_job_out_later() {
    let b = MemoryBackend::default();
    let (rec, job) = task("s");
    b.submit(rec, job.clone()).await.unwrap();
    let j = b.claim("w", SHORT).await.unwrap().unwrap();
    b.requeue("w", j, Duration::from_millis(50)).await.unwrap();
    let again = b.claim("w", Duration::from_secs(5)).await.unwrap().unwrap();
    assert_eq!(again.task_id, job.task_id);
}

#[tokio::test]
async fn input_requests_and_partial_responses() {
    let b = MemoryBackend::default();
    let (rec, job) = task("s");
    b.submit(rec.clone(), job).await.unwrap();
    let req = json!({"method": "elicitation/create", "params": {}});
    b.update(&rec.id, TaskUpdate::RequestInput { key: "a".into(), request: req.clone() }).await.unwrap();
    let r = b.update(&rec.id, TaskUpdate::RequestInput { key: "b".into(), request: req }).await.unwrap().unwrap();
    assert_eq!(r.status, TaskStatus::InputRequired);
    assert_eq!(r.input_requests.len(), 2);
    let mut one = serde_json::Map::new();
    one.insert("a".into(), json!({"action": "accept"}));
    one.insert("never-asked".into(), json!({}));
    let r = b.update(&rec.id, TaskUpdate::Respond(one)).await.unwrap().unwrap();
    assert_eq!(r.status, TaskStatus::InputRequired, "b is still outstanding");
    assert!(r.input_responses.contains_key("a") && !r.input_responses.contains_key("never-asked"));
    let mut two = serde_json::Map::new();
    two.insert("b".into(), json!({"action": "decline"}));
    let r = b.update(&rec.id, TaskUpdate::Respond(two)).await.unwrap().unwrap();
    assert_eq!(r.status, TaskStatus::Working);
    let r = b.update(&rec.id, TaskUpdate::TakeResponses(vec!["a".into(), "b".into()])).await.unwrap().unwrap();
    assert!(r.input_responses.is_empty());
}

#[tokio::test]
async fn every_change_is_published() {
    let b = MemoryBackend::default();
    let mut events = b.subscribe();
    let (rec, job) = task("s");
    b.submit(rec.clone(), job).await.unwrap();
    b.update(&rec.id, TaskUpdate::Progress { progress: 1.0, total: Some(2.0), message: Some("half".into()) })
        .await
        .unwrap();
    b.cancel(&rec.id).await.unwrap();
    let statuses: Vec<(TaskStatus, Option<String>)> = (0..3)
        .map(|_| match events.try_recv().unwrap() {
            TaskEvent::Changed(r) => (r.status, r.status_message),
        })
        .collect();
    assert_eq!(statuses[0], (TaskStatus::Working, None));
    assert_eq!(statuses[1], (TaskStatus::Working, Some("half".into())));
    assert_eq!(statuses[2].0, TaskStatus::Cancelled);
}
