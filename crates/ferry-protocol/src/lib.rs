//! Wire types of the Model Context Protocol as Ferry speaks it.
//!
//! This crate is pure data: JSON-RPC 2.0 framing ([`jsonrpc`]), the MCP
//! messages a server and a client exchange ([`types`]), the protocol eras
//! ([`version`]) and the two published encodings of *tasks* ([`tasks`]):
//!
//! * **Form A** — protocol 2025-11-25 (SEP-1686): the requestor asks for a task
//!   with `params.task`, the server answers `{"task": Task}` and offers
//!   `tasks/get`, `tasks/result`, `tasks/list` and `tasks/cancel`.
//! * **Form B** — the `io.modelcontextprotocol/tasks` extension (SEP-2663) on
//!   protocol 2026-07-28: the server decides, answers a flat task with
//!   `resultType: "task"`, and offers `tasks/get`, `tasks/update`, `tasks/cancel`.
//!
//! Also: bounds for untrusted input ([`limits`]) and bounded line framing ([`lines`]).
//!
//! Nothing here performs I/O, so the server, the client and the task engine can
//! all share one vocabulary without pulling in a runtime.

pub mod headers;
#[cfg(feature = "heap-count")]
pub mod heap_count;
pub mod json_types;
pub mod jsonrpc;
pub mod limits;
pub mod lines;
pub mod tasks;
pub mod time_fmt;
pub mod types;
pub mod version;

pub use jsonrpc::{ErrorCode, ErrorObject, Message, Notification, Request, RequestId, Response};
pub use limits::ParseLimits;
pub use tasks::{TaskStatus, TaskSupport};
pub use version::Era;
