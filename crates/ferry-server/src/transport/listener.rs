//! Accepting Streamable HTTP connections within bounds.
//!
//! [`Server::serve_listener`](crate::Server::serve_listener) runs its own accept
//! loop over hyper's HTTP/1 server (rather than `axum::serve`), so that clients
//! cannot exhaust the server by connecting and then saying nothing (slowloris):
//!
//! * at most [`ConnectionLimits::max_connections`] connections are open at once;
//!   beyond that, new connections wait in the kernel's listen backlog until one
//!   closes. The default stays below the process's file-descriptor limit, so
//!   `accept` does not fail for want of descriptors;
//! * a request head must arrive whole within [`ConnectionLimits::header_read_timeout`]
//!   (hyper's timer), or the connection is closed, and be no larger than
//!   [`ConnectionLimits::max_header_bytes`], which also caps what a connection
//!   buffers while reading;
//! * `accept` errors other than a connection's own (`EMFILE`, `ENFILE`,
//!   `ENOBUFS` ...) are retried after a pause that doubles from 5 ms to 1 s, and
//!   logged at most once every 10 s, so the loop never spins.
//!
//! Request bodies are bounded by the same struct (`body.rs`).

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tower::ServiceExt;

/// Bounds on the connections of [`Server::serve_listener`](crate::Server::serve_listener)
/// and on the request bodies they carry (a field of [`HttpOptions`](super::HttpOptions)).
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Most connections open at once. When reached, new connections wait in the
    /// listen backlog (they are not refused) until one closes.
    ///
    /// `None` (the default): derived from the file-descriptor limit (`RLIMIT_NOFILE`,
    /// soft), leaving a quarter of it, and at least 64 descriptors, for everything
    /// else (Redis, files, the listener): 768 under `ulimit -n 1024`. See
    /// [`ConnectionLimits::resolved_max_connections`].
    pub max_connections: Option<usize>,
    /// Most connections open at once from one client address (IPv6 by /64), so one
    /// source cannot take every slot; a connection beyond it is closed at once.
    /// `None` (the default): a quarter of the connection limit, at least 16. Behind a
    /// proxy every client has the proxy's address: raise it there.
    pub max_connections_per_client: Option<usize>,
    /// How long a client may take to send a whole request head. Hyper starts this
    /// clock when a connection opens and again when a response ends, so it is also
    /// the keep-alive idle timeout: a connection with no request for this long is
    /// closed. It never runs while a response (such as an SSE stream) is being sent.
    /// Default 10 s.
    pub header_read_timeout: Duration,
    /// Largest request head (request line and headers), and the most a connection
    /// buffers while reading one (at least 8 KiB). Larger: `431 Request Header Fields
    /// Too Large`. Default 64 KiB.
    pub max_header_bytes: usize,
    /// How long a client may take to send a whole request body, once its head is
    /// in. Slower: `408 Request Timeout`. Default 30 s.
    pub body_read_timeout: Duration,
    /// Server-wide budget of request-body bytes being received or parsed at once
    /// (at least `ServerConfig::max_body_bytes`). A body takes its bytes from the
    /// budget as they arrive and gives them back once parsed. Default 32 MiB.
    pub max_inflight_body_bytes: usize,
    /// How long a request waits for room in that budget before it is refused with
    /// `503 Service Unavailable` and `Retry-After: 1`. Default 2 s.
    pub body_budget_wait: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: None,
            max_connections_per_client: None,
            header_read_timeout: Duration::from_secs(10),
            max_header_bytes: 64 * 1024,
            body_read_timeout: Duration::from_secs(30),
            max_inflight_body_bytes: 32 * 1024 * 1024,
            body_budget_wait: Duration::from_secs(2),
        }
    }
}

impl ConnectionLimits {
    /// `max_connections`, or the default derived from the file-descriptor limit:
    /// the soft `RLIMIT_NOFILE` less a quarter of it (at least 64), and at least 1.
    /// Without a readable limit (or an unlimited one), 1024 and 65536 are assumed.
    pub fn resolved_max_connections(&self) -> usize {
        self.max_connections.unwrap_or_else(|| {
            let fds = descriptor_limit();
            fds.saturating_sub((fds / 4).max(64)).max(1)
        })
    }
}

impl ConnectionLimits {
    /// `max_connections_per_client`, or a quarter of the connection limit (at least 16).
    pub fn resolved_max_connections_per_client(&self) -> usize {
        self.max_connections_per_client.unwrap_or_else(|| (self.resolved_max_connections() / 4).max(16))
    }
}

/// Connections open per client address.
#[derive(Default)]
struct PerClient(std::sync::Mutex<std::collections::HashMap<String, usize>>);

impl PerClient {
    /// Count a new connection from `key`, unless it already has `max`.
    fn enter(&self, key: &str, max: usize) -> bool {
        let mut open = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(key.to_string()).or_default();
        if *n >= max {
            return false;
        }
        *n += 1;
        true
    }

    fn leave(&self, key: &str) {
        let mut open = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(key) {
            *n -= 1;
            if *n == 0 {
                open.remove(key);
            }
        }
    }
}

/// The soft limit on open file descriptors.
#[cfg(unix)]
fn descriptor_limit() -> usize {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    match limit.current {
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX).min(65_536),
        None => 65_536,
    }
}

#[cfg(not(unix))]
fn descriptor_limit() -> usize {
    1024
}

/// The smallest read buffer hyper accepts.
const MIN_BUFFER: usize = 8192;

/// Where connections come from: a TCP listener (a stand-in in tests).
pub(crate) trait Accept: Send + 'static {
    /// A connection.
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// The next connection and its peer's address.
    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Io, SocketAddr)>> + Send;
}

impl Accept for TcpListener {
    type Io = TcpStream;
    async fn accept(&mut self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, peer) = TcpListener::accept(self).await?;
        let _ = stream.set_nodelay(true); // small SSE events go out at once
        Ok((stream, peer))
    }
}

/// Serve `router` on the connections of `listener`, within `limits`, until the
/// future is dropped. Each request carries `ConnectInfo<SocketAddr>`, as with
/// axum's `into_make_service_with_connect_info`.
pub(crate) async fn serve<L: Accept>(mut listener: L, router: Router, limits: &ConnectionLimits) -> io::Result<()> {
    let max = limits.resolved_max_connections();
    let open = Arc::new(Semaphore::new(max.min(Semaphore::MAX_PERMITS)));
    let mut http = hyper::server::conn::http1::Builder::new();
    let head = limits.max_header_bytes.max(MIN_BUFFER);
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(head)
        .max_buf_size(head);
    let per_client_max = limits.resolved_max_connections_per_client();
    let per_client = Arc::new(PerClient::default());
    let mut full = Throttle::default();
    let mut over = Throttle::default();
    let mut errors = AcceptErrors::default();
    loop {
        let slot = match open.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                crate::metrics::refused(crate::metrics::Limit::Connections);
                if let Some(more) = full.ready() {
                    tracing::warn!(max, more, "connection limit reached: new connections wait until one closes");
                }
                match open.clone().acquire_owned().await {
                    Ok(slot) => slot,
                    Err(_) => return Ok(()), // never closed
                }
            }
        };
        let (io, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                errors.pause(e).await;
                continue;
            }
        };
        errors.reset();
        let client = crate::session_table::client_key(None, Some(peer.ip())).unwrap_or_default();
        if !per_client.enter(&client, per_client_max) {
            crate::metrics::refused(crate::metrics::Limit::ConnectionsPerClient);
            if let Some(more) = over.ready() {
                tracing::warn!(%peer, max = per_client_max, more, "a client is at its connection limit: closing its new connections");
            }
            drop(io);
            continue;
        }
        let router = router.clone();
        let per_client = per_client.clone();
        let connection = http.serve_connection(
            TokioIo::new(io),
            hyper::service::service_fn(move |mut request: http::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                router.clone().oneshot(request.map(Body::new))
            }),
        );
        tokio::spawn(async move {
            if let Err(e) = connection.with_upgrades().await {
                tracing::debug!(%peer, error = %e, "connection ended");
            }
            per_client.leave(&client);
            drop(slot);
        });
    }
}

/// Lets something through at most once every 10 s, counting what it held back.
#[derive(Default)]
struct Throttle {
    last: Option<Instant>,
    held: u64,
}

impl Throttle {
    const EVERY: Duration = Duration::from_secs(10);

    /// `Some(number held back since the last time)` when it is time again.
    fn ready(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self.last.is_some_and(|last| now.duration_since(last) < Self::EVERY) {
            self.held += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.held))
    }
}

/// The pause after failed `accept`s.
struct AcceptErrors {
    pause: Duration,
    log: Throttle,
}

impl Default for AcceptErrors {
    fn default() -> Self {
        Self { pause: Self::FIRST, log: Throttle::default() }
    }
}

impl AcceptErrors {
    const FIRST: Duration = Duration::from_millis(5);
    const LONGEST: Duration = Duration::from_secs(1);

    /// After an error: at once for a connection's own (it reset or was aborted
    /// before it was accepted), else after a pause that doubles on each error.
    async fn pause(&mut self, error: io::Error) {
        use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
        if matches!(error.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
            return;
        }
        if let Some(more) = self.log.ready() {
            tracing::error!(%error, more, "cannot accept connections (too many open files?); retrying in {:?}", self.pause);
        }
        tokio::time::sleep(self.pause).await;
        self.pause = (self.pause * 2).min(Self::LONGEST);
    }

    fn reset(&mut self) {
        self.pause = Self::FIRST;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A listener whose every `accept` fails with `EMFILE` (up to a cap, then it hangs).
    struct Exhausted(Arc<AtomicUsize>);

    impl Accept for Exhausted {
        type Io = tokio::io::DuplexStream;
        async fn accept(&mut self) -> io::Result<(Self::Io, SocketAddr)> {
            if self.0.fetch_add(1, Ordering::SeqCst) >= 10_000 {
                std::future::pending::<()>().await;
            }
            Err(io::Error::from_raw_os_error(24)) // EMFILE
        }
    }

    #[tokio::test(start_paused = true)]
    async fn accept_errors_back_off_instead_of_spinning() {
        let calls = Arc::new(AtomicUsize::new(0));
        let limits = ConnectionLimits::default();
        let serving = serve(Exhausted(calls.clone()), Router::new(), &limits);
        // A minute of (paused, auto-advancing) time: with pauses doubling to 1 s,
        // some 60 attempts; a loop that spun would reach the cap at once.
        let _ = tokio::time::timeout(Duration::from_secs(60), serving).await;
        let calls = calls.load(Ordering::SeqCst);
        assert!((10..100).contains(&calls), "{calls} accept calls in a minute");
    }

    #[test]
    fn the_default_connection_limit_leaves_descriptors_free() {
        let fds = descriptor_limit();
        let max = ConnectionLimits::default().resolved_max_connections();
        assert!(max >= 1 && max < fds, "{max} connections for {fds} descriptors");
        assert_eq!(ConnectionLimits { max_connections: Some(5), ..Default::default() }.resolved_max_connections(), 5);
    }
}
