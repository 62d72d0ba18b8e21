//! A server run as a child process, speaking newline-delimited JSON-RPC.

use super::lines::{Failure, LineConn, DEFAULT_MAX_MESSAGE};
use super::{Hints, Inbox, Transport};
use crate::error::ClientError;
use async_trait::async_trait;
use ferry_protocol::{Message, Notification, Request, Response};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStderr, ChildStdin, Command};
use tokio::task::JoinHandle;

/// How many of the last bytes a server wrote on a piped stderr are kept, to explain its exit.
const STDERR_TAIL: usize = 2048;

pub(crate) struct StdioTransport {
    conn: LineConn<ChildStdin>,
    child: tokio::sync::Mutex<Child>,
    /// The end of what the server wrote on stderr, when the caller piped it.
    stderr: Option<StderrTail>,
}

/// The last [`STDERR_TAIL`] bytes a server wrote on stderr (each chunk is also logged at debug).
struct StderrTail {
    bytes: Arc<Mutex<Vec<u8>>>,
    reader: tokio::sync::Mutex<JoinHandle<()>>,
}

impl StderrTail {
    fn keep(mut stderr: ChildStderr) -> Self {
        let bytes: Arc<Mutex<Vec<u8>>> = Arc::default();
        let kept = bytes.clone();
        let reader = tokio::spawn(async move {
            let mut chunk = [0u8; 1024];
            while let Ok(n @ 1..) = stderr.read(&mut chunk).await {
                tracing::debug!(stderr = %String::from_utf8_lossy(&chunk[..n]), "from the server");
                let mut tail = kept.lock().unwrap_or_else(|e| e.into_inner());
                tail.extend_from_slice(&chunk[..n]);
                let excess = tail.len().saturating_sub(STDERR_TAIL);
                tail.drain(..excess);
            }
        });
        Self { bytes, reader: tokio::sync::Mutex::new(reader) }
    }

    /// Its last non-blank lines (at most 10), once the server has closed stderr or a moment passed.
    async fn last_lines(&self) -> Vec<String> {
        let mut reader = self.reader.lock().await;
        if !reader.is_finished() {
            // A grandchild may hold the pipe open: do not wait for it long.
            let _ = tokio::time::timeout(Duration::from_millis(500), &mut *reader).await;
        }
        let tail = String::from_utf8_lossy(&self.bytes.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
        let lines: Vec<String> = tail.lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect();
        lines[lines.len().saturating_sub(10)..].to_vec()
    }
}

impl StdioTransport {
    /// Start the server; `max_message`: the longest line read from it (default [`DEFAULT_MAX_MESSAGE`]).
    /// When the command's stderr is piped, its last lines explain a server that exits.
    pub fn spawn(mut command: Command, max_message: Option<usize>, inbox: Inbox) -> Result<Self, ClientError> {
        command.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).kill_on_drop(true);
        let program = command.as_std().get_program().to_string_lossy().into_owned();
        let mut child =
            command.spawn().map_err(|e| ClientError::Transport(format!("cannot start the server '{program}': {e}")))?;
        let stderr = child.stderr.take().map(StderrTail::keep);
        let stdin = child.stdin.take().ok_or_else(|| ClientError::Transport("no stdin".into()))?;
        let stdout = child.stdout.take().ok_or_else(|| ClientError::Transport("no stdout".into()))?;
        let conn = LineConn::new(stdout, stdin, max_message.unwrap_or(DEFAULT_MAX_MESSAGE), inbox);
        Ok(Self { conn, child: tokio::sync::Mutex::new(child), stderr })
    }

    async fn write(&self, msg: Message, what: &str) -> Result<(), ClientError> {
        match self.conn.write(msg).await {
            Ok(()) => Ok(()),
            Err(e) => Err(self.write_failed(what, e).await),
        }
    }

    async fn write_failed(&self, what: &str, e: std::io::Error) -> ClientError {
        match e.kind() {
            std::io::ErrorKind::BrokenPipe => self.gone(what).await,
            _ => ClientError::Transport(format!("{what}: writing to the server's stdin: {e}")),
        }
    }

    /// Why the server stopped answering: its exit status, if it exited, and the end of its stderr.
    async fn gone(&self, what: &str) -> ClientError {
        let status = {
            let mut child = self.child.lock().await;
            tokio::time::timeout(Duration::from_secs(2), child.wait()).await.ok().and_then(Result::ok)
        };
        let mut message = match status {
            Some(status) => format!("{what}: the server exited ({status}) before answering"),
            None => format!("{what}: the server closed its stdout before answering"),
        };
        if let Some(tail) = &self.stderr {
            let lines = tail.last_lines().await;
            if lines.is_empty() {
                message.push_str("; it wrote nothing on stderr");
            } else {
                message.push_str("; its stderr ends with:\n  ");
                message.push_str(&lines.join("\n  "));
            }
        }
        ClientError::Transport(message)
    }
}

#[async_trait]
impl Transport for StdioTransport {
    async fn request(&self, req: Request, _hints: Hints) -> Result<Response, ClientError> {
        let method = req.method.clone();
        match self.conn.request(req).await {
            Ok(resp) => Ok(resp),
            Err(Failure::Write(e)) => Err(self.write_failed(&method, e).await),
            Err(Failure::Ended) => Err(self.gone(&method).await),
        }
    }

    async fn notify(&self, n: Notification, _hints: Hints) -> Result<(), ClientError> {
        let method = n.method.clone();
        self.write(Message::Notification(n), &method).await
    }

    async fn respond(&self, resp: Response, _hints: Hints) -> Result<(), ClientError> {
        self.write(Message::Response(resp), "response").await
    }

    async fn close(&self) {
        // Closing stdin asks the server to exit; kill it if it does not.
        let mut child = self.child.lock().await;
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.shutdown().await;
        }
        self.conn.shutdown().await;
        if tokio::time::timeout(std::time::Duration::from_secs(2), child.wait()).await.is_err() {
            let _ = child.kill().await;
        }
    }
}
