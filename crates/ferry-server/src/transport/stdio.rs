//! The stdio transport.

use crate::dispatch::{handle_notification, handle_request, handle_response, Incoming};
use crate::server::Server;
use crate::session::{lock, Outbound, Session};
use ferry_protocol::lines::{next_frame, Frame, LineSplitter};
use ferry_protocol::time_fmt::now_ms;
use ferry_protocol::{ErrorObject, Message, Response};
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// How long in-flight requests may still run after stdin closes.
const EOF_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

impl Server {
    /// Serve on this process's stdin and stdout until stdin closes.
    pub async fn serve_stdio(&self) -> std::io::Result<()> {
        self.serve_io(tokio::io::stdin(), tokio::io::stdout()).await
    }

    /// Serve newline-delimited JSON-RPC on any reader and writer (one session).
    pub async fn serve_io<R, W>(&self, reader: R, writer: W) -> std::io::Result<()>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        self.start();
        let shared = self.shared.clone();
        let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
        let writer_task = tokio::spawn(async move {
            let mut writer = writer;
            while let Some(msg) = rx.recv().await {
                let mut line = serde_json::to_vec(&msg).unwrap_or_default();
                line.push(b'\n');
                if writer.write_all(&line).await.is_err() || writer.flush().await.is_err() {
                    break;
                }
            }
        });
        let session = Arc::new(Session::new(ferry_tasks::new_task_id(), None, now_ms()));
        *lock(&session.standalone) = Some(tx.clone());
        lock(&shared.sessions).insert(session.id.clone(), session.clone());

        let max = shared.config.max_body_bytes;
        let mut reader = BufReader::new(reader);
        let mut lines = LineSplitter::new(max);
        let mut requests = tokio::task::JoinSet::new();
        while let Some(frame) = next_frame(&mut reader, &mut lines).await? {
            let Frame::Line(line) = frame else {
                // Skipped without being buffered: say so, and go on with the next line.
                crate::metrics::refused(crate::metrics::Limit::BodySize);
                let _ = tx.send(Message::Response(Response::err(
                    None,
                    ErrorObject::invalid_request(format!(
                        "Invalid request: message larger than {max} bytes (the server's max_body_bytes); skipped"
                    )),
                )));
                continue;
            };
            let text = line.trim_ascii();
            if text.is_empty() {
                continue;
            }
            session.touch(now_ms());
            match Message::parse_limited(text, &shared.config.parse_limits) {
                Err(e) => {
                    crate::metrics::count_parse_refusal(&e);
                    let _ = tx.send(Message::Response(Response::err(super::readable_id(text), e)));
                }
                Ok(Message::Notification(n)) => drop(handle_notification(n, Some(&session))),
                Ok(Message::Response(r)) => drop(handle_response(r, Some(&session))),
                Ok(Message::Request(req)) => {
                    let inc = Incoming {
                        session: Some(session.clone()),
                        outbound: Some(Outbound::Open(tx.clone())),
                        ..Default::default()
                    };
                    // The handshake is answered before the next line is read, so a client
                    // that pipelines `initialize` and its first calls is served in order.
                    if req.method == "initialize" {
                        if let Some(resp) = handle_request(&shared, req, inc).await {
                            let _ = tx.send(resp.into_message());
                        }
                        continue;
                    }
                    let shared = shared.clone();
                    let tx = tx.clone();
                    requests.spawn(async move {
                        if let Some(resp) = handle_request(&shared, req, inc).await {
                            let _ = tx.send(resp.into_message());
                        }
                    });
                }
            }
            while requests.try_join_next().is_some() {}
        }
        // stdin closed: let what is in flight finish for a moment, then end the session and
        // drop the rest (a client waits only so long for the server to exit; a `tasks/result`
        // or a long call must not keep the process alive).
        let drained = tokio::time::timeout(EOF_GRACE, async { while requests.join_next().await.is_some() {} }).await;
        lock(&shared.sessions).remove(&session.id);
        session.close();
        if drained.is_err() {
            requests.shutdown().await;
        }
        drop(tx);
        let _ = writer_task.await;
        Ok(())
    }
}
