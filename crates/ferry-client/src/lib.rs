//! # Ferry client
//!
//! An MCP client for servers whose work can run as background *tasks*.
//!
//! [`Client`] connects over Streamable HTTP or a child process's stdio and
//! negotiates the protocol: stateless 2026-07-28 (tasks as the
//! `io.modelcontextprotocol/tasks` extension) when the server offers it,
//! otherwise a 2025-11-25 session (tasks via `params.task`). Either way,
//! `call_tool_task` (and `get_prompt_task`, `read_resource_task`) returns a
//! [`TaskHandle`]: await it for the typed result, stream its status, cancel it,
//! or drop it and re-attach later with [`Client::task`].
//!
//! Requests from the server for user input (elicitation, sampling) are
//! answered by callbacks set in [`ClientOptions`], in both task forms.

mod client;
mod error;
pub mod oauth;
mod resource;
mod task;
mod transport;

pub use client::{Client, ClientOptions, InputHandler, Mode};
pub use error::ClientError;
pub use ferry_protocol::types::{
    CallToolResult, Completion, CompletionReference, Content, GetPromptResult, Prompt, ReadResourceResult, Resource,
    ResourceTemplate, Tool,
};
pub use ferry_protocol::TaskStatus;
pub use resource::ResourceUpdates;
pub use task::{TaskHandle, TaskInfo};
