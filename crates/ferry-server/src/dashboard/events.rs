//! `GET /admin/api/events`: the dashboard's live feed, as Server-Sent Events.
//!
//! Events (each `data:` is one JSON object):
//! * `task` — a task changed: its [`TaskSummary`] (no arguments, no outcome payload);
//! * `stats` — an [`EngineStats`](ferry_tasks::EngineStats) snapshot, every
//!   [`DashboardConfig::stats_every`] (one reader per process, shared by every stream);
//! * `stats-error` — `{"error": ...}` when the engine could not be read this time;
//! * `resync` — events were dropped because this stream fell behind: refetch the list.
//!
//! Bounds: at most [`DashboardConfig::max_event_streams`] streams at once (`503` beyond);
//! each has a channel of [`DashboardConfig::event_buffer`] events, and a stream that
//! does not keep up loses task events (then gets `resync`) instead of holding memory.

use super::DashboardConfig;
use axum::response::sse::{Event, KeepAlive, Sse};
use ferry_protocol::TaskStatus;
use ferry_tasks::{Backend, Outcome, TaskEvent, TaskRecord};
use futures::stream::{Stream, StreamExt};
use serde::Serialize;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, mpsc, watch, OwnedSemaphorePermit, Semaphore};

/// One task as the dashboard's feed shows it: what a table row needs, never the
/// task's arguments or the payload of its outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskSummary<'a> {
    /// Task id.
    pub id: &'a str,
    /// Request method (`tools/call`, ...).
    pub kind: &'a str,
    /// Tool/prompt name or resource URI.
    pub name: &'a str,
    /// Owner key.
    pub owner: &'a str,
    /// Current status.
    pub status: TaskStatus,
    /// Status message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_message: Option<&'a str>,
    /// Creation time, epoch ms.
    pub created_at: u64,
    /// Last change, epoch ms.
    pub updated_at: u64,
    /// Progress so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<f64>,
    /// Progress total, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<f64>,
    /// How it ended: `result`, `toolError` or `error` (none while running, or when cancelled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<&'static str>,
    /// Outstanding input requests.
    #[serde(skip_serializing_if = "is_zero")]
    pub input_requests: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl<'a> TaskSummary<'a> {
    /// The summary of `record`.
    pub fn of(record: &'a TaskRecord) -> Self {
        Self {
            id: &record.id,
            kind: &record.kind,
            name: &record.name,
            owner: &record.owner,
            status: record.status,
            status_message: record.status_message.as_deref(),
            created_at: record.created_at,
            updated_at: record.updated_at,
            progress: record.progress.as_ref().map(|p| p.progress),
            total: record.progress.as_ref().and_then(|p| p.total),
            outcome: record.outcome.as_ref().map(|o| match o {
                Outcome::Result { is_error: false, .. } => "result",
                Outcome::Result { is_error: true, .. } => "toolError",
                Outcome::Error { .. } => "error",
            }),
            input_requests: record.input_requests.len(),
        }
    }
}

/// What one stream sends.
#[derive(Debug, Clone)]
enum Frame {
    Task(String),
    Stats(Arc<str>),
    StatsError(Arc<str>),
    Resync,
}

impl Frame {
    fn event(self) -> Event {
        match self {
            Frame::Task(json) => Event::default().event("task").data(json),
            Frame::Stats(json) => Event::default().event("stats").data(&*json),
            Frame::StatsError(json) => Event::default().event("stats-error").data(&*json),
            Frame::Resync => Event::default().event("resync").data("{}"),
        }
    }
}

/// The event streams of one router: their bound, and the stats reader they share.
pub(super) struct Feed {
    backend: Arc<dyn Backend>,
    config: DashboardConfig,
    streams: Arc<Semaphore>,
    stats: watch::Sender<Option<Frame>>,
    /// Whether the stats reader runs; it stops when no stream is left.
    reading: Mutex<bool>,
}

impl Feed {
    pub(super) fn new(backend: Arc<dyn Backend>, config: DashboardConfig) -> Arc<Self> {
        Arc::new(Self {
            backend,
            streams: Arc::new(Semaphore::new(config.max_event_streams)),
            config,
            stats: watch::channel(None).0,
            reading: Mutex::new(false),
        })
    }

    /// Most streams at once.
    pub(super) fn max_streams(&self) -> usize {
        self.config.max_event_streams
    }

    /// A new stream, or `None` when [`DashboardConfig::max_event_streams`] are open.
    pub(super) fn open(
        self: &Arc<Self>,
    ) -> Option<Sse<impl Stream<Item = Result<Event, Infallible>> + Send + 'static>> {
        let permit = self.streams.clone().try_acquire_owned().ok()?;
        let events = self.backend.subscribe();
        let stats = self.subscribe_stats();
        let (tx, rx) = mpsc::channel(self.config.event_buffer.max(1));
        tokio::spawn(forward(events, stats, tx, permit));
        let stream = tokio_stream_of(rx).map(|frame| Ok(frame.event()));
        Some(Sse::new(stream).keep_alive(KeepAlive::new().interval(self.config.keep_alive)))
    }

    /// A receiver of the stats snapshots, starting the reader if it is not running.
    fn subscribe_stats(self: &Arc<Self>) -> watch::Receiver<Option<Frame>> {
        let mut reading = self.reading.lock().unwrap_or_else(|e| e.into_inner());
        let rx = self.stats.subscribe();
        if !*reading {
            *reading = true;
            tokio::spawn(read_stats(self.clone()));
        }
        rx
    }
}

/// Read the engine's stats every period while any stream listens.
async fn read_stats(feed: Arc<Feed>) {
    loop {
        {
            let mut reading = feed.reading.lock().unwrap_or_else(|e| e.into_inner());
            if feed.stats.receiver_count() == 0 {
                *reading = false;
                return;
            }
        }
        let frame = match feed.backend.stats().await {
            Ok(stats) => match serde_json::to_string(&stats) {
                Ok(json) => Frame::Stats(json.into()),
                Err(e) => Frame::StatsError(error_json(&e.to_string())),
            },
            Err(e) => Frame::StatsError(error_json(&e.to_string())),
        };
        feed.stats.send_replace(Some(frame));
        tokio::time::sleep(feed.config.stats_every).await;
    }
}

fn error_json(message: &str) -> Arc<str> {
    serde_json::json!({ "error": message }).to_string().into()
}

/// Move task events and stats snapshots into one stream's channel until the stream
/// closes. A full channel drops task events and owes the stream a `resync`.
async fn forward(
    mut events: broadcast::Receiver<TaskEvent>,
    mut stats: watch::Receiver<Option<Frame>>,
    tx: mpsc::Sender<Frame>,
    _permit: OwnedSemaphorePermit,
) {
    // The latest snapshot at once, so a new page has numbers before the next tick.
    let first = stats.borrow_and_update().clone();
    if let Some(frame) = first {
        let _ = tx.try_send(frame);
    }
    let mut owe_resync = false;
    loop {
        let frame = tokio::select! {
            _ = tx.closed() => return,
            event = events.recv() => match event {
                Ok(TaskEvent::Changed(record)) => match serde_json::to_string(&TaskSummary::of(&record)) {
                    Ok(json) => Some(Frame::Task(json)),
                    Err(_) => None,
                },
                Ok(TaskEvent::Notified(_)) => None,
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    owe_resync = true;
                    None
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            changed = stats.changed() => match changed {
                Ok(()) => stats.borrow_and_update().clone(),
                Err(_) => return,
            },
        };
        if owe_resync {
            match tx.try_send(Frame::Resync) {
                Ok(()) => owe_resync = false,
                Err(mpsc::error::TrySendError::Full(_)) => continue,
                Err(mpsc::error::TrySendError::Closed(_)) => return,
            }
        }
        let Some(frame) = frame else { continue };
        let is_task = matches!(frame, Frame::Task(_));
        match tx.try_send(frame) {
            Ok(()) => {}
            // A missed snapshot is made good by the next one; a missed task change is not.
            Err(mpsc::error::TrySendError::Full(_)) => owe_resync |= is_task,
            Err(mpsc::error::TrySendError::Closed(_)) => return,
        }
    }
}

/// The receiving end of a channel as a stream.
fn tokio_stream_of(rx: mpsc::Receiver<Frame>) -> impl Stream<Item = Frame> + Send + 'static {
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|frame| (frame, rx)) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn next(rx: &mut mpsc::Receiver<Frame>) -> Frame {
        tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("a frame in time").expect("open")
    }

    fn record(name: &str) -> TaskRecord {
        let mut r = TaskRecord::new("owner", "tools/call", name, 1_000);
        r.outcome = Some(Outcome::result(&serde_json::json!({"secret": "payload"}), false).unwrap());
        r.status = TaskStatus::Completed;
        r
    }

    #[test]
    fn a_summary_leaves_out_the_outcome_payload() {
        let json = serde_json::to_string(&TaskSummary::of(&record("slow"))).unwrap();
        assert!(json.contains("\"outcome\":\"result\""), "{json}");
        assert!(json.contains("\"name\":\"slow\""), "{json}");
        assert!(!json.contains("payload"), "{json}");
    }

    #[tokio::test]
    async fn a_stream_that_falls_behind_drops_task_events_and_is_told_to_resync() {
        let (events, events_rx) = broadcast::channel(64);
        let (stats, stats_rx) = watch::channel(None);
        let (tx, mut rx) = mpsc::channel(1);
        let permits = Arc::new(Semaphore::new(1));
        let permit = permits.clone().try_acquire_owned().unwrap();
        let forwarding = tokio::spawn(forward(events_rx, stats_rx, tx, permit));
        for name in ["a", "b", "c"] {
            events.send(TaskEvent::Changed(Arc::new(record(name)))).unwrap();
        }
        // Nothing read yet: "a" fills the channel, "b" and "c" are dropped.
        while !events.is_empty() {
            tokio::task::yield_now().await;
        }
        assert!(matches!(next(&mut rx).await, Frame::Task(json) if json.contains("\"name\":\"a\"")));
        // The next thing to pass (a snapshot) first delivers the resync owed.
        stats.send_replace(Some(Frame::Stats("{}".into())));
        assert!(matches!(next(&mut rx).await, Frame::Resync));
        drop(rx);
        // The stream closed: the forwarder ends and gives its slot back.
        events.send(TaskEvent::Changed(Arc::new(record("d")))).unwrap();
        tokio::time::timeout(Duration::from_secs(10), forwarding).await.expect("the forwarder ends").unwrap();
        assert_eq!(permits.available_permits(), 1);
    }
}
