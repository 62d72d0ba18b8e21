//! Newline-delimited JSON-RPC over any byte stream: the reading half shared by the
//! stdio transport (a child process) and the in-memory one (`Client::connect_io`).

use super::Inbox;
use ferry_protocol::lines::{next_frame, Frame, LineSplitter};
use ferry_protocol::{Message, RequestId, Response};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, BufReader};
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
