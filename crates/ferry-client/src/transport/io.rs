//! A server at the other end of any byte stream (newline-delimited JSON-RPC): an
//! in-memory pipe to a server in the same process, a socket, a serial line.

use super::lines::{Failure, LineConn};
use super::{Hints, Inbox, Transport};
use crate::error::ClientError;
use async_trait::async_trait;
use ferry_protocol::{Message, Notification, Request, Response};
use tokio::io::{AsyncRead, AsyncWrite};

pub(crate) struct IoTransport {
    conn: LineConn<Box<dyn AsyncWrite + Send + Unpin>>,
}

impl IoTransport {
    pub fn new<R, W>(reader: R, writer: W, max_message: usize, inbox: Inbox) -> Self
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        Self { conn: LineConn::new(reader, Box::new(writer), max_message, inbox) }
    }

    async fn write(&self, msg: Message, what: &str) -> Result<(), ClientError> {
        self.conn.write(msg).await.map_err(|e| closed(what, &e))
    }
}

fn closed(what: &str, e: &std::io::Error) -> ClientError {
    ClientError::Transport(format!("{what}: the server's stream is closed ({e})"))
}

#[async_trait]
impl Transport for IoTransport {
    async fn request(&self, req: Request, _hints: Hints) -> Result<Response, ClientError> {
        let method = req.method.clone();
        self.conn.request(req).await.map_err(|f| match f {
            Failure::Write(e) => closed(&method, &e),
            Failure::Ended => ClientError::Transport(format!("{method}: the server's stream ended before it answered")),
        })
    }

    async fn notify(&self, n: Notification, _hints: Hints) -> Result<(), ClientError> {
        let method = n.method.clone();
        self.write(Message::Notification(n), &method).await
    }

    async fn respond(&self, resp: Response, _hints: Hints) -> Result<(), ClientError> {
        self.write(Message::Response(resp), "response").await
    }

    async fn close(&self) {
        self.conn.shutdown().await;
    }
}
