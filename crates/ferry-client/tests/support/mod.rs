//! Shared by the client's tests against foreign servers (also by `interop/rmcp`'s tests).
#![allow(dead_code)]

use ferry_client::{CallToolResult, TaskHandle, TaskStatus};
use futures::StreamExt;
use std::process::Command;

/// The first text of a tool result ("" when there is none).
pub fn text(r: &CallToolResult) -> &str {
    r.content.first().and_then(|c| c.as_text()).unwrap_or_default()
}

/// A task's states until it ends, and how many of them carried a step of progress
/// (a status message starting with "step ").
pub async fn follow(task: &TaskHandle<CallToolResult>) -> (TaskStatus, usize) {
    let states: Vec<_> = task.status().map(|s| s.unwrap()).collect().await;
    let steps = states.iter().filter(|s| s.status_message.as_deref().is_some_and(|m| m.starts_with("step "))).count();
    (states.last().expect("at least one state").status, steps)
}

/// Python is there; without it (outside CI, where it must run) say so instead of failing.
pub fn python() -> bool {
    if Command::new("python3").arg("--version").output().is_ok() {
        return true;
    }
    let why = "needs Python >= 3.10 with venv on PATH (apt-get install python3 python3-venv)";
    if std::env::var_os("CI").is_some() {
        panic!("interop test {why}");
    }
    eprintln!("SKIPPED interop test: it {why}");
    false
}
