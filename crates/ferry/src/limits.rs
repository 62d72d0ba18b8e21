//! `serve` options bounding what untrusted clients can make the server hold
//! (connections, request bodies, the JSON of a message, sessions and their streams). Each is optional: unset,
//! the library's default applies (see `ConnectionLimits` and `ParseLimits`).

use clap::Args as ClapArgs;
use ferry_server::protocol::ParseLimits;
use ferry_server::transport::ConnectionLimits;
use std::time::Duration;

/// Bounds for untrusted clients.
#[derive(ClapArgs, Debug, Clone, Default)]
pub struct LimitArgs {
    /// Most HTTP connections open at once; more wait until one closes
    /// (default: three quarters of the open-file limit).
    #[arg(long, env = "FERRY_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Most HTTP connections open at once from one client address; more are closed at
    /// once (default: a quarter of the connection limit, at least 16).
    #[arg(long, env = "FERRY_MAX_CONNECTIONS_PER_CLIENT")]
    pub max_connections_per_client: Option<usize>,
    /// Milliseconds a client may take to send a request head; also how long an
    /// idle keep-alive connection stays open (default 10000).
    #[arg(long, env = "FERRY_HEADER_TIMEOUT_MS")]
    pub header_timeout_ms: Option<u64>,
    /// Milliseconds a client may take to send a request body (default 30000).
    #[arg(long, env = "FERRY_BODY_TIMEOUT_MS")]
    pub body_timeout_ms: Option<u64>,
    /// Bytes of request bodies being received or parsed at once, server-wide;
    /// beyond, requests get 503 (default 33554432, 32 MiB).
    #[arg(long, env = "FERRY_MAX_INFLIGHT_BODY_BYTES")]
    pub max_inflight_body_bytes: Option<usize>,
    /// Deepest JSON nesting accepted in a message (default 64).
    #[arg(long, env = "FERRY_MAX_JSON_DEPTH")]
    pub max_json_depth: Option<usize>,
    /// Most JSON values (array items and object members) in a message (default 100000).
    #[arg(long, env = "FERRY_MAX_JSON_VALUES")]
    pub max_json_values: Option<usize>,
}

impl LimitArgs {
    /// The connection limits: the defaults, with what was given.
    pub fn connection(&self) -> ConnectionLimits {
        let d = ConnectionLimits::default();
        ConnectionLimits {
            max_connections: self.max_connections.or(d.max_connections),
            max_connections_per_client: self.max_connections_per_client.or(d.max_connections_per_client),
            header_read_timeout: self.header_timeout_ms.map(Duration::from_millis).unwrap_or(d.header_read_timeout),
            body_read_timeout: self.body_timeout_ms.map(Duration::from_millis).unwrap_or(d.body_read_timeout),
            max_inflight_body_bytes: self.max_inflight_body_bytes.unwrap_or(d.max_inflight_body_bytes),
            ..d
        }
    }

    /// The parse limits: the defaults, with what was given.
    pub fn parse(&self) -> ParseLimits {
        let d = ParseLimits::default();
        ParseLimits {
            max_depth: self.max_json_depth.unwrap_or(d.max_depth),
            max_values: self.max_json_values.unwrap_or(d.max_values),
        }
    }
}

/// Bounds of HTTP sessions and their streams (unset: the server's configuration, see `ServerConfig`).
#[derive(ClapArgs, Debug, Default)]
pub struct SessionArgs {
    /// Most open sessions; when full, new ones replace the least recently used idle ones [default: 10000].
    #[arg(long, env = "FERRY_MAX_SESSIONS")]
    pub max_sessions: Option<usize>,
    /// Most sessions per client (authenticated subject, else IP address); 0 = no limit [default: 100].
    #[arg(long, env = "FERRY_MAX_SESSIONS_PER_CLIENT")]
    pub max_sessions_per_client: Option<usize>,
    /// Seconds a session may take to finish its handshake before it is dropped [default: 30].
    #[arg(long, env = "FERRY_SESSION_HANDSHAKE_TIMEOUT_SECS")]
    pub session_handshake_timeout_secs: Option<u64>,
    /// Seconds an unused session lives [default: 3600].
    #[arg(long, env = "FERRY_SESSION_IDLE_SECS")]
    pub session_idle_secs: Option<u64>,
    /// Most bytes one SSE stream holds for a slow or absent reader [default: 262144].
    #[arg(long, env = "FERRY_MAX_STREAM_BUFFER_BYTES")]
    pub max_stream_buffer_bytes: Option<usize>,
}

impl SessionArgs {
    /// Put the bounds given on the command line into `c`.
    pub fn apply(&self, c: &mut ferry_server::ServerConfig) {
        let secs = std::time::Duration::from_secs;
        c.max_sessions = self.max_sessions.unwrap_or(c.max_sessions);
        c.max_sessions_per_client = self.max_sessions_per_client.unwrap_or(c.max_sessions_per_client);
        c.session_handshake_timeout = self.session_handshake_timeout_secs.map_or(c.session_handshake_timeout, secs);
        c.session_idle = self.session_idle_secs.map_or(c.session_idle, secs);
        c.max_stream_buffer_bytes = self.max_stream_buffer_bytes.unwrap_or(c.max_stream_buffer_bytes);
    }
}
