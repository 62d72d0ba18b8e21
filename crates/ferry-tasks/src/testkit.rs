//! A contract test suite every [`Backend`] must pass (enable the `testkit` feature).
//!
//! Each function takes a fresh, empty backend and panics on a violation. The
//! in-memory backend and the Redis backend run the same suite.

#![allow(clippy::unwrap_used)]

use crate::{
    Backend, BackendError, Job, Notice, Outcome, TaskEvent, TaskFilter, TaskRecord, TaskStatus, TaskUpdate, WorkerInfo,
};
use ferry_protocol::time_fmt::now_ms;
use serde_json::json;
use std::time::Duration;

/// A new task record and its job, with an id of `b`'s making ([`Backend::new_task_id`]).
pub fn task_in(b: &dyn Backend, owner: &str) -> (TaskRecord, Job) {
    let (mut rec, mut job) = task(owner);
    rec.id = b.new_task_id(owner);
    job.task_id = rec.id.clone();
    (rec, job)
}

/// A new task record and its job.
pub fn task(owner: &str) -> (TaskRecord, Job) {
    let rec = TaskRecord::new(owner, "tools/call", "add", now_ms());
    let job = Job {
        task_id: rec.id.clone(),
        kind: "tools/call".into(),
        name: "add".into(),
        arguments: json!({"a": 1}),
        context: json!({}),
        attempt: 1,
        not_before: None,
        trace: None,
    };
    (rec, job)
}

const SHORT: Duration = Duration::from_millis(20);

/// Contract: `submitted task is gettable and claimable once`.
pub async fn submitted_task_is_gettable_and_claimable_once(b: &dyn Backend) {
    let (rec, job) = task_in(b, "s1");
    b.submit(rec.clone(), job.clone()).await.unwrap();
    assert_eq!(b.get(&rec.id).await.unwrap().unwrap().status, TaskStatus::Working);
    assert_eq!(b.claim("w", SHORT).await.unwrap(), Some(job));
    assert_eq!(b.claim("w", SHORT).await.unwrap(), None);
}

/// Contract: `duplicate submission is refused`.
pub async fn duplicate_submission_is_refused(b: &dyn Backend) {
    let (rec, job) = task_in(b, "s1");
    b.submit(rec.clone(), job.clone()).await.unwrap();
    assert!(matches!(b.submit(rec, job).await, Err(BackendError::Duplicate(_))));
}

/// Contract: `complete sets terminal status and later changes are ignored`.
pub async fn complete_sets_terminal_status_and_later_changes_are_ignored(b: &dyn Backend) {
    let (rec, job) = task_in(b, "s1");
    b.submit(rec.clone(), job).await.unwrap();
    b.claim("w", SHORT).await.unwrap();
    let done = b.complete(&rec.id, Outcome::result(&json!({"x": 1}), false).unwrap()).await.unwrap().unwrap();
    assert_eq!(done.status, TaskStatus::Completed);
    // Terminal: cancel, a second outcome and updates change nothing.
    let after = b.cancel(&rec.id).await.unwrap().unwrap();
    assert_eq!(after.status, TaskStatus::Completed);
    b.complete(&rec.id, Outcome::error(ferry_protocol::ErrorObject::internal("late"))).await.unwrap();
    b.update(&rec.id, TaskUpdate::Message("late".into())).await.unwrap();
    let rec = b.get(&rec.id).await.unwrap().unwrap();
    assert_eq!(rec.status, TaskStatus::Completed);
    assert_eq!(rec.status_message, None);
}

/// Contract: `error outcome fails the task with its message`.
pub async fn error_outcome_fails_the_task_with_its_message(b: &dyn Backend) {
    let (rec, job) = task_in(b, "s1");
    b.submit(rec.clone(), job).await.unwrap();
    let r = b.complete(&rec.id, Outcome::error(ferry_protocol::ErrorObject::internal("boom"))).await.unwrap().unwrap();
    assert_eq!(r.status, TaskStatus::Failed);
    assert_eq!(r.status_message.as_deref(), Some("boom"));
}

/// Contract: `cancelled while queued is never handed out`.
pub async fn cancelled_while_queued_is_never_handed_out(b: &dyn Backend) {
    let (rec, job) = task_in(b, "s1");
    b.submit(rec.clone(), job).await.unwrap();
    assert_eq!(b.cancel(&rec.id).await.unwrap().unwrap().status, TaskStatus::Cancelled);
    assert_eq!(b.claim("w", SHORT).await.unwrap(), None);
    // Completing a cancelled task keeps it cancelled.
    b.complete(&rec.id, Outcome::result(&json!({}), false).unwrap()).await.unwrap();
    assert_eq!(b.get(&rec.id).await.unwrap().unwrap().status, TaskStatus::Cancelled);
}

/// Contract: `expired tasks disappear`: a task is kept for its TTL once it ended, never
/// dropped while it runs, however short the TTL.
pub async fn expired_tasks_disappear(b: &dyn Backend) {
    let (mut rec, job) = task_in(b, "s1");
    rec.ttl_ms = Some(1);
    b.submit(rec.clone(), job).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    // Still running: the TTL has not started.
    assert_eq!(b.get(&rec.id).await.unwrap().unwrap().status, TaskStatus::Working);
    assert_eq!(b.list("s1", None, 10).await.unwrap().tasks.len(), 1);
    let updated = b.update(&rec.id, TaskUpdate::Message("still here".into())).await.unwrap();
    assert_eq!(updated.unwrap().status_message.as_deref(), Some("still here"));
    let done = b.complete(&rec.id, Outcome::result(&json!({}), false).unwrap()).await.unwrap().unwrap();
    assert_eq!(done.status, TaskStatus::Completed);
    assert_eq!(done.expires_at(), Some(done.updated_at + 1));
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(b.get(&rec.id).await.unwrap().is_none());
    assert!(b.list("s1", None, 10).await.unwrap().tasks.is_empty());
    assert!(b.update(&rec.id, TaskUpdate::Message("x".into())).await.unwrap().is_none());
}

/// Contract: `a cancelled task is kept for its ttl from the cancel`.
pub async fn a_cancelled_task_is_kept_for_its_ttl_from_the_cancel(b: &dyn Backend) {
    let (mut rec, job) = task_in(b, "s1");
    rec.ttl_ms = Some(60_000);
    b.submit(rec.clone(), job).await.unwrap();
    let cancelled = b.cancel(&rec.id).await.unwrap().unwrap();
    assert_eq!(cancelled.status, TaskStatus::Cancelled);
    assert_eq!(cancelled.expires_at(), Some(cancelled.updated_at + 60_000));
    assert_eq!(b.get(&rec.id).await.unwrap().unwrap().status, TaskStatus::Cancelled);
}

/// Contract: `an oversized result fails the task instead of being kept`.
pub async fn an_oversized_result_fails_the_task(b: &dyn Backend) {
    let (rec, job) = task_in(b, "s1");
    b.submit(rec.clone(), job).await.unwrap();
    let huge = "x".repeat(crate::TaskLimits::default().max_result_bytes + 1);
    let done = b.complete(&rec.id, Outcome::result(&json!({"text": huge}), false).unwrap()).await.unwrap();
    let done = done.unwrap();
    assert_eq!(done.status, TaskStatus::Failed);
    assert!(done.status_message.unwrap().contains("bytes"), "the failure says why");
}

/// Contract: `oversized arguments are refused`.
pub async fn oversized_arguments_are_refused(b: &dyn Backend) {
    let (rec, mut job) = task_in(b, "s1");
    job.arguments = json!({"blob": "x".repeat(crate::TaskLimits::default().max_argument_bytes)});
    assert!(matches!(b.submit(rec.clone(), job).await, Err(BackendError::TooLarge(_))));
    assert!(b.get(&rec.id).await.unwrap().is_none());
}

/// Contract: `list is per owner paginated and rejects foreign cursors`.
pub async fn list_is_per_owner_paginated_and_rejects_foreign_cursors(b: &dyn Backend) {
    let mut mine = Vec::new();
    for i in 0..5 {
        let (rec, job) = task_in(b, if i % 2 == 0 { "me" } else { "other" });
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

/// Contract: `requeue with delay hands the job out later`.
pub async fn requeue_with_delay_hands_the_job_out_later(b: &dyn Backend) {
    let (rec, job) = task_in(b, "s");
    b.submit(rec, job.clone()).await.unwrap();
    let j = b.claim("w", SHORT).await.unwrap().unwrap();
    b.requeue("w", j, Duration::from_millis(50)).await.unwrap();
    let again = b.claim("w", Duration::from_secs(5)).await.unwrap().unwrap();
    assert_eq!(again.task_id, job.task_id);
}

/// Contract: `input requests and partial responses`.
pub async fn input_requests_and_partial_responses(b: &dyn Backend) {
    let (rec, job) = task_in(b, "s");
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

/// Contract: `every change is published`.
pub async fn every_change_is_published(b: &dyn Backend) {
    let mut events = b.subscribe();
    let (rec, job) = task_in(b, "s");
    b.submit(rec.clone(), job).await.unwrap();
    b.update(&rec.id, TaskUpdate::Progress { progress: 1.0, total: Some(2.0), message: Some("half".into()) })
        .await
        .unwrap();
    b.cancel(&rec.id).await.unwrap();
    let mut statuses: Vec<(TaskStatus, Option<String>)> = Vec::new();
    while statuses.len() < 3 {
        let ev = tokio::time::timeout(Duration::from_secs(5), events.recv()).await.expect("event in time").unwrap();
        match ev {
            TaskEvent::Changed(r) if r.id == rec.id => statuses.push((r.status, r.status_message.clone())),
            _ => {}
        }
    }
    assert_eq!(statuses[0], (TaskStatus::Working, None));
    assert_eq!(statuses[1], (TaskStatus::Working, Some("half".into())));
    assert_eq!(statuses[2].0, TaskStatus::Cancelled);
}

/// Contract: notices reach subscribers whole and in the order sent.
pub async fn notifications_are_published_in_order(b: &dyn Backend) {
    let mut events = b.subscribe();
    let session = crate::new_task_id(); // unique, so other tests' notices are told apart
    let sent: Vec<Notice> = (0..5)
        .map(|i| Notice {
            session: Some(session.clone()),
            method: "notifications/message".into(),
            params: json!({"level": "info", "data": format!("line {i}")}),
        })
        .collect();
    for n in &sent {
        b.notify(n.clone()).await.unwrap();
    }
    let mut got = Vec::new();
    while got.len() < sent.len() {
        let ev = tokio::time::timeout(Duration::from_secs(5), events.recv()).await.expect("event in time").unwrap();
        if let TaskEvent::Notified(n) = ev {
            if n.session.as_deref() == Some(session.as_str()) {
                got.push(n);
            }
        }
    }
    assert_eq!(got, sent);
}

/// Contract: asking again for input that was already answered (a redelivered job)
/// keeps the answer and does not make the task wait again.
pub async fn re_asking_an_answered_key_keeps_the_answer(b: &dyn Backend) {
    let (rec, job) = task_in(b, "s");
    b.submit(rec.clone(), job).await.unwrap();
    let req = json!({"method": "elicitation/create", "params": {}});
    b.update(&rec.id, TaskUpdate::RequestInput { key: "k".into(), request: req.clone() }).await.unwrap();
    let mut answer = serde_json::Map::new();
    answer.insert("k".into(), json!({"action": "accept"}));
    b.update(&rec.id, TaskUpdate::Respond(answer)).await.unwrap();
    let r = b.update(&rec.id, TaskUpdate::RequestInput { key: "k".into(), request: req }).await.unwrap().unwrap();
    assert_eq!(r.status, TaskStatus::Working);
    assert!(r.input_requests.is_empty());
    assert_eq!(r.input_responses["k"], json!({"action": "accept"}));
}

/// Contract: a job whose worker stops heartbeating is redelivered (the backend's
/// redelivery timeout must be short, well under a second, for this test).
pub async fn silent_worker_job_is_redelivered_with_next_attempt(b: &dyn Backend) {
    let (rec, job) = task_in(b, "s");
    b.submit(rec, job.clone()).await.unwrap();
    let first = b.claim("dead-worker", SHORT).await.unwrap().unwrap();
    assert_eq!(first.attempt, 1);
    let mut again = None;
    for _ in 0..100 {
        again = b.claim("live-worker", Duration::from_millis(100)).await.unwrap();
        if again.is_some() {
            break;
        }
    }
    let again = again.expect("job redelivered");
    assert_eq!(again.task_id, job.task_id);
    assert_eq!(again.attempt, 2);
}

/// Contract (operator read-outs): the counts of `stats` follow tasks as they are
/// submitted, claimed, delayed, completed, failed and cancelled.
pub async fn operator_stats_follow_tasks(b: &dyn Backend) {
    let empty = b.stats().await.unwrap();
    assert_eq!((empty.queued, empty.delayed, empty.running), (0, 0, 0));
    assert_eq!(empty.oldest_queued_age_ms, None);
    assert!(empty.tasks_by_status.values().all(|n| *n == 0), "{:?}", empty.tasks_by_status);
    let tasks: Vec<(TaskRecord, Job)> = (0..5).map(|i| task_in(b, if i % 2 == 0 { "a" } else { "b" })).collect();
    for (rec, job) in &tasks {
        b.submit(rec.clone(), job.clone()).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    let s = b.stats().await.unwrap();
    assert_eq!((s.queued, s.delayed, s.running), (5, 0, 0));
    assert!(s.oldest_queued_age_ms.is_some_and(|age| age < 60_000), "{:?}", s.oldest_queued_age_ms);
    assert_eq!(count(&s.tasks_by_status, "working"), 5);
    assert!(s.at_ms >= tasks[0].0.created_at);
    // Claim three: one completes, one fails, one waits for a retry.
    let claimed = b.claim_batch("w-stats", 3, Duration::from_secs(2)).await.unwrap();
    assert_eq!(claimed.len(), 3);
    let s = b.stats().await.unwrap();
    assert_eq!((s.queued, s.running), (2, 3));
    b.complete(&claimed[0].task_id, Outcome::result(&json!({}), false).unwrap()).await.unwrap();
    let error = ferry_protocol::ErrorObject::internal("boom");
    b.complete(&claimed[1].task_id, Outcome::error(error)).await.unwrap();
    b.requeue("w-stats", claimed[2].clone(), Duration::from_secs(60)).await.unwrap();
    let queued: Vec<&str> =
        tasks.iter().map(|(r, _)| r.id.as_str()).filter(|id| !claimed.iter().any(|j| j.task_id == *id)).collect();
    b.cancel(queued[0]).await.unwrap();
    b.update(queued[1], TaskUpdate::RequestInput { key: "k".into(), request: json!({"method": "x"}) }).await.unwrap();
    let s = b.stats().await.unwrap();
    assert_eq!((s.delayed, s.running), (1, 0));
    assert_eq!(count(&s.tasks_by_status, "working"), 1, "{:?}", s.tasks_by_status);
    assert_eq!(count(&s.tasks_by_status, "input_required"), 1, "{:?}", s.tasks_by_status);
    assert_eq!(count(&s.tasks_by_status, "completed"), 1, "{:?}", s.tasks_by_status);
    assert_eq!(count(&s.tasks_by_status, "failed"), 1, "{:?}", s.tasks_by_status);
    assert_eq!(count(&s.tasks_by_status, "cancelled"), 1, "{:?}", s.tasks_by_status);
    for outcome in ["completed", "failed", "cancelled"] {
        assert_eq!(count(&s.ended_last_minute, outcome), 1, "{outcome}: {:?}", s.ended_last_minute);
    }
    // A second end of an ended task counts nothing.
    b.cancel(&claimed[0].task_id).await.unwrap();
    assert_eq!(count(&b.stats().await.unwrap().ended_last_minute, "cancelled"), 1);
}

fn count(map: &std::collections::BTreeMap<String, u64>, key: &str) -> u64 {
    map.get(key).copied().unwrap_or(0)
}

/// Contract (operator read-outs): `list_all` sees every owner's tasks, oldest first,
/// filtered, in pages (a page may hold fewer than `limit` while a cursor follows).
pub async fn operator_list_all_filters_and_pages(b: &dyn Backend) {
    let mut ids = Vec::new();
    for i in 0..7 {
        let (mut rec, mut job) = task_in(b, ["alice", "bob", crate::ANONYMOUS_OWNER][i % 3]);
        if i == 3 {
            rec.name = "slow".into();
            job.name = "slow".into();
        }
        // Created in this order (a partitioned store orders by creation time across partitions).
        rec.created_at += i as u64;
        if i < 2 {
            rec.created_at -= 600_000; // ten minutes old
        }
        rec.updated_at = rec.created_at;
        ids.push(rec.id.clone());
        b.submit(rec, job).await.unwrap();
    }
    b.update(&ids[4], TaskUpdate::Message("Resizing the Photos".into())).await.unwrap();
    b.complete(&ids[5], Outcome::result(&json!({}), false).unwrap()).await.unwrap();
    let all = collect(b, &TaskFilter::default(), 2).await;
    assert_eq!(all, ids, "every owner, oldest first");
    let only = |f: TaskFilter| async move { collect(b, &f, 3).await };
    let completed = only(TaskFilter { status: vec![TaskStatus::Completed], ..Default::default() }).await;
    assert_eq!(completed, [ids[5].clone()]);
    let working = only(TaskFilter { status: vec![TaskStatus::Working, TaskStatus::Failed], ..Default::default() });
    assert_eq!(working.await.len(), 6);
    let bob = only(TaskFilter { owner: Some("bob".into()), ..Default::default() }).await;
    assert_eq!(bob, [ids[1].clone(), ids[4].clone()]);
    assert_eq!(only(TaskFilter { name: Some("slow".into()), ..Default::default() }).await, [ids[3].clone()]);
    assert_eq!(only(TaskFilter { search: Some("photos".into()), ..Default::default() }).await, [ids[4].clone()]);
    let id_part = ids[6][4..14].to_uppercase();
    assert_eq!(only(TaskFilter { search: Some(id_part), ..Default::default() }).await, [ids[6].clone()]);
    let old = only(TaskFilter { min_age_ms: Some(300_000), ..Default::default() }).await;
    assert_eq!(old, ids[..2]);
    let new = only(TaskFilter { max_age_ms: Some(300_000), ..Default::default() }).await;
    assert_eq!(new, ids[2..]);
    assert!(matches!(b.list_all(&TaskFilter::default(), Some("nope"), 2).await, Err(BackendError::InvalidCursor)));
}

/// Every id `list_all` gives for `filter`, page by page.
async fn collect(b: &dyn Backend, filter: &TaskFilter, limit: usize) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor = None;
    for _ in 0..100 {
        let page = b.list_all(filter, cursor.as_deref(), limit).await.unwrap();
        assert!(page.tasks.len() <= limit);
        ids.extend(page.tasks.into_iter().map(|t| t.id));
        cursor = page.next_cursor;
        if cursor.is_none() {
            return ids;
        }
    }
    panic!("list_all kept handing out cursors");
}

/// Contract (operator read-outs): `detail` shows a task's job while it exists, and
/// the worker holding it and since when while it runs.
pub async fn operator_detail_while_running_and_after(b: &dyn Backend) {
    assert!(b.detail("no-such-task").await.unwrap().is_none());
    let (rec, job) = task_in(b, "alice");
    b.submit(rec.clone(), job).await.unwrap();
    let queued = b.detail(&rec.id).await.unwrap().unwrap();
    assert_eq!(queued.record.id, rec.id);
    assert_eq!((queued.arguments, queued.attempt), (Some(json!({"a": 1})), Some(1)));
    assert_eq!(queued.worker, None);
    let before = now_ms();
    let claimed = b.claim("w-detail", Duration::from_secs(2)).await.unwrap().unwrap();
    let running = b.detail(&rec.id).await.unwrap().unwrap();
    assert_eq!(running.worker.as_deref(), Some("w-detail"));
    assert!(running.claimed_at_ms.is_some_and(|at| at + 1000 >= before && at <= now_ms()), "{running:?}");
    assert_eq!(running.arguments, Some(json!({"a": 1})));
    // Handed back for a retry a minute from now: delayed, with its next run due.
    let mut retry = claimed;
    retry.attempt = 2;
    b.requeue("w-detail", retry, Duration::from_secs(60)).await.unwrap();
    let delayed = b.detail(&rec.id).await.unwrap().unwrap();
    assert_eq!((delayed.attempt, delayed.worker.clone()), (Some(2), None));
    assert!(delayed.not_before_ms.is_some_and(|at| at > now_ms() + 30_000), "{delayed:?}");
    b.complete(&rec.id, Outcome::result(&json!({"ok": true}), false).unwrap()).await.unwrap();
    let done = b.detail(&rec.id).await.unwrap().unwrap();
    assert_eq!(done.record.status, TaskStatus::Completed);
    assert_eq!((done.worker, done.claimed_at_ms), (None, None));
}

/// Contract (operator read-outs): workers are listed alive while they report, lapsed
/// after three missed reports, not at all after an hour or a clean stop.
pub async fn operator_workers_alive_then_lapsed(b: &dyn Backend) {
    let now = now_ms();
    let worker = |name: &str, last_seen_ms: u64| WorkerInfo {
        name: name.into(),
        host: "box".into(),
        pid: 42,
        concurrency: 8,
        running: vec!["t1".into()],
        started_at_ms: now - 7_200_000,
        last_seen_ms,
        report_every_ms: 1_000,
        alive: true,
    };
    b.worker_seen(&worker("w-live", now)).await.unwrap();
    b.worker_seen(&worker("w-lapsed", now - 10_000)).await.unwrap();
    b.worker_seen(&worker("w-gone-long-ago", now - 2 * 3_600_000)).await.unwrap();
    b.worker_seen(&worker("w-stopped", now)).await.unwrap();
    b.worker_gone("w-stopped").await.unwrap();
    let s = b.stats().await.unwrap();
    let listed: Vec<(String, bool)> = s.workers.iter().map(|w| (w.name.clone(), w.alive)).collect();
    assert_eq!(listed, [("w-lapsed".to_string(), false), ("w-live".to_string(), true)]);
    let live = s.workers.iter().find(|w| w.name == "w-live").unwrap();
    assert_eq!(*live, worker("w-live", now));
    // A report brings a lapsed worker back.
    b.worker_seen(&worker("w-lapsed", now_ms())).await.unwrap();
    assert!(b.stats().await.unwrap().workers.iter().all(|w| w.alive));
}

/// Expand to one `#[tokio::test]` per contract function, each on a fresh backend
/// made by the (possibly `.await`ing) expression `$make`, whose value is `AsRef<dyn Backend>`.
///
/// ```ignore
/// ferry_tasks::backend_contract_tests!(MemoryBackend::default());
/// ```
#[macro_export]
macro_rules! backend_contract_tests {
    ($make:expr) => {
        $crate::backend_contract_tests!(@each $make;
            submitted_task_is_gettable_and_claimable_once,
            duplicate_submission_is_refused,
            complete_sets_terminal_status_and_later_changes_are_ignored,
            error_outcome_fails_the_task_with_its_message,
            cancelled_while_queued_is_never_handed_out,
            expired_tasks_disappear,
            a_cancelled_task_is_kept_for_its_ttl_from_the_cancel,
            an_oversized_result_fails_the_task,
            oversized_arguments_are_refused,
            list_is_per_owner_paginated_and_rejects_foreign_cursors,
            requeue_with_delay_hands_the_job_out_later,
            input_requests_and_partial_responses,
            every_change_is_published,
            notifications_are_published_in_order,
            re_asking_an_answered_key_keeps_the_answer,
            silent_worker_job_is_redelivered_with_next_attempt,
            operator_stats_follow_tasks,
            operator_list_all_filters_and_pages,
            operator_detail_while_running_and_after,
            operator_workers_alive_then_lapsed,
        );
    };
    (@each $make:expr; $($name:ident,)*) => {
        mod backend_contract {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let backend = $make;
                    let backend: &dyn $crate::Backend =
                        ::std::convert::AsRef::<dyn $crate::Backend>::as_ref(&backend);
                    $crate::testkit::$name(backend).await;
                }
            )*
        }
    };
}
