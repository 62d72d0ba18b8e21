//! Resource subscriptions: hear when a resource changes, in either protocol era.
//!
//! A 2025-11-25 session asks with `resources/subscribe` and the server's
//! `notifications/resources/updated` arrive on the session's stream. The
//! stateless 2026-07-28 protocol has no subscribe request: the client opens a
//! `subscriptions/listen` stream naming the resource, and the updates arrive on
//! it. [`Client::subscribe_resource`] hides the difference.

use crate::client::{acknowledgement, honours, Client};
use crate::error::ClientError;
use ferry_protocol::{ErrorObject, Notification};
use serde_json::{json, Value};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

/// How long to wait for a listen stream's acknowledgement.
const ACK_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Updates of one resource; dropping it ends the subscription.
///
/// ```no_run
/// # async fn run(client: ferry_client::Client) -> Result<(), ferry_client::ClientError> {
/// let mut updates = client.subscribe_resource("ferry://demo/readme").await?;
/// while updates.next().await {
///     let now = client.read_resource("ferry://demo/readme").await?;
///     println!("changed: {:?}", now.contents[0].text);
/// }
/// # Ok(()) }
/// ```
pub struct ResourceUpdates {
    client: Client,
    uri: String,
    notes: broadcast::Receiver<Notification>,
    /// The listen request carrying the updates (2026-07-28).
    listen: Option<JoinHandle<()>>,
    /// No more updates can come.
    ended: bool,
}

impl ResourceUpdates {
    /// The resource's URI.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// Wait for the next change. `false` once no more can come (the connection or
    /// the listen stream ended).
    pub async fn next(&mut self) -> bool {
        while !self.ended {
            let note = match &mut self.listen {
                Some(listen) => tokio::select! {
                    n = self.notes.recv() => n,
                    _ = listen => {
                        self.ended = true;
                        return false;
                    }
                },
                None => self.notes.recv().await,
            };
            match note {
                Ok(n) if is_update_of(&n, &self.uri) => return true,
                Ok(_) => {}
                // Missed some: one of them may have been ours, so say it changed.
                Err(broadcast::error::RecvError::Lagged(_)) => return true,
                Err(broadcast::error::RecvError::Closed) => self.ended = true,
            }
        }
        false
    }
}

impl Drop for ResourceUpdates {
    fn drop(&mut self) {
        if let Some(listen) = self.listen.take() {
            listen.abort(); // ends the listen request
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let (client, uri) = (self.client.clone(), self.uri.clone());
        runtime.spawn(async move {
            let _ = client.request("resources/unsubscribe", json!({ "uri": uri })).await;
        });
    }
}

fn is_update_of(n: &Notification, uri: &str) -> bool {
    n.method == "notifications/resources/updated"
        && n.params.as_ref().and_then(|p| p.get("uri")).and_then(Value::as_str) == Some(uri)
}

impl Client {
    /// Subscribe to changes of the resource at `uri`: `resources/subscribe` in a
    /// 2025-11-25 session, a `subscriptions/listen` stream in 2026-07-28. An unknown
    /// resource, or a server that does not offer subscriptions, is an error.
    pub async fn subscribe_resource(&self, uri: &str) -> Result<ResourceUpdates, ClientError> {
        if self.server_capabilities().pointer("/resources/subscribe") != Some(&Value::Bool(true)) {
            return Err(ClientError::Rpc(ErrorObject::method_not_found(
                "resources/subscribe (not offered by the server)",
            )));
        }
        let mut notes = self.notifications();
        if !self.is_modern() {
            self.request("resources/subscribe", json!({ "uri": uri })).await?;
            return Ok(ResourceUpdates {
                client: self.clone(),
                uri: uri.to_string(),
                notes,
                listen: None,
                ended: false,
            });
        }
        let (id, listen) = self.open_listen("resourceSubscriptions", uri);
        let updates = ResourceUpdates {
            client: self.clone(),
            uri: uri.to_string(),
            notes: notes.resubscribe(),
            listen: Some(listen),
            ended: false,
        };
        // Wait for the acknowledgement: it says whether the server took the resource.
        let honoured = tokio::time::timeout(ACK_WAIT, async {
            loop {
                match notes.recv().await {
                    Ok(n) => {
                        if let Some(filter) = acknowledgement(&n, &id) {
                            return honours(filter, "resourceSubscriptions", uri);
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return false,
                }
            }
        })
        .await;
        if honoured != Ok(true) {
            return Err(ClientError::Rpc(ErrorObject::new(
                ferry_protocol::ErrorCode::RESOURCE_NOT_FOUND,
                format!("the server does not offer updates of {uri}"),
            )));
        }
        Ok(updates)
    }
}
