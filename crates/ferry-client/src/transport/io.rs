//! A server at the other end of any byte stream (newline-delimited JSON-RPC): an
//! in-memory pipe to a server in the same process, a socket, a serial line.

use super::lines::{spawn_reader, Pending};
use super::{Hints, Inbox, Transport};
use crate::error::ClientError;
use async_trait::async_trait;
use ferry_protocol::{Message, Notification, Request, Response};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::oneshot;

pub(crate) struct IoTransport {
    writer: tokio::sync::Mutex<Box<dyn AsyncWrite + Send + Unpin>>,
    pending: Pending,
}

impl IoTransport {
    pub fn new<R, W>(reader: R, writer: W, max_message: usize, inbox: Inbox) -> Self
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let pending: Pending = Arc::default();
        spawn_reader(reader, max_message, pending.clone(), inbox);
        Self { writer: tokio::sync::Mutex::new(Box::new(writer)), pending }
    }

    async fn write(&self, msg: Message, what: &str) -> Result<(), ClientError> {
        let mut line = msg.to_value().to_string();
        line.push('\n');
        let mut w = self.writer.lock().await;
        let written = match w.write_all(line.as_bytes()).await {
            Ok(()) => w.flush().await,
            Err(e) => Err(e),
        };
        written.map_err(|e| ClientError::Transport(format!("{what}: the server's stream is closed ({e})")))
    }
}

#[async_trait]
impl Transport for IoTransport {
    async fn request(&self, req: Request, _hints: Hints) -> Result<Response, ClientError> {
        let (tx, rx) = oneshot::channel();
        let (id, method) = (req.id.clone(), req.method.clone());
        self.pending.lock().map_err(|_| ClientError::Transport("poisoned".into()))?.insert(id.clone(), tx);
        if let Err(e) = self.write(Message::Request(req), &method).await {
            if let Ok(mut p) = self.pending.lock() {
                p.remove(&id);
            }
            return Err(e);
        }
        rx.await.map_err(|_| ClientError::Transport(format!("{method}: the server's stream ended before it answered")))
    }

    async fn notify(&self, n: Notification, _hints: Hints) -> Result<(), ClientError> {
        let method = n.method.clone();
        self.write(Message::Notification(n), &method).await
    }

    async fn respond(&self, resp: Response, _hints: Hints) -> Result<(), ClientError> {
        self.write(Message::Response(resp), "response").await
    }

    async fn close(&self) {
        let _ = self.writer.lock().await.shutdown().await;
    }
}
