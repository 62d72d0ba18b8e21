//! Shared by the `ferry` integration tests: running `ferry serve` as a real process.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// The `ferry` binary under test.
pub const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

/// A `ferry serve` process on a free port; killed when dropped.
pub struct Served {
    /// The process.
    pub child: Child,
    /// Its MCP endpoint, `http://127.0.0.1:PORT/mcp`.
    pub url: String,
    /// Every line it wrote to stderr so far.
    log: Arc<Mutex<Vec<String>>>,
    reader: Option<JoinHandle<()>>,
}

impl Served {
    /// The lines it wrote to stderr so far.
    pub fn logged(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// What follows `marker` on the first stderr line that has it (up to the next space),
    /// waiting for the line for up to 60 s.
    pub fn after_marker(&self, marker: &str) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let found = self.log.lock().unwrap().iter().find_map(|line| {
                line.split(marker).nth(1).map(|rest| rest.split_whitespace().next().unwrap_or_default().to_string())
            });
            if let Some(found) = found {
                return found;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no {marker:?} line in the log:\n{}",
                self.logged().join("\n")
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Stop the process and return all it logged on stderr (every line written
    /// before it was stopped: the pipe is drained to its end).
    pub fn stop(mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        std::mem::take(&mut *self.log.lock().unwrap())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A child process killed (SIGKILL) when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Proc {
    /// Send it a signal (`-TERM`, `-INT`, ...).
    pub fn signal(&self, sig: &str) {
        let _ = Command::new("kill").args([sig, &self.0.id().to_string()]).status();
    }
}

/// `ferry serve --addr 127.0.0.1:0 EXTRA...`, reading the bound address from its log
/// (no port is picked beforehand, so parallel tests cannot collide).
pub fn serve(extra: &[&str]) -> Served {
    serve_with_env(extra, &[])
}

/// [`serve`] with environment variables set (`Some`) or removed (`None`).
pub fn serve_with_env(extra: &[&str], env: &[(&str, Option<&str>)]) -> Served {
    serve_on("127.0.0.1:0", extra, env)
}

/// `ferry serve --addr ADDR EXTRA...` (a fixed address, for a process restarted on it).
pub fn serve_at(addr: &str, extra: &[&str]) -> Served {
    serve_on(addr, extra, &[])
}

fn serve_on(addr: &str, extra: &[&str], env: &[(&str, Option<&str>)]) -> Served {
    let mut cmd = Command::new(FERRY);
    for (name, value) in env {
        match value {
            Some(v) => cmd.env(name, v),
            None => cmd.env_remove(name),
        };
    }
    let mut child = cmd
        .args(["serve", "--addr", addr])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ferry serve starts");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let log = Arc::new(Mutex::new(Vec::new()));
    let url = loop {
        let line = lines.next().expect("ferry serve exited before listening").expect("log line");
        let found = line.split("MCP at ").nth(1).map(|rest| rest.split(',').next().unwrap_or_default().to_string());
        log.lock().unwrap().push(line);
        if let Some(url) = found {
            break url;
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    let sink = log.clone();
    let reader = std::thread::spawn(move || lines.map_while(Result::ok).for_each(|l| sink.lock().unwrap().push(l)));
    Served { child, url, log, reader: Some(reader) }
}

/// A TCP port free on 127.0.0.1 at this moment (for programs that must be told a port).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
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
