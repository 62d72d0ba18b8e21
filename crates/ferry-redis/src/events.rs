//! Task events, notices and cancellations from every process, through Redis pub/sub.
//!
//! Each listener starts when this process first asks for what it carries: `P:events` and
//! `P:notes` on the first [`subscribe`](ferry_tasks::Backend::subscribe), `P:cancel` on the
//! first [`subscribe_cancels`](ferry_tasks::Backend::subscribe_cancels). A `ferry worker`
//! only runs jobs, so it listens to cancellations alone and never decodes every change.

use crate::{decode, RedisBackend};
use ferry_tasks::{BackendError, TaskEvent};
use futures::StreamExt;
use redis::{AsyncCommands, Client};
use std::sync::Arc;
use std::time::Duration;
use tokio::runtime::Handle;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

/// How long the first subscription may take before operations that wait for it fail.
const FIRST_SUBSCRIPTION: Duration = Duration::from_secs(5);

impl RedisBackend {
    /// Start the `P:events`/`P:notes` listener unless it runs.
    pub(crate) fn listen_to_events(&self) {
        let inner = &self.inner;
        inner.events_listener.get_or_init(|| {
            let (events, notes) = (inner.keys.events.clone(), inner.keys.notes.clone());
            let nodes = inner.endpoint.subscription_nodes();
            Listener::events(&inner.runtime, nodes, events, notes, inner.events.clone())
        });
    }

    /// Start the `P:cancel` listener unless it runs.
    pub(crate) fn listen_to_cancels(&self) {
        let inner = &self.inner;
        inner.cancel_listener.get_or_init(|| {
            let nodes = inner.endpoint.subscription_nodes();
            Listener::cancels(&inner.runtime, nodes, inner.keys.cancels.clone(), inner.cancels.clone())
        });
    }

    /// Wait until the listeners this process started have subscribed (at once after their
    /// first subscription): operations that publish or read wait for it, so a caller that
    /// subscribed before them hears of every change they did not see.
    pub(crate) async fn listening(&self) -> Result<(), BackendError> {
        for listener in [&self.inner.events_listener, &self.inner.cancel_listener] {
            if let Some(l) = listener.get() {
                l.subscribed().await?;
            }
        }
        Ok(())
    }

    /// Tell workers that `task_id` was cancelled (`P:cancel`). A notice that does not get
    /// out is only logged: the worker's heartbeat re-reads the record and sees the cancel.
    pub(crate) async fn publish_cancel(&self, task_id: &str) {
        let published: redis::RedisResult<i64> = self.conn().publish(&self.inner.keys.cancels, task_id).await;
        if let Err(e) = published {
            tracing::warn!(task_id, error = %e, "could not publish a cancellation");
        }
    }
}

/// A running subscription: forwards what it hears, reconnecting with backoff.
pub(crate) struct Listener {
    task: JoinHandle<()>,
    /// `true` once the first subscription is up.
    subscribed: watch::Receiver<bool>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Listener {
    /// Subscribe to `P:events` and `P:notes`, forwarding them as [`TaskEvent`]s.
    pub(crate) fn events(
        runtime: &Handle,
        nodes: Vec<Client>,
        events_channel: String,
        notes_channel: String,
        events: broadcast::Sender<TaskEvent>,
    ) -> Self {
        let channels = vec![events_channel.clone(), notes_channel];
        Self::start(runtime, nodes, channels, move |channel, payload| {
            let event = if channel == events_channel {
                decode(&payload).map(|r| TaskEvent::Changed(Arc::new(r)))
            } else {
                decode(&payload).map(TaskEvent::Notified)
            };
            match event {
                Ok(event) => {
                    let _ = events.send(event);
                }
                Err(e) => tracing::warn!(error = %e, "unreadable task event"),
            }
        })
    }

    /// Subscribe to `P:cancel`, forwarding the ids of cancelled tasks.
    pub(crate) fn cancels(
        runtime: &Handle,
        nodes: Vec<Client>,
        channel: String,
        ids: broadcast::Sender<String>,
    ) -> Self {
        Self::start(runtime, nodes, vec![channel], move |_, id| {
            let _ = ids.send(id);
        })
    }

    fn start(
        runtime: &Handle,
        nodes: Vec<Client>,
        channels: Vec<String>,
        forward: impl Fn(&str, String) + Send + 'static,
    ) -> Self {
        let (up, subscribed) = watch::channel(false);
        let task = runtime.spawn(listen(nodes, channels, up, forward));
        Self { task, subscribed }
    }

    /// Wait until the first subscription is up (at once after that): whoever subscribed
    /// before an operation hears what happens after it. `Unavailable` when it takes longer
    /// than [`FIRST_SUBSCRIPTION`] (Redis unreachable); the listener goes on trying.
    pub(crate) async fn subscribed(&self) -> Result<(), BackendError> {
        if *self.subscribed.borrow() {
            return Ok(());
        }
        let mut up = self.subscribed.clone();
        let waited = tokio::time::timeout(FIRST_SUBSCRIPTION, up.wait_for(|up| *up)).await;
        if waited.is_ok_and(|r| r.is_ok()) {
            Ok(())
        } else {
            Err(BackendError::Unavailable("could not subscribe to task events".into()))
        }
    }
}

/// Forward the messages of `channels` to `forward`; reconnect with backoff, to the next of
/// `nodes` each time (on a cluster a message published on any node reaches every node's
/// subscribers, so losing a node only moves the subscription to another).
async fn listen(nodes: Vec<Client>, channels: Vec<String>, up: watch::Sender<bool>, forward: impl Fn(&str, String)) {
    let mut backoff = Duration::from_millis(100);
    for client in nodes.iter().cycle() {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => {
                if pubsub.subscribe(&channels).await.is_ok() {
                    backoff = Duration::from_millis(100);
                    up.send_replace(true);
                    let mut stream = pubsub.into_on_message();
                    while let Some(msg) = stream.next().await {
                        let Ok(payload) = msg.get_payload::<String>() else { continue };
                        forward(msg.get_channel_name(), payload);
                    }
                }
                tracing::warn!(?channels, "lost a Redis subscription; reconnecting");
            }
            Err(e) => tracing::warn!(error = %e, ?channels, "cannot subscribe in Redis; retrying"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}
