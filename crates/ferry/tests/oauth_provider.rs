//! `ferry serve --oauth-issuer` against a real identity provider (oidc-provider, pinned in
//! `interop/oidc/`): its JWT access tokens pass, and each kind of bad token is refused
//! with the status and challenge a client can act on.
//!
//! Needs Node.js >= 20 and npm (the first run installs the pinned provider).

#[path = "../../ferry-client/tests/support/oidc.rs"]
mod oidc;
mod support;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use support::serve;

const AUDIENCE: &str = "https://mcp.example.test/mcp";

/// `tools/list` with a token: (status, WWW-Authenticate, Retry-After).
async fn list(url: &str, token: &str) -> (u16, String, String) {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}}});
    let resp = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/list")
        .bearer_auth(token)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let header = |name: &str| resp.headers().get(name).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (resp.status().as_u16(), header("www-authenticate"), header("retry-after"))
}

/// `token` with one part of it (0: header, 1: claims) changed by `edit`, signature kept.
fn tampered(token: &str, part: usize, edit: impl Fn(&mut Value)) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let mut value: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[part]).unwrap()).unwrap();
    edit(&mut value);
    parts[part] = URL_SAFE_NO_PAD.encode(value.to_string());
    parts.join(".")
}

#[tokio::test]
async fn serve_accepts_the_providers_tokens_and_refuses_every_bad_one() {
    let Some(mut idp) = oidc::start() else { return };
    let issuer = idp.url.clone();
    let args = ["--oauth-issuer", &issuer, "--oauth-audience", AUDIENCE, "--required-scope", "mcp"];
    let s = serve(&args);
    let good = idp.machine_token("machine", AUDIENCE, "mcp reports:read").await.unwrap();
    assert_eq!(list(&s.url, &good).await.0, 200);

    // Issued by the provider, but refused.
    let elsewhere = idp.machine_token("machine", "https://other.example.test/mcp", "mcp").await.unwrap();
    idp.set_clock(-3600).await;
    let expired = idp.machine_token("machine", AUDIENCE, "mcp").await.unwrap();
    idp.set_clock(0).await;
    let bad = [
        ("another resource's token", elsewhere),
        ("expired an hour ago", expired),
        ("bad signature", tampered(&good, 1, |c| c["sub"] = json!("mallory"))),
        ("unknown kid", tampered(&good, 0, |h| h["kid"] = json!("no-such-key"))),
    ];
    for (what, token) in bad {
        let (status, challenge, _) = list(&s.url, &token).await;
        assert_eq!(status, 401, "{what}");
        assert!(challenge.starts_with("Bearer resource_metadata=\""), "{what}: {challenge}");
        assert!(challenge.contains("error=\"invalid_token\""), "{what}: {challenge}");
    }
    // A token of a client the provider does not grant `mcp`: 403, naming the scope.
    assert!(idp.machine_token("outsider", AUDIENCE, "mcp").await.is_err(), "the provider grants no scope it lacks");
    let outsider = idp.machine_token("outsider", AUDIENCE, "other").await.unwrap();
    let (status, challenge, _) = list(&s.url, &outsider).await;
    assert_eq!(status, 403);
    assert!(challenge.contains("error=\"insufficient_scope\"") && challenge.contains("scope=\"mcp\""), "{challenge}");

    // The provider down: a server that has its keys goes on; one that must fetch them answers 503.
    idp.stop();
    assert_eq!(list(&s.url, &good).await.0, 200);
    let fresh = serve(&args);
    let (status, challenge, retry) = list(&fresh.url, &good).await;
    assert_eq!(status, 503);
    assert!(challenge.starts_with("Bearer resource_metadata="), "{challenge}");
    assert_eq!(retry, "5");
}
