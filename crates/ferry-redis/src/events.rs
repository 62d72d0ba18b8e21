//! Task events and notices from every process, through Redis pub/sub.

use crate::decode;
use ferry_tasks::TaskEvent;
use futures::StreamExt;
use redis::Client;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// Forward `P:events` and `P:notes` messages to local subscribers; reconnect with backoff.
pub(crate) async fn listen(
    client: Client,
    channels: [String; 2],
    events: broadcast::Sender<TaskEvent>,
    ready: tokio::sync::oneshot::Sender<()>,
) {
    let mut ready = Some(ready);
    let mut backoff = Duration::from_millis(100);
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => {
                if pubsub.subscribe(&channels).await.is_ok() {
                    backoff = Duration::from_millis(100);
                    if let Some(r) = ready.take() {
                        let _ = r.send(());
                    }
                    let mut stream = pubsub.into_on_message();
                    while let Some(msg) = stream.next().await {
                        let Ok(payload) = msg.get_payload::<String>() else { continue };
                        let event = if msg.get_channel_name() == channels[0] {
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
                    }
                }
                tracing::warn!("lost the Redis event subscription; reconnecting");
            }
            Err(e) => tracing::warn!(error = %e, "cannot subscribe to Redis events; retrying"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}
