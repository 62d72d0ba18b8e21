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

/// The 2026-07-28 `_meta` of a raw request, declaring the tasks extension or not.
pub fn modern_meta(tasks: bool) -> serde_json::Value {
    let caps = if tasks {
        serde_json::json!({"extensions": {"io.modelcontextprotocol/tasks": {}}})
    } else {
        serde_json::json!({})
    };
    serde_json::json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": caps})
}

/// POST one raw 2026-07-28 request with exactly these routing headers (besides the content
/// headers and `MCP-Protocol-Version`); (HTTP status, the JSON-RPC message or `null`).
/// An SSE answer is read to its first JSON-RPC response.
pub async fn post_raw(
    url: &str,
    headers: &[(&str, &str)],
    method: &str,
    mut params: serde_json::Value,
    tasks: bool,
) -> (u16, serde_json::Value) {
    params["_meta"] = modern_meta(tasks);
    let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let mut req = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.body(body.to_string()).send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let json = serde_json::from_str(&text).ok().or_else(|| {
        text.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str::<serde_json::Value>(d.trim()).ok())
            .find(|m| m.get("id").is_some())
    });
    (status, json.unwrap_or(serde_json::Value::Null))
}

/// How a server answers the `tasks/*` requests of the 2026-07-28 extension, for a task of
/// `tool` with `arguments` (one that keeps running): one line per probe,
/// "probe: HTTP status, error code or resultType".
pub async fn probe_form_b(url: &str, tool: &str, arguments: serde_json::Value) -> Vec<String> {
    let call = serde_json::json!({"name": tool, "arguments": arguments});
    let (_, created) =
        post_raw(url, &[("mcp-method", "tools/call"), ("mcp-name", tool)], "tools/call", call, true).await;
    let id = created["result"]["taskId"].as_str().expect("a task").to_string();
    let get = serde_json::json!({"taskId": id});
    let outcome = |what: &str, (status, m): (u16, serde_json::Value)| {
        let code = m["error"]["code"].as_i64().map(|c| c.to_string());
        format!("{what}: {status} {}", code.unwrap_or_else(|| m["result"]["resultType"].to_string()))
    };
    let name = [("mcp-method", "tasks/get"), ("mcp-name", id.as_str())];
    let mut out = vec![outcome("get", post_raw(url, &name, "tasks/get", get.clone(), true).await)];
    let r = post_raw(url, &[("mcp-method", "tasks/get")], "tasks/get", get.clone(), true).await;
    out.push(outcome("get without Mcp-Name", r));
    let r = post_raw(url, &[("mcp-method", "tasks/get"), ("mcp-name", "other")], "tasks/get", get.clone(), true).await;
    out.push(outcome("get with another Mcp-Name", r));
    out.push(outcome("get without the extension", post_raw(url, &name, "tasks/get", get.clone(), false).await));
    let unknown = [("mcp-method", "tasks/get"), ("mcp-name", "no-such-task")];
    let r = post_raw(url, &unknown, "tasks/get", serde_json::json!({"taskId": "no-such-task"}), true).await;
    out.push(outcome("get of an unknown task", r));
    let result = [("mcp-method", "tasks/result"), ("mcp-name", id.as_str())];
    out.push(outcome("tasks/result", post_raw(url, &result, "tasks/result", get.clone(), true).await));
    let list = [("mcp-method", "tasks/list")];
    out.push(outcome("tasks/list", post_raw(url, &list, "tasks/list", serde_json::json!({}), true).await));
    let cancel = [("mcp-method", "tasks/cancel"), ("mcp-name", id.as_str())];
    out.push(outcome("cancel", post_raw(url, &cancel, "tasks/cancel", get.clone(), true).await));
    out.push(outcome("cancel again", post_raw(url, &cancel, "tasks/cancel", get, true).await));
    out
}
