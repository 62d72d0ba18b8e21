//! SSE response streams that outlive their connection (resumability, SEP-1699).
//!
//! Why: a long call answered on an SSE stream must not lose its result because a
//! proxy, the client's network or the server itself (`Context::close_stream`, to
//! keep connections short) cut the connection. So in a 2025-11-25 session every
//! event of a POST stream is kept in a per-stream log and carries an id
//! `<stream>-<n>`; the stream opens with a *priming* event (an id, empty data and
//! `retry:`), so the client can resume before the first real message. A client
//! that lost the connection sends `GET` with `Last-Event-ID` and receives the rest
//! of that stream, ending with the response as usual.
//!
//! When the connection is lost, the handler's sender closes at once (the stream
//! counts as gone, as without resumability: `tasks/result` and listen streams end,
//! so a new `tasks/result` is asked at once), but the response is still logged and
//! can be fetched by resuming. When the *server* closed the connection, it asked the
//! client to come back, so the sender stays open for the grace period
//! (`HttpOptions::resume_grace`) and everything sent meanwhile is kept. A finished
//! log is dropped a grace period after its last reader left.
//!
//! The standalone `GET` stream of such a session is logged the same way, so the
//! notifications sent while a client reconnects (task status changes, say) are not
//! lost: its events carry ids too, a `GET` with one of them resumes it, and a new
//! `GET` ends the previous reader (one stream, one copy of each message). It lives
//! as long as the session and keeps its last [`STANDALONE_KEEP`] events.

use crate::session::{lock, Session};
use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response as HttpResponse};
use ferry_protocol::{Message, RequestId, Response};
use futures::stream::{self, Stream, StreamExt};
use std::convert::Infallible;
use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

/// The first protocol version whose clients understand priming events and resume.
const RESUMABLE_SINCE: &str = "2025-11-25";

/// Whether the session's client can resume streams.
pub(crate) fn resumable(session: &Session) -> bool {
    session.version().as_str() >= RESUMABLE_SINCE
}

/// How many of its latest events the standalone stream keeps for readers that resume.
pub(crate) const STANDALONE_KEEP: usize = 512;

/// A reader waiting this long gets a comment, so idle connections are not cut.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// One SSE event. Written here rather than with axum's `Event`, which cannot carry
/// the empty `data:` line of a priming event. Data is one line (compact JSON) or empty.
fn frame(id: Option<String>, retry: Option<Duration>, data: &str) -> Bytes {
    let mut out = String::with_capacity(data.len() + 48);
    if let Some(id) = id {
        let _ = writeln!(out, "id: {id}");
    }
    if let Some(retry) = retry {
        let _ = writeln!(out, "retry: {}", retry.as_millis());
    }
    if !data.is_empty() {
        out.push_str("event: message\n");
    }
    let _ = write!(out, "data: {data}\n\n");
    Bytes::from(out)
}

/// One message as an event without id (an answer complete in itself: nothing to resume).
pub(crate) fn single(msg: &Message) -> Option<Bytes> {
    Some(frame(None, None, &msg.to_value().to_string()))
}

/// An SSE response of `frames`.
pub(crate) fn response(frames: impl Stream<Item = Bytes> + Send + 'static) -> HttpResponse {
    (
        [(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")],
        Body::from_stream(frames.map(Ok::<_, Infallible>)),
    )
        .into_response()
}

/// The events of one response stream, and who is reading them.
pub(crate) struct StreamLog {
    /// Unique within the session: the `<stream>` of event ids. 0 for unregistered logs.
    id: u64,
    /// The request this stream answers (`None`: the session's standalone stream).
    pub request: Option<RequestId>,
    /// Registered in a session (resumable): its events carry ids.
    resumable: bool,
    /// Keep only this many latest events (the standalone stream); `None`: all.
    keep: Option<usize>,
    state: watch::Sender<LogState>,
}

#[derive(Default)]
struct LogState {
    /// Event data (JSON-RPC messages), oldest kept first; event `n` is `events[n - 1 - dropped]`.
    events: std::collections::VecDeque<Arc<str>>,
    /// How many of the oldest events were dropped (beyond `keep`).
    dropped: usize,
    /// The response is in: nothing more will come.
    finished: bool,
    /// Bumped by a close request: readers attached before it end...
    closes: u64,
    /// ...once they have sent the events numbered up to this.
    closed_at: usize,
}

impl LogState {
    /// The number of the last event logged.
    fn last(&self) -> usize {
        self.dropped + self.events.len()
    }
}

/// The in-band request to end the live connections of a stream: it travels the
/// handler's channel like a message, so everything sent before it goes out first.
/// Never sent to a client.
pub(crate) const CLOSE_STREAM: &str = "ferry/closeStream";

/// Whether `msg` is the in-band close request.
pub(crate) fn is_close(msg: &Message) -> bool {
    matches!(msg, Message::Notification(n) if n.method == CLOSE_STREAM)
}

impl StreamLog {
    /// A log for `request`, registered in `session` when the client can resume it.
    pub(crate) fn open(session: Option<&Arc<Session>>, request: RequestId) -> Arc<StreamLog> {
        let (state, _) = watch::channel(LogState::default());
        match session.filter(|s| resumable(s)) {
            Some(s) => Self::register(s, Some(request), None),
            None => Arc::new(StreamLog { id: 0, request: Some(request), resumable: false, keep: None, state }),
        }
    }

    /// The session's standalone stream log, made on first use (sessions that can resume only).
    pub(crate) fn standalone(session: &Arc<Session>) -> Arc<StreamLog> {
        let mut slot = lock(&session.standalone_log);
        slot.get_or_insert_with(|| Self::register(session, None, Some(STANDALONE_KEEP))).clone()
    }

    fn register(session: &Arc<Session>, request: Option<RequestId>, keep: Option<usize>) -> Arc<StreamLog> {
        let (state, _) = watch::channel(LogState::default());
        let log = Arc::new(StreamLog { id: session.next_stream_id(), request, resumable: true, keep, state });
        lock(&session.streams).insert(log.id, log.clone());
        log
    }

    /// The number of the last event logged (a new reader that wants only what comes next starts here).
    pub(crate) fn last(&self) -> usize {
        self.state.borrow().last()
    }

    /// End the readers attached now, once they have sent what is logged (a new reader takes over).
    pub(crate) fn end_readers(&self) {
        self.state.send_modify(|s| {
            s.closes += 1;
            s.closed_at = s.last();
        });
    }

    /// Nothing more will come (the session ended): readers end once they have sent everything.
    pub(crate) fn finish(&self) {
        self.state.send_modify(|s| s.finished = true);
    }

    /// The response is in.
    pub(crate) fn is_finished(&self) -> bool {
        self.state.borrow().finished
    }

    /// Forget this log in its session (the answer went out as JSON, or it is done).
    pub(crate) fn unregister(&self, session: Option<&Arc<Session>>) {
        if let (true, Some(s)) = (self.resumable, session) {
            lock(&s.streams).remove(&self.id);
        }
    }

    /// Log a message for the readers (a close request ends the current ones instead).
    pub(crate) fn push(&self, msg: &Message) {
        if is_close(msg) {
            self.end_readers();
            return;
        }
        let data: Arc<str> = msg.to_value().to_string().into();
        let keep = self.keep;
        self.state.send_modify(|s| {
            s.events.push_back(data);
            while keep.is_some_and(|k| s.events.len() > k) {
                s.events.pop_front();
                s.dropped += 1;
            }
        });
    }

    /// Whether a reader is attached now.
    pub(crate) fn has_readers(&self) -> bool {
        self.state.receiver_count() > 0
    }

    /// How many close requests came so far (a new reader is not ended by those).
    pub(crate) fn closes(&self) -> u64 {
        self.state.borrow().closes
    }

    /// The priming event: the id of the last event before this reader (0: none), empty
    /// data, and the reconnection delay.
    pub(crate) fn priming(&self, at: usize, retry: Duration) -> Option<Bytes> {
        self.resumable.then(|| frame(Some(format!("{}-{at}", self.id)), Some(retry), ""))
    }

    /// Readers get the events after `after` (0: all), live, until the stream
    /// finishes or a close request after the `closes`-th; a comment when idle for a while.
    pub(crate) fn follow(self: &Arc<Self>, after: usize, closes: u64) -> impl Stream<Item = Bytes> {
        let rx = self.state.subscribe();
        stream::unfold((rx, after + 1, self.clone()), move |(mut rx, next, log)| async move {
            loop {
                {
                    let s = rx.borrow_and_update();
                    if s.closes != closes && next > s.closed_at {
                        return None;
                    }
                    // Events dropped before this reader got them are gone: go on from the oldest kept.
                    let next = next.max(s.dropped + 1);
                    if let Some(data) = s.events.get(next - 1 - s.dropped).cloned() {
                        drop(s);
                        let id = log.resumable.then(|| format!("{}-{next}", log.id));
                        return Some((frame(id, None, &data), (rx, next + 1, log)));
                    }
                    if s.finished {
                        return None;
                    }
                }
                match tokio::time::timeout(KEEP_ALIVE, rx.changed()).await {
                    Ok(Ok(())) => {}
                    // The sender lives in `log`, which this reader holds: `changed` cannot fail.
                    Ok(Err(_)) => return None,
                    Err(_) => return Some((Bytes::from_static(b":\n\n"), (rx, next, log))),
                }
            }
        })
    }

    /// Move what the handler sends, then its response, into the log; keep the
    /// handler's sender open while a reader is attached or may still resume.
    pub(crate) fn pump(
        self: Arc<Self>,
        session: Option<Arc<Session>>,
        first: Option<Message>,
        rx: mpsc::UnboundedReceiver<Message>,
        mut done: oneshot::Receiver<Option<Response>>,
        grace: Duration,
        cancel: CancellationToken,
    ) {
        tokio::spawn(async move {
            if let Some(m) = &first {
                self.push(m);
            }
            let mut rx = Some(rx);
            let response = loop {
                tokio::select! {
                    biased;
                    msg = recv(&mut rx) => match msg {
                        Some(m) => self.push(&m),
                        // The handler's senders are dropped just before its response is handed over.
                        None => break (&mut done).await.ok().flatten(),
                    },
                    resp = &mut done => {
                        while let Some(m) = rx.as_mut().and_then(|rx| rx.try_recv().ok()) {
                            self.push(&m);
                        }
                        break resp.ok().flatten();
                    }
                    // Nobody reads (and, if the server sent the reader away, nobody came back in
                    // time): the stream is gone. An answer nobody can resume is not worth finishing.
                    _ = self.unattended(self.wait_for_return(grace)), if rx.is_some() => {
                        rx = None;
                        if !self.resumable {
                            cancel.cancel();
                        }
                    }
                }
            };
            if let Some(r) = response {
                self.push(&Message::Response(r));
            }
            self.state.send_modify(|s| s.finished = true);
            if self.resumable {
                self.unattended(grace).await;
                self.unregister(session.as_ref());
            }
        });
    }

    /// How long to wait for a reader: the grace once the server has closed a
    /// connection (the client was told to come back), else not at all.
    fn wait_for_return(&self, grace: Duration) -> Duration {
        if self.state.borrow().closes > 0 {
            grace
        } else {
            Duration::ZERO
        }
    }

    /// Completes once no reader has been attached for `grace`.
    async fn unattended(&self, grace: Duration) {
        loop {
            self.state.closed().await;
            tokio::time::sleep(grace).await;
            if self.state.receiver_count() == 0 {
                return;
            }
        }
    }
}

async fn recv(rx: &mut Option<mpsc::UnboundedReceiver<Message>>) -> Option<Message> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// A stream of messages without ids (the standalone `GET` stream), with keep-alives.
pub(crate) fn messages(rx: mpsc::UnboundedReceiver<Message>) -> impl Stream<Item = Bytes> {
    stream::unfold(rx, |mut rx| async move {
        match tokio::time::timeout(KEEP_ALIVE, rx.recv()).await {
            Ok(Some(m)) => Some((frame(None, None, &m.to_value().to_string()), rx)),
            Ok(None) => None,
            Err(_) => Some((Bytes::from_static(b":\n\n"), rx)),
        }
    })
}

/// `<stream>-<n>` of a `Last-Event-ID`.
pub(crate) fn parse_event_id(id: &str) -> Option<(u64, usize)> {
    let (stream, n) = id.trim().split_once('-')?;
    Some((stream.parse().ok()?, n.parse().ok()?))
}
