//! Access tokens that are JWTs signed by an identity provider.

use super::{AuthError, Caller, TokenVerifier};
use async_trait::async_trait;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, RwLock};

/// The most bytes read from an issuer's metadata or key set.
const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// Checks JWT access tokens against the keys an issuer publishes (its JWKS).
///
/// A token passes when its signature verifies with the issuer's key of its `kid`
/// (asymmetric algorithms only), its `iss` is the issuer, its `aud` names this
/// resource (RFC 8707: a token meant for another server is refused), it has not
/// expired and is already valid (`exp`, `nbf`, with a small leeway), and it names a
/// subject (`sub`). Scopes come from `scope` (space-separated) or `scp`.
///
/// The key set is found through the issuer's metadata (RFC 8414, then OpenID
/// discovery) unless given, fetched on first use, cached, and fetched again when a
/// token names a key it does not have (at most every 30 s, so unknown `kid`s cannot
/// make it hammer the issuer). Fetches time out after 5 s and read at most 1 MiB.
#[derive(Clone)]
pub struct JwtVerifier {
    issuer: String,
    audience: String,
    jwks_uri: Option<String>,
    leeway: Duration,
    min_refresh: Duration,
    http: reqwest::Client,
    cache: Arc<KeyCache>,
}

/// The issuer's keys as last fetched, shared by clones of a verifier.
#[derive(Default)]
struct KeyCache {
    keys: RwLock<Option<(JwkSet, Instant)>>,
    refreshing: Mutex<()>,
}

impl JwtVerifier {
    /// Tokens of `issuer` (its URL, as in the tokens' `iss`) for `audience` (this
    /// resource's URL, as in the tokens' `aud`).
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(3))
            .build()
            .unwrap_or_default();
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            jwks_uri: None,
            leeway: Duration::from_secs(30),
            min_refresh: Duration::from_secs(30),
            http,
            cache: Arc::default(),
        }
    }

    /// Fetch keys from this URL instead of discovering it from the issuer's metadata.
    pub fn jwks_uri(mut self, uri: impl Into<String>) -> Self {
        self.jwks_uri = Some(uri.into());
        self
    }

    /// Clock skew allowed on `exp` and `nbf` (default 30 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Shortest time between two fetches of the key set (default 30 s).
    pub fn min_refresh(mut self, every: Duration) -> Self {
        self.min_refresh = every;
        self
    }

    async fn get_json(&self, url: &str) -> Result<Value, AuthError> {
        let down = |e: String| AuthError::Unavailable(format!("{url}: {e}"));
        let mut resp = self.http.get(url).send().await.map_err(|e| down(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(down(format!("HTTP {}", resp.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| down(e.to_string()))? {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(down(format!("larger than {MAX_DOCUMENT_BYTES} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|e| down(format!("not JSON: {e}")))
    }

    /// The key set's URL: given, or from the issuer's metadata.
    async fn discover_jwks_uri(&self) -> Result<String, AuthError> {
        if let Some(u) = &self.jwks_uri {
            return Ok(u.clone());
        }
        let issuer = self.issuer.trim_end_matches('/');
        let (origin, path) = super::split_url(issuer);
        let candidates = [
            format!("{origin}/.well-known/oauth-authorization-server{path}"),
            format!("{issuer}/.well-known/openid-configuration"),
        ];
        let mut last = None;
        for url in candidates {
            match self.get_json(&url).await {
                Ok(meta) => {
                    if meta["issuer"].as_str().map(|i| i.trim_end_matches('/')) != Some(issuer) {
                        return Err(AuthError::Unavailable(format!("{url} names another issuer: {}", meta["issuer"])));
                    }
                    return meta["jwks_uri"]
                        .as_str()
                        .map(str::to_string)
                        .ok_or_else(|| AuthError::Unavailable(format!("{url} has no jwks_uri")));
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| AuthError::Unavailable("no metadata".into())))
    }

    /// Fetch the key set again unless another fetch just did (or is doing) it.
    async fn refresh(&self, since: Option<Instant>) -> Result<(), AuthError> {
        let _one_at_a_time = self.cache.refreshing.lock().await;
        if let Some((_, fetched)) = &*self.cache.keys.read().await {
            if since.is_none_or(|s| *fetched > s) || fetched.elapsed() < self.min_refresh {
                return Ok(());
            }
        }
        let uri = self.discover_jwks_uri().await?;
        let set: JwkSet = serde_json::from_value(self.get_json(&uri).await?)
            .map_err(|e| AuthError::Unavailable(format!("{uri} is no key set: {e}")))?;
        *self.cache.keys.write().await = Some((set, Instant::now()));
        Ok(())
    }

    /// The key for `kid` (or the only key when the token names none).
    async fn key(&self, kid: Option<&str>) -> Result<Option<Jwk>, AuthError> {
        let find = |set: &JwkSet| match kid {
            Some(k) => set.find(k).cloned(),
            None if set.keys.len() == 1 => set.keys.first().cloned(),
            None => None,
        };
        let fetched = match &*self.cache.keys.read().await {
            Some((set, at)) => match find(set) {
                Some(key) => return Ok(Some(key)),
                None => Some(*at),
            },
            None => None,
        };
        self.refresh(fetched).await?;
        Ok(self.cache.keys.read().await.as_ref().and_then(|(set, _)| find(set)))
    }
}

#[async_trait]
impl TokenVerifier for JwtVerifier {
    async fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let invalid = |why: String| AuthError::Invalid(why);
        let header = decode_header(token).map_err(|e| invalid(format!("not a JWT: {e}")))?;
        if matches!(header.alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
            return Err(invalid("symmetric signatures are not accepted".into()));
        }
        let jwk = self
            .key(header.kid.as_deref())
            .await?
            .ok_or_else(|| invalid(format!("the issuer has no key {:?}", header.kid.as_deref().unwrap_or("(none)"))))?;
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| invalid(format!("unusable key: {e}")))?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[self.issuer.as_str(), self.issuer.trim_end_matches('/')]);
        validation.set_audience(&[&self.audience]);
        validation.leeway = self.leeway.as_secs();
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let claims = decode::<Value>(token, &key, &validation).map_err(|e| invalid(e.to_string()))?.claims;
        let subject = claims["sub"].as_str().filter(|s| !s.is_empty()).ok_or_else(|| invalid("no subject".into()))?;
        Ok(Caller { subject: subject.to_string(), scopes: scopes_of(&claims) })
    }
}

/// `scope` (space-separated, RFC 9068) or `scp` (a list or a string).
fn scopes_of(claims: &Value) -> BTreeSet<String> {
    let words = |s: &str| s.split_whitespace().map(str::to_string).collect::<BTreeSet<_>>();
    match (&claims["scope"], &claims["scp"]) {
        (Value::String(s), _) => words(s),
        (_, Value::Array(list)) => list.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        (_, Value::String(s)) => words(s),
        _ => BTreeSet::new(),
    }
}
