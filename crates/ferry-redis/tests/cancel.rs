//! Cancellations reach workers through `P:cancel` alone: a worker stops a cancelled
//! handler at once (not at its next heartbeat), without listening to every change.

mod common;

use async_trait::async_trait;
use ferry_protocol::time_fmt::now_ms;
use ferry_protocol::ErrorObject;
use ferry_tasks::{
    Backend, BackendError, Claimed, Executor, Job, Outcome, TaskRecord, TaskRuntime, TaskStatus, Worker, WorkerConfig,
};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Sleeps `arguments.ms`, or until cancelled; counts the runs it started.
#[derive(Default)]
struct Sleeper {
    started: AtomicUsize,
}

#[async_trait]
impl Executor for Sleeper {
    async fn execute(&self, job: Job, rt: TaskRuntime) -> Result<Outcome, ErrorObject> {
        let ms = job.arguments["ms"].as_u64().unwrap_or(0);
        self.started.fetch_add(1, Ordering::SeqCst);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(ms)) => {}
            _ = rt.cancellation().cancelled() => {}
        }
        Ok(Outcome::result(&json!({"slept": ms}), false).expect("outcome"))
    }
}

/// One job at a time, heartbeats an hour apart: only a cancel notice can stop a handler
/// before the hour is out.
fn config() -> WorkerConfig {
    WorkerConfig { concurrency: 1, heartbeat: Duration::from_secs(3600), ..WorkerConfig::default() }
}

async fn submit(b: &dyn Backend, ms: u64) -> String {
    let rec = TaskRecord::new("s", "tools/call", "sleep", now_ms());
    let job = Job {
        task_id: rec.id.clone(),
        kind: "tools/call".into(),
        name: "sleep".into(),
        arguments: json!({"ms": ms}),
        context: json!({}),
        attempt: 1,
        not_before: None,
        trace: None,
    };
    b.submit(rec.clone(), job).await.unwrap();
    rec.id
}

/// Wait for the task to end; the bound is generous (the handler would run for an hour).
async fn ended(b: &dyn Backend, id: &str) -> TaskRecord {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let rec = b.get(id).await.unwrap().unwrap();
        if rec.status.is_terminal() {
            return rec;
        }
        assert!(tokio::time::Instant::now() < deadline, "task {id} did not end in time");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn subscribers(b: &common::TestBackend, channel: &str) -> i64 {
    let client = redis::Client::open(common::redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let channel = format!("{}:{channel}", b.0.config().prefix);
    let (_, n): (String, i64) = redis::cmd("PUBSUB").arg("NUMSUB").arg(&channel).query_async(&mut conn).await.unwrap();
    n
}

#[tokio::test]
async fn a_worker_stops_a_handler_cancelled_from_another_process_at_once() {
    let front = common::backend().await;
    // The worker's process: a backend of its own on the same prefix.
    let worker_side = common::connect(front.0.config().clone()).await;
    let sleeper = Arc::new(Sleeper::default());
    let w = Worker::new(Arc::new(worker_side), sleeper.clone(), config()).start();
    let id = submit(&front.0, 3_600_000).await;
    while sleeper.started.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    front.0.cancel(&id).await.unwrap();
    // With concurrency 1, the next job only runs once the cancelled handler has stopped.
    let next = submit(&front.0, 0).await;
    assert_eq!(ended(&front.0, &next).await.status, TaskStatus::Completed);
    assert_eq!(front.0.get(&id).await.unwrap().unwrap().status, TaskStatus::Cancelled);
    // The worker's process listens to cancellations only.
    assert_eq!(subscribers(&front, "cancel").await, 1);
    assert_eq!(subscribers(&front, "events").await, 0, "nobody subscribed to every change");
    w.shutdown().await;
}

/// The Redis backend, cancelling each task it hands out right after the claim read its
/// record, and waiting until the notice has been heard before handing it out.
struct CancelAfterClaim {
    inner: ferry_redis::RedisBackend,
}

#[async_trait]
impl Backend for CancelAfterClaim {
    async fn submit(&self, record: TaskRecord, job: Job) -> Result<(), BackendError> {
        self.inner.submit(record, job).await
    }
    async fn claim_batch(&self, worker: &str, max: usize, wait: Duration) -> Result<Vec<Job>, BackendError> {
        Ok(self.claim_with_records(worker, max, wait).await?.into_iter().map(|c| c.job).collect())
    }
    async fn claim_with_records(&self, worker: &str, max: usize, wait: Duration) -> Result<Vec<Claimed>, BackendError> {
        let mut heard = self.inner.subscribe_cancels();
        let claimed = self.inner.claim_with_records(worker, max, wait).await?;
        for c in &claimed {
            assert_eq!(c.record.as_ref().map(|r| r.status), Some(TaskStatus::Working), "the claim's read");
            if c.job.arguments["ms"].as_u64() != Some(0) {
                self.inner.cancel(&c.job.task_id).await?;
                while heard.recv().await.unwrap() != c.job.task_id {}
                // Let the worker's own listener take the notice before the job is registered.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(claimed)
    }
    async fn heartbeat(&self, worker: &str, task_id: &str) -> Result<(), BackendError> {
        self.inner.heartbeat(worker, task_id).await
    }
    async fn requeue(&self, worker: &str, job: Job, delay: Duration) -> Result<(), BackendError> {
        self.inner.requeue(worker, job, delay).await
    }
    async fn update(&self, id: &str, update: ferry_tasks::TaskUpdate) -> Result<Option<TaskRecord>, BackendError> {
        self.inner.update(id, update).await
    }
    async fn complete(&self, id: &str, outcome: Outcome) -> Result<Option<TaskRecord>, BackendError> {
        self.inner.complete(id, outcome).await
    }
    async fn cancel(&self, id: &str) -> Result<Option<TaskRecord>, BackendError> {
        self.inner.cancel(id).await
    }
    async fn get(&self, id: &str) -> Result<Option<TaskRecord>, BackendError> {
        self.inner.get(id).await
    }
    async fn list(
        &self,
        owner: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<ferry_tasks::TaskPage, BackendError> {
        self.inner.list(owner, cursor, limit).await
    }
    async fn notify(&self, n: ferry_tasks::Notice) -> Result<(), BackendError> {
        self.inner.notify(n).await
    }
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<ferry_tasks::TaskEvent> {
        self.inner.subscribe()
    }
    fn subscribe_cancels(&self) -> ferry_tasks::CancelReceiver {
        self.inner.subscribe_cancels()
    }
}

#[tokio::test]
async fn a_cancel_between_the_claim_s_read_and_the_start_is_seen_at_once() {
    let b = common::backend().await;
    let backend = CancelAfterClaim { inner: b.0.clone() };
    let w = Worker::new(Arc::new(backend), Arc::new(Sleeper::default()), config()).start();
    let id = submit(&b.0, 3_600_000).await;
    assert_eq!(ended(&b.0, &id).await.status, TaskStatus::Cancelled);
    // The cancelled job was skipped or stopped at once: the next one runs.
    let next = submit(&b.0, 0).await;
    assert_eq!(ended(&b.0, &next).await.status, TaskStatus::Completed);
    w.shutdown().await;
}
