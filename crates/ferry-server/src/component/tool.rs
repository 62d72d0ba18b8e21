//! Tool definitions.

use super::{erase, erase_blocking, BlockingHandler, Common, ErasedHandler, Handler, IntoToolResult};
use crate::error::ToolError;
use crate::extract::Describe;
use ferry_protocol::types::{CallToolResult, Tool, ToolExecution};
use ferry_protocol::{ErrorObject, TaskSupport};
use serde::Serialize;
use serde_json::{json, Value};
use std::time::Duration;

/// A tool: a name, a description, and a handler.
///
/// ```
/// use ferry_server::{Args, ToolDef, TaskSupport};
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct Sleep { /// Milliseconds to sleep.
///     ms: u64 }
/// let tool = ToolDef::new("sleep")
///     .description("Sleep for a while")
///     .task_support(TaskSupport::Optional)
///     .handler(|Args(s): Args<Sleep>| async move {
///         tokio::time::sleep(std::time::Duration::from_millis(s.ms)).await;
///         format!("slept {}", s.ms)
///     });
/// ```
#[derive(Clone)]
pub struct ToolDef {
    pub(crate) name: String,
    pub(crate) title: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) annotations: Option<Value>,
    pub(crate) output_schema: Option<Value>,
    pub(crate) common: Common<CallToolResult>,
    pub(crate) prepare: Option<PrepareStep>,
}

/// A tool's [`prepare`](ToolDef::prepare) step.
#[derive(Clone)]
pub(crate) struct PrepareStep {
    pub handler: ErasedHandler<Value>,
    pub describe: Describe,
}

fn prepared_value<P: Serialize, E: Into<ToolError>>(out: Result<P, E>) -> Result<Value, ToolError> {
    let p = out.map_err(Into::into)?;
    serde_json::to_value(p)
        .map_err(|e| ToolError::rpc(ErrorObject::internal(format!("cannot serialize the prepared value: {e}"))))
}

impl ToolDef {
    /// A tool called `name`, without a handler yet.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            title: None,
            description: None,
            annotations: None,
            output_schema: None,
            common: Common::default(),
            prepare: None,
        }
    }

    /// Set the description.
    pub fn description(mut self, d: impl Into<String>) -> Self {
        self.description = Some(d.into());
        self
    }

    /// Set the display title.
    pub fn title(mut self, t: impl Into<String>) -> Self {
        self.title = Some(t.into());
        self
    }

    /// Set behaviour hints (`readOnlyHint`, `destructiveHint`, ...).
    pub fn annotations(mut self, a: Value) -> Self {
        self.annotations = Some(a);
        self
    }

    /// Whether the tool may, must or must not run as a task (default: the server's).
    pub fn task_support(mut self, s: TaskSupport) -> Self {
        self.common.task_support = Some(s);
        self
    }

    /// The longest one run may take as a task; past it the run fails (or is retried).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.common.timeout = Some(t);
        self
    }

    /// OAuth scopes a caller's token needs to use this (checked before a call or task;
    /// see [`crate::auth`]). Without a protected resource on the server, not checked.
    pub fn scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.common.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// How many times a task run that failed transiently is retried.
    pub fn retries(mut self, n: u32) -> Self {
        self.common.retries = n;
        self
    }

    /// How often clients are told to poll its tasks (default: the server's
    /// [`ServerConfig::poll_interval`](crate::ServerConfig::poll_interval); see [`crate::pace`]).
    ///
    /// ```
    /// use ferry_server::{PollInterval, ToolDef};
    /// // A render that takes minutes: ask for a poll every 10 s, whatever it took lately.
    /// let t = ToolDef::new("render").poll_interval(PollInterval::Fixed(10_000)).handler(|| async { "rendered" });
    /// ```
    pub fn poll_interval(mut self, p: crate::pace::PollInterval) -> Self {
        self.common.poll_interval = Some(p);
        self
    }

    /// At most `n` runs of this tool at once in this process (0 counts as 1), direct
    /// calls and tasks together; the others wait their turn (a task says so in its
    /// status message; the wait counts toward its timeout). In a Redis deployment
    /// each worker process has its own `n`.
    ///
    /// ```
    /// use ferry_server::ToolDef;
    /// let t = ToolDef::new("render").concurrency(2).handler(|| async { "rendered" });
    /// ```
    pub fn concurrency(mut self, n: usize) -> Self {
        self.common.limit = Some(std::sync::Arc::new(tokio::sync::Semaphore::new(n.max(1))));
        self
    }

    /// Use an async function as the handler.
    pub fn handler<H, T>(mut self, h: H) -> Self
    where
        H: Handler<T>,
        H::Output: IntoToolResult,
    {
        self.output_schema = <H::Output as IntoToolResult>::output_schema();
        self.common.set(erase(h, IntoToolResult::into_tool_result));
        self
    }

    /// Use a sync function as the handler (run on the blocking pool).
    pub fn blocking_handler<H, T>(mut self, h: H) -> Self
    where
        H: BlockingHandler<T>,
        H::Output: IntoToolResult,
    {
        self.output_schema = <H::Output as IntoToolResult>::output_schema();
        self.common.set(erase_blocking(h, IntoToolResult::into_tool_result));
        self
    }

    /// A step that runs in the request itself, before the handler: before the
    /// task is created when the call becomes a task. Use it to ask the user
    /// ([`Context::elicit`](crate::Context::elicit)) while the client is still
    /// there. What it returns reaches the handler as
    /// [`Prepared<P>`](crate::Prepared) (carried with the task's job, so a
    /// `ferry worker` gets it too). An `Err` ends the call as a handler's error would.
    ///
    /// On a stateless (2026-07-28) request its questions take multi-round-trip
    /// rounds: each round without every answer is answered with
    /// `resultType: "input_required"`, and only the round that carries all
    /// answers creates the task (SEP-2663: input needed before task creation is
    /// resolved synchronously). On a 2025-11-25 session it asks on the request's stream.
    ///
    /// ```
    /// use ferry_server::{Context, Prepared, TaskSupport, ToolDef, ToolError};
    /// let tool = ToolDef::new("greet_later")
    ///     .task_support(TaskSupport::Required)
    ///     .prepare(|cx: Context| async move {
    ///         let answer = cx.elicit("Your name?", serde_json::json!({"type": "object",
    ///             "properties": {"name": {"type": "string"}}})).await?;
    ///         Ok::<_, ToolError>(answer["content"]["name"].as_str().unwrap_or("?").to_string())
    ///     })
    ///     .handler(|Prepared(name): Prepared<String>| async move { format!("Hello, {name}!") });
    /// ```
    pub fn prepare<H, T, P, E>(mut self, h: H) -> Self
    where
        H: Handler<T, Output = Result<P, E>>,
        P: Serialize + Send + 'static,
        E: Into<ToolError> + Send + 'static,
    {
        let (describe, handler) = erase(h, prepared_value::<P, E>);
        self.prepare = Some(PrepareStep { handler, describe });
        self
    }

    /// The tool's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The input schema clients see: the handler's, else the prepare step's, else any object.
    pub(crate) fn input_schema(&self) -> Value {
        self.common
            .describe
            .input_schema
            .clone()
            .or_else(|| self.prepare.as_ref().and_then(|p| p.describe.input_schema.clone()))
            .unwrap_or_else(|| json!({"type": "object", "properties": {}}))
    }

    /// The listing, with `execution` when `with_execution` (2025-11-25 sessions).
    pub(crate) fn listing(&self, support: TaskSupport, with_execution: bool) -> Tool {
        Tool {
            name: self.name.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            input_schema: self.input_schema(),
            output_schema: self.output_schema.clone(),
            annotations: self.annotations.clone(),
            execution: with_execution.then_some(ToolExecution { task_support: support }),
        }
    }
}
