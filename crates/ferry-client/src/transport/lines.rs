//! Newline-delimited JSON-RPC over any byte stream, shared by the stdio transport (a
//! child process) and the in-memory one (`Client::connect_io`): a reader that hands
//! responses to their waiters, and a [`LineConn`] that writes messages and waits.

use super::Inbox;
use ferry_protocol::lines::{next_frame, Frame, LineSplitter};
use ferry_protocol::{Message, Request, RequestId, Response};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::oneshot;

/// The longest line read from a server unless `ClientOptions::max_message_bytes` says otherwise.
pub(crate) const DEFAULT_MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// Requests waiting for their response, by id.
pub(crate) type Pending = Arc<Mutex<HashMap<RequestId, oneshot::Sender<Response>>>>;

/// Read messages until the stream ends: responses go to their waiters, the rest to
/// `inbox`; lines longer than `max` are skipped unbuffered. At the end every waiter
/// still pending is failed (its sender dropped).
pub(crate) fn spawn_reader<R: AsyncRead + Unpin + Send + 'static>(
    reader: R,
    max: usize,
    pending: Pending,
    inbox: Inbox,
) {
    tokio::spawn(async move {
        let mut reader = BufReader::new(reader);
        let mut lines = LineSplitter::new(max);
        while let Ok(Some(frame)) = next_frame(&mut reader, &mut lines).await {
            let Frame::Line(line) = frame else {
                tracing::warn!(max, "skipped a message from the server longer than max_message_bytes");
                continue;
            };
            if line.trim_ascii().is_empty() {
                continue;
            }
            match Message::parse(&line) {
                Ok(Message::Response(r)) => {
                    let waiter = r.id.as_ref().and_then(|id| pending.lock().ok()?.remove(id));
                    if let Some(tx) = waiter {
                        let _ = tx.send(r);
                    }
                }
                Ok(other) => {
                    let _ = inbox.send(other);
                }
                Err(e) => tracing::warn!(error = %e, "unreadable line from the server"),
            }
        }
        // The server is gone: fail whoever still waits.
        if let Ok(mut p) = pending.lock() {
            p.clear();
        }
    });
}

/// Why a request over a [`LineConn`] got no response.
pub(crate) enum Failure {
    /// Writing it failed.
    Write(std::io::Error),
    /// The stream ended before the response came.
    Ended,
}

/// The writing half of a line connection, with the requests waiting for responses.
pub(crate) struct LineConn<W> {
    writer: tokio::sync::Mutex<W>,
    pending: Pending,
}

impl<W: AsyncWrite + Unpin + Send> LineConn<W> {
    /// Write to `writer`; responses come from `reader`, everything else goes to `inbox`.
    pub fn new<R: AsyncRead + Unpin + Send + 'static>(reader: R, writer: W, max: usize, inbox: Inbox) -> Self {
        let pending: Pending = Arc::default();
        spawn_reader(reader, max, pending.clone(), inbox);
        Self { writer: tokio::sync::Mutex::new(writer), pending }
    }

    /// Write one message as a line.
    pub async fn write(&self, msg: Message) -> std::io::Result<()> {
        let mut line = msg.to_value().to_string();
        line.push('\n');
        let mut w = self.writer.lock().await;
        w.write_all(line.as_bytes()).await?;
        w.flush().await
    }

    /// Send a request and wait for its response.
    pub async fn request(&self, req: Request) -> Result<Response, Failure> {
        let (tx, rx) = oneshot::channel();
        let id = req.id.clone();
        let pending = || self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending().insert(id.clone(), tx);
        if let Err(e) = self.write(Message::Request(req)).await {
            pending().remove(&id);
            return Err(Failure::Write(e));
        }
        rx.await.map_err(|_| Failure::Ended)
    }

    /// Close the writing side (the other end sees the stream end).
    pub async fn shutdown(&self) {
        let _ = self.writer.lock().await.shutdown().await;
    }
}
