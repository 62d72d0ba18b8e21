//! Tools, prompts and resources, and the handlers behind them.
//!
//! A component is a description (what `*/list` shows) plus an erased handler.
//! Any async function whose parameters all implement [`FromCall`] is a
//! [`Handler`]; a plain (sync) function is a [`BlockingHandler`] and runs on
//! Tokio's blocking pool. The return value is converted by the component's
//! output trait ([`IntoToolResult`], [`IntoPromptResult`], [`IntoResourceResult`]).

#[macro_use]
pub(crate) mod complete;
mod output;
pub(crate) mod prompt;
mod resource;
mod tool;

pub use complete::{CompletionRequest, IntoCompletion};
pub use output::{IntoPromptResult, IntoResourceResult, IntoToolResult, Json};
pub use prompt::PromptDef;
pub use resource::{ResourceDef, ResourceTemplateDef};
pub use tool::ToolDef;

pub(crate) use resource::UriTemplate;

use crate::context::Context;
use crate::error::ToolError;
use crate::extract::{Describe, FromCall};
use ferry_protocol::TaskSupport;
use futures::future::BoxFuture;
use serde_json::{Map, Value};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// An async function usable as a handler. `T` is the tuple of its parameter types.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a Ferry handler",
    label = "not a handler",
    note = "a handler is an async fn or closure, `Clone + Send + Sync + 'static`, of at most 8 parameters that are \
            extractors (`Context`, `Args<T>`, `Progress`, `State<T>`, `Dep<T>`, ... or your `FromCall` type), \
            whose future is `Send` (hold no `std::sync::MutexGuard` or `Rc` across an `.await`)",
    note = "with `#[tool]`/`#[prompt]`/`#[resource]` the compiler names the parameter or the value at fault"
)]
pub trait Handler<T>: Clone + Send + Sync + 'static {
    /// What the function returns.
    type Output: Send + 'static;
    /// Extract the parameters and call the function.
    fn call(self, cx: Context, args: Map<String, Value>) -> BoxFuture<'static, Result<Self::Output, ToolError>>;
    /// Describe the parameters.
    fn describe(d: &mut Describe);
}

/// A sync function usable as a handler, run on the blocking pool.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a Ferry blocking handler",
    label = "not a blocking handler",
    note = "a blocking handler is a sync fn or closure, `Clone + Send + Sync + 'static`, whose parameters are \
            extractors (`Context`, `Args<T>`, `State<T>`, ... or your `FromCall` type)"
)]
pub trait BlockingHandler<T>: Clone + Send + Sync + 'static {
    /// What the function returns.
    type Output: Send + 'static;
    /// Extract the parameters and call the function on the blocking pool.
    fn call(self, cx: Context, args: Map<String, Value>) -> BoxFuture<'static, Result<Self::Output, ToolError>>;
    /// Describe the parameters.
    fn describe(d: &mut Describe);
}

macro_rules! impl_handlers {
    ($($T:ident),*) => {
        impl<F, Fut, $($T,)*> Handler<($($T,)*)> for F
        where
            F: FnOnce($($T),*) -> Fut + Clone + Send + Sync + 'static,
            Fut: Future + Send + 'static,
            Fut::Output: Send + 'static,
            $($T: FromCall,)*
        {
            type Output = Fut::Output;
            #[allow(non_snake_case, unused_variables)]
            fn call(self, cx: Context, args: Map<String, Value>) -> BoxFuture<'static, Result<Self::Output, ToolError>> {
                Box::pin(async move {
                    $(let $T = $T::from_call(&cx, &args).await?;)*
                    Ok(self($($T),*).await)
                })
            }
            #[allow(unused_variables)]
            fn describe(d: &mut Describe) {
                $($T::describe(d);)*
            }
        }

        impl<F, R, $($T,)*> BlockingHandler<($($T,)*)> for F
        where
            F: FnOnce($($T),*) -> R + Clone + Send + Sync + 'static,
            R: Send + 'static,
            $($T: FromCall,)*
        {
            type Output = R;
            #[allow(non_snake_case, unused_variables)]
            fn call(self, cx: Context, args: Map<String, Value>) -> BoxFuture<'static, Result<Self::Output, ToolError>> {
                Box::pin(async move {
                    $(let $T = $T::from_call(&cx, &args).await?;)*
                    tokio::task::spawn_blocking(move || self($($T),*))
                        .await
                        .map_err(|e| ToolError::rpc(ferry_protocol::ErrorObject::internal(format!("handler panicked: {e}"))))
                })
            }
            #[allow(unused_variables)]
            fn describe(d: &mut Describe) {
                $($T::describe(d);)*
            }
        }
    };
}

impl_handlers!();
impl_handlers!(T1);
impl_handlers!(T1, T2);
impl_handlers!(T1, T2, T3);
impl_handlers!(T1, T2, T3, T4);
impl_handlers!(T1, T2, T3, T4, T5);
impl_handlers!(T1, T2, T3, T4, T5, T6);
impl_handlers!(T1, T2, T3, T4, T5, T6, T7);
impl_handlers!(T1, T2, T3, T4, T5, T6, T7, T8);

/// An erased handler producing `O` (a protocol result), with the cleanup step included.
pub(crate) type ErasedHandler<O> =
    Arc<dyn Fn(Context, Map<String, Value>) -> BoxFuture<'static, Result<O, ToolError>> + Send + Sync>;

/// A handler's parameter description and its erased form.
pub(crate) type Erased<O> = (Describe, ErasedHandler<O>);

/// Erase a handler: extract, call, convert with `convert`, then run provider cleanups.
pub(crate) fn erase<H, T, O>(h: H, convert: fn(H::Output) -> Result<O, ToolError>) -> Erased<O>
where
    H: Handler<T>,
    O: Send + 'static,
{
    let mut d = Describe::default();
    H::describe(&mut d);
    (d, with_cleanup(move |cx, args| h.clone().call(cx, args), convert))
}

/// Like [`erase`], for blocking handlers.
pub(crate) fn erase_blocking<H, T, O>(h: H, convert: fn(H::Output) -> Result<O, ToolError>) -> Erased<O>
where
    H: BlockingHandler<T>,
    O: Send + 'static,
{
    let mut d = Describe::default();
    H::describe(&mut d);
    (d, with_cleanup(move |cx, args| h.clone().call(cx, args), convert))
}

/// Wrap a call so provider cleanups run after it (also when it is dropped), then convert its output.
fn with_cleanup<R, O, C>(call: C, convert: fn(R) -> Result<O, ToolError>) -> ErasedHandler<O>
where
    R: Send + 'static,
    O: Send + 'static,
    C: Fn(Context, Map<String, Value>) -> BoxFuture<'static, Result<R, ToolError>> + Send + Sync + 'static,
{
    Arc::new(move |cx: Context, args| {
        let call = call(cx.clone(), args);
        Box::pin(async move {
            let mut guard = FinishGuard(Some(cx));
            let out = call.await;
            if let Some(cx) = guard.0.take() {
                cx.finish().await;
            }
            out.and_then(convert)
        })
    })
}

/// Runs provider cleanups even when the handler future is dropped (cancelled, aborted).
struct FinishGuard(Option<Context>);

impl Drop for FinishGuard {
    fn drop(&mut self) {
        if let Some(cx) = self.0.take() {
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move { cx.finish().await });
            }
        }
    }
}

/// What all components share: task support, timeout and retries, and their handler.
#[derive(Clone)]
pub(crate) struct Common<O> {
    pub handler: Option<ErasedHandler<O>>,
    pub describe: Describe,
    pub task_support: Option<TaskSupport>,
    pub timeout: Option<Duration>,
    pub retries: u32,
    /// Its own poll-interval policy for tasks (else the server's).
    pub poll_interval: Option<crate::pace::PollInterval>,
    /// At most this many runs at once in this process (shared by the definition's clones).
    pub limit: Option<Arc<tokio::sync::Semaphore>>,
    /// OAuth scopes a caller's token needs (see [`crate::auth`]).
    pub scopes: Vec<String>,
}

impl<O> Common<O> {
    /// A turn to run, when runs are limited; hold it while the handler runs.
    pub async fn slot(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        match &self.limit {
            Some(limit) => limit.clone().acquire_owned().await.ok(),
            None => None,
        }
    }

    /// Whether a run would have to wait for its turn now.
    pub fn is_full(&self) -> bool {
        self.limit.as_ref().is_some_and(|l| l.available_permits() == 0)
    }

    /// Install an erased handler and the description of its parameters.
    pub fn set(&mut self, (describe, handler): Erased<O>) {
        self.describe = describe;
        self.handler = Some(handler);
    }
}

impl<O> Default for Common<O> {
    fn default() -> Self {
        Self {
            handler: None,
            describe: Describe::default(),
            task_support: None,
            timeout: None,
            retries: 0,
            poll_interval: None,
            limit: None,
            scopes: Vec::new(),
        }
    }
}
