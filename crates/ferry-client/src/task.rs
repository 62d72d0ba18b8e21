//! Task handles: call now, fetch later.

use crate::client::{parse, Client};
use crate::error::ClientError;
use ferry_protocol::{ErrorCode, ErrorObject, Notification, RequestId, TaskStatus};
use futures::channel::mpsc;
use futures::future::BoxFuture;
use futures::{SinkExt, Stream};
use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};
use std::collections::HashSet;
use std::future::IntoFuture;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, Mutex};
use tokio::task::JoinHandle;

/// A task's state, read from either wire form.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskInfo {
    /// The id.
    pub task_id: String,
    /// The status.
    pub status: TaskStatus,
    /// The server's status message (progress, errors).
    pub status_message: Option<String>,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// RFC 3339 time of the last change.
    pub last_updated_at: String,
    /// Time to live in ms (`None`: unlimited).
    pub ttl_ms: Option<u64>,
    /// Suggested polling interval in ms.
    pub poll_interval_ms: Option<u64>,
    /// Latest progress `(progress, total)`, when the server shares it
    /// (Ferry servers do, under `_meta["ferrymcp.dev/progress"]`).
    pub progress: Option<(f64, Option<f64>)>,
    /// Form B details: `result`, `error`, `inputRequests` (empty in Form A).
    pub details: Map<String, Value>,
}

impl TaskInfo {
    /// Read a Form A `Task` or a Form B (Detailed)Task.
    pub fn from_wire(v: &Value) -> Result<TaskInfo, ClientError> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let n = |a: &str, b: &str| v.get(a).or_else(|| v.get(b)).and_then(Value::as_f64).map(|f| f as u64);
        let task_id = s("taskId").ok_or_else(|| ClientError::Protocol(format!("task without taskId: {v}")))?;
        let status = s("status")
            .and_then(|st| st.parse().ok())
            .ok_or_else(|| ClientError::Protocol(format!("task {task_id} has no valid status")))?;
        let mut details = Map::new();
        for key in ["result", "error", "inputRequests"] {
            if let Some(x) = v.get(key) {
                details.insert(key.into(), x.clone());
            }
        }
        Ok(TaskInfo {
            task_id,
            status,
            status_message: s("statusMessage"),
            created_at: s("createdAt").unwrap_or_default(),
            last_updated_at: s("lastUpdatedAt").unwrap_or_default(),
            ttl_ms: n("ttlMs", "ttl"),
            poll_interval_ms: n("pollIntervalMs", "pollInterval"),
            progress: v
                .pointer("/_meta/ferrymcp.dev~1progress")
                .and_then(|p| Some((p.get("progress")?.as_f64()?, p.get("total").and_then(Value::as_f64)))),
            details,
        })
    }

    /// How long to wait before reading the task again when nothing is pushed: the
    /// interval the server advertises now (it may change over the task's life; a Ferry
    /// server adapts it to the tool's run times), 1 s when it gives none, kept within
    /// 10 ms .. 5 s so that no server makes the client spin or stall.
    fn poll_interval(&self) -> Duration {
        Duration::from_millis(self.poll_interval_ms.unwrap_or(1000).clamp(10, 5000))
    }
}

/// A running (or finished) task.
///
/// `.await` it for the typed result; [`get`](TaskHandle::get) polls once,
/// [`status`](TaskHandle::status) streams changes, [`cancel`](TaskHandle::cancel)
/// asks the server to stop it. The result is cached once fetched.
pub struct TaskHandle<T> {
    client: Client,
    id: Option<String>,
    done: Arc<Mutex<Option<Result<Value, ClientError>>>>,
    _result: PhantomData<fn() -> T>,
}

impl<T> Clone for TaskHandle<T> {
    fn clone(&self) -> Self {
        Self { client: self.client.clone(), id: self.id.clone(), done: self.done.clone(), _result: PhantomData }
    }
}

impl<T: DeserializeOwned> TaskHandle<T> {
    pub(crate) fn attach(client: Client, id: String, done: Option<Result<Value, ClientError>>) -> Self {
        Self { client, id: Some(id), done: Arc::new(Mutex::new(done)), _result: PhantomData }
    }

    /// A handle for a request the server answered at once instead of making a task.
    pub(crate) fn finished(client: Client, result: Value) -> Self {
        Self { client, id: None, done: Arc::new(Mutex::new(Some(Ok(result)))), _result: PhantomData }
    }

    /// The task id (`None` when the server answered at once without a task).
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    fn task_id(&self) -> Result<&str, ClientError> {
        self.id.as_deref().ok_or_else(|| ClientError::Protocol("the server answered at once; there is no task".into()))
    }

    /// Read the task's current state (`tasks/get`).
    pub async fn get(&self) -> Result<TaskInfo, ClientError> {
        read_task(&self.client, self.task_id()?).await
    }

    /// Ask the server to cancel the task; returns its state afterwards.
    pub async fn cancel(&self) -> Result<TaskInfo, ClientError> {
        let id = self.task_id()?;
        let answer =
            self.client.request("tasks/cancel", json!({"taskId": id})).await.map_err(|e| not_found_or(e, id))?;
        if answer.get("taskId").is_some() {
            return TaskInfo::from_wire(&answer);
        }
        self.get().await
    }

    /// A stream of the task's states: the current one, then each change (status or
    /// message), ending after a terminal state. Uses the server's status
    /// notifications when they come, and polls at the task's poll interval.
    pub fn status(&self) -> impl Stream<Item = Result<TaskInfo, ClientError>> + Send + 'static {
        let (mut tx, rx) = mpsc::channel(16);
        let handle: TaskHandle<Value> = TaskHandle {
            client: self.client.clone(),
            id: self.id.clone(),
            done: self.done.clone(),
            _result: PhantomData,
        };
        tokio::spawn(async move {
            let Ok(id) = handle.task_id().map(str::to_string) else {
                // Answered at once: the only state is the final one.
                let _ =
                    tx.send(Err(ClientError::Protocol("the server answered at once; there is no task".into()))).await;
                return;
            };
            let mut follow = Follower::new(handle.client.clone(), id);
            let mut last: Option<(TaskStatus, Option<String>, Option<u64>)> = None;
            let mut info = handle.get().await;
            loop {
                let wait = match info {
                    Ok(ref i) => {
                        let key = (i.status, i.status_message.clone(), i.progress.map(|p| p.0.to_bits()));
                        if last.as_ref() != Some(&key) {
                            last = Some(key);
                            if tx.send(Ok(i.clone())).await.is_err() {
                                return;
                            }
                        }
                        if i.status.is_terminal() {
                            return;
                        }
                        i.poll_interval()
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                };
                info = follow.next(wait).await;
            }
        });
        rx
    }

    /// Wait for the final result.
    ///
    /// Errors: [`ClientError::TaskFailed`] (with the server's error),
    /// [`ClientError::TaskCancelled`], [`ClientError::TaskNotFound`] (expired).
    /// A tool that reported an error is a result with `is_error` set.
    pub async fn result(&self) -> Result<T, ClientError> {
        let mut done = self.done.lock().await;
        if done.is_none() {
            *done = Some(self.fetch().await);
        }
        match done.as_ref() {
            Some(Ok(v)) => parse(v.clone()),
            Some(Err(e)) => Err(e.clone()),
            None => Err(ClientError::Protocol("no result".into())),
        }
    }

    async fn fetch(&self) -> Result<Value, ClientError> {
        let id = self.task_id()?.to_string();
        if !self.client.is_modern() {
            // 2025-11-25: tasks/result blocks until the end; input requests arrive on its
            // stream and are answered by the client's handlers meanwhile.
            return match self.client.request("tasks/result", json!({"taskId": id})).await {
                Ok(v) => Ok(v),
                Err(e) => Err(self.explain(e, &id).await),
            };
        }
        // 2026-07-28: the result is inlined in the task once terminal; follow the
        // task (listen stream, else polling) until then.
        let mut follow = Follower::new(self.client.clone(), id.clone());
        let mut answered: HashSet<String> = HashSet::new();
        let mut info = self.get().await?;
        loop {
            match info.status {
                TaskStatus::Completed => {
                    return info
                        .details
                        .get("result")
                        .cloned()
                        .ok_or_else(|| ClientError::Protocol("completed task without result".into()))
                }
                TaskStatus::Failed => {
                    let error = info
                        .details
                        .get("error")
                        .and_then(|e| serde_json::from_value::<ErrorObject>(e.clone()).ok())
                        .unwrap_or_else(|| ErrorObject::internal(info.status_message.clone().unwrap_or_default()));
                    return Err(ClientError::TaskFailed { task_id: id, error });
                }
                TaskStatus::Cancelled => return Err(ClientError::TaskCancelled(id)),
                TaskStatus::InputRequired => {
                    let requests =
                        info.details.get("inputRequests").and_then(Value::as_object).cloned().unwrap_or_default();
                    let mut responses = Map::new();
                    for (key, req) in requests {
                        if answered.contains(&key) {
                            continue;
                        }
                        let method = req.get("method").and_then(Value::as_str).unwrap_or_default().to_string();
                        let params = req.get("params").cloned().unwrap_or_else(|| json!({}));
                        let answer = match self.client.answer(&method, params).await {
                            Ok(v) => v,
                            Err(e) => json!({"action": "decline", "_meta": {"error": e}}),
                        };
                        answered.insert(key.clone());
                        responses.insert(key, answer);
                    }
                    if !responses.is_empty() {
                        self.client.request("tasks/update", json!({"taskId": id, "inputResponses": responses})).await?;
                        info = self.get().await?;
                        continue;
                    }
                }
                TaskStatus::Working => {}
            }
            info = follow.next(info.poll_interval()).await?;
        }
    }

    /// Turn a `tasks/result` error into what happened to the task.
    async fn explain(&self, e: ClientError, id: &str) -> ClientError {
        match self.get().await {
            Ok(info) if info.status == TaskStatus::Cancelled => ClientError::TaskCancelled(id.to_string()),
            Ok(_) => match e {
                ClientError::Rpc(error) => ClientError::TaskFailed { task_id: id.to_string(), error },
                other => other,
            },
            Err(ClientError::TaskNotFound(_)) => ClientError::TaskNotFound(id.to_string()),
            Err(_) => e,
        }
    }
}

/// How long to trust a quiet listen stream before asking anyway.
const LISTEN_SAFETY_POLL: Duration = Duration::from_secs(30);

/// How long to wait for a listen request's acknowledgement (or refusal) before
/// polling anyway. A server acknowledges at once; polling meanwhile would only
/// race the acknowledgement.
const LISTEN_ACK_WAIT: Duration = Duration::from_secs(1);

/// Follows one task: the server's pushed states when it sends them, `tasks/get`
/// at the poll interval when it does not.
///
/// In 2025-11-25 sessions a server may push `notifications/tasks/status` on its
/// own; they are taken when they come, and polling goes on beside them (nothing
/// says they will come). In 2026-07-28 pushes exist only on a
/// `subscriptions/listen` stream, so the follower opens one for the task. Once
/// the server acknowledges it, each `notifications/tasks` carries the whole
/// task (result included) and polling drops to a rare safety check; if the
/// stream is refused or ends, polling resumes at the poll interval.
struct Follower {
    client: Client,
    id: String,
    notes: broadcast::Receiver<Notification>,
    /// The listen request in flight (2026-07-28), and its id.
    listen: Option<(RequestId, JoinHandle<()>)>,
    /// The server acknowledged the listen stream for this task.
    listening: bool,
}

impl Follower {
    fn new(client: Client, id: String) -> Self {
        // Subscribe before the listen request goes out, so its acknowledgement is not missed.
        let notes = client.notifications();
        let listen = client.is_modern().then(|| client.open_listen("taskIds", &id));
        Self { client, id, notes, listen, listening: false }
    }

    /// The task's next observed state: pushed, or read after `poll` (or longer
    /// while a listen stream is being set up or is acknowledged).
    async fn next(&mut self, poll: Duration) -> Result<TaskInfo, ClientError> {
        loop {
            let wait = match (&self.listen, self.listening) {
                (Some(_), true) => LISTEN_SAFETY_POLL.max(poll),
                (Some(_), false) => LISTEN_ACK_WAIT.max(poll),
                (None, _) => poll,
            };
            tokio::select! {
                note = self.notes.recv() => match note {
                    Ok(n) => {
                        if let Some(info) = self.pushed(&n) {
                            return Ok(info);
                        }
                        if self.acknowledges(&n) {
                            // Subscribed: read once, in case the task moved before the stream began.
                            self.listening = true;
                            return self.get().await;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => return self.get().await,
                    Err(broadcast::error::RecvError::Closed) => {
                        tokio::time::sleep(wait).await;
                        return self.get().await;
                    }
                },
                () = listen_ended(&mut self.listen) => {
                    self.listen = None;
                    self.listening = false;
                    return self.get().await;
                }
                () = tokio::time::sleep(wait) => return self.get().await,
            }
        }
    }

    /// This task's state, if the notification carries it.
    fn pushed(&self, n: &Notification) -> Option<TaskInfo> {
        if n.method != "notifications/tasks/status" && n.method != "notifications/tasks" {
            return None;
        }
        n.params.as_ref().and_then(|p| TaskInfo::from_wire(p).ok()).filter(|i| i.task_id == self.id)
    }

    /// Whether the notification acknowledges our listen request for this task.
    fn acknowledges(&self, n: &Notification) -> bool {
        let Some((rid, _)) = &self.listen else { return false };
        crate::client::acknowledgement(n, rid).is_some_and(|f| crate::client::honours(f, "taskIds", &self.id))
    }

    async fn get(&self) -> Result<TaskInfo, ClientError> {
        read_task(&self.client, &self.id).await
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        // Closing the request ends the server's stream (it also ends by itself once the task is terminal).
        if let Some((_, task)) = self.listen.take() {
            task.abort();
        }
    }
}

/// Resolves when the listen request has ended (never, when there is none).
async fn listen_ended(listen: &mut Option<(RequestId, JoinHandle<()>)>) {
    match listen {
        Some((_, task)) => {
            let _ = task.await;
        }
        None => std::future::pending().await,
    }
}

/// `tasks/get`, with "unknown task" as [`ClientError::TaskNotFound`].
async fn read_task(client: &Client, id: &str) -> Result<TaskInfo, ClientError> {
    match client.request("tasks/get", json!({"taskId": id})).await {
        Ok(v) => TaskInfo::from_wire(&v),
        Err(e) => Err(not_found_or(e, id)),
    }
}

fn not_found_or(e: ClientError, id: &str) -> ClientError {
    match &e {
        ClientError::Rpc(err) if err.code == ErrorCode::INVALID_PARAMS => ClientError::TaskNotFound(id.to_string()),
        _ => e,
    }
}

impl<T: DeserializeOwned + Send + 'static> IntoFuture for TaskHandle<T> {
    type Output = Result<T, ClientError>;
    type IntoFuture = BoxFuture<'static, Result<T, ClientError>>;
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move { self.result().await })
    }
}
