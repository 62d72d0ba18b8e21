//! Sessions shared between front ends: the session store.
//!
//! A 2025-11-25 session is opened by `initialize` on one front end, but behind a
//! load balancer without sticky sessions its next request may reach any other. A
//! [`SessionStore`] holds what a session *is* (its id, who opened it, what was
//! negotiated, its log level and resource subscriptions), so any front end can
//! adopt it; connections (streams, requests in flight) stay in the process that
//! holds them. Task ownership needs nothing more: a session's tasks belong to
//! `session:<id>` (or to the authenticated subject), whichever front end serves it.
//!
//! [`MemorySessionStore`] shares sessions between servers of one process (tests,
//! several routers in one program); the Redis engine has its own (`ferry-redis`).
//! A server given no store keeps its sessions in its own table only.

use crate::BackendError;
use async_trait::async_trait;
use ferry_protocol::types::LoggingLevel;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a session of the handshake era is, apart from its connections.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionState {
    /// The session id (`Mcp-Session-Id`).
    pub id: String,
    /// The authenticated subject that opened it; only that subject may use it.
    pub subject: Option<String>,
    /// The client it counts against for per-client limits (`subject:<s>` or `ip:<address>`).
    pub client: Option<String>,
    /// The negotiated protocol version.
    pub protocol_version: String,
    /// The client's `capabilities` from `initialize`.
    pub client_capabilities: Value,
    /// The client's `clientInfo` from `initialize`.
    pub client_info: Value,
    /// The least severe log level the client wants (`logging/setLevel`).
    pub log_level: LoggingLevel,
    /// Resource URIs the client subscribed to (`resources/subscribe`).
    pub subscriptions: BTreeSet<String>,
    /// The client finished its handshake (`notifications/initialized` or a request).
    pub established: bool,
    /// When it was opened (ms since the epoch).
    pub created_ms: u64,
}

/// One change to a stored session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SessionChange {
    /// The client finished its handshake.
    Established,
    /// `logging/setLevel`.
    LogLevel(LoggingLevel),
    /// `resources/subscribe`.
    Subscribe(String),
    /// `resources/unsubscribe`.
    Unsubscribe(String),
}

impl SessionChange {
    /// Apply the change to `state`.
    pub fn apply(&self, state: &mut SessionState) {
        match self {
            SessionChange::Established => state.established = true,
            SessionChange::LogLevel(l) => state.log_level = *l,
            SessionChange::Subscribe(uri) => {
                state.subscriptions.insert(uri.clone());
            }
            SessionChange::Unsubscribe(uri) => {
                state.subscriptions.remove(uri);
            }
        }
    }
}

/// Where sessions live so that every front end finds them. Every call names the
/// session's client key (`client`, as in [`SessionState::client`]) so a store can
/// count the sessions each client holds without reading the session first.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Store a new session for `ttl`, unless its client already holds `limit` live
    /// sessions (0: no limit). `Ok(false)`: refused for the limit, nothing stored.
    async fn open(&self, state: &SessionState, ttl: Duration, limit: usize) -> Result<bool, BackendError>;

    /// The session `id` (`None`: unknown, ended or expired).
    async fn load(&self, id: &str) -> Result<Option<SessionState>, BackendError>;

    /// Apply `change` and keep the session for `ttl` from now. `Ok(false)`: it is gone.
    async fn change(
        &self,
        id: &str,
        client: Option<&str>,
        change: &SessionChange,
        ttl: Duration,
    ) -> Result<bool, BackendError>;

    /// Keep the session for `ttl` from now and read it (`None`: it ended or expired).
    async fn touch(&self, id: &str, client: Option<&str>, ttl: Duration) -> Result<Option<SessionState>, BackendError>;

    /// End the session (`DELETE`). `Ok(false)`: it was not there.
    async fn close(&self, id: &str, client: Option<&str>) -> Result<bool, BackendError>;
}

/// Sessions shared by the servers of one process.
#[derive(Default)]
pub struct MemorySessionStore {
    sessions: Mutex<HashMap<String, (SessionState, Instant)>>,
}

impl MemorySessionStore {
    fn locked(&self) -> std::sync::MutexGuard<'_, HashMap<String, (SessionState, Instant)>> {
        let mut map = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        map.retain(|_, (_, until)| *until > now);
        map
    }
}

#[async_trait]
impl SessionStore for MemorySessionStore {
    async fn open(&self, state: &SessionState, ttl: Duration, limit: usize) -> Result<bool, BackendError> {
        let mut map = self.locked();
        if let (Some(client), true) = (&state.client, limit > 0) {
            if map.values().filter(|(s, _)| s.client.as_ref() == Some(client)).count() >= limit {
                return Ok(false);
            }
        }
        map.insert(state.id.clone(), (state.clone(), Instant::now() + ttl));
        Ok(true)
    }

    async fn load(&self, id: &str) -> Result<Option<SessionState>, BackendError> {
        Ok(self.locked().get(id).map(|(s, _)| s.clone()))
    }

    async fn change(
        &self,
        id: &str,
        _client: Option<&str>,
        change: &SessionChange,
        ttl: Duration,
    ) -> Result<bool, BackendError> {
        let mut map = self.locked();
        let Some((state, until)) = map.get_mut(id) else { return Ok(false) };
        change.apply(state);
        *until = Instant::now() + ttl;
        Ok(true)
    }

    async fn touch(
        &self,
        id: &str,
        _client: Option<&str>,
        ttl: Duration,
    ) -> Result<Option<SessionState>, BackendError> {
        let mut map = self.locked();
        let Some((state, until)) = map.get_mut(id) else { return Ok(None) };
        *until = Instant::now() + ttl;
        Ok(Some(state.clone()))
    }

    async fn close(&self, id: &str, _client: Option<&str>) -> Result<bool, BackendError> {
        Ok(self.locked().remove(id).is_some())
    }
}

/// The contract every [`SessionStore`] keeps, for implementations' tests.
#[cfg(feature = "testkit")]
pub mod contract {
    use super::*;

    fn state(id: &str, client: &str) -> SessionState {
        SessionState {
            id: id.into(),
            subject: None,
            client: Some(client.into()),
            protocol_version: "2025-11-25".into(),
            client_capabilities: serde_json::json!({"elicitation": {}}),
            client_info: serde_json::json!({"name": "t", "version": "1"}),
            log_level: LoggingLevel::Debug,
            subscriptions: BTreeSet::new(),
            established: false,
            created_ms: 1,
        }
    }

    /// Run every check on `store`; ids are made unique with `tag`.
    pub async fn run(store: &dyn SessionStore, tag: &str) {
        let ttl = Duration::from_secs(60);
        let client = format!("ip:{tag}");
        let (a, b, c) = (format!("{tag}-a"), format!("{tag}-b"), format!("{tag}-c"));
        assert!(store.open(&state(&a, &client), ttl, 2).await.unwrap());
        assert!(store.open(&state(&b, &client), ttl, 2).await.unwrap());
        assert!(!store.open(&state(&c, &client), ttl, 2).await.unwrap(), "a third session is over the limit");
        assert_eq!(store.load(&c).await.unwrap(), None);
        assert_eq!(store.load(&a).await.unwrap(), Some(state(&a, &client)));

        let cl = Some(client.as_str());
        for change in [
            SessionChange::Established,
            SessionChange::LogLevel(LoggingLevel::Warning),
            SessionChange::Subscribe("file:///x".into()),
            SessionChange::Subscribe("file:///y".into()),
            SessionChange::Unsubscribe("file:///x".into()),
        ] {
            assert!(store.change(&a, cl, &change, ttl).await.unwrap());
        }
        let mut want = state(&a, &client);
        want.established = true;
        want.log_level = LoggingLevel::Warning;
        want.subscriptions.insert("file:///y".into());
        assert_eq!(store.load(&a).await.unwrap(), Some(want.clone()));
        assert_eq!(store.touch(&a, cl, ttl).await.unwrap(), Some(want));

        assert!(store.close(&b, cl).await.unwrap());
        assert!(!store.close(&b, cl).await.unwrap());
        assert_eq!(store.touch(&b, cl, ttl).await.unwrap(), None);
        assert!(!store.change(&b, cl, &SessionChange::Established, ttl).await.unwrap());
        assert!(store.open(&state(&c, &client), ttl, 2).await.unwrap(), "a closed session frees its place");

        // A session past its TTL is gone, and no longer counts.
        let short = Duration::from_millis(50);
        let d = format!("{tag}-d");
        let other = format!("ip:{tag}-other");
        assert!(store.open(&state(&d, &other), short, 1).await.unwrap());
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(store.load(&d).await.unwrap(), None);
        assert!(store.open(&state(&format!("{tag}-e"), &other), ttl, 1).await.unwrap());
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn the_memory_store_keeps_the_contract() {
        super::contract::run(&super::MemorySessionStore::default(), "mem").await;
    }
}
