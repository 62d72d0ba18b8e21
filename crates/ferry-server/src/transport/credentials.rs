//! Who sends an HTTP request: the server's authenticator, or its protected-resource
//! setup (OAuth bearer tokens, see [`crate::auth`]), and the HTTP side of refusals:
//! `401` / `403` with `WWW-Authenticate`, and the Protected Resource Metadata routes.

use crate::auth::{AuthError, ProtectedResource};
use crate::server::Shared;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response as HttpResponse;
use axum::routing::get;
use axum::{Json, Router};
use ferry_protocol::{ErrorCode, ErrorObject};
use std::collections::BTreeSet;

/// A request's caller.
#[derive(Debug, Clone)]
pub(crate) struct Authenticated {
    pub subject: String,
    /// What its token allows; `None` when an authenticator without scopes named it.
    pub scopes: Option<BTreeSet<String>>,
}

fn refusal(status: StatusCode, message: String, challenge: String) -> HttpResponse {
    let mut r = super::http::error_response(status, ErrorObject::invalid_request(message));
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

/// Who sends the request: `Ok(None)` on a server open to all, a `401`/`403`/`503`
/// refusal when the credentials do not pass.
pub(crate) async fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<Option<Authenticated>, HttpResponse> {
    if let Some(resource) = &shared.protected {
        return bearer(resource, headers).await.map(Some);
    }
    let Some(auth) = &shared.authenticator else { return Ok(None) };
    match auth(headers) {
        Some(subject) => Ok(Some(Authenticated { subject, scopes: None })),
        None => Err(refusal(
            StatusCode::UNAUTHORIZED,
            "Unauthorized: missing or invalid credentials".into(),
            "Bearer".into(),
        )),
    }
}

async fn bearer(resource: &ProtectedResource, headers: &HeaderMap) -> Result<Authenticated, HttpResponse> {
    let scope = &resource.required_scopes;
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' ').filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer")))
        .map(|(_, t)| t.trim())
        .filter(|t| !t.is_empty());
    let verified = match (token, &resource.verifier) {
        (None, _) => Err(AuthError::Missing),
        (Some(t), Some(v)) => v.verify(t).await,
        (Some(_), None) => Err(AuthError::Unavailable("no token verifier is configured".into())),
    };
    let caller = match verified {
        Ok(c) => c,
        Err(AuthError::Missing) => {
            return Err(refusal(
                StatusCode::UNAUTHORIZED,
                "Unauthorized: an access token is required".into(),
                resource.challenge(None, scope),
            ))
        }
        Err(AuthError::Invalid(why)) => {
            tracing::debug!(reason = %why, "access token refused");
            return Err(refusal(
                StatusCode::UNAUTHORIZED,
                format!("Unauthorized: {why}"),
                resource.challenge(Some(("invalid_token", &why)), scope),
            ));
        }
        Err(AuthError::Unavailable(why)) => {
            tracing::warn!(reason = %why, "cannot check access tokens");
            let mut r = refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("Service Unavailable: cannot check the access token now ({why})"),
                resource.challenge(None, scope),
            );
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            return Err(r);
        }
    };
    let missing = ProtectedResource::missing(&caller, scope);
    if !missing.is_empty() {
        let needed: Vec<String> = missing.into_iter().cloned().collect();
        return Err(refusal(
            StatusCode::FORBIDDEN,
            format!("Forbidden: the token lacks the scope {}", needed.join(" ")),
            resource.challenge(Some(("insufficient_scope", "the token lacks a required scope")), scope),
        ));
    }
    Ok(Authenticated { subject: caller.subject, scopes: Some(caller.scopes) })
}

/// The answer to a call whose component needs scopes the token lacks: `403` with the
/// challenge naming them (the error's `data.requiredScopes`).
pub(crate) fn forbidden_status(shared: &Shared, error: &ErrorObject) -> Option<(StatusCode, HeaderValue)> {
    if error.code != ErrorCode::INSUFFICIENT_SCOPE {
        return None;
    }
    let resource = shared.protected.as_ref()?;
    let needed: Vec<String> = error
        .data
        .as_ref()
        .and_then(|d| d.get("requiredScopes"))
        .and_then(|s| serde_json::from_value(s.clone()).ok())
        .unwrap_or_default();
    let challenge = resource.challenge(Some(("insufficient_scope", "the token lacks a scope this needs")), &needed);
    Some((StatusCode::FORBIDDEN, HeaderValue::from_str(&challenge).ok()?))
}

/// Routes serving the Protected Resource Metadata (RFC 9728), when the server has one.
pub(crate) fn metadata_routes<S: Clone + Send + Sync + 'static>(router: Router<S>, shared: &Shared) -> Router<S> {
    let Some(resource) = &shared.protected else { return router };
    let document = resource.metadata();
    resource.metadata_paths().into_iter().fold(router, |r, path| {
        let document = document.clone();
        r.route(&path, get(move || async move { Json(document) }))
    })
}
