//! Authorization as MCP specifies it: the server is an OAuth 2.1 resource server.
//!
//! A client sends `Authorization: Bearer <access token>` with every HTTP request.
//! The server checks the token with a [`TokenVerifier`] (for JWTs from an identity
//! provider: [`JwtVerifier`]), and learns who calls (the token's subject, which then
//! owns the caller's tasks, in both protocol eras and across processes) and what the
//! token allows (its scopes). Without a valid token a request gets `401` with
//! `WWW-Authenticate: Bearer resource_metadata="…"`, pointing at this server's
//! Protected Resource Metadata (RFC 9728, served at
//! `/.well-known/oauth-protected-resource`), from which a client finds the
//! authorization server to sign in with. A component can require scopes
//! ([`ToolDef::scopes`](crate::ToolDef::scopes)): a token without them gets `403`
//! with `error="insufficient_scope"` and the scopes needed, before anything runs.
//!
//! ```no_run
//! use ferry_server::auth::{JwtVerifier, ProtectedResource};
//! use ferry_server::{Server, ToolDef};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let resource = ProtectedResource::new("https://mcp.example.com/mcp", "https://login.example.com")
//!     .verifier(JwtVerifier::new("https://login.example.com", "https://mcp.example.com/mcp"))
//!     .scopes_supported(["reports:read"]);
//! let server = Server::builder("reports", "1")
//!     .protect(resource)
//!     .tool(ToolDef::new("report").scopes(["reports:read"]).handler(|| async { "..." }))
//!     .build()?;
//! server.serve_http("0.0.0.0:8765".parse()?).await?;
//! # Ok(()) }
//! ```

mod jwt;

pub use jwt::JwtVerifier;

use async_trait::async_trait;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Who calls, as a verified token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's subject (`sub`): the owner of the caller's tasks.
    pub subject: String,
    /// What the token allows (`scope`, space-separated, or `scp`).
    pub scopes: BTreeSet<String>,
}

/// Why a token was refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    /// No token came with the request.
    #[error("no access token")]
    Missing,
    /// The token is not valid here: bad signature, expired, for another resource, ...
    #[error("invalid access token: {0}")]
    Invalid(String),
    /// The token could not be checked now (the issuer's keys cannot be fetched).
    #[error("cannot check the access token now: {0}")]
    Unavailable(String),
}

/// Checks an access token.
#[async_trait]
pub trait TokenVerifier: Send + Sync + 'static {
    /// The caller a token stands for, or why it is refused.
    async fn verify(&self, token: &str) -> Result<Caller, AuthError>;
}

/// Fixed tokens, for development and tests: each token names a subject with scopes.
#[derive(Default, Clone)]
pub struct StaticTokens {
    tokens: Vec<(String, Caller)>,
}

impl StaticTokens {
    /// Accept `token` as `subject` with `scopes`.
    pub fn token<S: Into<String>>(mut self, token: &str, subject: &str, scopes: impl IntoIterator<Item = S>) -> Self {
        let caller = Caller { subject: subject.to_string(), scopes: scopes.into_iter().map(Into::into).collect() };
        self.tokens.push((token.to_string(), caller));
        self
    }
}

#[async_trait]
impl TokenVerifier for StaticTokens {
    async fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        self.tokens
            .iter()
            .find(|(t, _)| constant_time_eq(t.as_bytes(), token.as_bytes()))
            .map(|(_, c)| c.clone())
            .ok_or_else(|| AuthError::Invalid("unknown token".into()))
    }
}

/// Whether `a` equals `b`, comparing every byte so the time taken says nothing about where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// This server as an OAuth protected resource: its metadata and how it checks tokens.
#[derive(Clone)]
pub struct ProtectedResource {
    pub(crate) resource: String,
    pub(crate) authorization_servers: Vec<String>,
    pub(crate) scopes_supported: Vec<String>,
    pub(crate) required_scopes: Vec<String>,
    pub(crate) verifier: Option<Arc<dyn TokenVerifier>>,
}

impl ProtectedResource {
    /// The resource (this server's MCP endpoint URL, which tokens must name as their
    /// audience) and the authorization server (issuer) clients sign in with.
    pub fn new(resource: impl Into<String>, authorization_server: impl Into<String>) -> Self {
        Self {
            resource: resource.into(),
            authorization_servers: vec![authorization_server.into()],
            scopes_supported: Vec::new(),
            required_scopes: Vec::new(),
            verifier: None,
        }
    }

    /// How tokens are checked (required before the server is built).
    pub fn verifier(mut self, verifier: impl TokenVerifier) -> Self {
        self.verifier = Some(Arc::new(verifier));
        self
    }

    /// Scopes listed in the metadata (`scopes_supported`).
    pub fn scopes_supported<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.scopes_supported = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Scopes every request needs, whatever it calls.
    pub fn required_scopes<S: Into<String>>(mut self, scopes: impl IntoIterator<Item = S>) -> Self {
        self.required_scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The Protected Resource Metadata document (RFC 9728).
    pub fn metadata(&self) -> Value {
        let mut scopes: Vec<&String> = self.scopes_supported.iter().chain(&self.required_scopes).collect();
        scopes.sort();
        scopes.dedup();
        json!({
            "resource": self.resource,
            "authorization_servers": self.authorization_servers,
            "scopes_supported": scopes,
            "bearer_methods_supported": ["header"],
        })
    }

    /// Where the metadata is served: `/.well-known/oauth-protected-resource` followed by
    /// the resource URL's path (RFC 9728 §3.1), and the bare form for clients that look there.
    pub(crate) fn metadata_paths(&self) -> Vec<String> {
        const BASE: &str = "/.well-known/oauth-protected-resource";
        let path = url_path(&self.resource).trim_end_matches('/').to_string();
        let mut paths = vec![BASE.to_string()];
        if !path.is_empty() {
            paths.push(format!("{BASE}{path}"));
        }
        paths
    }

    /// The metadata URL named in `WWW-Authenticate`.
    pub(crate) fn metadata_url(&self) -> String {
        let (origin, path) = split_url(&self.resource);
        let path = path.trim_end_matches('/');
        format!("{origin}/.well-known/oauth-protected-resource{path}")
    }

    /// `WWW-Authenticate` of a refusal: `error` (`invalid_token`, `insufficient_scope`)
    /// and the scope a client should ask for.
    pub(crate) fn challenge(&self, error: Option<(&str, &str)>, scope: &[String]) -> String {
        let mut h = format!("Bearer resource_metadata=\"{}\"", self.metadata_url());
        if let Some((code, description)) = error {
            let description = description.replace(['"', '\\'], "'");
            h.push_str(&format!(", error=\"{code}\", error_description=\"{description}\""));
        }
        if !scope.is_empty() {
            h.push_str(&format!(", scope=\"{}\"", scope.join(" ")));
        }
        h
    }

    /// The scopes of `needed` the caller lacks.
    pub(crate) fn missing<'a>(caller: &Caller, needed: &'a [String]) -> Vec<&'a String> {
        needed.iter().filter(|s| !caller.scopes.contains(*s)).collect()
    }
}

fn split_url(url: &str) -> (&str, &str) {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => url.split_at(after_scheme + i),
        None => (url, ""),
    }
}

fn url_path(url: &str) -> &str {
    split_url(url).1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_lives_under_the_resource_path() {
        let r = ProtectedResource::new("https://mcp.example.com/api/mcp", "https://login.example.com")
            .scopes_supported(["b", "a"])
            .required_scopes(["a"]);
        assert_eq!(r.metadata_url(), "https://mcp.example.com/.well-known/oauth-protected-resource/api/mcp");
        assert_eq!(
            r.metadata_paths(),
            ["/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/api/mcp"]
        );
        assert_eq!(r.metadata()["scopes_supported"], json!(["a", "b"]));
        let root = ProtectedResource::new("https://mcp.example.com", "https://l");
        assert_eq!(root.metadata_paths(), ["/.well-known/oauth-protected-resource"]);
        assert_eq!(
            r.challenge(Some(("insufficient_scope", "needs \"a\"")), &["a".into()]),
            "Bearer resource_metadata=\"https://mcp.example.com/.well-known/oauth-protected-resource/api/mcp\", \
             error=\"insufficient_scope\", error_description=\"needs 'a'\", scope=\"a\""
        );
    }
}
