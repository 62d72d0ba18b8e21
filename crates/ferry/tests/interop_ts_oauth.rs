//! Interoperability: the TypeScript SDK client (1.32.2, pinned in
//! `interop/package-lock.json`) completes its OAuth flow against a Ferry server protected
//! by a real identity provider (oidc-provider, `interop/oidc/`): discovery from Ferry's
//! 401 and metadata, dynamic registration, PKCE with the `resource` parameter, a call as
//! the signed-in user, and a refresh when Ferry refuses a token.
//!
//! Needs Node.js >= 20 and npm (the first run installs both pinned packages).

#[path = "../../ferry-client/tests/support/oidc.rs"]
mod oidc;
mod support;

use std::path::PathBuf;

#[tokio::test]
async fn typescript_sdk_client_signs_in_to_ferry() {
    let Some(idp) = oidc::start() else { return };
    let url = oidc::protected(&idp.url).await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop/oidc/ts-oauth.sh");
    let out = tokio::process::Command::new("bash").arg(&script).arg(&url).output().await.expect("ts-oauth.sh runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the TypeScript SDK's sign-in failed:\n{stdout}\n{stderr}");
    let summary = stdout.lines().last().unwrap_or_default();
    assert!(summary.ends_with(", 0 failed") && !summary.starts_with("0 passed"), "{stdout}");
}
