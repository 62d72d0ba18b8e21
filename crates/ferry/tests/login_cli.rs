//! `ferry login URL` against a real identity provider (oidc-provider, `interop/oidc/`):
//! the printed URL is followed by a "browser" (the provider's test sign-in page signs
//! `alice` in), the redirect comes back to the loopback receiver, the tokens land in
//! the config directory (0600), later commands use them, and `ferry logout` revokes and
//! forgets them; machines sign in with `FERRY_CLIENT_ID` / `FERRY_CLIENT_SECRET`.
//!
//! Needs Node.js >= 20 and npm (the first run installs the pinned provider).

#[path = "../../ferry-client/tests/support/oidc.rs"]
mod oidc;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use tokio::io::{AsyncBufReadExt, BufReader};

fn config_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ferry-login-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// `ferry ARGS` with the config directory `dir` and `env`.
async fn ferry(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = tokio::process::Command::new(support::FERRY);
    cmd.args(args).env("FERRY_CONFIG_DIR", dir).env_remove("FERRY_CLIENT_ID").env_remove("FERRY_CLIENT_SECRET");
    cmd.envs(env.iter().copied()).output().await.unwrap()
}

#[tokio::test]
async fn login_stores_tokens_that_later_commands_use() {
    let Some(idp) = oidc::start() else { return };
    let url = oidc::protected(&idp.url).await;
    let dir = config_dir("person");

    // Before signing in: refused, with the way out.
    let out = ferry(&dir, &["call", &url, "whoami"], &[]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("sign in with: ferry login {url}")), "{stderr}");

    let mut login = tokio::process::Command::new(support::FERRY)
        .args(["login", &url, "--no-browser"])
        .env("FERRY_CONFIG_DIR", &dir)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(login.stderr.take().unwrap()).lines();
    let mut said = Vec::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        said.push(line.clone());
        if let Some(sign_in) = line.trim().strip_prefix("http") {
            oidc::browse(format!("http{sign_in}")).await;
        }
    }
    assert!(login.wait().await.unwrap().success(), "{said:?}");
    assert!(said.last().unwrap().starts_with(&format!("Signed in to {url} with {}", idp.url)), "{said:?}");

    let file = dir.join("tokens.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
    }
    let stored: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(stored[&url]["resource"], url.as_str());
    assert!(stored[&url]["refresh_token"].is_string());
    let stored_client = stored[&url]["client_id"].clone();

    let out = ferry(&dir, &["call", &url, "whoami"], &[]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "alice mcp");

    // Logging out revokes the grant at the provider and forgets the tokens.
    let refresh = stored[&url]["refresh_token"].as_str().unwrap().to_string();
    let out = ferry(&dir, &["logout", &url], &[]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("tokens revoked and forgotten"), "{said}");
    let stored: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert!(stored.get(&url).is_none(), "{stored}");
    let client_id = stored_client.as_str().unwrap();
    let form = [("grant_type", "refresh_token"), ("refresh_token", &refresh), ("client_id", client_id)];
    let resp = reqwest::Client::new().post(format!("{}/token", idp.url)).form(&form).send().await.unwrap();
    assert_eq!(resp.status(), 400, "the refresh token no longer works");
    let out = ferry(&dir, &["call", &url, "whoami"], &[]).await;
    assert_eq!(out.status.code(), Some(1));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn machines_sign_in_with_client_credentials_from_the_environment() {
    let Some(idp) = oidc::start() else { return };
    let url = oidc::protected(&idp.url).await;
    let dir = config_dir("machine");
    let env = [("FERRY_CLIENT_ID", "machine"), ("FERRY_CLIENT_SECRET", "machine-secret")];
    let out = ferry(&dir, &["call", &url, "whoami"], &env).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "machine mcp");

    let out = ferry(&dir, &["login", &url, "--client-credentials"], &env).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dir.join("tokens.json").exists());
    let out = ferry(&dir, &["login", &url, "--client-credentials"], &[]).await;
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));

    // A server that asks for no sign-in: said so.
    let open = support::serve(&[]);
    let out = ferry(&dir, &["login", &open.url, "--no-browser"], &[]).await;
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("publishes no protected resource metadata"), "{said}");
    let _ = std::fs::remove_dir_all(&dir);
}
