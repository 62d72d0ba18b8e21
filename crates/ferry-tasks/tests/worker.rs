//! The worker loop: concurrency, timeouts, retries, panics, cancellation, shutdown, input.

use async_trait::async_trait;
use ferry_protocol::time_fmt::now_ms;
use ferry_protocol::ErrorObject;
use ferry_tasks::{
    Backend, Executor, Job, MemoryBackend, Outcome, TaskRecord, TaskRuntime, TaskStatus, TaskUpdate, Worker,
    WorkerConfig,
};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Runs jobs by name: "sleep" (arguments.ms), "panic", "flaky" (fails until attempt 3),
/// "stubborn" (ignores cancellation), "ask" (requests input), "slow" (times out).
#[derive(Default)]
struct TestExec {
    running: AtomicUsize,
    peak: AtomicUsize,
}

#[async_trait]
impl Executor for TestExec {
    async fn execute(&self, job: Job, rt: TaskRuntime) -> Result<Outcome, ErrorObject> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        let out = match job.name.as_str() {
            "sleep" => {
                let ms = job.arguments["ms"].as_u64().unwrap_or(0);
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(ms)) => {}
                    _ = rt.cancellation().cancelled() => {}
                }
                Ok(Outcome::result(&json!({"slept": ms}), false).unwrap())
            }
            "panic" => panic!("kaboom"),
            "flaky" if job.attempt < 3 => Err(ErrorObject::internal(format!("flake {}", job.attempt))),
            "flaky" => Ok(Outcome::result(&json!({"attempt": job.attempt}), false).unwrap()),
            "stubborn" => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(Outcome::result(&json!({}), false).unwrap())
            }
            "slow" => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(Outcome::result(&json!({}), false).unwrap())
            }
            "chatty" => {
                for i in 0..50 {
                    rt.notify("s1", "notifications/message", json!({"data": i}));
                }
                Ok(Outcome::result(&json!({}), false).unwrap())
            }
            "ask" => {
                let answer =
                    rt.request_input(json!({"method": "elicitation/create", "params": {"message": "name?"}})).await;
                match answer {
                    Ok(v) => Ok(Outcome::result(&json!({"answer": v}), false).unwrap()),
                    Err(e) => Ok(Outcome::error(ErrorObject::internal(e.to_string()))),
                }
            }
            other => Ok(Outcome::error(ErrorObject::method_not_found(other))),
        };
        self.running.fetch_sub(1, Ordering::SeqCst);
        out
    }

    fn timeout(&self, job: &Job) -> Option<Duration> {
        (job.name == "slow").then_some(Duration::from_millis(50))
    }

    fn max_attempts(&self, job: &Job) -> u32 {
        match job.name.as_str() {
            "flaky" => 3,
            "slow" => 2,
            _ => 1,
        }
    }
}

fn config(concurrency: usize) -> WorkerConfig {
    WorkerConfig {
        concurrency,
        claim_wait: Duration::from_millis(50),
        heartbeat: Duration::from_millis(50),
        cancel_grace: Duration::from_millis(50),
        retry_backoff: Duration::from_millis(5),
        shutdown_grace: Duration::from_millis(100),
        ..WorkerConfig::default()
    }
}

async fn submit(b: &MemoryBackend, name: &str, args: Value) -> String {
    let rec = TaskRecord::new("owner", "tools/call", name, now_ms());
    let id = rec.id.clone();
    let job = Job {
        task_id: id.clone(),
        kind: "tools/call".into(),
        name: name.into(),
        arguments: args,
        context: json!({}),
        attempt: 1,
        not_before: None,
        trace: None,
    };
    b.submit(rec, job).await.unwrap();
    id
}

async fn wait_for(b: &MemoryBackend, id: &str, pred: impl Fn(&TaskRecord) -> bool) -> TaskRecord {
    for _ in 0..1000 {
        if let Some(r) = b.get(id).await.unwrap() {
            if pred(&r) {
                return r;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("task {id} never reached the expected state: {:?}", b.get(id).await.unwrap());
}

fn terminal(r: &TaskRecord) -> bool {
    r.status.is_terminal()
}

#[tokio::test]
async fn runs_jobs_and_records_results() {
    let b = MemoryBackend::default();
    let w = Worker::new(Arc::new(b.clone()), Arc::new(TestExec::default()), config(4)).start();
    let id = submit(&b, "sleep", json!({"ms": 1})).await;
    let r = wait_for(&b, &id, terminal).await;
    assert_eq!(r.status, TaskStatus::Completed);
    assert_eq!(r.outcome, Some(Outcome::result(&json!({"slept": 1}), false).unwrap()));
    w.shutdown().await;
}

#[tokio::test]
async fn never_runs_more_than_the_concurrency_limit() {
    let b = MemoryBackend::default();
    let exec = Arc::new(TestExec::default());
    let w = Worker::new(Arc::new(b.clone()), exec.clone(), config(3)).start();
    let mut ids = Vec::new();
    for _ in 0..12 {
        ids.push(submit(&b, "sleep", json!({"ms": 20})).await);
    }
    for id in &ids {
        wait_for(&b, id, terminal).await;
    }
    assert_eq!(exec.peak.load(Ordering::SeqCst), 3);
    w.shutdown().await;
}

#[tokio::test]
async fn a_panicking_handler_fails_its_task_visibly() {
    let b = MemoryBackend::default();
    let w = Worker::new(Arc::new(b.clone()), Arc::new(TestExec::default()), config(2)).start();
    let id = submit(&b, "panic", json!({})).await;
    let r = wait_for(&b, &id, terminal).await;
    assert_eq!(r.status, TaskStatus::Failed);
    assert!(r.status_message.unwrap().contains("kaboom"));
    // The worker survives.
    let id = submit(&b, "sleep", json!({"ms": 0})).await;
    assert_eq!(wait_for(&b, &id, terminal).await.status, TaskStatus::Completed);
    w.shutdown().await;
}

#[tokio::test]
async fn transient_failures_are_retried_until_success() {
    let b = MemoryBackend::default();
    let w = Worker::new(Arc::new(b.clone()), Arc::new(TestExec::default()), config(2)).start();
    let id = submit(&b, "flaky", json!({})).await;
    let r = wait_for(&b, &id, terminal).await;
    assert_eq!(r.outcome, Some(Outcome::result(&json!({"attempt": 3}), false).unwrap()));
    w.shutdown().await;
}

#[tokio::test]
async fn timeouts_are_retried_then_fail_the_task() {
    let b = MemoryBackend::default();
    let w = Worker::new(Arc::new(b.clone()), Arc::new(TestExec::default()), config(2)).start();
    let id = submit(&b, "slow", json!({})).await;
    let r = wait_for(&b, &id, terminal).await;
    assert_eq!(r.status, TaskStatus::Failed);
    assert!(r.status_message.unwrap().contains("timed out"), "message names the timeout");
    w.shutdown().await;
}

#[tokio::test]
async fn cancel_stops_a_cooperative_handler() {
    let b = MemoryBackend::default();
    let exec = Arc::new(TestExec::default());
    let w = Worker::new(Arc::new(b.clone()), exec.clone(), config(2)).start();
    let id = submit(&b, "sleep", json!({"ms": 3_600_000})).await;
    while exec.running.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    b.cancel(&id).await.unwrap();
    for _ in 0..500 {
        if exec.running.load(Ordering::SeqCst) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(exec.running.load(Ordering::SeqCst), 0, "the handler stopped");
    assert_eq!(b.get(&id).await.unwrap().unwrap().status, TaskStatus::Cancelled);
    w.shutdown().await;
}

#[tokio::test]
async fn cancel_aborts_a_handler_that_ignores_it_and_frees_the_slot() {
    let b = MemoryBackend::default();
    let exec = Arc::new(TestExec::default());
    let w = Worker::new(Arc::new(b.clone()), exec.clone(), config(1)).start();
    let id = submit(&b, "stubborn", json!({})).await;
    while exec.running.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    b.cancel(&id).await.unwrap();
    // With concurrency 1, the next job only runs once the stubborn one was aborted.
    let next = submit(&b, "sleep", json!({"ms": 0})).await;
    assert_eq!(wait_for(&b, &next, terminal).await.status, TaskStatus::Completed);
    assert_eq!(b.get(&id).await.unwrap().unwrap().status, TaskStatus::Cancelled);
    w.shutdown().await;
}

#[tokio::test]
async fn shutdown_hands_back_unfinished_work() {
    let b = MemoryBackend::default();
    let exec = Arc::new(TestExec::default());
    let w = Worker::new(Arc::new(b.clone()), exec.clone(), config(1)).start();
    let id = submit(&b, "stubborn", json!({})).await;
    while exec.running.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    w.shutdown().await;
    // The job is back in the queue for another worker; the task is still working.
    assert_eq!(b.get(&id).await.unwrap().unwrap().status, TaskStatus::Working);
    let job = b.claim("next-worker", Duration::from_secs(5)).await.unwrap().expect("job handed back");
    assert_eq!(job.task_id, id);
}

#[tokio::test]
async fn input_request_waits_for_the_answer() {
    let b = MemoryBackend::default();
    let w = Worker::new(Arc::new(b.clone()), Arc::new(TestExec::default()), config(2)).start();
    let id = submit(&b, "ask", json!({})).await;
    let r = wait_for(&b, &id, |r| r.status == TaskStatus::InputRequired).await;
    let key = r.input_requests.keys().next().unwrap().clone();
    assert_eq!(r.input_requests[&key]["method"], "elicitation/create");
    let mut answer = serde_json::Map::new();
    answer.insert(key, json!({"action": "accept", "content": {"name": "Ada"}}));
    b.update(&id, TaskUpdate::Respond(answer)).await.unwrap();
    let r = wait_for(&b, &id, terminal).await;
    assert_eq!(
        r.outcome,
        Some(Outcome::result(&json!({"answer": {"action": "accept", "content": {"name": "Ada"}}}), false).unwrap())
    );
    w.shutdown().await;
}

#[tokio::test]
async fn cancelling_while_waiting_for_input_ends_the_task_cancelled() {
    let b = MemoryBackend::default();
    let w = Worker::new(Arc::new(b.clone()), Arc::new(TestExec::default()), config(2)).start();
    let id = submit(&b, "ask", json!({})).await;
    wait_for(&b, &id, |r| r.status == TaskStatus::InputRequired).await;
    b.cancel(&id).await.unwrap();
    let r = wait_for(&b, &id, terminal).await;
    assert_eq!(r.status, TaskStatus::Cancelled);
    assert!(r.input_requests.is_empty());
    w.shutdown().await;
}

/// The memory backend, changed for a test: with `deaf`, status events are lost (as when a
/// Redis subscription drops and a cancel is published while it reconnects); with
/// `slow_notify`, publishing a notice takes a millisecond (a network round trip).
struct Tweaked {
    inner: MemoryBackend,
    deaf: Option<tokio::sync::broadcast::Sender<ferry_tasks::TaskEvent>>,
    slow_notify: bool,
}

#[async_trait]
impl Backend for Tweaked {
    async fn submit(&self, record: TaskRecord, job: Job) -> Result<(), ferry_tasks::BackendError> {
        self.inner.submit(record, job).await
    }
    async fn claim_batch(
        &self,
        worker: &str,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Job>, ferry_tasks::BackendError> {
        self.inner.claim_batch(worker, max, wait).await
    }
    async fn heartbeat(&self, worker: &str, task_id: &str) -> Result<(), ferry_tasks::BackendError> {
        self.inner.heartbeat(worker, task_id).await
    }
    async fn requeue(&self, worker: &str, job: Job, delay: Duration) -> Result<(), ferry_tasks::BackendError> {
        self.inner.requeue(worker, job, delay).await
    }
    async fn update(&self, id: &str, update: TaskUpdate) -> Result<Option<TaskRecord>, ferry_tasks::BackendError> {
        self.inner.update(id, update).await
    }
    async fn complete(&self, id: &str, outcome: Outcome) -> Result<Option<TaskRecord>, ferry_tasks::BackendError> {
        self.inner.complete(id, outcome).await
    }
    async fn cancel(&self, id: &str) -> Result<Option<TaskRecord>, ferry_tasks::BackendError> {
        self.inner.cancel(id).await
    }
    async fn get(&self, id: &str) -> Result<Option<TaskRecord>, ferry_tasks::BackendError> {
        self.inner.get(id).await
    }
    async fn list(
        &self,
        owner: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ferry_tasks::TaskPage, ferry_tasks::BackendError> {
        self.inner.list(owner, cursor, limit).await
    }
    async fn notify(&self, n: ferry_tasks::Notice) -> Result<(), ferry_tasks::BackendError> {
        if self.slow_notify {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        self.inner.notify(n).await
    }
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<ferry_tasks::TaskEvent> {
        match &self.deaf {
            Some(deaf) => deaf.subscribe(),
            None => self.inner.subscribe(),
        }
    }
}

#[tokio::test]
async fn a_cancel_whose_event_was_lost_still_stops_the_handler() {
    let b = MemoryBackend::default();
    let deaf = Tweaked { inner: b.clone(), deaf: Some(tokio::sync::broadcast::channel(1).0), slow_notify: false };
    let exec = Arc::new(TestExec::default());
    let w = Worker::new(Arc::new(deaf), exec.clone(), config(1)).start();
    let id = submit(&b, "sleep", json!({"ms": 3_600_000})).await;
    while exec.running.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    b.cancel(&id).await.unwrap();
    // With concurrency 1, the next job only runs once the heartbeat noticed the cancel.
    let next = submit(&b, "sleep", json!({"ms": 0})).await;
    assert_eq!(wait_for(&b, &next, terminal).await.status, TaskStatus::Completed);
    assert_eq!(exec.running.load(Ordering::SeqCst), 0, "the cancelled handler stopped");
    assert_eq!(b.get(&id).await.unwrap().unwrap().status, TaskStatus::Cancelled);
    w.shutdown().await;
}

#[tokio::test]
async fn a_handler_s_notifications_are_published_before_its_outcome() {
    let b = MemoryBackend::default();
    let mut events = b.subscribe();
    let slow = Tweaked { inner: b.clone(), deaf: None, slow_notify: true };
    let w = Worker::new(Arc::new(slow), Arc::new(TestExec::default()), config(1)).start();
    let id = submit(&b, "chatty", json!({})).await;
    let mut notices = 0;
    loop {
        match tokio::time::timeout(Duration::from_secs(10), events.recv()).await.unwrap().unwrap() {
            ferry_tasks::TaskEvent::Notified(n) => {
                assert_eq!(n.params["data"], notices, "in order");
                notices += 1;
            }
            ferry_tasks::TaskEvent::Changed(r) if r.id == id && r.status.is_terminal() => break,
            ferry_tasks::TaskEvent::Changed(_) => {}
        }
    }
    assert_eq!(notices, 50, "every notification came before the outcome");
    w.shutdown().await;
}

#[tokio::test]
async fn a_worker_reports_itself_and_what_it_runs_then_leaves_on_a_clean_stop() {
    let backend = Arc::new(MemoryBackend::default());
    let config = WorkerConfig {
        name: "w-report".into(),
        concurrency: 4,
        heartbeat: Duration::from_millis(50),
        ..WorkerConfig::default()
    };
    let handle = Worker::new(backend.clone(), Arc::new(TestExec::default()), config).start();
    let rec = TaskRecord::new("s", "tools/call", "sleep", now_ms());
    let job = Job {
        task_id: rec.id.clone(),
        kind: "tools/call".into(),
        name: "sleep".into(),
        arguments: json!({"ms": 60_000}),
        context: json!({}),
        attempt: 1,
        not_before: None,
        trace: None,
    };
    backend.submit(rec.clone(), job).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let worker = loop {
        let stats = backend.stats().await.unwrap();
        let me = stats.workers.into_iter().find(|w| w.name == "w-report");
        if let Some(w) = me.filter(|w| w.running == [rec.id.clone()]) {
            break w;
        }
        assert!(tokio::time::Instant::now() < deadline, "the worker never reported its task");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(worker.alive);
    assert_eq!((worker.concurrency, worker.pid, worker.report_every_ms), (4, std::process::id(), 50));
    assert!(!worker.host.is_empty() && worker.started_at_ms <= worker.last_seen_ms);
    assert_eq!(backend.detail(&rec.id).await.unwrap().unwrap().worker.as_deref(), Some("w-report"));
    backend.cancel(&rec.id).await.unwrap();
    handle.shutdown().await;
    assert!(backend.stats().await.unwrap().workers.is_empty(), "a clean stop removes the worker");
}
