//! Errors a handler returns and errors of building a server.

use ferry_protocol::{ErrorCode, ErrorObject};
use std::fmt;

/// The error a handler returns.
///
/// Any `std::error::Error` converts into it with `?`, becoming a *tool error*:
/// the caller (and the model) sees a `CallToolResult` with `isError: true`.
/// [`ToolError::rpc`] makes a JSON-RPC error instead (for prompts and resources
/// every error is a JSON-RPC error), and [`ToolError::retryable`] asks a task
/// worker to run the job again.
///
/// ```
/// use ferry_server::ToolError;
/// fn parse(s: &str) -> Result<i64, ToolError> {
///     Ok(s.parse::<i64>()?)
/// }
/// assert!(parse("x").is_err());
/// let e = ToolError::new("disk full");
/// assert_eq!(e.to_string(), "disk full");
/// ```
#[derive(Debug, Clone)]
pub enum ToolError {
    /// A failure the caller should see as a tool error result.
    Message(String),
    /// A JSON-RPC error.
    Rpc(ErrorObject),
    /// A transient failure: a background task is retried while attempts remain.
    Retryable(String),
}

impl ToolError {
    /// A tool error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        ToolError::Message(message.into())
    }
    /// A JSON-RPC error.
    pub fn rpc(error: ErrorObject) -> Self {
        ToolError::Rpc(error)
    }
    /// A `-32602` invalid-params JSON-RPC error.
    pub fn invalid_params(message: impl Into<String>) -> Self {
        ToolError::Rpc(ErrorObject::invalid_params(message))
    }
    /// A transient failure (retried when the component allows retries).
    pub fn retryable(message: impl Into<String>) -> Self {
        ToolError::Retryable(message.into())
    }
    /// As a JSON-RPC error object (tool errors become `-32603`).
    pub fn into_error_object(self) -> ErrorObject {
        match self {
            ToolError::Rpc(e) => e,
            ToolError::Message(m) | ToolError::Retryable(m) => ErrorObject::new(ErrorCode::INTERNAL_ERROR, m),
        }
    }
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ToolError::Message(m) | ToolError::Retryable(m) => f.write_str(m),
            ToolError::Rpc(e) => write!(f, "{e}"),
        }
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for ToolError {
    fn from(e: E) -> Self {
        ToolError::Message(e.to_string())
    }
}

/// A mistake found while building a server: reported at start-up, never in a request.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BuildError {
    /// The authorization setup cannot work.
    #[error("authorization: {0}")]
    Auth(String),
    /// A job has a prepare step: nobody could answer its questions.
    #[error("job '{job}' has a prepare step; a job runs with no client to ask")]
    JobWithPrepareStep {
        /// The job.
        job: String,
    },
    /// A tool's input schema has an `x-mcp-header` annotation 2026-07-28 does not allow
    /// (clients would drop the tool).
    #[error("tool '{tool}': {reason}")]
    InvalidHeaderParam {
        /// The tool.
        tool: String,
        /// What is wrong, and where.
        reason: String,
    },
    /// A completer was declared for an argument the component does not have.
    #[error("{component} declares a completer for '{argument}', which is not one of its arguments ({known})")]
    UnknownCompletionArgument {
        /// The component.
        component: String,
        /// The argument named by the completer.
        argument: String,
        /// The arguments it has, comma-separated.
        known: String,
    },
    /// Two components share a name.
    #[error("duplicate {kind} '{name}'")]
    Duplicate {
        /// tool, prompt, resource or resource template.
        kind: &'static str,
        /// The name or URI.
        name: String,
    },
    /// A handler injects `Dep<T>` but no provider for `T` was registered.
    #[error("{component} injects Dep<{type_name}> but no provider for it was registered (call .provider(...) on the builder)")]
    MissingProvider {
        /// The component.
        component: String,
        /// The type.
        type_name: &'static str,
    },
    /// A handler injects `State<T>` but no such state was registered.
    #[error(
        "{component} injects State<{type_name}> but no such state was registered (call .state(...) on the builder)"
    )]
    MissingState {
        /// The component.
        component: String,
        /// The type.
        type_name: &'static str,
    },
    /// A handler takes more than one `Args<...>` parameter.
    #[error("{component} takes more than one Args<...> parameter; put all arguments in one type")]
    TwoArgs {
        /// The component.
        component: String,
    },
    /// A handler injects `Prepared<T>` but its tool has no prepare step.
    #[error("{component} injects Prepared<...> but has no prepare step (call .prepare(...) on the tool)")]
    NoPrepareStep {
        /// The component.
        component: String,
    },
    /// A component has no handler.
    #[error("{component} has no handler")]
    NoHandler {
        /// The component.
        component: String,
    },
    /// A resource template is not a valid URI template.
    #[error("invalid URI template '{0}'")]
    BadTemplate(String),
}
