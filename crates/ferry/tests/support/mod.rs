//! Shared by the `ferry` integration tests: running `ferry serve` as a real process.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// The `ferry` binary under test.
pub const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

/// A `ferry serve` process on a free port; killed when dropped.
pub struct Served {
    /// The process.
    pub child: Child,
    /// Its MCP endpoint, `http://127.0.0.1:PORT/mcp`.
    pub url: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `ferry serve --addr 127.0.0.1:0 EXTRA...`, reading the bound address from its log
/// (no port is picked beforehand, so parallel tests cannot collide).
pub fn serve(extra: &[&str]) -> Served {
    let mut child = Command::new(FERRY)
        .args(["serve", "--addr", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ferry serve starts");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let url = loop {
        let line = lines.next().expect("ferry serve exited before listening").expect("log line");
        if let Some(rest) = line.split("MCP at ").nth(1) {
            break rest.split(',').next().unwrap_or_default().to_string();
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Served { child, url }
}

/// Whether an interop peer's runtime (`node`, `python3`) runs here. Without it a test
/// says so and passes, except in CI (`CI` set), where it must run: then it fails.
pub fn peer_available(program: &str, why: &str) -> bool {
    if std::process::Command::new(program).arg("--version").output().is_ok() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("interop test {why}");
    }
    eprintln!("SKIPPED interop test: it {why}");
    false
}
