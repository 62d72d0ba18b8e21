//! Ferry as an OAuth 2.1 protected resource: metadata (RFC 9728), 401/403 challenges,
//! JWT access tokens checked against an issuer's published keys (discovered through
//! its RFC 8414 metadata, cached, refetched for an unknown `kid`), audience bound to
//! this resource, per-component scopes, and the token's subject owning its tasks.
//!
//! The issuer here is a small HTTP server of the test's own (metadata + JWKS) signing
//! with Ed25519 keys made for the run.

use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ferry_server::auth::{JwtVerifier, ProtectedResource};
use ferry_server::{Server, TaskSupport, ToolDef};
use jsonwebtoken::{encode, EncodingKey, Header};
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

struct Key {
    kid: String,
    pkcs8: Vec<u8>,
    public: Vec<u8>,
}

fn new_key(kid: &str) -> Key {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap().as_ref().to_vec();
    let public = Ed25519KeyPair::from_pkcs8(&pkcs8).unwrap().public_key().as_ref().to_vec();
    Key { kid: kid.into(), pkcs8, public }
}

impl Key {
    fn jwk(&self) -> Value {
        json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": self.kid,
            "x": URL_SAFE_NO_PAD.encode(&self.public)})
    }
    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        encode(&header, claims, &EncodingKey::from_ed_der(&self.pkcs8)).unwrap()
    }
}

/// The test's identity provider: RFC 8414 metadata and a JWKS it can change or stop.
struct Issuer {
    url: String,
    keys: Arc<std::sync::Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
    down: Arc<AtomicBool>,
}

async fn issuer(keys: Vec<Value>) -> Issuer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let keys = Arc::new(std::sync::Mutex::new(keys));
    let (fetches, down) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicBool::new(false)));
    let meta = json!({"issuer": url, "jwks_uri": format!("{url}/jwks"), "token_endpoint": format!("{url}/token")});
    let (k, f, d) = (keys.clone(), fetches.clone(), down.clone());
    let app =
        Router::new().route("/.well-known/oauth-authorization-server", get(move || async move { Json(meta) })).route(
            "/jwks",
            get(move || async move {
                f.fetch_add(1, Ordering::SeqCst);
                if d.load(Ordering::SeqCst) {
                    return Err(axum::http::StatusCode::BAD_GATEWAY);
                }
                Ok(Json(json!({"keys": *k.lock().unwrap()})))
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Issuer { url, keys, fetches, down }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// A protected server at `/mcp` of a free port: (its resource URL).
async fn protected(issuer: &Issuer) -> String {
    protected_refreshing(issuer, std::time::Duration::from_secs(30)).await
}

/// [`protected`] whose verifier fetches keys again at most every `min_refresh`.
async fn protected_refreshing(issuer: &Issuer, min_refresh: std::time::Duration) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let resource = format!("http://{}/mcp", listener.local_addr().unwrap());
    let verifier = JwtVerifier::new(&issuer.url, &resource).leeway(std::time::Duration::ZERO).min_refresh(min_refresh);
    let server = Server::builder("protected", "1")
        .protect(
            ProtectedResource::new(&resource, &issuer.url)
                .verifier(verifier)
                .scopes_supported(["mcp", "reports:read"])
                .required_scopes(["mcp"]),
        )
        .tool(ToolDef::new("whoami").handler(|cx: ferry_server::Context| async move {
            format!("{} {:?}", cx.auth_subject().unwrap_or("-"), cx.auth_scopes().map(|s| s.len()))
        }))
        .tool(
            ToolDef::new("report")
                .scopes(["reports:read"])
                .task_support(TaskSupport::Optional)
                .handler(|| async { "the report" }),
        )
        .tool(audit_tool())
        .build()
        .unwrap();
    tokio::spawn(async move { server.serve_listener(listener).await });
    resource
}

/// Only for administrators.
#[ferry_server::tool(scopes = ["admin"])]
async fn audit() -> String {
    "audited".into()
}

fn claims(iss: &str, aud: &str, sub: &str, scope: &str) -> Value {
    json!({"iss": iss, "aud": aud, "sub": sub, "scope": scope, "iat": now(), "exp": now() + 300})
}

/// A stateless call with a token; (status, WWW-Authenticate, body).
async fn call(url: &str, token: Option<&str>, tool: &str, extra: Value) -> (u16, String, Value) {
    let mut params = json!({"name": tool, "arguments": {}, "_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {"extensions": {"io.modelcontextprotocol/tasks": {}}}}});
    for (k, v) in extra.as_object().unwrap() {
        params[k] = v.clone();
    }
    let (method, name) = if tool == "-list" { ("tools/list", None) } else { ("tools/call", Some(tool)) };
    if tool == "-list" {
        params.as_object_mut().unwrap().remove("name");
    }
    let mut req = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method);
    if let Some(n) = name {
        req = req.header("mcp-name", n);
    }
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let resp = req.body(body.to_string()).send().await.unwrap();
    let status = resp.status().as_u16();
    let challenge = resp.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (status, challenge, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn metadata_is_served_and_named_in_the_challenge() {
    let idp = issuer(vec![]).await;
    let url = protected(&idp).await;
    let origin = url.trim_end_matches("/mcp");
    for path in ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"] {
        let meta: Value = reqwest::get(format!("{origin}{path}")).await.unwrap().json().await.unwrap();
        assert_eq!(meta["resource"], url.as_str(), "{path}: {meta}");
        assert_eq!(meta["authorization_servers"], json!([idp.url]));
        assert_eq!(meta["scopes_supported"], json!(["mcp", "reports:read"]));
        assert_eq!(meta["bearer_methods_supported"], json!(["header"]));
    }
    let (status, challenge, _) = call(&url, None, "whoami", json!({})).await;
    assert_eq!(status, 401);
    assert_eq!(
        challenge,
        format!("Bearer resource_metadata=\"{origin}/.well-known/oauth-protected-resource/mcp\", scope=\"mcp\"")
    );
}

#[tokio::test]
async fn a_good_token_names_the_caller_and_every_bad_one_is_refused() {
    let key = new_key("k1");
    let idp = issuer(vec![key.jwk()]).await;
    let url = protected(&idp).await;
    let good = key.sign(&claims(&idp.url, &url, "alice", "mcp reports:read"));
    let (status, _, body) = call(&url, Some(&good), "whoami", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["content"][0]["text"], "alice Some(2)");

    let other_key = new_key("k1"); // same kid, other key: the signature does not verify
    let unknown_kid = new_key("k9");
    let mut expired = claims(&idp.url, &url, "alice", "mcp");
    expired["exp"] = json!(now() - 10);
    let mut not_yet = claims(&idp.url, &url, "alice", "mcp");
    not_yet["nbf"] = json!(now() + 600);
    let mut no_subject = claims(&idp.url, &url, "alice", "mcp");
    no_subject.as_object_mut().unwrap().remove("sub");
    let hs256 =
        encode(&Header::default(), &claims(&idp.url, &url, "a", "mcp"), &EncodingKey::from_secret(b"k")).unwrap();
    let bad = [
        ("another resource's token", key.sign(&claims(&idp.url, "http://elsewhere/mcp", "alice", "mcp"))),
        ("another issuer", key.sign(&claims("http://evil", &url, "alice", "mcp"))),
        ("expired", key.sign(&expired)),
        ("not yet valid", key.sign(&not_yet)),
        ("no subject", key.sign(&no_subject)),
        ("bad signature", other_key.sign(&claims(&idp.url, &url, "alice", "mcp"))),
        ("unknown kid", unknown_kid.sign(&claims(&idp.url, &url, "alice", "mcp"))),
        ("symmetric", hs256),
        ("garbage", "not.a.jwt".to_string()),
    ];
    for (what, token) in bad {
        let (status, challenge, _) = call(&url, Some(&token), "whoami", json!({})).await;
        assert_eq!(status, 401, "{what}");
        assert!(challenge.contains("error=\"invalid_token\""), "{what}: {challenge}");
        assert!(challenge.contains("resource_metadata="), "{what}: {challenge}");
    }
    // A token without the server-wide scope: 403, naming it.
    let (status, challenge, _) =
        call(&url, Some(&key.sign(&claims(&idp.url, &url, "bob", "other"))), "whoami", json!({})).await;
    assert_eq!(status, 403);
    assert!(challenge.contains("error=\"insufficient_scope\"") && challenge.contains("scope=\"mcp\""), "{challenge}");
}

#[tokio::test]
async fn components_need_their_scopes_and_lists_show_only_what_the_token_allows() {
    let key = new_key("k1");
    let idp = issuer(vec![key.jwk()]).await;
    let url = protected(&idp).await;
    let basic = key.sign(&claims(&idp.url, &url, "carol", "mcp"));
    let full = key.sign(&claims(&idp.url, &url, "carol", "mcp reports:read"));
    let names = |body: &Value| -> Vec<String> {
        body["result"]["tools"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(names(&call(&url, Some(&basic), "-list", json!({})).await.2), ["whoami"]);
    assert_eq!(names(&call(&url, Some(&full), "-list", json!({})).await.2), ["whoami", "report"]);
    let admin = key.sign(&claims(&idp.url, &url, "root", "mcp admin"));
    assert_eq!(names(&call(&url, Some(&admin), "-list", json!({})).await.2), ["whoami", "audit"]);
    assert_eq!(call(&url, Some(&admin), "audit", json!({})).await.2["result"]["content"][0]["text"], "audited");
    let (status, challenge, body) = call(&url, Some(&basic), "report", json!({})).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], -32030, "{body}");
    assert_eq!(body["error"]["data"]["requiredScopes"], json!(["reports:read"]));
    assert!(challenge.contains("insufficient_scope") && challenge.contains("scope=\"reports:read\""), "{challenge}");
    // Not even a task is created without it; with it, the task is the subject's alone.
    let task = json!({"task": {}});
    assert_eq!(call(&url, Some(&basic), "report", task.clone()).await.0, 403);
    let (status, _, created) = call(&url, Some(&full), "report", task).await;
    assert_eq!(status, 200, "{created}");
    assert!(created["result"]["taskId"].is_string() || created["result"]["content"].is_array(), "{created}");
}

#[tokio::test]
async fn keys_are_fetched_once_refetched_for_a_new_kid_and_an_unreachable_issuer_is_503() {
    let (k1, k2, k3) = (new_key("k1"), new_key("k2"), new_key("k3"));
    let idp = issuer(vec![k1.jwk()]).await;
    let token = |k: &Key, url: &str| k.sign(&claims(&idp.url, url, "d", "mcp"));
    let url = protected_refreshing(&idp, std::time::Duration::ZERO).await;
    for _ in 0..3 {
        assert_eq!(call(&url, Some(&token(&k1, &url)), "whoami", json!({})).await.0, 200);
    }
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 1, "cached");
    // The issuer rotates in a new key: the first token naming it brings one fetch.
    idp.keys.lock().unwrap().push(k2.jwk());
    assert_eq!(call(&url, Some(&token(&k2, &url)), "whoami", json!({})).await.0, 200);
    assert_eq!(idp.fetches.load(Ordering::SeqCst), 2);

    // Within the minimum refresh interval (30 s by default) a kid the issuer never had
    // is refused without asking the issuer again: unknown kids cannot make it hammer it.
    let url = protected(&idp).await;
    assert_eq!(call(&url, Some(&token(&k1, &url)), "whoami", json!({})).await.0, 200);
    let before = idp.fetches.load(Ordering::SeqCst);
    for _ in 0..3 {
        assert_eq!(call(&url, Some(&token(&k3, &url)), "whoami", json!({})).await.0, 401);
    }
    assert_eq!(idp.fetches.load(Ordering::SeqCst), before);

    // A server whose issuer cannot be reached answers 503 (try again), not 401.
    idp.down.store(true, Ordering::SeqCst);
    let url = protected(&idp).await;
    let (status, _, body) = call(&url, Some(&token(&k1, &url)), "whoami", json!({})).await;
    assert_eq!(status, 503, "{body}");
}
