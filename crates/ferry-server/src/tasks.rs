//! Task-augmented requests on the wire, in both forms, over one task store.
//!
//! The engine keeps protocol-neutral [`TaskRecord`]s; this module encodes them
//! as Form A (2025-11-25: `ttl`, nested create result, `tasks/result`,
//! `tasks/list`, Task-returning cancel, `notifications/tasks/status`) or Form B
//! (2026-07-28 extension: `ttlMs`, flat `resultType: "task"`, DetailedTask
//! with the result inlined, `tasks/update`, acknowledging cancel), chosen by
//! the era of the request that asks.
//!
//! Tasks belong to their owner (the auth subject, else the session); a request
//! from anyone else is told the task does not exist. Ids are 128-bit random,
//! so in the stateless era, without auth, knowing the id is the capability.

use crate::answer::{Answered, Out};
use crate::context::{CallInner, Context};
use crate::dispatch::{fill_uri, resource_not_found, Call, Reply};
use crate::error::ToolError;
use crate::server::Shared;
use crate::session::{lock, Session};
use async_trait::async_trait;
use ferry_protocol::tasks::{missing_extension_error, related_task_meta, FormATask, FormBTask, META_RELATED_TASK};
use ferry_protocol::time_fmt::{now_ms, rfc3339};
use ferry_protocol::types::LoggingLevel;
use ferry_protocol::{ErrorCode, ErrorObject, Message, Notification, Request, RequestId, TaskStatus};
use ferry_tasks::{BackendError, Executor, Job, Notice, Outcome, TaskEvent, TaskRecord, TaskRuntime, TaskUpdate};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, oneshot};
use tokio_util::sync::CancellationToken;

pub(crate) fn store_error(e: BackendError) -> ErrorObject {
    let limit = |scope: &str, e: &BackendError| {
        ErrorObject::new(ErrorCode::LIMIT_EXCEEDED, e.to_string()).with_data(json!({ "scope": scope }))
    };
    match e {
        BackendError::InvalidCursor => ErrorObject::invalid_params("Invalid cursor"),
        BackendError::Quota(_) => limit("owner", &e),
        BackendError::Full(_) => limit("server", &e),
        BackendError::TooLarge(_) => limit("size", &e),
        other => ErrorObject::internal(other.to_string()),
    }
}

/// Whether an error is a refusal for lack of room (owner's share or the server's), which a
/// request that need not become a task can avoid by running directly.
pub(crate) fn is_out_of_room(e: &ErrorObject) -> bool {
    e.code == ErrorCode::LIMIT_EXCEEDED && e.data.as_ref().and_then(|d| d.get("scope")).is_some_and(|s| s != "size")
}

fn not_found(id: &str) -> ErrorObject {
    ErrorObject::invalid_params(format!("Failed to retrieve task: Task not found ({id})"))
}

/// The Form A status: a tool result with `isError` is `failed` there.
fn form_a_status(rec: &TaskRecord) -> TaskStatus {
    match (&rec.status, &rec.outcome) {
        (TaskStatus::Completed, Some(Outcome::Result { is_error: true, .. })) => TaskStatus::Failed,
        (s, _) => *s,
    }
}

/// `_meta` key carrying numeric progress on task objects (vendor key: the
/// `io.modelcontextprotocol/` prefix is reserved). Lets clients draw a progress bar
/// without a notification stream.
pub const META_PROGRESS: &str = "ferrymcp.dev/progress";

/// A task object with the record's numeric progress in its `_meta`, if any.
#[derive(Serialize)]
pub(crate) struct WithProgress<T> {
    #[serde(flatten)]
    task: T,
    #[serde(rename = "_meta", skip_serializing_if = "Option::is_none")]
    meta: Option<Value>,
}

fn with_progress<T>(task: T, rec: &TaskRecord) -> WithProgress<T> {
    let meta = rec.progress.as_ref().map(|p| json!({META_PROGRESS: {"progress": p.progress, "total": p.total}}));
    WithProgress { task, meta }
}

/// A Form A create result: the task, nested.
#[derive(Serialize)]
struct CreatedA<T> {
    task: T,
}

/// Encode a record as a Form A task.
pub(crate) fn form_a(rec: &TaskRecord) -> Value {
    serde_json::to_value(form_a_task(rec)).unwrap_or(Value::Null)
}

/// A record's Form A task object, to be written as it is.
fn form_a_task(rec: &TaskRecord) -> WithProgress<FormATask> {
    let status = form_a_status(rec);
    let status_message = rec.status_message.clone().or_else(|| match status {
        TaskStatus::Failed => Some("The tool reported an error.".into()),
        _ => None,
    });
    let task = FormATask {
        task_id: rec.id.clone(),
        status,
        status_message,
        created_at: rfc3339(rec.created_at),
        last_updated_at: rfc3339(rec.updated_at),
        ttl: rec.lifetime_ms(),
        poll_interval: Some(rec.poll_interval_ms),
    };
    with_progress(task, rec)
}

/// Encode a record as a Form B task; `detailed` adds result / error / inputRequests.
pub(crate) fn form_b(rec: &TaskRecord, detailed: bool) -> Value {
    serde_json::to_value(form_b_task(rec, detailed, Map::new())).unwrap_or(Value::Null)
}

/// A record's Form B task object with `extra` members, to be written as it is.
fn form_b_task(rec: &TaskRecord, detailed: bool, mut extra: Map<String, Value>) -> WithProgress<FormBTask> {
    if detailed {
        match (rec.status, &rec.outcome) {
            (TaskStatus::InputRequired, _) => {
                extra.insert("inputRequests".into(), json!(rec.input_requests));
            }
            (TaskStatus::Completed, Some(outcome @ Outcome::Result { .. })) => {
                extra.insert("result".into(), outcome.result_value().unwrap_or(Value::Null));
            }
            (TaskStatus::Failed, Some(Outcome::Error { error })) => {
                extra.insert("error".into(), json!(error));
            }
            _ => {}
        }
    }
    let task = FormBTask {
        task_id: rec.id.clone(),
        status: rec.status,
        status_message: rec.status_message.clone(),
        created_at: rfc3339(rec.created_at),
        last_updated_at: rfc3339(rec.updated_at),
        ttl_ms: rec.lifetime_ms(),
        poll_interval_ms: Some(rec.poll_interval_ms),
        extra,
    };
    with_progress(task, rec)
}

/// A task just stored, and the create result that answers its request.
pub(crate) struct Created {
    /// The new task's id.
    pub task_id: String,
    /// The create result of the request's era, written as text.
    pub answer: Out,
}

/// Store a new task for the request and answer with the create result of its era.
pub(crate) async fn create(
    shared: &Arc<Shared>,
    call: &Call,
    kind: &str,
    name: &str,
    arguments: Value,
    requested_ttl: Option<f64>,
    prepared: Option<Value>,
) -> Result<Created, ErrorObject> {
    let mut rec = TaskRecord::new(call.owner.clone(), kind, name, now_ms());
    rec.id = shared.backend.new_task_id(&rec.owner); // the backend may place tasks by id
    rec.session = call.session.as_ref().map(|s| s.id.clone());
    // Without credentials, quotas go by the client's address: stateless callers share an
    // owner, and sessions cost nothing to open (behind a proxy, authenticate callers).
    if call.subject.is_none() {
        rec.account = call.client.clone(); // `client_key(None, peer)`: there is no subject
    }
    rec.ttl_ms = Some(shared.grant_ttl(requested_ttl));
    shared.pace(&mut rec);
    rec.progress_token = crate::context::progress_token(call.meta.as_ref()).map(Box::new);
    let mut context = json!({
        "sessionId": call.session.as_ref().map(|s| s.id.clone()),
        "authSubject": call.subject,
        "authScopes": call.scopes,
        "protocolVersion": call.era.version(),
        "clientCapabilities": *call.client_caps,
        "progressToken": rec.progress_token,
    });
    if let Some(p) = prepared {
        context["prepared"] = p; // what the tool's prepare step returned, for its handler
    }
    let job = Job {
        task_id: rec.id.clone(),
        kind: kind.into(),
        name: name.into(),
        arguments,
        context,
        attempt: 1,
        not_before: None,
        trace: ferry_tasks::trace::current(),
    };
    // Encoded before the record moves into the store; it goes out only once the task is stored.
    let answer = if call.era.is_modern() {
        let mut extra = Map::new();
        extra.insert("resultType".into(), json!("task"));
        Out::raw(&form_b_task(&rec, false, extra), false)?
    } else {
        Out::raw(&CreatedA { task: form_a_task(&rec) }, false)?
    };
    let task_id = rec.id.clone();
    shared.backend.submit(rec, job).await.map_err(store_error)?;
    ferry_tasks::metrics::task_created(&crate::metrics::component_label(&shared.components(), kind, name));
    crate::spans::record_task(&task_id);
    tracing::debug!(task_id = %task_id, kind, name, owner = %call.owner, "task created");
    Ok(Created { task_id, answer })
}

/// `tasks/*` methods, gated per era.
pub(crate) async fn handle(shared: &Arc<Shared>, call: &Call) -> Answered {
    let method = call.method.as_str();
    if call.era.is_modern() {
        match method {
            "tasks/result" | "tasks/list" => return Err(ErrorObject::method_not_found(method)),
            _ if !call.declares_tasks() => return Err(missing_extension_error()),
            _ => {}
        }
    } else if !call.era.has_form_a() || method == "tasks/update" {
        return Err(ErrorObject::method_not_found(method));
    }
    if method == "tasks/list" {
        return list(shared, call).await.map(Out::Tree);
    }
    let id = call.str_param("taskId")?;
    if method == "tasks/result" {
        // Watch before reading, so a change after the read cannot be missed.
        let watch = shared.watchers.watch(id);
        let rec = owned(shared, call, id).await?;
        return result(shared, call, rec, watch).await;
    }
    let rec = owned(shared, call, id).await?;
    match (method, call.era.is_modern()) {
        ("tasks/get", false) => Out::raw(&form_a_task(&rec), false),
        ("tasks/get", true) => Ok(Out::Tree(form_b(&rec, true))),
        ("tasks/cancel", modern) => cancel(shared, rec, modern).await.map(Out::Tree),
        ("tasks/update", _) => update(shared, call, rec).await.map(Out::Tree),
        _ => Err(ErrorObject::method_not_found(method)),
    }
}

/// A task the caller may see, with the poll interval it reports now.
pub(crate) async fn owned(shared: &Shared, call: &Call, id: &str) -> Result<TaskRecord, ErrorObject> {
    match shared.backend.get(id).await.map_err(store_error)? {
        Some(mut rec) if rec.owner == call.owner => {
            shared.pace(&mut rec);
            Ok(rec)
        }
        _ => Err(not_found(id)),
    }
}

async fn list(shared: &Shared, call: &Call) -> Reply {
    let cursor = match call.params.get("cursor") {
        None | Some(Value::Null) => None,
        Some(Value::String(c)) => Some(c.as_str()),
        Some(_) => return Err(ErrorObject::invalid_params("Invalid cursor: must be a string")),
    };
    let mut page = shared.backend.list(&call.owner, cursor, shared.config.page_size).await.map_err(store_error)?;
    page.tasks.iter_mut().for_each(|rec| shared.pace(rec));
    let mut result = json!({ "tasks": page.tasks.iter().map(form_a).collect::<Vec<_>>() });
    if let Some(c) = page.next_cursor {
        result["nextCursor"] = json!(c);
    }
    Ok(result)
}

/// The answer to cancelling a task that has already ended.
fn cancel_ended(rec: &TaskRecord, modern: bool) -> Reply {
    if modern {
        return Ok(json!({})); // idempotent acknowledgement
    }
    Err(ErrorObject::invalid_params(format!("Cannot cancel task: already in terminal status '{}'", form_a_status(rec))))
}

async fn cancel(shared: &Shared, rec: TaskRecord, modern: bool) -> Reply {
    if rec.status.is_terminal() {
        return cancel_ended(&rec, modern);
    }
    let mut now = shared.backend.cancel(&rec.id).await.map_err(store_error)?.ok_or_else(|| not_found(&rec.id))?;
    shared.pace(&mut now);
    // The store decides: the task may have ended on its own since it was read.
    if now.status != TaskStatus::Cancelled {
        return cancel_ended(&now, modern);
    }
    let component = crate::metrics::component_label(&shared.components(), &rec.kind, &rec.name);
    ferry_tasks::metrics::task_ended(&component, now.status);
    tracing::debug!(task_id = %rec.id, "task cancelled");
    Ok(if modern { json!({}) } else { form_a(&now) })
}

async fn update(shared: &Shared, call: &Call, rec: TaskRecord) -> Reply {
    let responses = match call.params.get("inputResponses") {
        Some(Value::Object(m)) => m.clone(),
        None | Some(Value::Null) => Map::new(),
        Some(_) => return Err(ErrorObject::invalid_params("inputResponses must be an object")),
    };
    if !responses.is_empty() && !rec.status.is_terminal() {
        // Keys that are not outstanding are ignored by the store.
        shared.backend.update(&rec.id, TaskUpdate::Respond(responses)).await.map_err(store_error)?;
    }
    Ok(json!({}))
}

/// `tasks/result` (Form A): wait for the end, delivering input requests on this stream meanwhile.
///
/// `watch` was taken before `rec` was read, so no change after that read is missed
/// (and the read need not be repeated).
async fn result(shared: &Arc<Shared>, call: &Call, rec: TaskRecord, mut watch: crate::watch::Watch) -> Answered {
    let mut rec = Arc::new(rec);
    let mut store = Outage::new(shared.config.store_outage_grace);
    // Released however this ends (terminal, client gone, request cancelled), so another
    // `tasks/result` can ask again.
    let mut mine = Dispatched { shared, keys: Vec::new(), pending: Vec::new() };
    let stream_gone = async {
        match &call.outbound {
            Some(out) => out.closed().await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(stream_gone);
    loop {
        if rec.status.is_terminal() {
            break;
        }
        if rec.status == TaskStatus::InputRequired {
            for (key, request) in &rec.input_requests {
                let k = (rec.id.clone(), key.clone());
                if lock(&shared.dispatched_inputs).insert(k.clone()) {
                    match deliver_input(shared, call, &rec.id, key, request.clone()) {
                        Some(sent) => {
                            mine.keys.push(k);
                            mine.pending.push(sent);
                        }
                        None => {
                            lock(&shared.dispatched_inputs).remove(&k);
                        }
                    }
                }
            }
        }
        // Events are at-most-once across processes: read the store now and then anyway.
        let poll = Duration::from_secs(5);
        let changed = tokio::select! {
            wake = watch.changed() => match wake {
                crate::watch::Wake::Changed(r) => Some(r),
                _ => None,
            },
            _ = tokio::time::sleep(store.pause().unwrap_or(poll)) => None,
            _ = &mut stream_gone => return Err(ErrorObject::internal("the tasks/result stream was closed")),
        };
        rec = match changed {
            Some(r) => r,
            None => store.read(shared, &rec.id).await?.map(Arc::new).unwrap_or(rec),
        };
    }
    drop(mine);
    match &rec.outcome {
        // The stored text goes out as it is, with the related task added to its `_meta`.
        Some(Outcome::Result { value, is_error }) => {
            crate::answer::with_meta(value, *is_error, None, META_RELATED_TASK, &related_task_meta(&rec.id))
        }
        Some(Outcome::Error { error }) => Err(ErrorObject::clone(error)),
        // A cancelled task has no result to give: the request names a task in a state that
        // cannot answer it (as cancelling a terminal task is -32602), not a server fault.
        None => Err(ErrorObject::new(ErrorCode::INVALID_PARAMS, "Task was cancelled")
            .with_data(json!({ META_RELATED_TASK: related_task_meta(&rec.id) }))),
    }
}

/// Reads of a task by a long wait that ride out a store outage of up to `grace`.
struct Outage {
    grace: Duration,
    since: Option<tokio::time::Instant>,
}

impl Outage {
    fn new(grace: Duration) -> Self {
        Self { grace, since: None }
    }

    /// The task now: `Ok(None)` while the store cannot be reached (within the grace),
    /// an error once the grace is over or the task is gone.
    async fn read(&mut self, shared: &Shared, id: &str) -> Result<Option<TaskRecord>, ErrorObject> {
        match shared.backend.get(id).await {
            Ok(Some(rec)) => {
                if self.since.take().is_some() {
                    tracing::info!(task_id = id, "task store reachable again");
                }
                Ok(Some(rec))
            }
            Ok(None) => Err(not_found(id)),
            Err(BackendError::Unavailable(e)) => {
                let since = *self.since.get_or_insert_with(tokio::time::Instant::now);
                if since.elapsed() >= self.grace {
                    return Err(store_error(BackendError::Unavailable(e)));
                }
                tracing::debug!(task_id = id, error = %e, "task store unreachable; still waiting");
                Ok(None)
            }
            Err(e) => Err(store_error(e)),
        }
    }

    /// How long to wait before reading again while the store is out.
    fn pause(&self) -> Option<Duration> {
        self.since.map(|_| Duration::from_millis(500))
    }
}

/// Send one input request of a task to the client on the `tasks/result` stream
/// and hand its answer to the task.
/// Returns the session and id of the request sent, `None` if it could not be sent.
fn deliver_input(
    shared: &Arc<Shared>,
    call: &Call,
    task_id: &str,
    key: &str,
    request: Value,
) -> Option<(Arc<Session>, String)> {
    let (Some(session), Some(out)) = (call.session.clone(), call.outbound.clone()) else { return None };
    let method = request.get("method").and_then(Value::as_str).unwrap_or("elicitation/create").to_string();
    let mut params = request.get("params").cloned().unwrap_or_else(|| json!({}));
    if let Some(p) = params.as_object_mut() {
        let m = p.entry("_meta").or_insert_with(|| json!({}));
        if let Some(m) = m.as_object_mut() {
            m.insert(META_RELATED_TASK.into(), related_task_meta(task_id));
        }
    }
    let id = session.next_request_id();
    let (tx, rx) = oneshot::channel();
    lock(&session.pending).insert(id.clone(), tx);
    if !out.send(Message::Request(Request::new(RequestId::String(id.clone()), method, Some(params)))) {
        lock(&session.pending).remove(&id);
        return None;
    }
    let backend = shared.backend.clone();
    let (task_id, key) = (task_id.to_string(), key.to_string());
    let sent = Some((session, id));
    tokio::spawn(async move {
        let answer = match rx.await {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => json!({"action": "decline", "_error": e}),
            Err(_) => return, // stream gone; another tasks/result will ask again
        };
        let mut map = Map::new();
        map.insert(key, answer);
        if let Err(e) = backend.update(&task_id, TaskUpdate::Respond(map)).await {
            tracing::warn!(task_id, error = %e, "could not store input response");
        }
    });
    sent
}

/// Input requests one `tasks/result` call has sent and still holds.
struct Dispatched<'a> {
    shared: &'a Shared,
    keys: Vec<(String, String)>,
    pending: Vec<(Arc<Session>, String)>,
}

impl Drop for Dispatched<'_> {
    fn drop(&mut self) {
        let mut dispatched = lock(&self.shared.dispatched_inputs);
        for k in &self.keys {
            dispatched.remove(k);
        }
        drop(dispatched);
        // Unanswered requests are dropped: their waiters end, and the next stream asks anew.
        for (session, id) in &self.pending {
            lock(&session.pending).remove(id);
        }
    }
}

/// Runs task jobs with this server's handlers (in-process or in `ferry worker`).
pub(crate) struct TaskExecutor(pub Arc<Shared>);

impl TaskExecutor {
    fn common_for(&self, job: &Job) -> Option<(Duration, u32)> {
        let c = self.0.components();
        let (timeout, retries) = match job.kind.as_str() {
            "tools/call" => c.tool(&job.name).map(|t| (t.common.timeout, t.common.retries))?,
            crate::jobs::JOB_KIND => c.job(&job.name).map(|t| (t.common.timeout, t.common.retries))?,
            "prompts/get" => c.prompt(&job.name).map(|p| (p.common.timeout, p.common.retries))?,
            "resources/read" => c.resolve_resource(&job.name).map(|(c, _)| (c.timeout, c.retries))?,
            _ => return None,
        };
        Some((timeout.unwrap_or(Duration::MAX), retries))
    }
}

#[async_trait]
impl Executor for TaskExecutor {
    async fn execute(&self, job: Job, runtime: TaskRuntime) -> Result<Outcome, ErrorObject> {
        let shared = &self.0;
        let ctx = &job.context;
        let session_id = ctx.get("sessionId").and_then(Value::as_str).map(str::to_string);
        // With shared sessions the client's stream may be on another front end: notices reach it.
        let session = session_id.as_deref().filter(|_| !shared.sessions_shared()).and_then(|id| shared.session(id));
        let cx = Context::new(CallInner {
            shared: shared.clone(),
            request_id: None,
            session,
            session_id,
            subject: ctx.get("authSubject").and_then(Value::as_str).map(str::to_string),
            scopes: ctx.get("authScopes").and_then(|s| serde_json::from_value(s.clone()).ok()),
            protocol_version: ctx.get("protocolVersion").and_then(Value::as_str).unwrap_or_default().to_string(),
            client_caps: Arc::new(ctx.get("clientCapabilities").cloned().unwrap_or_else(|| json!({}))),
            progress_token: ctx.get("progressToken").filter(|v| !v.is_null()).cloned(),
            outbound: None,
            task: Some(runtime.clone()),
            cancel: CancellationToken::new(),
            deps: Default::default(),
            cleanups: Default::default(),
            rounds: None,
            prepared: Default::default(),
        });
        if let Some(p) = ctx.get("prepared") {
            let _ = cx.inner.prepared.set(p.clone());
        }
        let args = job.arguments.as_object().cloned().unwrap_or_default();
        let components = shared.components();
        let unknown =
            |what: &str| Ok(Outcome::error(ErrorObject::invalid_params(format!("Unknown {what}: {}", job.name))));
        // The task acts for its caller only as far as the caller's token went.
        if let Some(granted) = cx.auth_scopes() {
            let needed = match job.kind.as_str() {
                "tools/call" => components.tool(&job.name).map(|t| t.common.scopes.clone()),
                "prompts/get" => components.prompt(&job.name).map(|p| p.common.scopes.clone()),
                "resources/read" => components.resolve_resource(&job.name).map(|(c, _)| c.scopes.clone()),
                _ => None,
            }
            .unwrap_or_default();
            if !needed.iter().all(|s| granted.contains(s)) {
                let error = crate::dispatch::insufficient_scope(&needed, &format!("'{}'", job.name));
                return Ok(Outcome::error(error));
            }
        }
        let outcome = match job.kind.as_str() {
            kind @ ("tools/call" | crate::jobs::JOB_KIND) => {
                let def = if kind == "tools/call" { components.tool(&job.name) } else { components.job(&job.name) };
                let Some((tool, h)) = def.and_then(|t| Some((t, t.common.handler.clone()?))) else {
                    return unknown(if kind == "tools/call" { "tool" } else { "job" });
                };
                if tool.common.is_full() {
                    let _ = runtime.message("Waiting for a turn: this tool runs a limited number at once").await;
                }
                let _turn = tool.common.slot().await;
                match h(cx, args).await {
                    Ok(r) => Ok(r),
                    Err(ToolError::Message(m)) => Ok(ferry_protocol::types::CallToolResult::error(m)),
                    Err(e) => Err(e),
                }
                .and_then(|r| {
                    let is_error = r.is_error;
                    Outcome::result(&r, is_error).map_err(ToolError::from)
                })
            }
            "prompts/get" => {
                let Some(h) = components.prompt(&job.name).and_then(|p| p.common.handler.clone()) else {
                    return unknown("prompt");
                };
                h(cx, args).await.and_then(|r| Outcome::result(&r, false).map_err(ToolError::from))
            }
            "resources/read" => {
                let Some(h) = components.resolve_resource(&job.name).and_then(|(c, _)| c.handler.clone()) else {
                    let modern = cx.protocol_version() == ferry_protocol::version::MODERN;
                    return Ok(Outcome::error(resource_not_found(&job.name, modern)));
                };
                h(cx, args).await.and_then(|r| Outcome::result(&fill_uri(r, &job.name), false).map_err(ToolError::from))
            }
            other => return Ok(Outcome::error(ErrorObject::method_not_found(other))),
        };
        match outcome {
            Ok(o) => Ok(o),
            Err(ToolError::Retryable(m)) => Err(ErrorObject::internal(m)),
            Err(e) => Ok(Outcome::error(e.into_error_object())),
        }
    }

    fn component_label(&self, job: &Job) -> String {
        crate::metrics::component_label(&self.0.components(), &job.kind, &job.name)
    }

    fn timeout(&self, job: &Job) -> Option<Duration> {
        self.common_for(job).map(|(t, _)| t).filter(|t| *t != Duration::MAX)
    }

    fn max_attempts(&self, job: &Job) -> u32 {
        self.common_for(job).map(|(_, r)| r.saturating_add(1)).unwrap_or(1)
    }
}

/// Forward task changes to their sessions: `notifications/tasks/status` (Form A)
/// and `notifications/progress` for the caller's progress token.
pub(crate) async fn forward_events(shared: Arc<Shared>) {
    let mut events = shared.backend.subscribe();
    let mut last_progress: HashMap<String, f64> = HashMap::new();
    loop {
        let rec = match events.recv().await {
            Ok(TaskEvent::Changed(rec)) => {
                shared.watchers.changed(&rec);
                if rec.status.is_terminal() {
                    shared.run_times.ended(&rec);
                }
                rec
            }
            Ok(TaskEvent::Notified(n)) => {
                relay_notification(&shared, n);
                continue;
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::debug!(missed = n, "status forwarding lagged");
                shared.watchers.recheck_all();
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        let Some(session) = rec.session.as_deref().and_then(|id| shared.session(id)) else { continue };
        if !ferry_protocol::Era::Handshake(session.version()).has_form_a() {
            continue;
        }
        if let (Some(token), Some(p)) = (&rec.progress_token, &rec.progress) {
            if last_progress.insert(rec.id.clone(), p.progress) != Some(p.progress) {
                let mut params = json!({"progressToken": token, "progress": p.progress,
                    "_meta": {META_RELATED_TASK: related_task_meta(&rec.id)}});
                if let Some(t) = p.total {
                    params["total"] = json!(t);
                }
                if let Some(m) = &p.message {
                    params["message"] = json!(m);
                }
                session
                    .send_standalone(Message::Notification(Notification::new("notifications/progress", Some(params))));
            }
        }
        if rec.status.is_terminal() {
            last_progress.remove(&rec.id);
        }
        let mut rec = Arc::unwrap_or_clone(rec);
        shared.pace(&mut rec);
        session.send_standalone(Message::Notification(Notification::new(
            "notifications/tasks/status",
            Some(form_a(&rec)),
        )));
    }
}

/// Deliver a notice to the sessions of this process it is for: a handler's
/// notification (sent from a `ferry worker`, say) to its caller's session, at the
/// session's log level as a local `Context::log` would; a resource update to the
/// sessions subscribed to the resource.
fn relay_notification(shared: &Shared, n: Notice) {
    if shared.session_notice(&n) {
        return;
    }
    let sessions: Vec<Arc<Session>> = match &n.session {
        Some(id) => shared.session(id).into_iter().collect(),
        None if n.method == RESOURCE_UPDATED => {
            let Some(uri) = n.params.get("uri").and_then(Value::as_str) else { return };
            lock(&shared.sessions).values().filter(|s| lock(&s.subscriptions).contains(uri)).cloned().collect()
        }
        None => return,
    };
    for session in sessions {
        if n.method == "notifications/message" {
            let level = n.params.get("level").and_then(|l| serde_json::from_value::<LoggingLevel>(l.clone()).ok());
            if !level.is_some_and(|l| session.logs_at(l)) {
                continue;
            }
        }
        session.send_standalone(Message::Notification(Notification::new(n.method.clone(), Some(n.params.clone()))));
    }
}

/// The notification that a subscribed resource changed.
pub(crate) const RESOURCE_UPDATED: &str = "notifications/resources/updated";
