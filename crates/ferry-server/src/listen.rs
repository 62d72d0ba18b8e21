//! `subscriptions/listen` (2026-07-28): the one long-lived stream of the
//! stateless protocol. A client names what it wants to hear of (the filter) and
//! the server acknowledges the part it honours, then streams those notifications
//! on the request's response until the client goes away:
//!
//! * `taskIds` (tasks extension): `notifications/tasks`, a whole DetailedTask per
//!   change, for the caller's own tasks; the stream ends once all are terminal
//!   unless something else is listened to.
//! * `resourceSubscriptions`: `notifications/resources/updated` for those URIs
//!   (what `resources/subscribe` was in a session).
//! * `toolsListChanged`, `promptsListChanged`, `resourcesListChanged`:
//!   `notifications/<kind>/list_changed` when the server's components change.
//!
//! Each notification carries the subscription id (the listen request's id) in
//! `_meta`, so a client with several listens can tell them apart.

use crate::dispatch::{Call, Reply};
use crate::server::{Shared, PROMPTS_CHANGED, RESOURCES_CHANGED, TOOLS_CHANGED};
use crate::tasks::{form_b, owned, store_error, RESOURCE_UPDATED};
use ferry_protocol::tasks::missing_extension_error;
use ferry_protocol::{ErrorObject, Message, Notification};
use ferry_tasks::{TaskEvent, TaskRecord};
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::sync::broadcast;

const SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";

/// A filter entry that must be an array of strings (absent or null: empty).
fn strings(filter: &Value, key: &str) -> Result<Vec<String>, ErrorObject> {
    let bad = || ErrorObject::invalid_params(format!("notifications.{key} must be an array of strings"));
    match filter.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => {
            a.iter().map(|v| v.as_str().map(str::to_string)).collect::<Option<_>>().ok_or_else(bad)
        }
        Some(_) => Err(bad()),
    }
}

/// Answer `subscriptions/listen`: acknowledge what is honoured, then stream it until the
/// client goes away (or, listening to tasks only, until they are all terminal).
pub(crate) async fn listen(shared: &Arc<Shared>, call: &Call) -> Reply {
    if !call.era.is_modern() {
        return Err(ErrorObject::method_not_found(&call.method));
    }
    let filter = call.params.get("notifications").cloned().unwrap_or_else(|| json!({}));
    if !filter.is_object() {
        return Err(ErrorObject::invalid_params("notifications must be an object (the subscription filter)"));
    }
    let ids = strings(&filter, "taskIds")?;
    // The list changes asked for (a flag that is not `true` asks for nothing).
    let lists: Vec<(&str, &'static str)> = [
        ("toolsListChanged", TOOLS_CHANGED),
        ("promptsListChanged", PROMPTS_CHANGED),
        ("resourcesListChanged", RESOURCES_CHANGED),
    ]
    .into_iter()
    .filter(|(key, _)| filter.get(*key) == Some(&Value::Bool(true)))
    .collect();
    let uris = strings(&filter, "resourceSubscriptions")?;
    if !ids.is_empty() && !call.declares_tasks() {
        return Err(missing_extension_error());
    }
    let out = call.outbound.clone().ok_or_else(|| {
        ErrorObject::invalid_request("subscriptions/listen needs a streamed response (Accept: text/event-stream)")
    })?;
    let subscription = json!(call.id);
    let mut events = shared.backend.subscribe();
    let mut changes = shared.list_changes.subscribe();
    // Only the caller's own tasks, and resources that exist, are listened to; the rest
    // is left out of the acknowledgement.
    let mut open: Vec<TaskRecord> = Vec::new();
    for id in &ids {
        if let Ok(rec) = owned(shared, call, id).await {
            open.push(rec);
        }
    }
    let components = shared.components();
    let resources: Vec<String> = uris.into_iter().filter(|u| components.resolve_resource(u).is_some()).collect();
    drop(components);
    let mut honoured = serde_json::Map::new();
    if !ids.is_empty() {
        honoured.insert("taskIds".into(), json!(open.iter().map(|r| r.id.as_str()).collect::<Vec<_>>()));
    }
    if !resources.is_empty() {
        honoured.insert("resourceSubscriptions".into(), json!(resources));
    }
    for (key, _) in &lists {
        honoured.insert(key.to_string(), json!(true));
    }
    let send = |method: &str, mut params: Value| {
        // Keep a notification's own `_meta` (task progress) beside the subscription id.
        if let Some(obj) = params.as_object_mut() {
            obj.entry("_meta").or_insert_with(|| json!({}))[SUBSCRIPTION_ID] = subscription.clone();
        }
        out.send(Message::Notification(Notification::new(method, Some(params))))
    };
    if !send("notifications/subscriptions/acknowledged", json!({ "notifications": honoured })) {
        return Ok(json!({}));
    }
    let notify = |rec: &TaskRecord| {
        let mut rec = rec.clone();
        shared.pace(&mut rec);
        send("notifications/tasks", form_b(&rec, true))
    };
    for rec in &open {
        if !notify(rec) {
            return Ok(json!({}));
        }
    }
    open.retain(|r| !r.status.is_terminal());
    while !open.is_empty() || !resources.is_empty() || !lists.is_empty() {
        let event = tokio::select! {
            e = events.recv() => e,
            changed = changes.recv() => {
                if let Ok(method) = changed {
                    if lists.iter().any(|(_, m)| *m == method) && !send(method, json!({})) {
                        break;
                    }
                }
                continue;
            }
        };
        let rec = match event {
            Ok(TaskEvent::Changed(rec)) => rec,
            Ok(TaskEvent::Notified(n)) => {
                let about = n.params.get("uri").and_then(Value::as_str).unwrap_or_default();
                let wanted =
                    n.session.is_none() && n.method == RESOURCE_UPDATED && resources.iter().any(|u| u == about);
                if wanted && !send(RESOURCE_UPDATED, json!({ "uri": about })) {
                    break;
                }
                continue;
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {
                // Missed events: re-read every open task.
                let mut fresh = Vec::new();
                for r in &open {
                    if let Some(now) = shared.backend.get(&r.id).await.map_err(store_error)? {
                        fresh.push(now);
                    }
                }
                for r in &fresh {
                    notify(r);
                }
                open = fresh.into_iter().filter(|r| !r.status.is_terminal()).collect();
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => break,
        };
        let Some(pos) = open.iter().position(|r| r.id == rec.id) else { continue };
        if !notify(&rec) {
            break;
        }
        if rec.status.is_terminal() {
            open.remove(pos);
        } else {
            open[pos] = Arc::unwrap_or_clone(rec);
        }
    }
    Ok(json!({}))
}
