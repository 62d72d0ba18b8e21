//! A server run as a child process, speaking newline-delimited JSON-RPC.

use super::{Hints, Inbox, Transport};
use crate::error::ClientError;
use async_trait::async_trait;
use ferry_protocol::lines::{next_frame, Frame, LineSplitter};
use ferry_protocol::{Message, Notification, Request, RequestId, Response};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::oneshot;

/// The longest line read from a server unless `ClientOptions::max_message_bytes` says otherwise.
pub(crate) const DEFAULT_MAX_MESSAGE: usize = 64 * 1024 * 1024;

type Pending = Arc<Mutex<HashMap<RequestId, oneshot::Sender<Response>>>>;

pub(crate) struct StdioTransport {
    stdin: tokio::sync::Mutex<ChildStdin>,
    pending: Pending,
    child: tokio::sync::Mutex<Child>,
}

impl StdioTransport {
    /// Start the server; `max_message`: the longest line read from it (default [`DEFAULT_MAX_MESSAGE`]).
    pub fn spawn(mut command: Command, max_message: Option<usize>, inbox: Inbox) -> Result<Self, ClientError> {
        command.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).kill_on_drop(true);
        let mut child = command.spawn().map_err(|e| ClientError::Transport(format!("cannot start the server: {e}")))?;
        let stdin = child.stdin.take().ok_or_else(|| ClientError::Transport("no stdin".into()))?;
        let stdout = child.stdout.take().ok_or_else(|| ClientError::Transport("no stdout".into()))?;
        let pending: Pending = Arc::default();
        let reader_pending = pending.clone();
        let max = max_message.unwrap_or(DEFAULT_MAX_MESSAGE);
        tokio::spawn(async move {
            let mut stdout = BufReader::new(stdout);
            let mut lines = LineSplitter::new(max);
            while let Ok(Some(frame)) = next_frame(&mut stdout, &mut lines).await {
                let Frame::Line(line) = frame else {
                    tracing::warn!(max, "skipped a message from the server longer than max_message_bytes");
                    continue;
                };
                if line.trim_ascii().is_empty() {
                    continue;
                }
                match Message::parse(&line) {
                    Ok(Message::Response(r)) => {
                        let waiter = r.id.as_ref().and_then(|id| reader_pending.lock().ok()?.remove(id));
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
            if let Ok(mut p) = reader_pending.lock() {
                p.clear();
            }
        });
        Ok(Self { stdin: tokio::sync::Mutex::new(stdin), pending, child: tokio::sync::Mutex::new(child) })
    }

    async fn write(&self, msg: Message) -> Result<(), ClientError> {
        let mut line = msg.to_value().to_string();
        line.push('\n');
        let mut stdin = self.stdin.lock().await;
        stdin.write_all(line.as_bytes()).await.map_err(|e| ClientError::Transport(format!("server stdin: {e}")))?;
        stdin.flush().await.map_err(|e| ClientError::Transport(format!("server stdin: {e}")))
    }
}

#[async_trait]
impl Transport for StdioTransport {
    async fn request(&self, req: Request, _hints: Hints) -> Result<Response, ClientError> {
        let (tx, rx) = oneshot::channel();
        let id = req.id.clone();
        let method = req.method.clone();
        self.pending.lock().map_err(|_| ClientError::Transport("poisoned".into()))?.insert(id.clone(), tx);
        if let Err(e) = self.write(Message::Request(req)).await {
            if let Ok(mut p) = self.pending.lock() {
                p.remove(&id);
            }
            return Err(e);
        }
        rx.await.map_err(|_| ClientError::Transport(format!("{method}: the server exited before answering")))
    }

    async fn notify(&self, n: Notification, _hints: Hints) -> Result<(), ClientError> {
        self.write(Message::Notification(n)).await
    }

    async fn respond(&self, resp: Response, _hints: Hints) -> Result<(), ClientError> {
        self.write(Message::Response(resp)).await
    }

    async fn close(&self) {
        // Closing stdin asks the server to exit; kill it if it does not.
        let mut child = self.child.lock().await;
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.shutdown().await;
        }
        {
            let mut stdin = self.stdin.lock().await;
            let _ = stdin.shutdown().await;
        }
        if tokio::time::timeout(std::time::Duration::from_secs(2), child.wait()).await.is_err() {
            let _ = child.kill().await;
        }
    }
}
