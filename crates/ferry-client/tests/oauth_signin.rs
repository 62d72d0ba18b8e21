//! Signing in against a real identity provider (oidc-provider, `interop/oidc/`): a Ferry
//! server protected by it answers 401 with its metadata; the client discovers the
//! provider, registers itself, runs the authorization code grant with PKCE through a
//! loopback redirect receiver (the "browser" here follows the provider's redirects; its
//! sign-in page signs the test account in), gets a JWT for exactly this server, refreshes
//! it, steps up to more scopes on a 403, and signs machines in with client credentials.
//!
//! Needs Node.js >= 20 and npm (the first run installs the pinned provider).

#[path = "support/oidc.rs"]
mod oidc;

use ferry_client::oauth::{LoopbackAuthorizer, OAuthConfig, OAuthError, OAuthTokens, TokenStore};
use ferry_client::{Client, ClientError, ClientOptions, Mode};
use serde_json::json;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Tokens kept in memory.
#[derive(Clone, Default)]
struct Memory(Arc<Mutex<HashMap<String, OAuthTokens>>>);

impl TokenStore for Memory {
    fn load(&self, server: &str) -> Option<OAuthTokens> {
        self.0.lock().unwrap().get(server).cloned()
    }
    fn save(&self, server: &str, tokens: &OAuthTokens) -> Result<(), OAuthError> {
        self.0.lock().unwrap().insert(server.to_string(), tokens.clone());
        Ok(())
    }
}

/// An interactive config whose "browser" follows the provider's redirects; counts sign-ins.
fn interactive(store: &Memory, sign_ins: &Arc<AtomicUsize>) -> OAuthConfig {
    let count = sign_ins.clone();
    let authorizer = LoopbackAuthorizer::new(move |url| {
        count.fetch_add(1, Ordering::SeqCst);
        async move {
            oidc::browse(url).await;
        }
    })
    .unwrap();
    OAuthConfig::interactive(authorizer).client_name("ferry-test").store(store.clone())
}

async fn whoami(client: &Client) -> String {
    let r = client.call_tool("whoami", json!({})).await.unwrap();
    r.content[0].as_text().unwrap().to_string()
}

#[tokio::test]
async fn a_person_signs_in_with_pkce_and_the_token_is_refreshed_and_reused() {
    let Some(idp) = oidc::start() else { return };
    let url = oidc::protected(&idp.url).await;
    let (store, sign_ins) = (Memory::default(), Arc::new(AtomicUsize::new(0)));

    // Both eras: the first request's 401 starts the sign-in.
    for mode in [Mode::Modern, Mode::Handshake] {
        let options = ClientOptions::default().mode(mode).oauth(interactive(&store, &sign_ins));
        let client = Client::connect_http(&url, options).await.unwrap();
        assert_eq!(whoami(&client).await, "alice mcp", "{mode:?}");
    }
    assert_eq!(sign_ins.load(Ordering::SeqCst), 1, "the second connection used the stored token");
    let tokens = store.load(&url).unwrap();
    assert_eq!(tokens.resource, url);
    assert_eq!(tokens.issuer, idp.url);
    assert!(tokens.refresh_token.is_some() && tokens.expires_at.is_some(), "{tokens:?}");
    // The access token is a JWT for exactly this server (RFC 8707).
    let payload = tokens.access_token.split('.').nth(1).unwrap();
    use base64::Engine;
    let claims: serde_json::Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!(claims["aud"], url.as_str());
    assert_eq!(claims["sub"], "alice");

    // A token the server refuses is refreshed, without the user.
    let mut broken = tokens.clone();
    broken.access_token = "revoked".into();
    store.save(&url, &broken).unwrap();
    let client = Client::connect_http(&url, ClientOptions::default().oauth(interactive(&store, &sign_ins))).await;
    assert_eq!(whoami(&client.unwrap()).await, "alice mcp");
    // So is one that expired, before it is sent.
    let mut expired = store.load(&url).unwrap();
    assert_ne!(expired.access_token, "revoked");
    let before = expired.access_token.clone();
    expired.expires_at = Some(1);
    store.save(&url, &expired).unwrap();
    let client = Client::connect_http(&url, ClientOptions::default().oauth(interactive(&store, &sign_ins))).await;
    assert_eq!(whoami(&client.unwrap()).await, "alice mcp");
    assert_ne!(store.load(&url).unwrap().access_token, before);
    assert_eq!(sign_ins.load(Ordering::SeqCst), 1, "refreshes need no sign-in");

    // A tool needing a scope the token lacks: 403 insufficient_scope, and the client signs
    // in again for the scopes held plus the one named (step-up), then the call goes through.
    let client = Client::connect_http(&url, ClientOptions::default().oauth(interactive(&store, &sign_ins))).await;
    let client = client.unwrap();
    let report = client.call_tool("report", json!({})).await.unwrap();
    assert_eq!(report.content[0].as_text(), Some("the report"));
    assert_eq!(sign_ins.load(Ordering::SeqCst), 2);
    assert_eq!(whoami(&client).await, "alice mcp,reports:read");

    // Stored tokens only, and none good: a clear refusal naming the provider.
    let mut dead = store.load(&url).unwrap();
    (dead.access_token, dead.refresh_token) = ("revoked".into(), None);
    let empty = Memory::default();
    empty.save(&url, &dead).unwrap();
    let options = ClientOptions::default().oauth(OAuthConfig::stored_only().store(empty));
    match Client::connect_http(&url, options).await {
        Err(ClientError::Unauthorized(m)) => assert!(m.contains("sign-in needed") && m.contains(&idp.url), "{m}"),
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn machines_sign_in_with_client_credentials() {
    let Some(idp) = oidc::start() else { return };
    let url = oidc::protected(&idp.url).await;
    let options = ClientOptions::default().oauth(OAuthConfig::client_credentials("machine", "machine-secret"));
    let client = Client::connect_http(&url, options).await.unwrap();
    assert_eq!(whoami(&client).await, "machine mcp");
    assert_eq!(client.call_tool("report", json!({})).await.unwrap().content[0].as_text(), Some("the report"));
    assert_eq!(whoami(&client).await, "machine mcp,reports:read", "stepped up");

    // A wrong secret: the provider's refusal, said.
    let options = ClientOptions::default().oauth(OAuthConfig::client_credentials("machine", "wrong"));
    match Client::connect_http(&url, options).await {
        Err(ClientError::Unauthorized(m)) => assert!(m.contains("invalid_client"), "{m}"),
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }
}
