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
//!
//! Every log is bounded (`ServerConfig::max_stream_buffer_bytes`), also the
//! unregistered ones of clients that cannot resume: a client that stops reading
//! must not make the server hold what a handler keeps sending. Beyond the bound
//! the oldest notifications (progress, logs) are dropped first, then the oldest
//! requests to the client; the response is never dropped. A reader that fell
//! behind goes on from the oldest event kept, and so does a resumption from before
//! it (event numbers then skip the dropped ones).

use crate::answer::Answer;
use crate::session::{lock, Session};
use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response as HttpResponse};
use ferry_protocol::{Message, RequestId};
use futures::stream::{self, Stream, StreamExt};
use std::collections::VecDeque;
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
    Some(frame(None, None, &msg.to_json()))
}

/// An SSE response of `frames`.
pub(crate) fn response(frames: impl Stream<Item = Bytes> + Send + 'static) -> HttpResponse {
    // Counted in `ferry_sse_streams` until the body is dropped (sent, or the client left).
    let open = crate::metrics::SseStream::open();
    let frames = frames.map(move |f| {
        let _open = &open;
        f
    });
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
    /// Keep only this many latest events (the standalone stream); `None`: as many as fit.
    keep: Option<usize>,
    /// Keep events of at most this many bytes (the response is kept whatever its size).
    max_bytes: usize,
    state: watch::Sender<LogState>,
}

/// What an event carries, which decides what is dropped first when the log is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Notification,
    Request,
    Response,
}

/// One logged event: its number in the stream (from 1) and its data.
struct Event {
    n: usize,
    kind: Kind,
    data: Arc<str>,
}

#[derive(Default)]
struct LogState {
    /// The events kept, in order of their numbers (with gaps where some were dropped).
    events: VecDeque<Event>,
    /// The number of the last event logged.
    last: usize,
    /// Bytes of data in `events`.
    bytes: usize,
    /// How many events were dropped to stay within the bounds.
    dropped: usize,
    /// The response is in: nothing more will come.
    finished: bool,
    /// Bumped by a close request: readers attached before it end...
    closes: u64,
    /// ...once they have sent the events numbered up to this.
    closed_at: usize,
}

impl LogState {
    /// Drop events until within the bounds: the oldest notification first, else the
    /// oldest request; never the response.
    fn trim(&mut self, keep: Option<usize>, max_bytes: usize) {
        while self.bytes > max_bytes || keep.is_some_and(|k| self.events.len() > k) {
            // Over the byte bound is a refusal; past `keep` is the standalone log's rotation.
            let over_bytes = self.bytes > max_bytes;
            let at = self.events.iter().position(|e| e.kind == Kind::Notification);
            let Some(at) = at.or_else(|| self.events.iter().position(|e| e.kind == Kind::Request)) else {
                return;
            };
            if let Some(e) = self.events.remove(at) {
                self.bytes -= e.data.len();
                self.dropped += 1;
                if over_bytes {
                    crate::metrics::refused(crate::metrics::Limit::StreamBuffer);
                }
            }
        }
    }

    /// The first event kept numbered `n` or later.
    fn at_or_after(&self, n: usize) -> Option<&Event> {
        self.events.get(self.events.partition_point(|e| e.n < n))
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
    /// A log for `request` of at most `max_bytes`, registered in `session` when the client can resume it.
    pub(crate) fn open(session: Option<&Arc<Session>>, request: RequestId, max_bytes: usize) -> Arc<StreamLog> {
        match session.filter(|s| resumable(s)) {
            Some(s) => Self::register(s, Some(request), None, max_bytes),
            None => Self::unregistered(Some(request), None, max_bytes),
        }
    }

    /// The standalone stream log of a session that can resume it, made on first use.
    pub(crate) fn standalone(session: &Arc<Session>, max_bytes: usize) -> Arc<StreamLog> {
        let mut slot = lock(&session.standalone_log);
        slot.get_or_insert_with(|| Self::register(session, None, Some(STANDALONE_KEEP), max_bytes)).clone()
    }

    /// A new plain standalone stream for a client that cannot resume: it replaces (and
    /// ends) the previous one, and keeps nothing while nobody reads it.
    pub(crate) fn plain_standalone(session: &Session, max_bytes: usize) -> Arc<StreamLog> {
        let log = Self::unregistered(None, Some(STANDALONE_KEEP), max_bytes);
        if let Some(old) = lock(&session.standalone_log).replace(log.clone()) {
            old.finish();
        }
        log
    }

    fn unregistered(request: Option<RequestId>, keep: Option<usize>, max_bytes: usize) -> Arc<StreamLog> {
        let (state, _) = watch::channel(LogState::default());
        Arc::new(StreamLog { id: 0, request, resumable: false, keep, max_bytes, state })
    }

    fn register(
        session: &Arc<Session>,
        request: Option<RequestId>,
        keep: Option<usize>,
        max_bytes: usize,
    ) -> Arc<StreamLog> {
        let (state, _) = watch::channel(LogState::default());
        let id = if request.is_some() { session.next_stream_id() } else { session.standalone_stream_id() };
        let log = Arc::new(StreamLog { id, request, resumable: true, keep, max_bytes, state });
        lock(&session.streams).insert(log.id, log.clone());
        log
    }

    /// The number of the last event logged (a new reader that wants only what comes next starts here).
    pub(crate) fn last(&self) -> usize {
        self.state.borrow().last
    }

    /// What the log holds: (events, bytes of data, events dropped so far).
    #[cfg(test)]
    fn held(&self) -> (usize, usize, usize) {
        let s = self.state.borrow();
        (s.events.len(), s.bytes, s.dropped)
    }

    /// End the readers attached now, once they have sent what is logged (a new reader takes over).
    pub(crate) fn end_readers(&self) {
        self.state.send_modify(|s| {
            s.closes += 1;
            s.closed_at = s.last;
        });
    }

    /// Nothing more will come (the session ended): readers end once they have sent everything.
    pub(crate) fn finish(&self) {
        self.state.send_modify(|s| s.finished = true);
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
        // A plain stream nobody reads is gone: the next reader starts after what is sent now.
        if !self.resumable && !self.has_readers() && self.request.is_none() {
            return;
        }
        let kind = match msg {
            Message::Notification(_) => Kind::Notification,
            Message::Request(_) => Kind::Request,
            Message::Response(_) => Kind::Response,
        };
        self.log(kind, msg.to_json().into());
    }

    /// Log the handler's answer (the last event of a response stream).
    pub(crate) fn push_answer(&self, answer: &Answer) {
        self.log(Kind::Response, answer.to_json().into());
    }

    fn log(&self, kind: Kind, data: Arc<str>) {
        let (keep, max_bytes) = (self.keep, self.max_bytes);
        self.state.send_modify(|s| {
            s.last += 1;
            s.bytes += data.len();
            s.events.push_back(Event { n: s.last, kind, data });
            s.trim(keep, max_bytes);
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
                    let ended = s.closes != closes;
                    // Events dropped before this reader got them are gone: go on from the oldest kept.
                    match s.at_or_after(next) {
                        Some(e) if !(ended && e.n > s.closed_at) => {
                            let (n, data) = (e.n, e.data.clone());
                            drop(s);
                            let id = log.resumable.then(|| format!("{}-{n}", log.id));
                            return Some((frame(id, None, &data), (rx, n + 1, log)));
                        }
                        _ if ended || s.finished => return None,
                        _ => {}
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
        mut done: oneshot::Receiver<Option<Answer>>,
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
                self.push_answer(&r);
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

/// `<stream>-<n>` of a `Last-Event-ID`.
pub(crate) fn parse_event_id(id: &str) -> Option<(u64, usize)> {
    let (stream, n) = id.trim().split_once('-')?;
    Some((stream.parse().ok()?, n.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_protocol::{Notification, Request, Response};
    use serde_json::json;

    fn note(i: usize) -> Message {
        Message::Notification(Notification::new(
            "notifications/progress",
            Some(json!({"progress": i, "pad": "x".repeat(64)})),
        ))
    }

    fn answer(text: &str) -> Message {
        Message::Response(Response::ok(RequestId::Number(1), json!({"text": text})))
    }

    async fn drain(log: &Arc<StreamLog>, after: usize) -> Vec<serde_json::Value> {
        let frames: Vec<Bytes> = log.follow(after, 0).collect().await;
        frames
            .iter()
            .filter_map(|f| {
                String::from_utf8_lossy(f).lines().find_map(|l| l.strip_prefix("data: ").map(str::to_string))
            })
            .map(|d| serde_json::from_str(&d).unwrap())
            .collect()
    }

    #[tokio::test]
    async fn a_log_nobody_reads_holds_at_most_its_bound_and_keeps_the_response() {
        let log = StreamLog::unregistered(Some(RequestId::Number(1)), None, 4096);
        for i in 0..10_000 {
            log.push(&note(i));
        }
        let (events, bytes, dropped) = log.held();
        assert!(bytes <= 4096, "{bytes} bytes held");
        assert_eq!(events + dropped, 10_000);
        log.push(&answer("done"));
        log.finish();
        let seen = drain(&log, 0).await;
        assert!(seen.len() < 100, "only what fits: {}", seen.len());
        assert_eq!(seen.last().unwrap()["result"]["text"], "done");
        // The newest notifications were kept, in order.
        let progress: Vec<u64> = seen.iter().filter_map(|m| m["params"]["progress"].as_u64()).collect();
        assert!(progress.windows(2).all(|w| w[1] == w[0] + 1), "{progress:?}");
        assert_eq!(*progress.last().unwrap(), 9_999);
    }

    #[tokio::test]
    async fn notifications_go_before_requests_and_the_response_stays_whatever_its_size() {
        let log = StreamLog::unregistered(Some(RequestId::Number(1)), None, 1024);
        let ask = Message::Request(Request::new(RequestId::String("ferry-1".into()), "elicitation/create", None));
        log.push(&ask);
        for i in 0..100 {
            log.push(&note(i));
        }
        log.push(&answer("done"));
        log.finish();
        let seen = drain(&log, 0).await;
        assert_eq!(seen[0]["method"], "elicitation/create", "the request outlived the notifications");
        assert!(seen.len() > 2 && seen.len() < 20, "{}", seen.len());
        assert_eq!(seen.last().unwrap()["result"]["text"], "done");

        let log = StreamLog::unregistered(Some(RequestId::Number(1)), None, 1024);
        log.push(&ask);
        log.push(&note(1));
        log.push(&answer(&"y".repeat(4096)));
        log.finish();
        let seen = drain(&log, 0).await;
        assert_eq!(seen.len(), 1, "only the response, over the bound alone");
        assert_eq!(seen[0]["result"]["text"].as_str().unwrap().len(), 4096);
    }

    #[tokio::test]
    async fn a_reader_resuming_from_before_what_is_kept_starts_at_the_oldest_kept() {
        let log = StreamLog::unregistered(Some(RequestId::Number(1)), None, 1024);
        for i in 0..100 {
            log.push(&note(i));
        }
        log.finish();
        let (kept, _, dropped) = log.held();
        let seen = drain(&log, 1).await;
        assert_eq!(seen.len(), kept);
        assert_eq!(seen[0]["params"]["progress"], dropped, "{:?}", seen[0]);
    }

    #[tokio::test]
    async fn a_plain_standalone_stream_holds_nothing_while_nobody_reads_it() {
        let session = Session::new("s".into(), None, 0);
        let log = StreamLog::plain_standalone(&session, 4096);
        for i in 0..1000 {
            assert!(session.send_standalone(note(i)));
        }
        assert_eq!(log.held(), (0, 0, 0));
        // A reader gets what comes while it reads, within the bound.
        let reader = log.follow(log.last(), 0);
        for i in 0..1000 {
            log.push(&note(i));
        }
        let (events, bytes, _) = log.held();
        assert!(bytes <= 4096 && events <= STANDALONE_KEEP, "{events} events, {bytes} bytes");
        drop(reader);
    }
}
