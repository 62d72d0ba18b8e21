//! Argument completion (`completion/complete`): suggestions for a prompt's
//! arguments and a resource template's variables while a user types them.
//!
//! A completer belongs to one argument of one component, so it is declared on
//! the component ([`PromptDef::complete`](crate::PromptDef::complete),
//! [`ResourceTemplateDef::complete`](crate::ResourceTemplateDef::complete)) and
//! checked against the component's arguments when the server is built. An
//! argument without a completer completes to nothing, which is a valid answer.

use crate::error::ToolError;
use futures::future::BoxFuture;
use serde_json::{Map, Value};
use std::future::Future;
use std::sync::Arc;

/// The most values one answer carries (the MCP limit); `total` and `hasMore` tell the rest.
pub(crate) const MAX_VALUES: usize = 100;

/// What a completer is asked.
///
/// ```
/// use ferry_server::{prompt, CompletionRequest, Server};
///
/// /// Suggest languages that start with what was typed.
/// async fn languages(req: CompletionRequest) -> Vec<String> {
///     ["rust", "python", "go"].iter().filter(|l| l.starts_with(&req.value)).map(|l| l.to_string()).collect()
/// }
///
/// /// Review code in a language.
/// #[prompt]
/// async fn review(#[arg(complete = "languages")] language: String, code: String) -> String {
///     format!("Review this {language} code:\n{code}")
/// }
///
/// let server = Server::builder("reviews", "1").prompt(review_prompt()).build().unwrap();
/// ```
///
/// MCP completes prompt and template arguments only, so a tool argument cannot have one:
///
/// ```compile_fail
/// async fn languages(req: ferry_server::CompletionRequest) -> Vec<String> { vec![req.value] }
/// #[ferry_server::tool]
/// async fn run(#[arg(complete = "languages")] language: String) -> String { language }
/// ```
#[derive(Debug, Clone, Default)]
pub struct CompletionRequest {
    /// The argument being completed.
    pub argument: String,
    /// What the user typed so far.
    pub value: String,
    /// The other arguments already chosen, when the client sends them (`context.arguments`).
    pub arguments: Map<String, Value>,
}

/// What a completer may return: the values, or an error the client sees.
pub trait IntoCompletion: Send + 'static {
    /// The suggested values, best first.
    fn into_completion(self) -> Result<Vec<String>, ToolError>;
}

impl IntoCompletion for Vec<String> {
    fn into_completion(self) -> Result<Vec<String>, ToolError> {
        Ok(self)
    }
}

impl IntoCompletion for Vec<&'static str> {
    fn into_completion(self) -> Result<Vec<String>, ToolError> {
        Ok(self.into_iter().map(str::to_string).collect())
    }
}

impl<T: IntoCompletion, E: Into<ToolError> + Send + 'static> IntoCompletion for Result<T, E> {
    fn into_completion(self) -> Result<Vec<String>, ToolError> {
        self.map_err(Into::into).and_then(IntoCompletion::into_completion)
    }
}

/// An erased completer.
pub(crate) type Completer =
    Arc<dyn Fn(CompletionRequest) -> BoxFuture<'static, Result<Vec<String>, ToolError>> + Send + Sync>;

/// The completers of one component, by argument name.
pub(crate) type Completers = Vec<(String, Completer)>;

/// Erase an async completer function.
pub(crate) fn completer<F, Fut>(f: F) -> Completer
where
    F: Fn(CompletionRequest) -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: IntoCompletion,
{
    Arc::new(move |req| {
        let fut = f(req);
        Box::pin(async move { fut.await.into_completion() })
    })
}

/// A completer over a fixed list: the values that start with what was typed, ignoring case.
pub(crate) fn from_values(values: Vec<String>) -> Completer {
    let values = Arc::new(values);
    completer(move |req: CompletionRequest| {
        let values = values.clone();
        async move {
            let typed = req.value.to_lowercase();
            values.iter().filter(|v| v.to_lowercase().starts_with(&typed)).cloned().collect::<Vec<String>>()
        }
    })
}

/// Add (or replace) the completer of `argument`.
pub(crate) fn set(completers: &mut Completers, argument: String, c: Completer) {
    completers.retain(|(name, _)| *name != argument);
    completers.push((argument, c));
}

/// The completer of `argument`, if any.
pub(crate) fn find<'a>(completers: &'a Completers, argument: &str) -> Option<&'a Completer> {
    completers.iter().find(|(name, _)| name == argument).map(|(_, c)| c)
}

/// The builder methods of a component with completable arguments (a `completers` field).
macro_rules! completion_methods {
    ($what:literal) => {
        #[doc = concat!("Suggest values for the ", $what, " `argument` in `completion/complete`, with an async")]
        /// function of the [`CompletionRequest`](crate::CompletionRequest) returning the values, best
        /// first (`Vec<String>`, or a `Result` of them). At most 100 are sent; `total` tells how many
        /// there were. Building the server fails if the component has no such argument.
        pub fn complete<F, Fut>(mut self, argument: impl Into<String>, f: F) -> Self
        where
            F: Fn($crate::CompletionRequest) -> Fut + Send + Sync + 'static,
            Fut: std::future::Future + Send + 'static,
            Fut::Output: $crate::component::IntoCompletion,
        {
            $crate::component::complete::set(
                &mut self.completers,
                argument.into(),
                $crate::component::complete::completer(f),
            );
            self
        }
        #[doc = concat!("Suggest values for the ", $what, " `argument` from a fixed list: those that start")]
        /// with what was typed, ignoring case, in the list's order.
        pub fn complete_values<I, S>(mut self, argument: impl Into<String>, values: I) -> Self
        where
            I: IntoIterator<Item = S>,
            S: Into<String>,
        {
            let values = values.into_iter().map(Into::into).collect();
            $crate::component::complete::set(
                &mut self.completers,
                argument.into(),
                $crate::component::complete::from_values(values),
            );
            self
        }
    };
}
