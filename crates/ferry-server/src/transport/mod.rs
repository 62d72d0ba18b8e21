//! Transports: how JSON-RPC messages reach the dispatcher and answers leave.
//!
//! * [`stdio`](crate::Server::serve_stdio) — one message per line on stdin/stdout;
//!   the process is one session.
//! * [Streamable HTTP](crate::Server::serve_http) — `POST` a message and get JSON
//!   or an SSE stream back, `GET` a standalone SSE stream for server-initiated
//!   messages, `DELETE` to end a session (`Mcp-Session-Id`). Within a session,
//!   response streams can be resumed after a lost connection (`sse.rs`).

mod body;
mod credentials;
pub(crate) mod headers;
mod http;
mod listener;
mod media;
pub(crate) mod sse;
mod stdio;

pub use http::HttpOptions;
pub(crate) use listener::serve as serve_router;
pub use listener::ConnectionLimits;

/// The id of a message that could not be classified, when it can still be read:
/// an error answer must echo it rather than send `"id": null` (JSON-RPC 2.0
/// allows null only when the id cannot be determined).
/// Only the id is built: the rest of the message is skipped, not parsed into a tree
/// (a message refused for its size or shape must not cost a full parse here).
pub(crate) fn readable_id(bytes: &[u8]) -> Option<ferry_protocol::RequestId> {
    #[derive(serde::Deserialize)]
    struct Envelope {
        id: Option<ferry_protocol::RequestId>,
    }
    serde_json::from_slice::<Envelope>(bytes).ok()?.id
}
