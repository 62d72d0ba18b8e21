//! The request context every handler can inject.
//!
//! A [`Context`] is built for each execution of a handler, whether it answers
//! a request directly or runs as a background task (in this process or in a
//! `ferry worker`). It is the one door to everything that is not a user
//! argument: who is calling, progress, logging, requests back to the client,
//! cancellation, shared state and dependency providers. Extractors
//! ([`crate::extract`]) are thin typed views over it.

use crate::error::ToolError;
use crate::server::Shared;
use crate::session::{lock, Outbound, Session};
use ferry_protocol::tasks::{missing_capability_error, related_task_meta, META_RELATED_TASK};
use ferry_protocol::types::LoggingLevel;
use ferry_protocol::{ErrorObject, Message, Notification, Request, RequestId};
use ferry_tasks::TaskRuntime;
use futures::future::BoxFuture;
use serde_json::{json, Map, Value};
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

pub(crate) type Cleanup = BoxFuture<'static, ()>;

/// `_meta` key of a stateless request's log level (no level: no log messages).
pub(crate) const META_LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";

pub(crate) struct CallInner {
    pub shared: Arc<Shared>,
    pub request_id: Option<RequestId>,
    pub session: Option<Arc<Session>>,
    /// The caller's session id; for a task also where no session of this process matches
    /// (a `ferry worker`): its notifications are then relayed through the backend.
    pub session_id: Option<String>,
    pub subject: Option<String>,
    /// What the caller's access token allows (a protected server), also in a task.
    pub scopes: Option<std::collections::BTreeSet<String>>,
    pub protocol_version: String,
    pub client_caps: Arc<Value>,
    pub progress_token: Option<Value>,
    /// The stream of the request being answered (direct calls only).
    pub outbound: Option<Outbound>,
    pub task: Option<TaskRuntime>,
    pub cancel: CancellationToken,
    pub deps: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
    pub cleanups: Mutex<Vec<Cleanup>>,
    /// Multi-round-trip input of a stateless (2026-07-28) direct call.
    pub rounds: Option<crate::rounds::Rounds>,
    /// What the tool's `prepare` step returned (see `ToolDef::prepare`).
    pub prepared: std::sync::OnceLock<Value>,
}

/// Everything about the current execution that is not a user argument.
///
/// Inject it by taking a `Context` parameter in a handler.
#[derive(Clone)]
pub struct Context {
    pub(crate) inner: Arc<CallInner>,
}

impl Context {
    pub(crate) fn new(inner: CallInner) -> Self {
        Self { inner: Arc::new(inner) }
    }

    /// The JSON-RPC id of the request (none for a background task).
    pub fn request_id(&self) -> Option<&RequestId> {
        self.inner.request_id.as_ref()
    }

    /// The session id (2025-11-25 era), if any.
    /// Also known to a background task, wherever it runs.
    pub fn session_id(&self) -> Option<&str> {
        self.inner.session_id.as_deref()
    }

    /// Who sent the request, as the server's authenticator named them
    /// (see [`ServerBuilder::authenticate`](crate::ServerBuilder::authenticate));
    /// also known to a background task, wherever it runs.
    pub fn auth_subject(&self) -> Option<&str> {
        self.inner.subject.as_deref()
    }

    /// The scopes the caller's access token grants, on a server protected with
    /// [`ServerBuilder::protect`](crate::ServerBuilder::protect) (`None` elsewhere);
    /// also known to a background task, wherever it runs.
    pub fn auth_scopes(&self) -> Option<&std::collections::BTreeSet<String>> {
        self.inner.scopes.as_ref()
    }

    /// The protocol version of the request.
    pub fn protocol_version(&self) -> &str {
        &self.inner.protocol_version
    }

    /// The client's declared capabilities.
    pub fn client_capabilities(&self) -> &Value {
        &self.inner.client_caps
    }

    /// The task id when running as a background task.
    pub fn task_id(&self) -> Option<&str> {
        self.inner.task.as_ref().map(|t| t.task_id())
    }

    /// Whether the execution was cancelled (request cancelled or task cancelled).
    pub fn is_cancelled(&self) -> bool {
        self.cancellation().is_cancelled()
    }

    /// A token that fires on cancellation.
    pub fn cancellation(&self) -> &CancellationToken {
        match &self.inner.task {
            Some(t) => t.cancellation(),
            None => &self.inner.cancel,
        }
    }

    /// End the HTTP connection this request is being answered on, without ending
    /// the request: the client reconnects (`GET` with `Last-Event-ID`) and
    /// receives the rest of the answer there. A server sheds long-lived
    /// connections this way (SEP-1699 "polling"); the answer is never lost.
    ///
    /// Returns `false`, doing nothing, where the client could not resume: stdio,
    /// stateless (2026-07-28) requests, clients before 2025-11-25, a client that
    /// does not accept SSE, background tasks.
    pub fn close_stream(&self) -> bool {
        let inner = &self.inner;
        let (Some(session), Some(_), Some(out), None) =
            (&inner.session, &inner.request_id, &inner.outbound, &inner.task)
        else {
            return false;
        };
        // Only an HTTP stream of a client that can resume is resumable (its log is opened
        // when the answer turns into a stream, at the latest by this request, which travels
        // in order with the messages).
        session.http
            && crate::transport::sse::resumable(session)
            && out.send(Message::Notification(Notification::new(crate::transport::sse::CLOSE_STREAM, None)))
    }

    /// The progress reported so far in this execution, and its total (see [`Progress`](crate::Progress)).
    pub fn current_progress(&self) -> (f64, Option<f64>) {
        *lock(&self.progress_so_far())
    }

    /// Where this execution's last progress is kept (one per execution, shared by every
    /// `Progress` it injects).
    fn progress_so_far(&self) -> Arc<Mutex<(f64, Option<f64>)>> {
        type SoFar = Mutex<(f64, Option<f64>)>;
        let mut deps = lock(&self.inner.deps);
        let slot = deps.entry(TypeId::of::<SoFar>()).or_insert_with(|| Arc::new(SoFar::new((0.0, None))));
        slot.clone().downcast::<SoFar>().unwrap_or_else(|_| Arc::new(SoFar::new((0.0, None))))
    }

    /// Report progress. As a task it also becomes the task's status message.
    pub async fn progress(&self, progress: f64, total: Option<f64>, message: Option<&str>) {
        *lock(&self.progress_so_far()) = (progress, total);
        if let Some(task) = &self.inner.task {
            if let Err(e) = task.progress(progress, total, message.map(str::to_string)).await {
                tracing::warn!(error = %e, "could not record task progress");
            }
            return; // the server forwards task progress to the client from the store
        }
        let Some(token) = &self.inner.progress_token else { return };
        let mut params = json!({"progressToken": token, "progress": progress});
        if let Some(t) = total {
            params["total"] = json!(t);
        }
        if let Some(m) = message {
            params["message"] = json!(m);
        }
        self.send(Notification::new("notifications/progress", Some(params)));
    }

    /// Send a log message (`notifications/message`) if the client's level allows it.
    pub fn log(&self, level: LoggingLevel, data: impl Into<Value>) {
        if let Some(s) = &self.inner.session {
            if !s.logs_at(level) {
                return;
            }
        }
        if let Some(rounds) = &self.inner.rounds {
            match rounds.log_level {
                Some(min) if level >= min => {}
                _ => return,
            }
        }
        let mut params = json!({"level": level, "logger": self.inner.shared.info.name, "data": data.into()});
        if let Some(task) = &self.inner.task {
            params["_meta"] = json!({ META_RELATED_TASK: related_task_meta(task.task_id()) });
        }
        self.send(Notification::new("notifications/message", Some(params)));
    }

    /// Tell the clients subscribed to `uri` that it changed (see
    /// [`Server::notify_resource_updated`](crate::Server::notify_resource_updated));
    /// works wherever the handler runs, a `ferry worker` included.
    pub async fn notify_resource_updated(&self, uri: &str) -> Result<(), ferry_tasks::BackendError> {
        self.inner.shared.resource_updated(uri).await
    }

    /// Log at `info`.
    pub fn info(&self, message: impl Into<String>) {
        self.log(LoggingLevel::Info, Value::String(message.into()));
    }

    fn send(&self, n: Notification) {
        let inner = &self.inner;
        if let Some(out) = &inner.outbound {
            let _ = out.send(Message::Notification(n));
        } else if let Some(s) = &inner.session {
            s.send_standalone(Message::Notification(n));
        } else if let (Some(task), Some(session)) = (&inner.task, &inner.session_id) {
            // A task running away from its caller's connection: the process holding the
            // session forwards it (and applies the session's log level).
            task.notify(session, &n.method, n.params.unwrap_or(Value::Null));
        }
    }

    /// Ask the user for input (`elicitation/create`, form mode). Returns the client's
    /// `ElicitResult` (`{action, content?}`).
    ///
    /// Directly answered requests send the request to the client at once; a
    /// background task moves to `input_required` and the answer arrives through
    /// `tasks/result` (2025-11-25) or `tasks/update` (2026-07-28); a stateless
    /// request ends its round with `input_required` and is answered by the client's
    /// retry (see [`Context::input`] for keys and rounds).
    pub async fn elicit(&self, message: &str, requested_schema: Value) -> Result<Value, ToolError> {
        self.ask(None, "elicitation/create", elicit_params(message, requested_schema)).await
    }

    /// Ask the client's model for a completion (`sampling/createMessage`).
    pub async fn sample(&self, params: Value) -> Result<Value, ToolError> {
        self.ask(None, "sampling/createMessage", params).await
    }

    /// Ask the client for its roots (`roots/list`). Returns the `ListRootsResult`.
    pub async fn list_roots(&self) -> Result<Value, ToolError> {
        self.ask(None, "roots/list", json!({})).await
    }

    /// Send a request to the client and wait for its result.
    pub async fn request_client(&self, method: &str, params: Value) -> Result<Value, ToolError> {
        self.ask(None, method, params).await
    }

    /// A question to the client under a key of your choice.
    ///
    /// The key names the question in the `inputRequests` of a stateless round and
    /// of a 2026-07-28 task, so a client (or a test) can tell questions apart; it
    /// must be unique within the request. Without one, questions are keyed
    /// `input-1`, `input-2`, … in the order the handler asks them.
    ///
    /// A stateless request runs its handler once per round: every question the
    /// round cannot answer is sent back in one `InputRequiredResult` (ask several
    /// at once with `tokio::join!`), and answers already given are carried in the
    /// sealed `requestState`, so the handler reads like straight-line code:
    ///
    /// ```no_run
    /// # use ferry_server::{Context, ToolError};
    /// # use serde_json::json;
    /// async fn book(cx: Context) -> Result<String, ToolError> {
    ///     let name = cx.input("name").elicit("Your name?", json!({"type": "object",
    ///         "properties": {"name": {"type": "string"}}, "required": ["name"]})).await?;
    ///     let when = cx.input("when").elicit("Which day?", json!({"type": "object",
    ///         "properties": {"day": {"type": "string"}}, "required": ["day"]})).await?;
    ///     Ok(format!("booked {} on {}", name["content"]["name"], when["content"]["day"]))
    /// }
    /// ```
    pub fn input(&self, key: impl Into<String>) -> Input<'_> {
        Input { cx: self, key: key.into() }
    }

    /// Whether the client declared `capability` (`"elicitation"`, `"sampling"`, `"roots"`, …).
    /// A handler that can do without an answer asks only what the client can give.
    pub fn client_supports(&self, capability: &str) -> bool {
        self.inner.client_caps.get(capability).is_some_and(|c| !c.is_null())
    }

    /// What this handler kept for itself in the previous round of a stateless request
    /// (see [`Context::set_request_state`]); `None` in the first round and outside rounds.
    pub fn request_state(&self) -> Option<&Value> {
        self.inner.rounds.as_ref()?.kept()
    }

    /// Keep `value` for the next round of this stateless request: if the round ends
    /// with `input_required`, the value travels, sealed against tampering, in the
    /// `requestState` the client echoes, and [`Context::request_state`] returns it in
    /// the retry. Without a new value, the previous one is kept. Elsewhere (tasks,
    /// sessions, where the handler simply waits for its answers) it does nothing.
    pub fn set_request_state(&self, value: Value) {
        if let Some(rounds) = &self.inner.rounds {
            rounds.keep(value);
        }
    }

    /// Enqueue durable background work (see [`crate::jobs`]).
    pub fn jobs(&self) -> crate::Jobs {
        crate::Jobs { shared: self.inner.shared.clone() }
    }

    /// The server running this call, to change its components from a handler
    /// ([`Server::add_tool`](crate::Server::add_tool), ...). In a `ferry worker`
    /// it is the worker's own copy: changes there reach no client.
    pub fn server(&self) -> crate::Server {
        crate::Server { shared: self.inner.shared.clone() }
    }

    async fn ask(&self, key: Option<&str>, method: &str, params: Value) -> Result<Value, ToolError> {
        let capability = method.split('/').next().unwrap_or_default();
        if let Some(task) = &self.inner.task {
            // A task must not ask what the requesting client never declared it could answer.
            if !self.client_supports(capability) {
                return Err(ToolError::new(format!("the client does not support {capability}")));
            }
            return task
                .request_input_as(key.map(str::to_string), json!({"method": method, "params": params}))
                .await
                .map_err(|e| ToolError::new(format!("no answer to {method}: {e}")));
        }
        if let Some(rounds) = &self.inner.rounds {
            let key = rounds.key(key);
            if let Some(answer) = rounds.answer(&key, method).map_err(ToolError::rpc)? {
                return Ok(answer);
            }
            if !self.client_supports(capability) {
                // A stateless request must declare what it can answer (SEP-2575).
                return Err(ToolError::rpc(missing_capability_error(json!({ capability: {} }))));
            }
            rounds.ask(key, method, params);
            return Err(ToolError::new(format!("waiting for the client to answer {method}")));
        }
        if !self.client_supports(capability) {
            return Err(ToolError::new(format!("the client does not support {capability}")));
        }
        let (Some(session), Some(out)) = (&self.inner.session, &self.inner.outbound) else {
            return Err(ToolError::new(format!(
                "{method} needs a session or a task; a stateless request cannot be answered by the client"
            )));
        };
        let id = session.next_request_id();
        let (tx, rx) = oneshot::channel();
        lock(&session.pending).insert(id.clone(), tx);
        let req = Request::new(RequestId::String(id.clone()), method, Some(params));
        if !out.send(Message::Request(req)) {
            lock(&session.pending).remove(&id);
            return Err(ToolError::new("the client's stream is closed"));
        }
        tokio::select! {
            r = rx => match r {
                Ok(Ok(v)) => Ok(v),
                Ok(Err(e)) => Err(ToolError::new(format!("client answered {method} with an error: {}", e.message))),
                Err(_) => Err(ToolError::new("the session ended before the client answered")),
            },
            _ = self.inner.cancel.cancelled() => {
                lock(&session.pending).remove(&id);
                Err(ToolError::new("cancelled"))
            }
        }
    }

    /// Shared state registered with `.state(...)`.
    pub fn state<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.inner.shared.states.get(&TypeId::of::<T>()).and_then(|a| a.clone().downcast::<T>().ok())
    }

    /// The value of the provider registered for `T`, provided once per execution.
    /// Its cleanup runs after the handler has finished.
    pub async fn dep<T: Send + Sync + 'static>(&self) -> Result<Arc<T>, ToolError> {
        let key = TypeId::of::<T>();
        if let Some(v) = lock(&self.inner.deps).get(&key) {
            if let Ok(v) = v.clone().downcast::<T>() {
                return Ok(v);
            }
        }
        let provider = self.inner.shared.providers.get(&key).cloned().ok_or_else(|| {
            ToolError::rpc(ErrorObject::internal(format!("no provider for {}", std::any::type_name::<T>())))
        })?;
        let (value, cleanup) = (provider)(self.clone()).await?;
        let value = value
            .downcast::<T>()
            .map_err(|_| ToolError::rpc(ErrorObject::internal("provider returned the wrong type")))?;
        lock(&self.inner.deps).insert(key, value.clone());
        if let Some(c) = cleanup {
            lock(&self.inner.cleanups).push(c);
        }
        Ok(value)
    }

    /// What the tool's [`prepare`](crate::ToolDef::prepare) step returned, in the
    /// handler that follows it (also when that handler runs as a background task).
    pub fn prepared(&self) -> Option<&Value> {
        self.inner.prepared.get()
    }

    /// The `InputRequiredResult` of a stateless round with unanswered questions, if any.
    pub(crate) fn input_required(&self) -> Option<Result<Value, ErrorObject>> {
        self.inner.rounds.as_ref()?.input_required(&self.inner.shared)
    }

    /// Run provider cleanups, last provided first. Provided values are dropped
    /// too, so a later handler on the same context provides afresh.
    pub(crate) async fn finish(&self) {
        lock(&self.inner.deps).clear();
        let cleanups: Vec<Cleanup> = std::mem::take(&mut *lock(&self.inner.cleanups));
        for c in cleanups.into_iter().rev() {
            c.await;
        }
    }
}

fn elicit_params(message: &str, requested_schema: Value) -> Value {
    json!({"mode": "form", "message": message, "requestedSchema": requested_schema})
}

/// A question to the client under a chosen key; see [`Context::input`].
pub struct Input<'a> {
    cx: &'a Context,
    key: String,
}

impl Input<'_> {
    /// [`Context::elicit`] under this key.
    pub async fn elicit(self, message: &str, requested_schema: Value) -> Result<Value, ToolError> {
        self.cx.ask(Some(&self.key), "elicitation/create", elicit_params(message, requested_schema)).await
    }

    /// [`Context::sample`] under this key.
    pub async fn sample(self, params: Value) -> Result<Value, ToolError> {
        self.cx.ask(Some(&self.key), "sampling/createMessage", params).await
    }

    /// [`Context::list_roots`] under this key.
    pub async fn list_roots(self) -> Result<Value, ToolError> {
        self.cx.ask(Some(&self.key), "roots/list", json!({})).await
    }

    /// [`Context::request_client`] under this key.
    pub async fn request(self, method: &str, params: Value) -> Result<Value, ToolError> {
        self.cx.ask(Some(&self.key), method, params).await
    }
}

/// Read `params._meta.progressToken`.
pub(crate) fn progress_token(meta: Option<&Map<String, Value>>) -> Option<Value> {
    meta.and_then(|m| m.get("progressToken")).filter(|v| v.is_string() || v.is_number()).cloned()
}
