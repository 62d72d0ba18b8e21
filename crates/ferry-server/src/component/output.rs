//! Converting what a handler returns into an MCP result.

use crate::error::ToolError;
use crate::schema::output_schema;
use ferry_protocol::types::{
    CallToolResult, Content, GetPromptResult, PromptMessage, ReadResourceResult, ResourceContents,
};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

/// A structured tool result: serialized into `structuredContent` (and a text
/// copy in `content`); `T`'s schema becomes the tool's `outputSchema`.
///
/// ```
/// use ferry_server::{Json, ToolDef};
/// #[derive(serde::Serialize, schemars::JsonSchema)]
/// struct Weather { celsius: f64 }
/// let tool = ToolDef::new("weather").handler(|| async { Json(Weather { celsius: 21.5 }) });
/// ```
#[derive(Debug, Clone)]
pub struct Json<T>(pub T);

/// Turns a tool handler's return value into a `CallToolResult`.
pub trait IntoToolResult {
    /// Convert. `Err` is a JSON-RPC error (or a retry request).
    fn into_tool_result(self) -> Result<CallToolResult, ToolError>;
    /// The output schema, when the result is typed.
    fn output_schema() -> Option<Value> {
        None
    }
}

impl IntoToolResult for CallToolResult {
    fn into_tool_result(self) -> Result<CallToolResult, ToolError> {
        Ok(self)
    }
}

impl IntoToolResult for String {
    fn into_tool_result(self) -> Result<CallToolResult, ToolError> {
        Ok(CallToolResult::text(self))
    }
}

impl IntoToolResult for &'static str {
    fn into_tool_result(self) -> Result<CallToolResult, ToolError> {
        Ok(CallToolResult::text(self))
    }
}

impl IntoToolResult for () {
    fn into_tool_result(self) -> Result<CallToolResult, ToolError> {
        Ok(CallToolResult::default())
    }
}

impl IntoToolResult for Content {
    fn into_tool_result(self) -> Result<CallToolResult, ToolError> {
        Ok(CallToolResult { content: vec![self], ..Default::default() })
    }
}

/// A list of blocks (`Vec<Content>`, `Vec<String>`, ...): one content block each.
impl<T: Into<Content>> IntoToolResult for Vec<T> {
    fn into_tool_result(self) -> Result<CallToolResult, ToolError> {
        Ok(CallToolResult { content: self.into_iter().map(Into::into).collect(), ..Default::default() })
    }
}

/// `None` is an empty result.
impl<T: IntoToolResult> IntoToolResult for Option<T> {
    fn into_tool_result(self) -> Result<CallToolResult, ToolError> {
        self.map_or_else(|| Ok(CallToolResult::default()), IntoToolResult::into_tool_result)
    }
    fn output_schema() -> Option<Value> {
        None
    }
}

impl IntoToolResult for Value {
    fn into_tool_result(self) -> Result<CallToolResult, ToolError> {
        let text = match &self {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        Ok(CallToolResult::text(text))
    }
}

macro_rules! display_results {
    ($($t:ty),*) => {$(
        impl IntoToolResult for $t {
            fn into_tool_result(self) -> Result<CallToolResult, ToolError> {
                Ok(CallToolResult::text(self.to_string()))
            }
        }
    )*};
}
display_results!(i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize, f32, f64, bool);

impl<T: Serialize + JsonSchema> IntoToolResult for Json<T> {
    fn into_tool_result(self) -> Result<CallToolResult, ToolError> {
        let value = serde_json::to_value(&self.0).map_err(|e| {
            ToolError::rpc(ferry_protocol::ErrorObject::internal(format!("cannot serialize result: {e}")))
        })?;
        Ok(CallToolResult {
            content: vec![Content::text(value.to_string())],
            structured_content: Some(value),
            ..Default::default()
        })
    }
    fn output_schema() -> Option<Value> {
        output_schema::<T>()
    }
}

impl<T: IntoToolResult, E: Into<ToolError>> IntoToolResult for Result<T, E> {
    fn into_tool_result(self) -> Result<CallToolResult, ToolError> {
        match self {
            Ok(v) => v.into_tool_result(),
            Err(e) => match e.into() {
                ToolError::Message(m) => Ok(CallToolResult::error(m)),
                other => Err(other),
            },
        }
    }
    fn output_schema() -> Option<Value> {
        T::output_schema()
    }
}

/// Turns a prompt handler's return value into a `GetPromptResult`.
pub trait IntoPromptResult {
    /// Convert. `Err` becomes a JSON-RPC error.
    fn into_prompt_result(self) -> Result<GetPromptResult, ToolError>;
}

impl IntoPromptResult for GetPromptResult {
    fn into_prompt_result(self) -> Result<GetPromptResult, ToolError> {
        Ok(self)
    }
}

impl IntoPromptResult for Vec<PromptMessage> {
    fn into_prompt_result(self) -> Result<GetPromptResult, ToolError> {
        Ok(GetPromptResult { description: None, messages: self })
    }
}

impl IntoPromptResult for String {
    fn into_prompt_result(self) -> Result<GetPromptResult, ToolError> {
        Ok(GetPromptResult { description: None, messages: vec![PromptMessage::user(self)] })
    }
}

impl<T: IntoPromptResult, E: Into<ToolError>> IntoPromptResult for Result<T, E> {
    fn into_prompt_result(self) -> Result<GetPromptResult, ToolError> {
        self.map_err(|e| ToolError::rpc(e.into().into_error_object()))?.into_prompt_result()
    }
}

/// Turns a resource handler's return value into resource contents.
/// `String` becomes text contents at the requested URI.
pub trait IntoResourceResult {
    /// Convert, given the requested URI. `Err` becomes a JSON-RPC error.
    fn into_resource_result(self, uri: &str) -> Result<ReadResourceResult, ToolError>;
}

impl IntoResourceResult for ReadResourceResult {
    fn into_resource_result(self, _uri: &str) -> Result<ReadResourceResult, ToolError> {
        Ok(self)
    }
}

impl IntoResourceResult for Vec<ResourceContents> {
    fn into_resource_result(self, _uri: &str) -> Result<ReadResourceResult, ToolError> {
        Ok(ReadResourceResult { contents: self })
    }
}

impl IntoResourceResult for ResourceContents {
    fn into_resource_result(self, _uri: &str) -> Result<ReadResourceResult, ToolError> {
        Ok(ReadResourceResult { contents: vec![self] })
    }
}

impl IntoResourceResult for String {
    fn into_resource_result(self, uri: &str) -> Result<ReadResourceResult, ToolError> {
        Ok(ReadResourceResult { contents: vec![ResourceContents::text(uri, self)] })
    }
}

/// Bytes become binary contents (`application/octet-stream`) at the requested URI;
/// for another MIME type return [`ResourceContents::blob`].
impl IntoResourceResult for Vec<u8> {
    fn into_resource_result(self, uri: &str) -> Result<ReadResourceResult, ToolError> {
        Ok(ReadResourceResult { contents: vec![ResourceContents::blob(uri, &self, "application/octet-stream")] })
    }
}

impl<T: IntoResourceResult, E: Into<ToolError>> IntoResourceResult for Result<T, E> {
    fn into_resource_result(self, uri: &str) -> Result<ReadResourceResult, ToolError> {
        self.map_err(|e| ToolError::rpc(e.into().into_error_object()))?.into_resource_result(uri)
    }
}
