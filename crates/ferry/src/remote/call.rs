//! `ferry call`: arguments checked against the tool's schema, then a direct call or a
//! background task (followed with `--wait`).

use super::commands::{print_result, print_task, task_json};
use super::{connect, report, tool_arguments, CallArgs, Target};
use crate::{Error, UsageError};
use ferry_client::{CallToolResult, Client, ClientError, Mode, TaskHandle, TaskStatus, Tool};
use ferry_server::protocol::TaskSupport;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use std::time::Duration;

/// `ferry call`.
pub async fn call(a: CallArgs) -> Result<(), Error> {
    let client = connect(&a.target).await?;
    let tools = client.list_tools().await.map_err(report)?;
    let Some(tool) = tools.iter().find(|t| t.name == a.tool) else {
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
        return Err(UsageError(format!("no tool '{}' on this server; it has: {}", a.tool, names.join(", "))).into());
    };
    let arguments = tool_arguments(tool, &a.args)?;
    let support = task_support(&client, &a.target, tool).await;
    let outcome = if a.task {
        if support == Some(TaskSupport::Forbidden) {
            return Err(UsageError(format!(
                "tool '{}' does not run as a task (its task support is 'forbidden'): call it without --task",
                a.tool
            ))
            .into());
        }
        call_task(&client, &a, arguments).await
    } else if support == Some(TaskSupport::Required) && !client.is_modern() {
        // A 2025-11-25 server refuses a direct call; the caller wants the result: wait for the task.
        match client.call_tool_task(&a.tool, arguments).await.map_err(report)?.await {
            Ok(r) => print_result(&serde_json::to_value(r)?, a.target.json),
            Err(e) => Err(report(e)),
        }
    } else {
        let r = client.call_tool(&a.tool, arguments).await.map_err(report)?;
        print_result(&serde_json::to_value(r)?, a.target.json)
    };
    if a.target.log_level.0.is_some() {
        settle_logs().await;
    }
    outcome
}

/// What the server says of running `tool` as a task. The 2026-07-28 listing leaves it out:
/// then a 2025-11-25 listing of an HTTP server says it (`None` when nothing does).
async fn task_support(client: &Client, target: &Target, tool: &Tool) -> Option<TaskSupport> {
    if let Some(execution) = &tool.execution {
        return Some(execution.task_support);
    }
    if !client.is_modern() || target.is_stdio() {
        return None;
    }
    let options = super::options(target, Mode::Handshake).ok()?;
    let session = Client::connect_http(&target.target, options).await.ok()?;
    let listed = session.list_tools().await.ok();
    session.close().await;
    listed?.into_iter().find(|t| t.name == tool.name)?.execution.map(|e| e.task_support)
}

/// Log messages sent just before a result may still be on their way to stderr: let them through.
async fn settle_logs() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
}

/// `ferry call --task [--wait]`.
async fn call_task(client: &Client, a: &CallArgs, arguments: serde_json::Value) -> Result<(), Error> {
    let as_json = a.target.json;
    let handle = client.call_tool_task(&a.tool, arguments).await.map_err(report)?;
    let Some(id) = handle.id().map(str::to_string) else {
        eprintln!("ferry: the server ran '{}' at once instead of as a task", a.tool);
        let r = handle.result().await.map_err(report)?;
        return print_result(&serde_json::to_value(r)?, as_json);
    };
    if a.wait {
        return follow(handle, &id, as_json).await;
    }
    if as_json {
        println!("{}", task_json(&handle.get().await.map_err(report)?));
    } else {
        println!("{id}");
    }
    if a.target.is_stdio() {
        eprintln!(
            "ferry: task {id} ran in the server process this command started, which ends with it: the task is \
             gone. Add --wait to follow it, or serve over HTTP to fetch a task later."
        );
    } else if !as_json {
        eprintln!("task started; fetch it later with: ferry tasks result {} {id}", a.target.target);
    }
    Ok(())
}

/// Show a task's progress until it ends, then print its result; Ctrl-C cancels it.
async fn follow(handle: TaskHandle<CallToolResult>, id: &str, as_json: bool) -> Result<(), Error> {
    // Listen for Ctrl-C before announcing the task, so an interrupt right after the
    // announcement cancels the task instead of killing the process.
    let mut interrupt = interrupt_signal()?;
    eprintln!("ferry: task {id} started (Ctrl-C cancels it)");
    let bar = if as_json { ProgressBar::hidden() } else { ProgressBar::new_spinner() };
    bar.enable_steady_tick(Duration::from_millis(120));
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(format!("task {id} working"));
    let mut states = Box::pin(handle.status());
    let outcome = loop {
        tokio::select! {
            next = states.next() => match next {
                Some(Ok(info)) => {
                    if let Some((p, Some(total))) = info.progress {
                        if bar.length() != Some(total as u64) {
                            bar.set_length(total as u64);
                            bar.set_style(ProgressStyle::with_template("{elapsed:>4} [{bar:30}] {pos}/{len} {msg}")
                                .unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> "));
                        }
                        bar.set_position(p as u64);
                    }
                    bar.set_message(info.status_message.clone().unwrap_or_else(|| info.status.to_string()));
                    if info.status.is_terminal() {
                        break Ok(info);
                    }
                }
                Some(Err(e)) => break Err(report(e)),
                None => break Err("the status stream ended early".into()),
            },
            _ = interrupt.recv() => {
                bar.set_message("cancelling");
                let info = handle.cancel().await.map_err(report)?;
                bar.finish_and_clear();
                eprintln!("cancelled task {id}");
                print_task(&info, as_json);
                std::process::exit(130);
            }
        }
    };
    bar.finish_and_clear();
    let info = outcome?;
    match info.status {
        TaskStatus::Cancelled => Err(format!("task {id} was cancelled").into()),
        _ => match handle.result().await {
            Ok(r) => print_result(&serde_json::to_value(r)?, as_json),
            Err(ClientError::TaskFailed { error, .. }) => Err(format!("task {id} failed: {error}").into()),
            Err(e) => Err(report(e)),
        },
    }
}

#[cfg(unix)]
fn interrupt_signal() -> Result<tokio::signal::unix::Signal, Error> {
    Ok(tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?)
}

#[cfg(not(unix))]
fn interrupt_signal() -> Result<CtrlC, Error> {
    Ok(CtrlC)
}

#[cfg(not(unix))]
struct CtrlC;

#[cfg(not(unix))]
impl CtrlC {
    async fn recv(&mut self) -> Option<()> {
        tokio::signal::ctrl_c().await.ok()
    }
}
