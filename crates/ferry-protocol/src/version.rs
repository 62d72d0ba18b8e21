//! Protocol versions and eras.
//!
//! MCP has two eras. The *handshake* era (up to 2025-11-25) opens a session
//! with `initialize`; the *modern* era (2026-07-28) is stateless: every request
//! carries its protocol version and client capabilities in `params._meta`.
//! A Ferry server serves both on one endpoint; the era of each request decides
//! how it is answered (and, for tasks, which wire form is used).

/// The newest protocol version that opens with `initialize`.
pub const LATEST_HANDSHAKE: &str = "2025-11-25";
/// The stateless protocol version (with `server/discover`).
pub const MODERN: &str = "2026-07-28";
/// Handshake versions a server accepts in `initialize`, newest first.
pub const HANDSHAKE_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];
/// Every version Ferry serves, newest first.
pub const SUPPORTED_VERSIONS: &[&str] = &["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

/// `_meta` key carrying the protocol version of a modern request.
pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// `_meta` key carrying the client capabilities of a modern request.
pub const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
/// `_meta` key carrying the client info of a modern request.
pub const META_CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
/// `_meta` key carrying the server info on modern results.
pub const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

/// Which era, and so which encoding, a request belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Era {
    /// A session opened by `initialize`, with the negotiated version.
    Handshake(String),
    /// A stateless 2026-07-28 request.
    Modern,
}

impl Era {
    /// The protocol version string.
    pub fn version(&self) -> &str {
        match self {
            Era::Handshake(v) => v,
            Era::Modern => MODERN,
        }
    }
    /// Whether tasks Form A (2025-11-25) applies: only 2025-11-25 sessions have it.
    pub fn has_form_a(&self) -> bool {
        matches!(self, Era::Handshake(v) if v.as_str() >= "2025-11-25")
    }
    /// Whether this is the stateless era.
    pub fn is_modern(&self) -> bool {
        matches!(self, Era::Modern)
    }
}

/// Pick the version to answer an `initialize` with: the requested one if served, else the newest.
///
/// ```
/// use ferry_protocol::version::negotiate_handshake;
/// assert_eq!(negotiate_handshake("2025-06-18"), "2025-06-18");
/// assert_eq!(negotiate_handshake("2026-07-28"), "2025-11-25");
/// assert_eq!(negotiate_handshake("1999-01-01"), "2025-11-25");
/// ```
pub fn negotiate_handshake(requested: &str) -> &'static str {
    HANDSHAKE_VERSIONS.iter().copied().find(|v| *v == requested).unwrap_or(LATEST_HANDSHAKE)
}
