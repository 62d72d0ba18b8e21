//! A real identity provider for tests: oidc-provider (pinned in
//! `interop/oidc/package-lock.json`), started by `interop/oidc/start.sh` on a free port,
//! and a "browser" that follows its redirects. Shared by the tests of ferry-client and
//! ferry (included with `#[path]`).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// A running provider; stopped when dropped.
pub struct Provider {
    child: Child,
    /// Its issuer URL, `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Provider {
    /// Stop it (its keys then cannot be fetched any more).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// A client-credentials access token of `client` for `resource`, or the error answer.
    pub async fn machine_token(&self, client: &str, resource: &str, scope: &str) -> Result<String, String> {
        let secret = format!("{client}-secret");
        let resp = reqwest::Client::new()
            .post(format!("{}/token", self.url))
            .basic_auth(client, Some(secret))
            .form(&[("grant_type", "client_credentials"), ("resource", resource), ("scope", scope)])
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let body: serde_json::Value = resp.json().await.map_err(|e| e.to_string())?;
        body["access_token"].as_str().map(str::to_string).ok_or_else(|| body.to_string())
    }

    /// Move the provider's clock by `secs` (0: back to the real time).
    pub async fn set_clock(&self, secs: i64) {
        let url = format!("{}/test/clock?offset={secs}", self.url);
        let resp = reqwest::Client::new().post(url).send().await.expect("the provider answers");
        assert!(resp.status().is_success());
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Start a provider, or `None` (with a message) where npm is missing outside CI.
pub fn start() -> Option<Provider> {
    if Command::new("npm").arg("--version").output().is_err() {
        let why = "needs Node.js >= 20 and npm on PATH (apt-get install nodejs npm)";
        if std::env::var_os("CI").is_some() {
            panic!("identity provider test {why}");
        }
        eprintln!("SKIPPED identity provider test: it {why}");
        return None;
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop/oidc/start.sh");
    let mut child = Command::new("bash")
        .arg(script)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("interop/oidc/start.sh runs");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("the provider's first line");
    let url = line.trim().strip_prefix("OIDC provider at ").unwrap_or_else(|| panic!("not started: {line:?}"));
    Some(Provider { url: url.to_string(), child })
}

/// A browser without a person: GET `url` and follow redirects (keeping cookies) until a
/// page answers; returns the last URL asked for. The provider's sign-in page signs the
/// test account in and consents at once, so this ends at the client's redirect URI.
pub async fn browse(url: String) -> String {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut cookies = BTreeMap::new();
    let mut at = reqwest::Url::parse(&url).expect("a URL");
    for _ in 0..20 {
        let jar: Vec<String> = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let resp = http.get(at.clone()).header("cookie", jar.join("; ")).send().await.expect("the page answers");
        for c in resp.headers().get_all("set-cookie") {
            let pair = c.to_str().unwrap().split(';').next().unwrap_or_default();
            if let Some((k, v)) = pair.split_once('=') {
                cookies.insert(k.trim().to_string(), v.to_string());
            }
        }
        if !resp.status().is_redirection() {
            assert!(resp.status().is_success(), "{at}: {} {}", resp.status(), resp.text().await.unwrap_or_default());
            return at.to_string();
        }
        let location = resp.headers().get("location").expect("a redirect's location").to_str().unwrap();
        at = at.join(location).expect("a location URL");
    }
    panic!("more than 20 redirects from {url}");
}

/// A Ferry server in this process at `/mcp` of a free port, trusting `issuer` and
/// requiring the scope `mcp`; its tool `whoami` answers the subject and scopes, `report`
/// needs `reports:read` too. Its URL.
pub async fn protected(issuer: &str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let resource = format!("http://{}/mcp", listener.local_addr().unwrap());
    let server = ferry_server::Server::builder("protected", "1")
        .protect(
            ferry_server::auth::ProtectedResource::new(&resource, issuer)
                .verifier(ferry_server::auth::JwtVerifier::new(issuer, &resource))
                .required_scopes(["mcp"]),
        )
        .tool(ferry_server::ToolDef::new("whoami").handler(|cx: ferry_server::Context| async move {
            let scopes: Vec<String> = cx.auth_scopes().map(|s| s.iter().cloned().collect()).unwrap_or_default();
            format!("{} {}", cx.auth_subject().unwrap_or("-"), scopes.join(","))
        }))
        .tool(ferry_server::ToolDef::new("report").scopes(["reports:read"]).handler(|| async { "the report" }))
        .build()
        .unwrap();
    tokio::spawn(async move { server.serve_listener(listener).await });
    resource
}
