//! Prompt definitions.

use super::complete::Completers;
use super::{erase, erase_blocking, BlockingHandler, Common, Handler, IntoPromptResult};
use ferry_protocol::types::{GetPromptResult, Prompt, PromptArgument};
use ferry_protocol::TaskSupport;
use serde_json::Value;

/// A prompt template: a name, arguments (from the handler's `Args<T>`), and a handler.
///
/// ```
/// use ferry_server::{Args, PromptDef};
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct Topic { /// What to write about.
///     topic: String }
/// let p = PromptDef::new("essay").description("Write an essay")
///     .handler(|Args(t): Args<Topic>| async move { format!("Write an essay about {}", t.topic) });
/// ```
#[derive(Clone)]
pub struct PromptDef {
    pub(crate) name: String,
    pub(crate) title: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) common: Common<GetPromptResult>,
    pub(crate) completers: Completers,
}

impl PromptDef {
    /// A prompt called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into(), title: None, description: None, common: Common::default(), completers: Vec::new() }
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
    /// Whether `prompts/get` may, must or must not run as a task.
    pub fn task_support(mut self, s: TaskSupport) -> Self {
        self.common.task_support = Some(s);
        self
    }
    /// Use an async function as the handler.
    pub fn handler<H, T>(mut self, h: H) -> Self
    where
        H: Handler<T>,
        H::Output: IntoPromptResult,
    {
        self.common.set(erase(h, IntoPromptResult::into_prompt_result));
        self
    }
    /// Use a sync function as the handler (run on the blocking pool).
    ///
    /// ```
    /// use ferry_server::{Args, PromptDef};
    /// #[derive(serde::Deserialize, schemars::JsonSchema)]
    /// struct Topic { topic: String }
    /// let p = PromptDef::new("essay")
    ///     .blocking_handler(|Args(t): Args<Topic>| format!("Write an essay about {}", t.topic));
    /// ```
    pub fn blocking_handler<H, T>(mut self, h: H) -> Self
    where
        H: BlockingHandler<T>,
        H::Output: IntoPromptResult,
    {
        self.common.set(erase_blocking(h, IntoPromptResult::into_prompt_result));
        self
    }

    completion_methods!("prompt argument");

    pub(crate) fn listing(&self) -> Prompt {
        Prompt {
            name: self.name.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            arguments: prompt_arguments(self.common.describe.input_schema.as_ref()),
        }
    }
}

/// Prompt arguments from an object schema: one per property.
pub(crate) fn prompt_arguments(schema: Option<&Value>) -> Vec<PromptArgument> {
    let Some(schema) = schema else { return Vec::new() };
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|props| {
            props
                .iter()
                .map(|(name, p)| PromptArgument {
                    name: name.clone(),
                    description: p.get("description").and_then(Value::as_str).map(str::to_string),
                    required: required.contains(&name.as_str()),
                })
                .collect()
        })
        .unwrap_or_default()
}
