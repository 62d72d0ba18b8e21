//! `ferry serve --oauth-issuer .. --oauth-audience ..`: the binary as an OAuth protected
//! resource, checking JWTs against an issuer's keys (here a small issuer of the test's own).

mod support;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{encode, EncodingKey, Header};
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::{json, Value};
use support::serve;

const AUDIENCE: &str = "https://mcp.example.test/mcp";

/// An issuer publishing one Ed25519 key at `/jwks`; returns (its URL, a token signer).
async fn issuer() -> (String, impl Fn(&str, &str) -> String) {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap().as_ref().to_vec();
    let public = Ed25519KeyPair::from_pkcs8(&pkcs8).unwrap().public_key().as_ref().to_vec();
    let jwk = json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "kid": "k", "x": URL_SAFE_NO_PAD.encode(public)});
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/jwks", axum::routing::get(move || async move { axum::Json(json!({"keys": [jwk]})) }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let iss = url.clone();
    let sign = move |sub: &str, scope: &str| {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let claims = json!({"iss": iss, "aud": AUDIENCE, "sub": sub, "scope": scope, "exp": now + 300});
        let mut header = Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some("k".into());
        encode(&header, &claims, &EncodingKey::from_ed_der(&pkcs8)).unwrap()
    };
    (url, sign)
}

async fn ping(url: &str, token: Option<&str>) -> (u16, String) {
    let mut req = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/list");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}}});
    let resp = req.body(body.to_string()).send().await.unwrap();
    let challenge = resp.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (resp.status().as_u16(), challenge)
}

#[tokio::test]
async fn serve_checks_the_issuers_tokens_for_its_audience_and_scopes() {
    let (issuer, sign) = issuer().await;
    let jwks = format!("{issuer}/jwks");
    let s = serve(&[
        "--oauth-issuer",
        &issuer,
        "--oauth-audience",
        AUDIENCE,
        "--oauth-jwks-uri",
        &jwks,
        "--required-scope",
        "mcp",
    ]);
    let (status, challenge) = ping(&s.url, None).await;
    assert_eq!(status, 401);
    assert!(
        challenge.contains("resource_metadata=\"https://mcp.example.test/.well-known/oauth-protected-resource/mcp\""),
        "{challenge}"
    );
    assert_eq!(ping(&s.url, Some(&sign("alice", "mcp"))).await.0, 200);
    assert_eq!(ping(&s.url, Some(&sign("alice", "other"))).await.0, 403);
    let meta: Value = reqwest::get(s.url.replace("/mcp", "/.well-known/oauth-protected-resource/mcp"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["authorization_servers"], json!([issuer]));
    assert_eq!(meta["resource"], AUDIENCE);
}

#[test]
fn serve_refuses_an_issuer_that_is_no_url() {
    let out = std::process::Command::new(support::FERRY)
        .args(["serve", "--addr", "127.0.0.1:0", "--oauth-issuer", "login.example", "--oauth-audience", AUDIENCE])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--oauth-issuer wants an http(s) URL"));
}
