//! Signing in to servers that are OAuth 2.1 protected resources (MCP authorization).
//!
//! With [`ClientOptions::oauth`](crate::ClientOptions::oauth), a `401` with
//! `WWW-Authenticate: Bearer resource_metadata="…"` starts sign-in: the client reads the
//! server's Protected Resource Metadata (RFC 9728), then its authorization server's
//! metadata (RFC 8414, else OpenID discovery), registers itself (RFC 7591) when it has
//! no client id and the server offers registration, and gets a token for exactly this
//! server (the `resource` parameter, RFC 8707):
//!
//! - people: the authorization code grant with PKCE (S256), the user sent to the
//!   authorization server by an [`Authorizer`] ([`LoopbackAuthorizer`]: open a browser
//!   or print the URL, receive the redirect on a loopback port);
//! - machines: client credentials ([`OAuthConfig::client_credentials`]).
//!
//! Tokens are refreshed when they expire (or are refused) and a refresh token is at
//! hand, and kept in a [`TokenStore`] of yours if you give one. A `403` with
//! `error="insufficient_scope"` signs in again for the scopes held plus those the server
//! names (step-up), once per request.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use ferry_client::oauth::{LoopbackAuthorizer, OAuthConfig};
//! use ferry_client::{Client, ClientOptions};
//! let authorizer = LoopbackAuthorizer::new(|url| async move { eprintln!("Sign in at {url}") })?;
//! let options = ClientOptions::default().oauth(OAuthConfig::interactive(authorizer));
//! let client = Client::connect_http("https://mcp.example.com/mcp", options).await?;
//! # Ok(()) }
//! ```

mod discovery;
mod flow;
mod loopback;

pub use loopback::{LoopbackAuthorizer, OpenUrl};

use crate::error::ClientError;
use async_trait::async_trait;
use discovery::Challenge;
use flow::Registration;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Tokens are renewed this long before they expire.
const EXPIRY_MARGIN_SECS: u64 = 30;

/// Why signing in failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OAuthError {
    /// A request to the authorization server or the resource's metadata failed.
    #[error("{url}: {why}")]
    Http {
        /// What was asked.
        url: String,
        /// What went wrong.
        why: String,
    },
    /// The metadata is missing something sign-in needs, or does not fit this server.
    #[error("{0}")]
    Metadata(String),
    /// The authorization server refused (an OAuth error answer).
    #[error("the authorization server refused (HTTP {status}): {error}{}", description.as_ref().map(|d| format!(": {d}")).unwrap_or_default())]
    Refused {
        /// The OAuth error code (`invalid_client`, `invalid_grant` ...).
        error: String,
        /// Its description, if any.
        description: Option<String>,
        /// The HTTP status.
        status: u16,
    },
    /// No client id to sign in with, and none can be registered.
    #[error("no client: {0}")]
    NoClient(String),
    /// The user's part of the sign-in did not complete (denied, a bad redirect, no redirect).
    #[error("sign-in did not complete: {0}")]
    Authorization(String),
    /// Sign-in would need the user, and this client has no way to ask them.
    #[error("sign-in needed: {0}")]
    SignInNeeded(String),
    /// The token store failed.
    #[error("token store: {0}")]
    Store(String),
}

impl OAuthError {
    fn http(url: &str, e: reqwest::Error) -> Self {
        let mut cause: &dyn std::error::Error = &e;
        while let Some(next) = cause.source() {
            cause = next;
        }
        OAuthError::Http { url: url.to_string(), why: cause.to_string() }
    }
}

impl From<OAuthError> for ClientError {
    fn from(e: OAuthError) -> Self {
        ClientError::Unauthorized(e.to_string())
    }
}

/// The tokens of one server, and what is needed to renew them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthTokens {
    /// The access token sent as `Authorization: Bearer`.
    pub access_token: String,
    /// The refresh token, if the authorization server gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// When the access token expires (seconds since 1970), if said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// The scopes granted, if said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The resource (the server's URL) the tokens are for.
    pub resource: String,
    /// The authorization server that issued them.
    pub issuer: String,
    /// Where to renew them.
    pub token_endpoint: String,
    /// The client id they were issued to.
    pub client_id: String,
    /// The client's secret, for a confidential client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

impl OAuthTokens {
    /// Whether the access token has expired, or will within 30 s.
    pub fn expired(&self) -> bool {
        self.expires_at.is_some_and(|at| at <= now() + EXPIRY_MARGIN_SECS)
    }
}

/// Seconds since 1970.
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Where tokens are kept between runs (the `ferry` CLI keeps them in a file of the
/// user's config directory). Keyed by the server's URL as given to the client.
pub trait TokenStore: Send + Sync + 'static {
    /// The tokens kept for `server`.
    fn load(&self, server: &str) -> Option<OAuthTokens>;
    /// Keep `tokens` for `server`.
    fn save(&self, server: &str, tokens: &OAuthTokens) -> Result<(), OAuthError>;
}

/// Sends the user to the authorization server and brings back its redirect.
#[async_trait]
pub trait Authorizer: Send + Sync + 'static {
    /// Where the authorization server sends the user back (registered as the client's
    /// redirect URI).
    fn redirect_uri(&self) -> String;
    /// Show the user `url`; return the URL the authorization server redirected to
    /// (it carries `code` and `state`).
    async fn authorize(&self, url: &str) -> Result<String, OAuthError>;
}

#[derive(Clone)]
enum Grant {
    /// The authorization code grant, the user in the loop.
    Interactive(Arc<dyn Authorizer>),
    /// Client credentials.
    ClientCredentials,
    /// Only tokens already stored (refreshed when they can be).
    Stored,
}

/// How a client signs in (see the [module](self)).
#[derive(Clone)]
pub struct OAuthConfig {
    grant: Grant,
    client: Option<Registration>,
    client_name: String,
    scopes: Option<Vec<String>>,
    store: Option<Arc<dyn TokenStore>>,
    timeout: Duration,
}

impl OAuthConfig {
    fn with(grant: Grant) -> Self {
        Self {
            grant,
            client: None,
            client_name: "ferry-client".into(),
            scopes: None,
            store: None,
            timeout: Duration::from_secs(10),
        }
    }

    /// Sign people in with the authorization code grant and PKCE; `authorizer` sends
    /// them to the authorization server. Without [`client`](Self::client), the client
    /// registers itself where the server offers it.
    pub fn interactive(authorizer: impl Authorizer) -> Self {
        Self::with(Grant::Interactive(Arc::new(authorizer)))
    }

    /// A machine client: the client credentials grant with this client's id and secret.
    pub fn client_credentials(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self::with(Grant::ClientCredentials).client(client_id, Some(client_secret.into()))
    }

    /// Only tokens from the [`store`](Self::store) (renewed with their refresh token);
    /// when none will do, requests fail with a [`OAuthError::SignInNeeded`] message.
    pub fn stored_only() -> Self {
        Self::with(Grant::Stored)
    }

    /// A client registered beforehand (its secret for a confidential client).
    pub fn client(mut self, client_id: impl Into<String>, client_secret: Option<String>) -> Self {
        self.client = Some(Registration { client_id: client_id.into(), client_secret });
        self
    }

    /// The name a self-registered client gives itself (default `ferry-client`).
    pub fn client_name(mut self, name: impl Into<String>) -> Self {
        self.client_name = name.into();
        self
    }

    /// The scopes to ask for (default: those the server's challenge names, else all
    /// its metadata lists).
    pub fn scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Keep tokens here, and start from the ones it has.
    pub fn store(mut self, store: impl TokenStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// How long each request to the authorization server may take (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// The sign-in state of one connection: the current tokens, renewed as needed.
pub(crate) struct OAuth {
    config: OAuthConfig,
    server: String,
    http: reqwest::Client,
    tokens: Mutex<Option<OAuthTokens>>,
    /// One sign-in or refresh at a time.
    renewing: tokio::sync::Mutex<()>,
}

impl OAuth {
    /// Sign-in for the server at `server` (its MCP URL), starting from stored tokens.
    pub(crate) fn new(config: OAuthConfig, server: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        let tokens = config.store.as_ref().and_then(|s| s.load(server));
        Self { config, server: server.to_string(), http, tokens: Mutex::new(tokens), renewing: Default::default() }
    }

    fn current(&self) -> Option<OAuthTokens> {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The access token to send now.
    pub(crate) fn access_token(&self) -> Option<String> {
        self.current().map(|t| t.access_token)
    }

    /// Before a request: renew an expired token when a refresh token is at hand (a
    /// failure is left to the server's refusal to bring up).
    pub(crate) async fn before_request(&self) {
        if let Some(old) = self.current().filter(|t| t.expired() && t.refresh_token.is_some()) {
            let _one = self.renewing.lock().await;
            if self.access_token().as_deref() == Some(old.access_token.as_str()) {
                if let Ok(new) = flow::refresh(&self.http, &old).await {
                    let _ = self.keep(new);
                }
            }
        }
    }

    /// After a `401` (its `WWW-Authenticate`) to a request sent with `used`: a token to
    /// retry with, by refresh when possible, else by signing in again.
    pub(crate) async fn unauthorized(&self, challenge: &str, used: Option<&str>) -> Result<(), OAuthError> {
        let _one = self.renewing.lock().await;
        let current = self.current();
        if current.as_ref().map(|t| t.access_token.as_str()) != used && current.is_some() {
            return Ok(()); // another request renewed it meanwhile
        }
        if let Some(old) = current.filter(|t| t.refresh_token.is_some()) {
            match flow::refresh(&self.http, &old).await {
                Ok(new) => return self.keep(new),
                Err(e) => tracing::debug!(error = %e, "refreshing the token failed; signing in again"),
            }
        }
        let tokens = self.sign_in(&discovery::parse_challenge(challenge), true).await?;
        self.keep(tokens)
    }

    /// After a `403` (its `WWW-Authenticate`) to a request sent with `used`: when it is
    /// `insufficient_scope`, sign in again asking for the scopes held plus those it names
    /// (step-up), and say whether to send the request once more.
    pub(crate) async fn forbidden(&self, challenge: &str, used: Option<&str>) -> Result<bool, OAuthError> {
        let mut parsed = discovery::parse_challenge(challenge);
        if parsed.error.as_deref() != Some("insufficient_scope") || matches!(self.config.grant, Grant::Stored) {
            return Ok(false);
        }
        let _one = self.renewing.lock().await;
        let current = self.current();
        if current.as_ref().map(|t| t.access_token.as_str()) != used {
            return Ok(true); // another request got a new token meanwhile
        }
        let held = current.and_then(|t| t.scope).or_else(|| self.config.scopes.as_ref().map(|s| s.join(" ")));
        let mut scopes: Vec<&str> = held.iter().chain(&parsed.scope).flat_map(|s| s.split_whitespace()).collect();
        scopes.sort_unstable();
        scopes.dedup();
        parsed.scope = Some(scopes.join(" "));
        let tokens = self.sign_in(&parsed, false).await?;
        self.keep(tokens)?;
        Ok(true)
    }

    /// Run the configured grant from the server's challenge (the configured scopes
    /// instead of the challenge's when `configured_scopes`).
    async fn sign_in(&self, challenge: &Challenge, configured_scopes: bool) -> Result<OAuthTokens, OAuthError> {
        let mut found = discovery::discover(&self.http, &self.server, challenge).await?;
        if let Some(scopes) = self.config.scopes.as_ref().filter(|_| configured_scopes) {
            found.scopes.clone_from(scopes);
        }
        match &self.config.grant {
            Grant::Interactive(authorizer) => {
                let client = match &self.config.client {
                    Some(c) => c.clone(),
                    None => {
                        let redirect = authorizer.redirect_uri();
                        flow::register(&self.http, &found.auth, &self.config.client_name, &redirect).await?
                    }
                };
                flow::authorization_code(&self.http, &found, &client, authorizer.as_ref()).await
            }
            Grant::ClientCredentials => {
                let client = self.config.client.as_ref().ok_or_else(|| OAuthError::NoClient("no client id".into()))?;
                flow::client_credentials(&self.http, &found, client).await
            }
            Grant::Stored => Err(OAuthError::SignInNeeded(format!(
                "{} needs a sign-in with {} and no usable token is stored",
                self.server, found.auth.issuer
            ))),
        }
    }

    fn keep(&self, tokens: OAuthTokens) -> Result<(), OAuthError> {
        *self.tokens.lock().unwrap_or_else(|e| e.into_inner()) = Some(tokens.clone());
        match &self.config.store {
            Some(store) => store.save(&self.server, &tokens),
            None => Ok(()),
        }
    }
}

/// Sign out: revoke `tokens` where their authorization server offers revocation
/// (RFC 7009); `Ok(false)` when it does not (the tokens then stay good until they expire).
pub async fn revoke(tokens: &OAuthTokens) -> Result<bool, OAuthError> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default();
    flow::revoke(&http, tokens).await
}

/// Sign in to the server at `server` (its MCP URL) now, whatever tokens are stored,
/// finding its authorization server through its metadata at the well-known URL; the
/// tokens go to the config's store, if any, and are returned.
pub async fn sign_in(server: &str, config: OAuthConfig) -> Result<OAuthTokens, OAuthError> {
    let oauth = OAuth::new(config, server);
    let tokens = oauth.sign_in(&Challenge::default(), true).await?;
    oauth.keep(tokens.clone())?;
    Ok(tokens)
}
