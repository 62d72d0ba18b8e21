//! Sessions shared between front ends through a [`SessionStore`].
//!
//! Without a store (the default, and the embedded engine) a session lives in the
//! table of the process that opened it, as it always did. With one
//! ([`ServerBuilder::session_store`](crate::ServerBuilder::session_store); `ferry serve
//! --redis` uses Redis), any front end serves any request of any session:
//!
//! * **the store is the truth, the table a cache.** A front end that does not know a
//!   session id looks it up in the store and adopts it (a local copy holding this
//!   process's connections: its streams, requests in flight, requests to the client).
//!   `DELETE` removes it from the store and tells every front end to drop its copy;
//!   idling out is the store's TTL (`session_idle`; `session_handshake_timeout` until
//!   the client finished its handshake). A copy is refreshed in the store at most once
//!   per [`refresh_period`] of use (one round trip that also re-reads the session),
//!   not on every request.
//! * **limits:** `max_sessions_per_client` counts in the store, across front ends
//!   (the store refuses the session when its client holds the maximum); `max_sessions`
//!   bounds each front end's cache (evicting a copy only drops this process's
//!   connections: the session goes on in the store).
//! * **changes travel:** `logging/setLevel` and `resources/(un)subscribe` are written to
//!   the store before they are answered and announced to the other front ends as
//!   internal notices through the task backend (the channel that already carries
//!   handlers' notifications), so the front end holding the client's standalone stream
//!   filters and routes with the current level and subscriptions. Notices are
//!   at-most-once; a copy that missed one catches up at its next refresh.
//! * **handlers of tasks** reach the client through notices, never through a local copy
//!   (the stream may be held by another front end).

use crate::server::Shared;
use crate::session::{lock, Session};
use crate::session_table::Refusal;
use ferry_protocol::time_fmt::now_ms;
use ferry_tasks::{BackendError, Notice, SessionChange, SessionState};
use serde::Deserialize;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Internal notice: a session changed (params: the [`SessionChange`]).
const SESSION_CHANGED: &str = "ferry/session/changed";
/// Internal notice: a session ended (`DELETE`).
const SESSION_CLOSED: &str = "ferry/session/closed";
/// Internal notice: a client's message for the copy of the session that waits for it
/// (params: the message): an answer to a request, a cancellation of a call.
const SESSION_MESSAGE: &str = "ferry/session/message";

/// How often a front end refreshes a session it serves in the store: a quarter of the
/// shortest lifetime a stored session has, between 10 ms and 10 s.
pub(crate) fn refresh_period(handshake: Duration, idle: Duration) -> Duration {
    (handshake.min(idle) / 4).clamp(Duration::from_millis(10), Duration::from_secs(10))
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Session {
    /// What the session is, for the store.
    pub(crate) fn state(&self) -> SessionState {
        SessionState {
            id: self.id.clone(),
            subject: self.subject.clone(),
            client: self.client.clone(),
            protocol_version: self.version(),
            client_capabilities: serde_json::Value::clone(&lock(&self.client_caps)),
            client_info: lock(&self.client_info).clone(),
            log_level: *lock(&self.log_level),
            subscriptions: lock(&self.subscriptions).iter().cloned().collect(),
            established: self.established(),
            created_ms: self.created_ms,
        }
    }

    /// A copy of a stored session for this process.
    fn adopt(state: SessionState, now: u64) -> Self {
        let s = Session::http(state.id.clone(), state.subject.clone(), state.client.clone(), state.created_ms);
        s.touch(now);
        s.synced_ms.store(now, Ordering::Relaxed);
        *lock(&s.protocol_version) = state.protocol_version.clone();
        *lock(&s.client_caps) = Arc::new(state.client_capabilities.clone());
        *lock(&s.client_info) = state.client_info.clone();
        s.stored_established.store(state.established, Ordering::Relaxed);
        s.refresh_from(&state);
        s
    }

    /// Take what may change while it is open from the stored state.
    fn refresh_from(&self, state: &SessionState) {
        *lock(&self.log_level) = state.log_level;
        *lock(&self.subscriptions) = state.subscriptions.iter().cloned().collect();
        if state.established {
            self.initialized.store(true, Ordering::Relaxed);
        }
    }

    /// Apply a change to this copy.
    fn apply(&self, change: &SessionChange) {
        match change {
            SessionChange::Established => self.initialized.store(true, Ordering::Relaxed),
            SessionChange::LogLevel(l) => *lock(&self.log_level) = *l,
            SessionChange::Subscribe(uri) => {
                lock(&self.subscriptions).insert(uri.clone());
            }
            SessionChange::Unsubscribe(uri) => {
                lock(&self.subscriptions).remove(uri);
            }
        }
    }
}

impl Shared {
    /// Whether sessions are shared with other processes (a session store is set).
    pub(crate) fn sessions_shared(&self) -> bool {
        self.session_store.is_some()
    }

    /// How long the store keeps `s` from now.
    fn stored_ttl(&self, s: &Session) -> Duration {
        if s.established() {
            self.config.session_idle
        } else {
            self.config.session_handshake_timeout
        }
    }

    /// The session `id` opened by `subject`: this process's copy, else the store's,
    /// adopted into the table. `Ok(None)`: no such session (for this subject).
    pub(crate) async fn find_session(
        &self,
        id: &str,
        subject: &Option<String>,
    ) -> Result<Option<Arc<Session>>, BackendError> {
        if let Some(s) = self.session(id) {
            return Ok(Some(s).filter(|s| s.subject == *subject));
        }
        let Some(store) = &self.session_store else { return Ok(None) };
        let Some(state) = store.load(id).await?.filter(|st| st.subject == *subject) else { return Ok(None) };
        tracing::debug!(session = %id, "session adopted from the store");
        let copy = Arc::new(Session::adopt(state, now_ms()));
        // A full table of busy sessions: serve this request with an uncached copy.
        Ok(Some(self.admit_session(copy.clone(), now_ms()).unwrap_or(copy)))
    }

    /// Open a new HTTP session: in the store first (which counts it against its client),
    /// then in this process's table.
    pub(crate) async fn open_session(&self, s: Arc<Session>) -> Result<(), Refusal> {
        if let Some(store) = &self.session_store {
            let ttl = self.stored_ttl(&s);
            match store.open(&s.state(), ttl, self.config.max_sessions_per_client).await {
                Ok(true) => s.stored_established.store(s.established(), Ordering::Relaxed),
                Ok(false) => return Err(Refusal::ClientLimit { limit: self.config.max_sessions_per_client }),
                Err(e) => return Err(Refusal::Store(e.to_string())),
            }
        }
        let now = now_ms();
        match self.admit_session(s.clone(), now) {
            Ok(_) => Ok(()),
            Err(refusal) => {
                if let Some(store) = &self.session_store {
                    let _ = store.close(&s.id, s.client.as_deref()).await;
                }
                Err(refusal)
            }
        }
    }

    /// A message of the client arrived in `s`: in the store, note that its handshake is
    /// done, and keep it alive (at most once per refresh period, re-reading it).
    pub(crate) fn session_used(self: &Arc<Self>, s: &Arc<Session>) {
        let Some(store) = self.session_store.clone() else { return };
        let now = now_ms();
        let newly_established = s.established() && !s.stored_established.swap(true, Ordering::Relaxed);
        let period = ms(refresh_period(self.config.session_handshake_timeout, self.config.session_idle));
        let last = s.synced_ms.load(Ordering::Relaxed);
        let due = now.saturating_sub(last) >= period
            && s.synced_ms.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok();
        if !newly_established && !due {
            return;
        }
        let (shared, s) = (self.clone(), s.clone());
        let ttl = self.stored_ttl(&s);
        tokio::spawn(async move {
            let client = s.client.as_deref();
            if newly_established {
                match store.change(&s.id, client, &SessionChange::Established, ttl).await {
                    Ok(true) => {}
                    Ok(false) => return shared.drop_copy(&s.id, "ended elsewhere"),
                    Err(e) => tracing::warn!(session = %s.id, error = %e, "cannot mark the session established"),
                }
            }
            if due {
                match store.touch(&s.id, client, ttl).await {
                    Ok(Some(state)) => s.refresh_from(&state),
                    Ok(None) => shared.drop_copy(&s.id, "ended elsewhere"),
                    Err(e) => tracing::warn!(session = %s.id, error = %e, "cannot refresh the session in the store"),
                }
            }
        });
    }

    /// A change by the client (log level, subscriptions): applied here, then stored
    /// and announced to the other front ends before it is answered.
    pub(crate) async fn change_session(&self, s: &Session, change: SessionChange) -> Result<(), BackendError> {
        s.apply(&change);
        let Some(store) = &self.session_store else { return Ok(()) };
        if !store.change(&s.id, s.client.as_deref(), &change, self.stored_ttl(s)).await? {
            return Err(BackendError::Unavailable("the session ended".into()));
        }
        let params = serde_json::to_value(&change).map_err(|e| BackendError::Corrupt(e.to_string()))?;
        self.backend.notify(Notice { session: Some(s.id.clone()), method: SESSION_CHANGED.into(), params }).await
    }

    /// Hand a client's message that no call of this process waits for to the other
    /// copies of the session (the front end that sent the request, or runs the call).
    pub(crate) async fn forward_to_copies(&self, s: &Session, message: Option<ferry_protocol::Message>) {
        let (Some(message), true) = (message, self.sessions_shared()) else { return };
        let notice = Notice { session: Some(s.id.clone()), method: SESSION_MESSAGE.into(), params: message.to_value() };
        if let Err(e) = self.backend.notify(notice).await {
            tracing::warn!(session = %s.id, error = %e, "cannot hand the client's message to the other front ends");
        }
    }

    /// End a session everywhere (`DELETE`).
    pub(crate) async fn end_session(&self, s: &Session) -> Result<(), BackendError> {
        self.drop_copy(&s.id, "ended by the client");
        let Some(store) = &self.session_store else { return Ok(()) };
        store.close(&s.id, s.client.as_deref()).await?;
        let notice =
            Notice { session: Some(s.id.clone()), method: SESSION_CLOSED.into(), params: serde_json::json!({}) };
        self.backend.notify(notice).await
    }

    /// Drop this process's copy of a session, ending its streams and calls.
    fn drop_copy(&self, id: &str, why: &str) {
        if let Some(s) = self.remove_session(id) {
            tracing::debug!(session = %id, why, "session dropped");
            s.close();
        }
    }

    /// Act on an internal notice about sessions; `false`: it is not one (deliver it).
    pub(crate) fn session_notice(&self, n: &Notice) -> bool {
        let Some(id) = n.session.as_deref() else { return false };
        match n.method.as_str() {
            SESSION_CHANGED => {
                if let (Some(s), Ok(change)) = (self.session(id), SessionChange::deserialize(&n.params)) {
                    s.apply(&change);
                }
                true
            }
            SESSION_CLOSED => {
                self.drop_copy(id, "ended on another front end");
                true
            }
            SESSION_MESSAGE => {
                let copy = self.session(id);
                match ferry_protocol::Message::from_value(n.params.clone()) {
                    Ok(ferry_protocol::Message::Response(r)) => {
                        drop(crate::dispatch::handle_response(r, copy.as_ref()))
                    }
                    Ok(ferry_protocol::Message::Notification(m)) => {
                        drop(crate::dispatch::handle_notification(m, copy.as_ref()))
                    }
                    _ => {}
                }
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_refreshed_well_within_their_shortest_lifetime() {
        assert_eq!(refresh_period(Duration::from_secs(30), Duration::from_secs(3600)), Duration::from_millis(7500));
        assert_eq!(refresh_period(Duration::from_secs(120), Duration::from_secs(3600)), Duration::from_secs(10));
        assert_eq!(refresh_period(Duration::ZERO, Duration::ZERO), Duration::from_millis(10));
    }

    #[test]
    fn a_copy_carries_what_the_session_is() {
        let s = Session::http("abc".into(), Some("alice".into()), Some("subject:alice".into()), 5);
        *lock(&s.protocol_version) = "2025-11-25".into();
        *lock(&s.client_info) = serde_json::json!({"name": "c", "version": "1"});
        s.apply(&SessionChange::LogLevel(ferry_protocol::types::LoggingLevel::Error));
        s.apply(&SessionChange::Subscribe("file:///a".into()));
        s.note_request();
        let copy = Session::adopt(s.state(), 9);
        assert_eq!(copy.state(), s.state());
        assert_ne!(copy.standalone_stream_id(), s.standalone_stream_id());
    }
}
