//! Prompt definitions.

use super::complete::Completers;
use super::{erase, erase_blocking, BlockingHandler, Common, Handler, IntoPromptResult};
use ferry_protocol::json_types::{allowed_types, has_type};
use ferry_protocol::types::{GetPromptResult, Prompt, PromptArgument};
use ferry_protocol::TaskSupport;
use serde_json::{Map, Value};

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
    /// OAuth scopes a caller's token needs to use this (checked before a call or task;
    /// see [`crate::auth`]). Without a protected resource on the server, not checked.
    pub fn scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.common.scopes = scopes.into_iter().map(Into::into).collect();
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

/// Prompt arguments arrive as strings (MCP defines them so). Turn each string whose
/// parameter is not a string in the schema (`words: Option<u32>`, a flag, a list) into
/// the JSON it spells, so the handler's type reads it; say which argument when it
/// does not parse as that type.
pub(crate) fn typed_arguments(schema: Option<&Value>, args: Map<String, Value>) -> Result<Map<String, Value>, String> {
    let Some(root) = schema else { return Ok(args) };
    let Some(props) = root.get("properties").and_then(Value::as_object) else { return Ok(args) };
    args.into_iter()
        .map(|(name, value)| {
            let (Value::String(text), Some(types)) = (&value, props.get(&name).and_then(|p| allowed_types(p, root)))
            else {
                return Ok((name, value));
            };
            if types.is_empty() || types.contains(&"string") {
                return Ok((name, value));
            }
            match serde_json::from_str::<Value>(text) {
                Ok(v) if types.iter().any(|t| has_type(&v, t)) => Ok((name, v)),
                _ => Err(format!("argument '{name}' must be {}, got \"{text}\"", types.join(" or "))),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn string_arguments_become_the_type_their_parameter_wants() {
        let schema = json!({"$defs": {"Tone": {"enum": ["calm", "loud"]}}, "properties": {
            "words": {"type": ["integer", "null"]}, "ratio": {"type": "number"}, "loud": {"type": "boolean"},
            "tags": {"type": "array"}, "topic": {"type": "string"}, "any": {},
            "tone": {"anyOf": [{"$ref": "#/$defs/Tone"}, {"type": "null"}]}
        }});
        let args = json!({"words": "300", "ratio": "2", "loud": "true", "tags": "[\"a\"]", "topic": "42", "any": "7",
            "tone": "calm"});
        let typed = typed_arguments(Some(&schema), args.as_object().unwrap().clone()).unwrap();
        assert_eq!(
            Value::Object(typed),
            json!({"words": 300, "ratio": 2, "loud": true, "tags": ["a"], "topic": "42", "any": "7", "tone": "calm"})
        );
        let bad = json!({"words": "three hundred"}).as_object().unwrap().clone();
        let err = typed_arguments(Some(&schema), bad).unwrap_err();
        assert_eq!(err, "argument 'words' must be integer or null, got \"three hundred\"");
    }
}
