//! Interoperability: the official Python SDK client (`mcp` 2.3.0, pinned in
//! `interop/python/requirements.txt`) calls tools (with progress), prompts,
//! resource templates and completions on `ferry serve`, over Streamable HTTP and
//! stdio, in both protocol eras.
//!
//! Needs Python >= 3.10 with `venv` (the first run installs the SDK into
//! `target/interop-python-venv`).

mod support;

use std::path::PathBuf;
use std::process::Command;
use support::{peer_available, serve, FERRY};

#[test]
fn python_sdk_client_works_against_ferry() {
    if !peer_available("python3", "needs Python >= 3.10 with venv on PATH (apt-get install python3 python3-venv)") {
        return;
    }
    let server = serve(&[]);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop/python/run.sh");
    let out = Command::new("bash")
        .arg(&script)
        .args(["check_client.py", server.url.as_str(), FERRY])
        .output()
        .expect("interop/python/run.sh runs");
    drop(server);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "Python interop checks failed:\n{stdout}\n{stderr}");
    let summary = stdout.lines().last().unwrap_or_default();
    assert!(summary.ends_with(", 0 failed") && !summary.starts_with("0 passed"), "{stdout}\n{stderr}");
}
