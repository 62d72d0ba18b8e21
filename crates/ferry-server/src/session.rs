//! Sessions of the 2025-11-25 era and the channels messages leave by.
//!
//! A session exists from `initialize` until the client ends it (HTTP DELETE,
//! stdio EOF) or it idles out. It remembers what the client negotiated and
//! holds the channels the server can write to outside a response: the
//! standalone stream (HTTP GET, or stdout) and the server-to-client requests
//! still waiting for an answer.

use crate::transport::sse::StreamLog;
use ferry_protocol::types::LoggingLevel;
use ferry_protocol::{ErrorObject, Message, RequestId};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

pub(crate) use crate::outbound::Outbound;

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One client connection of the handshake era.
pub(crate) struct Session {
    pub id: String,
    /// The authenticated subject that opened it (HTTP with an authenticator).
    pub subject: Option<String>,
    pub protocol_version: Mutex<String>,
    /// What the client declared at `initialize` (shared with every call of the session).
    pub client_caps: Mutex<Arc<Value>>,
    /// The client's `clientInfo` from `initialize`.
    pub client_info: Mutex<Value>,
    pub initialized: AtomicBool,
    pub log_level: Mutex<LoggingLevel>,
    /// The standalone stream's channel (a plain HTTP GET stream, or stdout).
    pub standalone: Mutex<Option<mpsc::UnboundedSender<Message>>>,
    /// The standalone stream's log, for clients that can resume it (HTTP, 2025-11-25 on).
    pub standalone_log: Mutex<Option<Arc<StreamLog>>>,
    pub pending: Mutex<HashMap<String, oneshot::Sender<Result<Value, ErrorObject>>>>,
    pub in_flight: Mutex<HashMap<RequestId, CancellationToken>>,
    pub subscriptions: Mutex<HashSet<String>>,
    pub next_id: AtomicU64,
    pub last_seen_ms: AtomicU64,
    /// Response streams a client may resume (`Last-Event-ID`), by stream number.
    pub streams: Mutex<HashMap<u64, Arc<StreamLog>>>,
    /// Stream numbers of this copy of the session start at a random even number, so
    /// that copies on other front ends (shared sessions) number theirs differently:
    /// the standalone stream takes the even `stream_base`, response streams odd numbers.
    stream_base: u64,
    next_stream: AtomicU64,
    /// Opened over HTTP: counted, expired and evicted by the session table (`session_table.rs`).
    /// A stdio session lives as long as its connection.
    pub http: bool,
    /// Who holds it, for per-client limits: `subject:<s>` or `ip:<address>` (HTTP).
    pub client: Option<String>,
    pub created_ms: u64,
    /// Requests received after `initialize`.
    pub requests: AtomicU64,
    /// The [`USES`] count at its last use.
    used: AtomicU64,
    /// When this copy last refreshed the session in the shared store (ms since the epoch).
    pub synced_ms: AtomicU64,
    /// The shared store knows the session is established.
    pub stored_established: AtomicBool,
}

/// Counts uses of sessions, for least-recently-used order.
static USES: AtomicU64 = AtomicU64::new(0);

impl Session {
    pub fn new(id: String, subject: Option<String>, now_ms: u64) -> Self {
        Self {
            id,
            subject,
            protocol_version: Mutex::new(String::new()),
            client_caps: Mutex::new(Arc::new(Value::Object(Default::default()))),
            client_info: Mutex::new(Value::Null),
            initialized: AtomicBool::new(false),
            log_level: Mutex::new(LoggingLevel::Debug),
            standalone: Mutex::new(None),
            standalone_log: Mutex::new(None),
            pending: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashMap::new()),
            subscriptions: Mutex::new(HashSet::new()),
            next_id: AtomicU64::new(1),
            last_seen_ms: AtomicU64::new(now_ms),
            streams: Mutex::new(HashMap::new()),
            stream_base: ((rand::random::<u64>() >> 12) & !1) | 2,
            next_stream: AtomicU64::new(0),
            http: false,
            client: None,
            created_ms: now_ms,
            requests: AtomicU64::new(0),
            used: AtomicU64::new(USES.fetch_add(1, Ordering::Relaxed)),
            synced_ms: AtomicU64::new(now_ms),
            stored_established: AtomicBool::new(false),
        }
    }

    /// A session opened by an HTTP `initialize` of `client` (see [`Session::client`]).
    pub fn http(id: String, subject: Option<String>, client: Option<String>, now_ms: u64) -> Self {
        Self { http: true, client, ..Self::new(id, subject, now_ms) }
    }

    /// The client sent a request in this session.
    pub fn note_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// The client finished the handshake: it sent `notifications/initialized` or a request
    /// after `initialize`. Sessions that never do are dropped early (half-open).
    pub fn established(&self) -> bool {
        self.initialized.load(Ordering::Relaxed) || self.requests.load(Ordering::Relaxed) > 0
    }

    /// When the client last used it (ms since the epoch).
    pub fn last_seen(&self) -> u64 {
        self.last_seen_ms.load(Ordering::Relaxed)
    }

    /// Whether it has work under way (calls running) that ending it would cancel.
    pub fn busy(&self) -> bool {
        !lock(&self.in_flight).is_empty()
    }

    /// Whether a client reads its standalone stream right now.
    pub fn listened(&self) -> bool {
        lock(&self.standalone_log).as_ref().is_some_and(|l| l.has_readers())
            || lock(&self.standalone).as_ref().is_some_and(|tx| !tx.is_closed())
    }

    pub fn version(&self) -> String {
        lock(&self.protocol_version).clone()
    }

    /// Whether the client asked for log messages of `level` (`logging/setLevel`).
    pub fn logs_at(&self, level: LoggingLevel) -> bool {
        level >= *lock(&self.log_level)
    }

    pub fn touch(&self, now_ms: u64) {
        self.last_seen_ms.store(now_ms, Ordering::Relaxed);
        self.used.store(USES.fetch_add(1, Ordering::Relaxed), Ordering::Relaxed);
    }

    /// When the client last used it, on a clock of uses across sessions (orders
    /// sessions by recent use even within one millisecond).
    pub fn last_used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Send on the standalone stream; false when none is open. A resumable one keeps
    /// the message for the reader to come back to.
    pub fn send_standalone(&self, msg: Message) -> bool {
        if let Some(log) = lock(&self.standalone_log).as_ref() {
            log.push(&msg);
            return true;
        }
        let mut slot = lock(&self.standalone);
        match slot.as_ref() {
            Some(tx) if tx.send(msg).is_ok() => true,
            Some(_) => {
                *slot = None;
                false
            }
            None => false,
        }
    }

    /// A fresh id for a server-to-client request, unique among the copies of a shared
    /// session (an answer that reaches another front end is handed to the right one).
    pub fn next_request_id(&self) -> String {
        format!("ferry-{:x}-{}", self.stream_base, self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// A fresh stream number for the event ids of a response stream (odd).
    pub fn next_stream_id(&self) -> u64 {
        self.stream_base + 2 * self.next_stream.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The stream number of the standalone stream (even).
    pub fn standalone_stream_id(&self) -> u64 {
        self.stream_base
    }

    /// Cancel everything in flight (the session ends).
    pub fn close(&self) {
        for (_, token) in lock(&self.in_flight).drain() {
            token.cancel();
        }
        lock(&self.pending).clear();
        *lock(&self.standalone) = None;
        if let Some(log) = lock(&self.standalone_log).take() {
            log.finish();
        }
    }
}
