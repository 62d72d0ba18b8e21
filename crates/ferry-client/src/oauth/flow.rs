//! The grants: dynamic client registration (RFC 7591), authorization code with PKCE
//! (S256) and resource indicators (RFC 8707), client credentials, refresh.

use super::discovery::{read_json, AuthServer, Discovered};
use super::{Authorizer, OAuthError, OAuthTokens};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::Rng;
use reqwest::Url;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// A client as the authorization server knows it.
#[derive(Debug, Clone)]
pub(crate) struct Registration {
    pub client_id: String,
    pub client_secret: Option<String>,
}

/// Random text for `state` and the PKCE verifier: 32 random bytes, base64url.
fn random_text() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The S256 challenge of a PKCE verifier (RFC 7636 §4.2).
pub(crate) fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Register a public client (no secret) redirecting to `redirect_uri` (RFC 7591).
pub(crate) async fn register(
    http: &reqwest::Client,
    auth: &AuthServer,
    client_name: &str,
    redirect_uri: &str,
) -> Result<Registration, OAuthError> {
    let endpoint = auth.registration_endpoint.as_deref().ok_or_else(|| {
        OAuthError::NoClient(format!(
            "{} offers no dynamic client registration: register a client there and give its id",
            auth.issuer
        ))
    })?;
    let body = json!({
        "client_name": client_name,
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "application_type": "native",
    });
    let resp = http.post(endpoint).json(&body).send().await.map_err(|e| OAuthError::http(endpoint, e))?;
    let status = resp.status();
    let answer = read_json(endpoint, resp).await?;
    if !status.is_success() {
        return Err(OAuthError::refused(&answer, status));
    }
    let client_id = answer["client_id"]
        .as_str()
        .ok_or_else(|| OAuthError::Http { url: endpoint.into(), why: "the registration has no client_id".into() })?;
    Ok(Registration {
        client_id: client_id.to_string(),
        client_secret: answer["client_secret"].as_str().map(str::to_string),
    })
}

/// The authorization code grant with PKCE: send the user to the authorization server
/// through `authorizer`, then trade the code for tokens.
pub(crate) async fn authorization_code(
    http: &reqwest::Client,
    found: &Discovered,
    client: &Registration,
    authorizer: &dyn Authorizer,
) -> Result<OAuthTokens, OAuthError> {
    let auth = &found.auth;
    let endpoint = auth
        .authorization_endpoint
        .as_deref()
        .ok_or_else(|| OAuthError::Metadata(format!("{} has no authorization_endpoint", auth.issuer)))?;
    if !auth.pkce_methods.iter().any(|m| m == "S256") {
        return Err(OAuthError::Metadata(format!(
            "{} does not say it supports PKCE with S256 (code_challenge_methods_supported), which OAuth 2.1 requires",
            auth.issuer
        )));
    }
    let (verifier, state) = (random_text(), random_text());
    let redirect_uri = authorizer.redirect_uri();
    let mut url = Url::parse(endpoint).map_err(|e| OAuthError::Metadata(format!("'{endpoint}': {e}")))?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("response_type", "code")
            .append_pair("client_id", &client.client_id)
            .append_pair("redirect_uri", &redirect_uri)
            .append_pair("code_challenge", &pkce_challenge(&verifier))
            .append_pair("code_challenge_method", "S256")
            .append_pair("state", &state)
            .append_pair("resource", &found.resource);
        if !found.scopes.is_empty() {
            q.append_pair("scope", &found.scopes.join(" "));
        }
    }
    let back = authorizer.authorize(url.as_str()).await?;
    let code = read_redirect(&back, &state, &auth.issuer)?;
    let params = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", &redirect_uri),
        ("code_verifier", &verifier),
        ("resource", &found.resource),
    ];
    token_request(http, found, client, &params).await
}

/// The code in the redirect, after checking its `state` (and `iss`, RFC 9207).
pub(crate) fn read_redirect(redirect: &str, state: &str, issuer: &str) -> Result<String, OAuthError> {
    let url = Url::parse(redirect)
        .map_err(|e| OAuthError::Authorization(format!("the redirect '{redirect}' is not a URL: {e}")))?;
    let get = |k: &str| url.query_pairs().find(|(n, _)| n == k).map(|(_, v)| v.into_owned());
    if let Some(error) = get("error") {
        let why = get("error_description").map(|d| format!(": {d}")).unwrap_or_default();
        return Err(OAuthError::Authorization(format!("the authorization server answered {error}{why}")));
    }
    if get("state").as_deref() != Some(state) {
        return Err(OAuthError::Authorization("the redirect's state is not the one sent (a forged redirect?)".into()));
    }
    if let Some(iss) = get("iss") {
        if iss.trim_end_matches('/') != issuer.trim_end_matches('/') {
            return Err(OAuthError::Authorization(format!("the redirect comes from another issuer ({iss})")));
        }
    }
    get("code").ok_or_else(|| OAuthError::Authorization("the redirect has no code".into()))
}

/// Client credentials (a machine client's own grant).
pub(crate) async fn client_credentials(
    http: &reqwest::Client,
    found: &Discovered,
    client: &Registration,
) -> Result<OAuthTokens, OAuthError> {
    let scope = found.scopes.join(" ");
    let mut params = vec![("grant_type", "client_credentials"), ("resource", found.resource.as_str())];
    if !scope.is_empty() {
        params.push(("scope", &scope));
    }
    token_request(http, found, client, &params).await
}

/// New tokens for a refresh token; the resource and client stay those of `old`.
pub(crate) async fn refresh(http: &reqwest::Client, old: &OAuthTokens) -> Result<OAuthTokens, OAuthError> {
    let refresh_token =
        old.refresh_token.as_deref().ok_or_else(|| OAuthError::Authorization("no refresh token".into()))?;
    let params = [("grant_type", "refresh_token"), ("refresh_token", refresh_token), ("resource", &old.resource)];
    let client = Registration { client_id: old.client_id.clone(), client_secret: old.client_secret.clone() };
    let mut tokens = post_token(http, &old.token_endpoint, &client, &params).await?;
    tokens.resource.clone_from(&old.resource);
    tokens.issuer.clone_from(&old.issuer);
    if tokens.refresh_token.is_none() {
        tokens.refresh_token.clone_from(&old.refresh_token); // not rotated: still good
    }
    Ok(tokens)
}

/// Revoke the refresh token (which ends the grant) and the access token (RFC 7009),
/// where the authorization server offers revocation; `false` when it does not. An
/// access token it cannot revoke (`unsupported_token_type`: a JWT) expires on its own.
pub(crate) async fn revoke(http: &reqwest::Client, tokens: &OAuthTokens) -> Result<bool, OAuthError> {
    let auth = super::discovery::auth_server(http, &tokens.issuer).await?;
    let Some(endpoint) = auth.revocation_endpoint.as_deref() else { return Ok(false) };
    let client = Registration { client_id: tokens.client_id.clone(), client_secret: tokens.client_secret.clone() };
    let mut which = vec![(tokens.access_token.as_str(), "access_token")];
    which.extend(tokens.refresh_token.as_deref().map(|t| (t, "refresh_token")));
    for (token, hint) in which.into_iter().rev() {
        let params = [("token", token), ("token_type_hint", hint)];
        let resp = authenticated(http.post(endpoint), &client, &params).send().await;
        let resp = resp.map_err(|e| OAuthError::http(endpoint, e))?;
        if !resp.status().is_success() {
            let status = resp.status();
            let answer = read_json(endpoint, resp).await.unwrap_or_default();
            // A token it cannot revoke (a self-contained JWT access token) lives until it expires.
            if answer["error"] != "unsupported_token_type" {
                return Err(OAuthError::refused(&answer, status));
            }
        }
    }
    Ok(true)
}

/// A form POST with the client's authentication: HTTP Basic (`client_secret_basic`) for a
/// confidential client, `client_id` in the form for a public one.
fn authenticated(
    req: reqwest::RequestBuilder,
    client: &Registration,
    params: &[(&str, &str)],
) -> reqwest::RequestBuilder {
    let mut form: Vec<(&str, &str)> = params.to_vec();
    let req = match &client.client_secret {
        Some(secret) => req.basic_auth(&client.client_id, Some(secret)),
        None => {
            form.push(("client_id", &client.client_id));
            req
        }
    };
    req.header("accept", "application/json").form(&form)
}

async fn token_request(
    http: &reqwest::Client,
    found: &Discovered,
    client: &Registration,
    params: &[(&str, &str)],
) -> Result<OAuthTokens, OAuthError> {
    let mut tokens = post_token(http, &found.auth.token_endpoint, client, params).await?;
    tokens.resource.clone_from(&found.resource);
    tokens.issuer.clone_from(&found.auth.issuer);
    Ok(tokens)
}

/// POST to the token endpoint, the client authenticated.
async fn post_token(
    http: &reqwest::Client,
    endpoint: &str,
    client: &Registration,
    params: &[(&str, &str)],
) -> Result<OAuthTokens, OAuthError> {
    let resp = authenticated(http.post(endpoint), client, params).send().await;
    let resp = resp.map_err(|e| OAuthError::http(endpoint, e))?;
    let status = resp.status();
    let answer = read_json(endpoint, resp).await?;
    if !status.is_success() {
        return Err(OAuthError::refused(&answer, status));
    }
    let access_token = answer["access_token"]
        .as_str()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OAuthError::Http { url: endpoint.into(), why: "the answer has no access_token".into() })?;
    if answer["token_type"].as_str().is_some_and(|t| !t.eq_ignore_ascii_case("bearer")) {
        return Err(OAuthError::Http {
            url: endpoint.into(),
            why: format!("token_type {} is not Bearer", answer["token_type"]),
        });
    }
    Ok(OAuthTokens {
        access_token: access_token.to_string(),
        refresh_token: answer["refresh_token"].as_str().map(str::to_string),
        expires_at: answer["expires_in"].as_u64().map(|s| super::now() + s),
        scope: answer["scope"].as_str().map(str::to_string),
        resource: String::new(),
        issuer: String::new(),
        token_endpoint: endpoint.to_string(),
        client_id: client.client_id.clone(),
        client_secret: client.client_secret.clone(),
    })
}

impl OAuthError {
    /// An OAuth error answer (`error`, `error_description`).
    fn refused(answer: &Value, status: reqwest::StatusCode) -> Self {
        OAuthError::Refused {
            error: answer["error"].as_str().unwrap_or("(no error code)").to_string(),
            description: answer["error_description"].as_str().map(str::to_string),
            status: status.as_u16(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc_7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert_ne!(random_text(), random_text());
        assert_eq!(random_text().len(), 43);
    }

    #[test]
    fn redirects_are_checked() {
        let ok = "http://127.0.0.1:9/callback?code=c1&state=s&iss=https%3A%2F%2Fidp";
        assert_eq!(read_redirect(ok, "s", "https://idp/").unwrap(), "c1");
        assert!(read_redirect(ok, "other", "https://idp").unwrap_err().to_string().contains("state"));
        assert!(read_redirect(ok, "s", "https://evil").unwrap_err().to_string().contains("another issuer"));
        let denied = "http://127.0.0.1:9/callback?error=access_denied&error_description=no&state=s";
        assert!(read_redirect(denied, "s", "https://idp").unwrap_err().to_string().contains("access_denied: no"));
    }
}
