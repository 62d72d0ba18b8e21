//! Injected handler parameters (extractors).
//!
//! A handler is a plain async function. Each parameter implements
//! [`FromCall`]: [`Args<T>`] is built from the caller's arguments, everything
//! else is *injected* from the [`Context`] and never read from the arguments.
//! That is what keeps callers from supplying or overriding injected values:
//! a request can carry an argument called `state` or `ctx`, but only `Args<T>`
//! ever looks at arguments, and only at the fields of `T`.
//!
//! Every extractor also *describes* itself ([`Describe`]): `Args<T>` gives the
//! input schema, `State<T>` and `Dep<T>` name what must be registered, so a
//! missing provider is reported by `ServerBuilder::build`, not by a request.

use crate::context::{Cleanup, Context};
use crate::error::ToolError;
use ferry_protocol::ErrorObject;
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::any::{Any, TypeId};
use std::future::Future;
use std::ops::Deref;
use std::sync::Arc;

/// Checks arguments without running the handler (so bad input is rejected before a task is created).
pub(crate) type Validator = fn(&Map<String, Value>) -> Result<(), String>;

/// What a handler's parameters need and offer, collected at registration.
#[derive(Default, Clone)]
pub struct Describe {
    pub(crate) input_schema: Option<Value>,
    pub(crate) validate: Option<Validator>,
    pub(crate) args_count: usize,
    pub(crate) states: Vec<(TypeId, &'static str)>,
    pub(crate) providers: Vec<(TypeId, &'static str)>,
    pub(crate) needs_prepared: bool,
}

impl Describe {
    /// Declare that the handler needs `State<T>`.
    pub fn needs_state<T: 'static>(&mut self) {
        self.states.push((TypeId::of::<T>(), std::any::type_name::<T>()));
    }
    /// Declare that the handler needs a provider of `T`.
    pub fn needs_provider<T: 'static>(&mut self) {
        self.providers.push((TypeId::of::<T>(), std::any::type_name::<T>()));
    }
}

/// A handler parameter that can be produced for an execution.
///
/// Implement it for your own injected types (like axum's `FromRequestParts`);
/// read what you need from the [`Context`], never from the arguments.
///
/// ```
/// use ferry_server::{Context, FromCall, ToolError};
/// use serde_json::{Map, Value};
///
/// /// The caller's session id, or "stateless".
/// struct Caller(String);
///
/// impl FromCall for Caller {
///     async fn from_call(cx: &Context, _args: &Map<String, Value>) -> Result<Self, ToolError> {
///         Ok(Caller(cx.session_id().unwrap_or("stateless").to_string()))
///     }
/// }
/// ```
pub trait FromCall: Sized + Send + 'static {
    /// Produce the value.
    fn from_call(cx: &Context, args: &Map<String, Value>) -> impl Future<Output = Result<Self, ToolError>> + Send;

    /// Say what this parameter needs or offers (schema, state, providers).
    fn describe(_d: &mut Describe) {}
}

impl FromCall for Context {
    async fn from_call(cx: &Context, _args: &Map<String, Value>) -> Result<Self, ToolError> {
        Ok(cx.clone())
    }
}

/// The caller's arguments, deserialized into `T`; its JSON Schema is the input schema.
///
/// ```
/// use ferry_server::{Args, ToolDef};
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct Add { a: i64, b: i64 }
/// let tool = ToolDef::new("add").handler(|Args(x): Args<Add>| async move { x.a + x.b });
/// ```
#[derive(Debug, Clone)]
pub struct Args<T>(pub T);

fn validate_as<T: DeserializeOwned>(args: &Map<String, Value>) -> Result<(), String> {
    serde_json::from_value::<T>(Value::Object(args.clone())).map(|_| ()).map_err(|e| e.to_string())
}

impl<T: DeserializeOwned + JsonSchema + Send + 'static> FromCall for Args<T> {
    async fn from_call(_cx: &Context, args: &Map<String, Value>) -> Result<Self, ToolError> {
        serde_json::from_value(Value::Object(args.clone()))
            .map(Args)
            .map_err(|e| ToolError::invalid_params(format!("Invalid arguments: {e}")))
    }

    fn describe(d: &mut Describe) {
        d.args_count += 1;
        d.input_schema = Some(crate::schema::input_schema::<T>());
        d.validate = Some(validate_as::<T>);
    }
}

/// Shared state registered with `ServerBuilder::state`.
///
/// ```
/// use ferry_server::{Server, State, ToolDef};
/// struct Counter {
///     hits: std::sync::atomic::AtomicU64,
/// }
/// let server = Server::builder("demo", "1.0")
///     .state(Counter { hits: Default::default() })
///     .tool(ToolDef::new("hits").handler(|s: State<Counter>| async move {
///         s.hits.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1
///     }))
///     .build()
///     .unwrap();
/// ```
pub struct State<T>(pub Arc<T>);

impl<T> Deref for State<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Send + Sync + 'static> FromCall for State<T> {
    async fn from_call(cx: &Context, _args: &Map<String, Value>) -> Result<Self, ToolError> {
        cx.state::<T>().map(State).ok_or_else(|| {
            ToolError::rpc(ErrorObject::internal(format!("state {} not registered", std::any::type_name::<T>())))
        })
    }
    fn describe(d: &mut Describe) {
        d.needs_state::<T>();
    }
}

/// A value made by a provider registered with `ServerBuilder::provider`.
///
/// The provider runs once per execution (the first `Dep<T>` asks for it); its
/// cleanup runs after the handler has finished — for a background task, after
/// the background work has finished.
pub struct Dep<T>(pub Arc<T>);

impl<T> Deref for Dep<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Send + Sync + 'static> FromCall for Dep<T> {
    async fn from_call(cx: &Context, _args: &Map<String, Value>) -> Result<Self, ToolError> {
        cx.dep::<T>().await.map(Dep)
    }
    fn describe(d: &mut Describe) {
        d.needs_provider::<T>();
    }
}

/// What a provider returns: the value and an optional async cleanup.
///
/// ```
/// use ferry_server::Provided;
/// struct Conn;
/// let p = Provided::new(Conn).on_cleanup(|_conn| async move { /* close it */ });
/// ```
pub struct Provided<T> {
    pub(crate) value: T,
    pub(crate) cleanup: Option<Box<dyn FnOnce(Arc<T>) -> Cleanup + Send>>,
}

impl<T: Send + Sync + 'static> Provided<T> {
    /// A value without cleanup.
    pub fn new(value: T) -> Self {
        Self { value, cleanup: None }
    }
    /// Run `f` with the value once the handler has finished.
    pub fn on_cleanup<F, Fut>(mut self, f: F) -> Self
    where
        F: FnOnce(Arc<T>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.cleanup = Some(Box::new(move |v| Box::pin(f(v))));
        self
    }
}

pub(crate) type ErasedProvider = Arc<
    dyn Fn(Context) -> BoxFuture<'static, Result<(Arc<dyn Any + Send + Sync>, Option<Cleanup>), ToolError>>
        + Send
        + Sync,
>;

pub(crate) fn erase_provider<T, F, Fut>(f: F) -> ErasedProvider
where
    T: Send + Sync + 'static,
    F: Fn(Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Provided<T>, ToolError>> + Send + 'static,
{
    Arc::new(move |cx| {
        let fut = f(cx);
        Box::pin(async move {
            let provided = fut.await?;
            let value = Arc::new(provided.value);
            let cleanup = provided.cleanup.map(|c| c(value.clone()));
            Ok((value as Arc<dyn Any + Send + Sync>, cleanup))
        })
    })
}

/// What the tool's [`prepare`](crate::ToolDef::prepare) step returned,
/// deserialized into `T`. A handler taking it on a tool without a prepare step
/// is a build error.
///
/// ```
/// use ferry_server::{Prepared, ToolDef, ToolError};
/// let tool = ToolDef::new("t")
///     .prepare(|| async { Ok::<_, ToolError>(41) })
///     .handler(|Prepared(n): Prepared<i64>| async move { n + 1 });
/// ```
#[derive(Debug, Clone)]
pub struct Prepared<T>(pub T);

impl<T: DeserializeOwned + Send + 'static> FromCall for Prepared<T> {
    async fn from_call(cx: &Context, _args: &Map<String, Value>) -> Result<Self, ToolError> {
        let value = cx
            .prepared()
            .ok_or_else(|| ToolError::rpc(ErrorObject::internal("no prepared value: the tool has no prepare step")))?;
        serde_json::from_value(value.clone())
            .map(Prepared)
            .map_err(|e| ToolError::rpc(ErrorObject::internal(format!("the prepared value does not fit: {e}"))))
    }
    fn describe(d: &mut Describe) {
        d.needs_prepared = true;
    }
}

/// Reports progress of the current execution.
///
/// For a direct call it sends `notifications/progress` (when the caller gave a
/// progress token); for a task it records the progress and status message on
/// the task, and the server forwards it.
#[derive(Clone)]
pub struct Progress(Context);

impl Progress {
    /// Report `progress` of `total` with a message.
    pub async fn report(&self, progress: f64, total: Option<f64>, message: Option<&str>) {
        self.0.progress(progress, total, message).await
    }
    /// Report step `i` of `n` with a message.
    pub async fn step(&self, i: u64, n: u64, message: &str) {
        self.0.progress(i as f64, Some(n as f64), Some(message)).await
    }
    /// Add `by` to the progress so far (keeping its total) and report it.
    pub async fn increment(&self, by: f64, message: Option<&str>) {
        let (now, total) = self.current();
        self.0.progress(now + by, total, message).await
    }
    /// Set the total of the progress so far and report it (say, once the size of the work is known).
    pub async fn set_total(&self, total: f64) {
        let (now, _) = self.current();
        self.0.progress(now, Some(total), None).await
    }
    /// The progress reported so far in this execution, and its total.
    ///
    /// ```
    /// # async fn f(progress: ferry_server::Progress) {
    /// progress.set_total(10.0).await;
    /// progress.increment(3.0, Some("three done")).await;
    /// assert_eq!(progress.current(), (3.0, Some(10.0)));
    /// # }
    /// ```
    pub fn current(&self) -> (f64, Option<f64>) {
        self.0.current_progress()
    }
}

impl FromCall for Progress {
    async fn from_call(cx: &Context, _args: &Map<String, Value>) -> Result<Self, ToolError> {
        Ok(Progress(cx.clone()))
    }
}

/// The background task this execution belongs to, if it runs as one.
#[derive(Clone)]
pub struct TaskHandle(Context);

impl TaskHandle {
    /// The task id, when running as a task.
    pub fn id(&self) -> Option<&str> {
        self.0.task_id()
    }
    /// Whether this execution is a background task.
    pub fn is_task(&self) -> bool {
        self.0.task_id().is_some()
    }
    /// Set the task's status message (ignored for direct calls).
    pub async fn set_message(&self, message: &str) {
        if let Some(t) = &self.0.inner.task {
            if let Err(e) = t.message(message).await {
                tracing::warn!(error = %e, "could not set task message");
            }
        }
    }
}

impl FromCall for TaskHandle {
    async fn from_call(cx: &Context, _args: &Map<String, Value>) -> Result<Self, ToolError> {
        Ok(TaskHandle(cx.clone()))
    }
}
