//! Interoperability: the official TypeScript SDK client (1.32.2, pinned in
//! `interop/package-lock.json`) runs task-augmented calls against `ferry serve`.
//!
//! Needs Node.js >= 20 and npm (the first run installs the pinned SDK into
//! `interop/node_modules` with `npm ci`).

mod support;

use std::path::PathBuf;
use std::process::Command;
use support::{peer_available, serve};

#[test]
fn typescript_sdk_client_runs_tasks_against_ferry() {
    if peer_available("node", "needs Node.js >= 20 and npm on PATH (apt-get install nodejs npm)") {
        run_interop();
    }
}

fn run_interop() {
    let server = serve(&[]);
    let url = server.url.clone();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop/run.sh");
    let out = Command::new("bash").arg(&script).arg(&url).output().expect("interop/run.sh runs");
    drop(server);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "interop checks failed:\n{stdout}\n{stderr}");
    let summary = stdout.lines().last().unwrap_or_default();
    assert!(summary.ends_with(", 0 failed") && !summary.starts_with("0 passed"), "{stdout}");
}
