//! Interoperability: the FastMCP 4 client (`fastmcp` 4.1.6 with `fastmcp-tasks` 4.1.4, pinned in
//! `interop/python/requirements-fastmcp4*.txt`) against `ferry serve`: calls, task calls
//! (2026-07-28 tasks extension), progress, cancel, prompts and resources, in both eras.
//!
//! That client sends no `Mcp-Name` on `tasks/get|update|cancel`, so its tasks need
//! `--accept-missing-routing-headers`; by default Ferry refuses them (-32020), as the spec says.
//!
//! Needs Python >= 3.10 with venv (the first run installs the pins into
//! `target/interop-python-fastmcp4-venv`).

mod support;

use std::path::PathBuf;
use std::process::Command;
use support::{peer_available, serve};

const NEEDS: &str = "needs Python >= 3.10 with venv on PATH (apt-get install python3 python3-venv)";

/// Run `check_fastmcp_client.py` against a `ferry serve` with these flags; its output.
fn run(serve_flags: &[&str], check_flags: &[&str]) -> String {
    let server = serve(serve_flags);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop/python/run.sh");
    let out = Command::new("bash")
        .arg(&script)
        .args(["--env", "fastmcp4", "check_fastmcp_client.py", server.url.as_str()])
        .args(check_flags)
        .output()
        .expect("interop/python/run.sh runs");
    drop(server);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "FastMCP client checks failed:\n{stdout}\n{stderr}");
    let summary = stdout.lines().last().unwrap_or_default();
    assert!(summary.ends_with(", 0 failed") && !summary.starts_with("0 passed"), "{stdout}\n{stderr}");
    stdout
}

#[test]
fn fastmcp_client_works_against_ferry_with_missing_routing_headers_accepted() {
    if !peer_available("python3", NEEDS) {
        return;
    }
    let out = run(&["--accept-missing-routing-headers"], &[]);
    assert!(out.contains("PASS [2026-07-28] tasks/cancel -> cancelled"), "{out}");
}

#[test]
fn fastmcp_client_tasks_are_refused_by_default() {
    if !peer_available("python3", NEEDS) {
        return;
    }
    run(&[], &["--refused"]);
}
