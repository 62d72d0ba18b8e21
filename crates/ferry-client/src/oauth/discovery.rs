//! Finding where to sign in: the server's challenge, its Protected Resource Metadata
//! (RFC 9728), and its authorization server's metadata (RFC 8414, then OpenID discovery).

use super::OAuthError;
use reqwest::Url;
use serde_json::Value;

/// The most bytes read from any metadata document or token answer.
const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// What a `WWW-Authenticate: Bearer ...` header says.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Challenge {
    /// Where the Protected Resource Metadata is (RFC 9728 §5.1).
    pub resource_metadata: Option<String>,
    /// The scopes the server asks for.
    pub scope: Option<String>,
    /// `invalid_token`, `insufficient_scope` ...
    pub error: Option<String>,
}

/// Read the auth-params of a Bearer challenge (`key="value"` or `key=token`, comma-separated).
pub(crate) fn parse_challenge(header: &str) -> Challenge {
    let mut out = Challenge::default();
    let Some(rest) = header.trim().strip_prefix("Bearer").or_else(|| header.trim().strip_prefix("bearer")) else {
        return out;
    };
    let mut chars = rest.chars().peekable();
    loop {
        while chars.next_if(|c| *c == ',' || c.is_whitespace()).is_some() {}
        let key: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ',')).collect();
        if key.is_empty() || chars.next() != Some('=') {
            return out;
        }
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = std::iter::from_fn(|| chars.next_if(|c| *c != ',')).collect::<String>().trim().to_string();
        }
        match key.trim() {
            "resource_metadata" => out.resource_metadata = Some(value),
            "scope" => out.scope = Some(value),
            "error" => out.error = Some(value),
            _ => {}
        }
    }
}

/// GET a JSON document (at most 1 MiB).
pub(crate) async fn get_json(http: &reqwest::Client, url: &str) -> Result<Value, OAuthError> {
    let resp = http.get(url).header("accept", "application/json").send().await;
    let resp = resp.map_err(|e| OAuthError::http(url, e))?;
    if !resp.status().is_success() {
        return Err(OAuthError::Http { url: url.into(), why: format!("HTTP {}", resp.status()) });
    }
    read_json(url, resp).await
}

/// The body of `resp` as JSON (at most 1 MiB).
pub(crate) async fn read_json(url: &str, mut resp: reqwest::Response) -> Result<Value, OAuthError> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| OAuthError::http(url, e))? {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(OAuthError::Http { url: url.into(), why: format!("larger than {MAX_DOCUMENT_BYTES} bytes") });
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| OAuthError::Http { url: url.into(), why: format!("not JSON: {e}") })
}

/// `https://host/.well-known/NAME/path` for `https://host/path` (RFC 8414 §3, RFC 9728 §3).
fn well_known(url: &str, name: &str) -> Result<String, OAuthError> {
    let parsed = Url::parse(url).map_err(|e| OAuthError::Metadata(format!("'{url}' is not a URL: {e}")))?;
    let path = parsed.path().trim_end_matches('/');
    Ok(format!("{}/.well-known/{name}{path}", parsed.origin().ascii_serialization()))
}

/// An authorization server, as its metadata describes it.
#[derive(Debug, Clone)]
pub(crate) struct AuthServer {
    pub issuer: String,
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: String,
    pub registration_endpoint: Option<String>,
    pub revocation_endpoint: Option<String>,
    pub pkce_methods: Vec<String>,
}

/// Everything sign-in needs to know about a server.
#[derive(Debug, Clone)]
pub(crate) struct Discovered {
    /// The resource tokens are asked for (RFC 8707 `resource`).
    pub resource: String,
    /// The scopes to ask for.
    pub scopes: Vec<String>,
    pub auth: AuthServer,
}

/// From the server's challenge (or, without one, its well-known metadata URL) to its
/// authorization server's endpoints.
pub(crate) async fn discover(
    http: &reqwest::Client,
    server_url: &str,
    challenge: &Challenge,
) -> Result<Discovered, OAuthError> {
    let candidates = match &challenge.resource_metadata {
        Some(url) => vec![url.clone()],
        None => {
            let origin = well_known(server_url, "oauth-protected-resource")?;
            let root = origin.split("/.well-known/").next().unwrap_or_default().to_string();
            vec![origin, format!("{root}/.well-known/oauth-protected-resource")]
        }
    };
    let mut found = Err(OAuthError::Metadata("no protected resource metadata".into()));
    for url in &candidates {
        found = get_json(http, url).await;
        if found.is_ok() {
            break;
        }
    }
    let meta = match found {
        Err(e) if challenge.resource_metadata.is_none() => {
            return Err(OAuthError::Metadata(format!(
                "{server_url} publishes no protected resource metadata ({e}): is it a server that needs a sign-in?"
            )))
        }
        other => other?,
    };
    let resource = meta["resource"].as_str().unwrap_or(server_url).to_string();
    if resource.trim_end_matches('/') != server_url.trim_end_matches('/') {
        return Err(OAuthError::Metadata(format!(
            "the server's metadata is for the resource '{resource}', not '{server_url}': refusing to sign in for another resource"
        )));
    }
    let issuer =
        meta["authorization_servers"].as_array().and_then(|a| a.first()).and_then(Value::as_str).ok_or_else(|| {
            OAuthError::Metadata(format!("the metadata of '{resource}' names no authorization server"))
        })?;
    let scopes = match &challenge.scope {
        Some(s) => s.split_whitespace().map(str::to_string).collect(),
        None => meta["scopes_supported"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default(),
    };
    Ok(Discovered { resource, scopes, auth: auth_server(http, issuer).await? })
}

/// The metadata of `issuer`: RFC 8414 first, then OpenID discovery (both placements).
pub(crate) async fn auth_server(http: &reqwest::Client, issuer: &str) -> Result<AuthServer, OAuthError> {
    let trimmed = issuer.trim_end_matches('/');
    let candidates = [
        well_known(issuer, "oauth-authorization-server")?,
        well_known(issuer, "openid-configuration")?,
        format!("{trimmed}/.well-known/openid-configuration"),
    ];
    let mut last = None;
    for url in candidates {
        let meta = match get_json(http, &url).await {
            Ok(m) => m,
            Err(e) => {
                last = Some(e);
                continue;
            }
        };
        if meta["issuer"].as_str().map(|i| i.trim_end_matches('/')) != Some(trimmed) {
            return Err(OAuthError::Metadata(format!("{url} names another issuer: {}", meta["issuer"])));
        }
        let text = |k: &str| meta[k].as_str().map(str::to_string);
        let token_endpoint =
            text("token_endpoint").ok_or_else(|| OAuthError::Metadata(format!("{url} has no token_endpoint")))?;
        let pkce_methods = meta["code_challenge_methods_supported"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default();
        return Ok(AuthServer {
            issuer: meta["issuer"].as_str().unwrap_or(issuer).to_string(),
            authorization_endpoint: text("authorization_endpoint"),
            token_endpoint,
            registration_endpoint: text("registration_endpoint"),
            revocation_endpoint: text("revocation_endpoint"),
            pkce_methods,
        });
    }
    Err(last.unwrap_or_else(|| OAuthError::Metadata(format!("no metadata for {issuer}"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_bearer_challenges() {
        let c = parse_challenge(
            "Bearer resource_metadata=\"https://h/.well-known/oauth-protected-resource/mcp\", \
             error=\"insufficient_scope\", error_description=\"needs \\\"a\\\", b\", scope=\"a b\"",
        );
        assert_eq!(c.resource_metadata.as_deref(), Some("https://h/.well-known/oauth-protected-resource/mcp"));
        assert_eq!(c.scope.as_deref(), Some("a b"));
        assert_eq!(c.error.as_deref(), Some("insufficient_scope"));
        assert_eq!(parse_challenge("Bearer error=invalid_token").error.as_deref(), Some("invalid_token"));
        assert_eq!(parse_challenge("Basic realm=\"x\""), Challenge::default());
        assert_eq!(parse_challenge("Bearer"), Challenge::default());
    }

    #[test]
    fn well_known_urls_keep_the_path_after_the_name() {
        assert_eq!(
            well_known("https://h:1/api/mcp", "oauth-protected-resource").unwrap(),
            "https://h:1/.well-known/oauth-protected-resource/api/mcp"
        );
        assert_eq!(
            well_known("https://login.example/", "oauth-authorization-server").unwrap(),
            "https://login.example/.well-known/oauth-authorization-server"
        );
    }
}
