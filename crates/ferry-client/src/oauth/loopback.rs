//! Receiving the authorization server's redirect on a loopback port (RFC 8252 §7.3).

use super::{Authorizer, OAuthError};
use async_trait::async_trait;
use futures::future::BoxFuture;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The longest request head read from the browser.
const MAX_REQUEST_HEAD: usize = 8 * 1024;

/// How a [`LoopbackAuthorizer`] shows the user the authorization URL.
pub type OpenUrl = Arc<dyn Fn(String) -> BoxFuture<'static, ()> + Send + Sync>;

/// Sends the user to the authorization URL with a function of yours (open a browser,
/// print it) and receives the redirect on `http://127.0.0.1:PORT/callback`, a port
/// picked when it is made. Waits at most 5 minutes by default ([`timeout`](Self::timeout)).
///
/// ```no_run
/// # fn run() -> std::io::Result<()> {
/// use ferry_client::oauth::{LoopbackAuthorizer, OAuthConfig};
/// let authorizer = LoopbackAuthorizer::new(|url| async move { eprintln!("Open {url} to sign in") })?;
/// let config = OAuthConfig::interactive(authorizer);
/// # Ok(()) }
/// ```
pub struct LoopbackAuthorizer {
    listener: std::net::TcpListener,
    port: u16,
    open: OpenUrl,
    timeout: Duration,
}

impl LoopbackAuthorizer {
    /// Listen on a free port of 127.0.0.1; `open` shows the user each authorization URL.
    pub fn new<F, Fut>(open: F) -> std::io::Result<Self>
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        Ok(Self { listener, port, open: Arc::new(move |u| Box::pin(open(u))), timeout: Duration::from_secs(300) })
    }

    /// How long to wait for the redirect (default 5 minutes).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Wait for a browser's `GET /callback?...`; other paths get 404.
    async fn receive(&self) -> Result<String, OAuthError> {
        let failed = |e: std::io::Error| OAuthError::Authorization(format!("the redirect receiver failed: {e}"));
        let listener = tokio::net::TcpListener::from_std(self.listener.try_clone().map_err(failed)?).map_err(failed)?;
        loop {
            let (mut socket, _) = listener.accept().await.map_err(failed)?;
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_REQUEST_HEAD {
                match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let head = String::from_utf8_lossy(&head);
            let target = head.lines().next().and_then(|l| l.strip_prefix("GET ")).and_then(|l| l.split(' ').next());
            match target.filter(|t| t.starts_with("/callback")) {
                Some(target) => {
                    let page = "<!doctype html><title>Signed in</title><p>This step of the sign-in is done: \
                                you can close this window and go back to the application.</p>";
                    let _ = socket.write_all(response("200 OK", page).as_bytes()).await;
                    return Ok(format!("http://127.0.0.1:{}{target}", self.port));
                }
                None => {
                    let _ = socket.write_all(response("404 Not Found", "not here").as_bytes()).await;
                }
            }
        }
    }
}

fn response(status: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[async_trait]
impl Authorizer for LoopbackAuthorizer {
    fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}/callback", self.port)
    }

    async fn authorize(&self, url: &str) -> Result<String, OAuthError> {
        let open = (self.open)(url.to_string());
        let shown = tokio::spawn(open);
        let got = tokio::time::timeout(self.timeout, self.receive()).await;
        shown.abort();
        got.unwrap_or_else(|_| {
            Err(OAuthError::Authorization(format!("no redirect came back within {}s", self.timeout.as_secs())))
        })
    }
}
