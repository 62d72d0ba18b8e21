//! Transports: how JSON-RPC messages reach the dispatcher and answers leave.
//!
//! * [`stdio`](crate::Server::serve_stdio) — one message per line on stdin/stdout;
//!   the process is one session.
//! * [Streamable HTTP](crate::Server::serve_http) — `POST` a message and get JSON
//!   or an SSE stream back, `GET` a standalone SSE stream for server-initiated
//!   messages, `DELETE` to end a session (`Mcp-Session-Id`).

mod http;
mod stdio;

pub use http::HttpOptions;
