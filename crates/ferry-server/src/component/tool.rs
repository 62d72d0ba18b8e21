//! Tool definitions.

use super::{erase, erase_blocking, BlockingHandler, Common, Handler, IntoToolResult};
use crate::extract::Describe;
use ferry_protocol::types::{CallToolResult, Tool, ToolExecution};
use ferry_protocol::TaskSupport;
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

    /// How many times a task run that failed transiently is retried.
    pub fn retries(mut self, n: u32) -> Self {
        self.common.retries = n;
        self
    }

    /// Use an async function as the handler.
    pub fn handler<H, T>(mut self, h: H) -> Self
    where
        H: Handler<T>,
        H::Output: IntoToolResult,
    {
        let mut d = Describe::default();
        H::describe(&mut d);
        self.output_schema = <H::Output as IntoToolResult>::output_schema();
        self.common.describe = d;
        self.common.handler = Some(erase(h, IntoToolResult::into_tool_result));
        self
    }

    /// Use a sync function as the handler (run on the blocking pool).
    pub fn blocking_handler<H, T>(mut self, h: H) -> Self
    where
        H: BlockingHandler<T>,
        H::Output: IntoToolResult,
    {
        let mut d = Describe::default();
        H::describe(&mut d);
        self.output_schema = <H::Output as IntoToolResult>::output_schema();
        self.common.describe = d;
        self.common.handler = Some(erase_blocking(h, IntoToolResult::into_tool_result));
        self
    }

    /// The tool's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The listing, with `execution` when `with_execution` (2025-11-25 sessions).
    pub(crate) fn listing(&self, support: TaskSupport, with_execution: bool) -> Tool {
        Tool {
            name: self.name.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            input_schema: self
                .common
                .describe
                .input_schema
                .clone()
                .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
            output_schema: self.output_schema.clone(),
            annotations: self.annotations.clone(),
            execution: with_execution.then_some(ToolExecution { task_support: support }),
        }
    }
}
