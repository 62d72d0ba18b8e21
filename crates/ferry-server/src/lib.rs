//! # Ferry server
//!
//! Build Model Context Protocol servers from plain Rust functions, and let any
//! tool, prompt or resource run as a durable background *task*: the caller gets
//! a task id at once and fetches the result later.
//!
//! ```no_run
//! use ferry_server::{Args, Progress, Server, TaskSupport, ToolDef};
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct Count {
//!     /// How far to count.
//!     to: u32,
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let server = Server::builder("counter", "1.0.0")
//!     .tool(
//!         ToolDef::new("count")
//!             .description("Count slowly, reporting progress")
//!             .task_support(TaskSupport::Optional)
//!             .handler(|Args(c): Args<Count>, progress: Progress| async move {
//!                 for i in 1..=c.to {
//!                     progress.step(i.into(), c.to.into(), &format!("at {i}")).await;
//!                 }
//!                 format!("counted to {}", c.to)
//!             }),
//!     )
//!     .build()?;
//! server.serve_http("127.0.0.1:8765".parse()?).await?;
//! # Ok(()) }
//! ```
//!
//! The same with the attribute macro: the function stays callable and
//! `count_tool()` builds its definition; parameters become the input schema,
//! injected types (`Progress`, `Context`, `State<T>`, `Dep<T>`...) do not.
//!
//! ```
//! use ferry_server::{tool, Progress, Server};
//!
//! /// Count slowly, reporting progress.
//! #[tool(task = "optional")]
//! async fn count(#[arg(description = "How far to count.")] to: u32, progress: Progress) -> String {
//!     for i in 1..=to {
//!         progress.step(i.into(), to.into(), &format!("at {i}")).await;
//!     }
//!     format!("counted to {to}")
//! }
//!
//! let server = Server::builder("counter", "1.0.0").tool(count_tool()).build().unwrap();
//! ```
//!
//! ## Where things are
//! * [`component`] — tools, prompts, resources and the handler traits.
//! * [`admin`] — the operator's HTTP API (status, every task, cancel), served on a
//!   listener of its own.
//! * [`extract`] — injected parameters: [`Context`], [`Args`], [`State`],
//!   [`Dep`] (providers with cleanup), [`Progress`], [`TaskHandle`], [`Prepared`]
//!   (what a tool's prepare step returned).
//! * `dispatch` — routing requests by protocol era; `tasks` — both task wire
//!   forms over one store; `listen` — `subscriptions/listen` (2026-07-28: task
//!   changes, resource updates, list changes); [`transport`] — stdio and
//!   Streamable HTTP (resumable SSE streams in `transport::sse`).
//! * `registry` — the components offered, swapped whole when they change while
//!   serving ([`Server::add_tool`], ...); `component::complete` — argument
//!   completion (`completion/complete`).
//!
//! The task engine (store, queue, workers) is the `ferry-tasks` crate; the
//! in-memory backend is the default and a Redis backend can replace it.

pub mod admin;
mod answer;
pub mod auth;
pub mod component;
mod context;
pub mod dashboard;
mod dispatch;
mod error;
pub mod extract;
pub mod jobs;
mod listen;
pub mod metrics;
mod outbound;
pub mod pace;
mod quick;
mod registry;
mod rounds;
pub mod schema;
mod server;
mod session;
mod session_table;
mod shared_sessions;
mod spans;
mod tasks;
pub mod transport;
mod watch;

/// HTTP request headers, as an [`Authenticator`] sees them.
pub use axum::http::HeaderMap;
pub use component::{
    CompletionRequest, Handler, IntoCompletion, IntoPromptResult, IntoResourceResult, IntoToolResult, Json, PromptDef,
    ResourceDef, ResourceTemplateDef, ToolDef,
};
pub use context::{Context, Input};
pub use error::{BuildError, ToolError};
pub use extract::{Args, Dep, FromCall, Prepared, Progress, Provided, State, TaskHandle};
pub use jobs::{JobError, Jobs};
pub use pace::PollInterval;
pub use quick::DEFAULT_QUICK_ANSWER;
pub use server::{Authenticator, Server, ServerBuilder, ServerConfig};

pub use ferry_macros::{prompt, resource, tool};
pub use ferry_protocol as protocol;
pub use ferry_protocol::types::{
    CallToolResult, Content, GetPromptResult, LoggingLevel, PromptMessage, ReadResourceResult, ResourceContents,
};
pub use ferry_protocol::TaskSupport;
pub use ferry_tasks as engine;

#[doc(hidden)]
pub mod __private {
    pub use schemars;
    pub use serde;
    pub use serde_json;
}
