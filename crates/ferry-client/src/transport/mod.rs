//! How messages reach a server: Streamable HTTP, a child process's stdio, or any
//! byte stream (an in-memory pipe to a server in the same process).
//!
//! A transport sends requests and returns their responses. Anything else the
//! server sends meanwhile (notifications, requests to the client such as
//! `elicitation/create`) goes to the client's inbox, which answers requests
//! through [`Transport::respond`].

mod http;
mod io;
mod lines;
mod stdio;

pub(crate) use http::HttpTransport;
pub(crate) use io::IoTransport;
pub(crate) use lines::DEFAULT_MAX_MESSAGE;
pub(crate) use stdio::StdioTransport;

use crate::error::ClientError;
use async_trait::async_trait;
use ferry_protocol::{Message, Notification, Request, Response};
use tokio::sync::mpsc;

/// Routing hints for Streamable HTTP headers (`Mcp-Method`, `Mcp-Name`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Hints {
    /// The protocol version to announce in `MCP-Protocol-Version`.
    pub protocol_version: Option<String>,
    /// `Mcp-Name`: the tool/prompt name, resource URI or task id.
    pub name: Option<String>,
    /// Send `Mcp-Method` (modern era).
    pub method_header: bool,
    /// `Mcp-Param-*` headers (name, encoded value) of a 2026-07-28 `tools/call`.
    pub params: Vec<(String, String)>,
}

/// Messages from the server that are not responses to our requests.
pub(crate) type Inbox = mpsc::UnboundedSender<Message>;

#[async_trait]
pub(crate) trait Transport: Send + Sync + 'static {
    /// Send a request and wait for its response.
    async fn request(&self, req: Request, hints: Hints) -> Result<Response, ClientError>;
    /// Send a notification.
    async fn notify(&self, n: Notification, hints: Hints) -> Result<(), ClientError>;
    /// Answer a request the server sent us.
    async fn respond(&self, resp: Response, hints: Hints) -> Result<(), ClientError>;
    /// Open the server-to-client stream, if the transport has one to open.
    async fn listen(&self, _hints: Hints) {}
    /// The session id the server gave (Streamable HTTP, 2025-11-25).
    fn session_id(&self) -> Option<String> {
        None
    }
    /// End the session / process.
    async fn close(&self);
}
