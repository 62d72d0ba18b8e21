//! `ferry call`, `tools`, `prompts`, `resources`, `read` and `tasks`: a client for any MCP server.

use clap::{Args as ClapArgs, Subcommand, ValueEnum};
use ferry_client::{CallToolResult, Client, ClientError, ClientOptions, Content, Mode, TaskInfo, TaskStatus};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Map, Value};
use std::time::Duration;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Protocol era to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ModeArg {
    /// 2026-07-28 when the server offers it, else 2025-11-25.
    #[default]
    Auto,
    /// 2025-11-25 session (tasks belong to the session).
    Handshake,
    /// Stateless 2026-07-28 (a task id can be fetched from any process).
    Modern,
}

/// Where the server is and how to talk to it.
#[derive(ClapArgs, Debug, Clone)]
pub struct Target {
    /// `http(s)://host/mcp`, or a command that serves MCP on stdio (e.g. "ferry serve --stdio").
    pub target: String,
    /// Protocol era.
    #[arg(long, value_enum, default_value_t = ModeArg::Auto)]
    pub mode: ModeArg,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Bearer token for servers that authenticate (HTTP).
    #[arg(long, env = "FERRY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Extra HTTP header, `Name: value` (repeatable).
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
}

/// Options of `call`.
#[derive(ClapArgs, Debug)]
pub struct CallArgs {
    /// The server.
    #[command(flatten)]
    pub target: Target,
    /// The tool to call.
    pub tool: String,
    /// Arguments as key=value; values are JSON when they parse as JSON, text otherwise.
    pub args: Vec<String>,
    /// Run as a background task and print its id (add --wait to follow it).
    #[arg(long)]
    pub task: bool,
    /// With --task: show progress until the task ends, then print the result (Ctrl-C cancels it).
    #[arg(long, requires = "task")]
    pub wait: bool,
}

/// Options of `read`.
#[derive(ClapArgs, Debug)]
pub struct ReadArgs {
    /// The server.
    #[command(flatten)]
    pub target: Target,
    /// The resource's URI (a template's URIs too).
    pub uri: String,
}

/// `tasks` subcommands.
#[derive(Subcommand, Debug)]
pub enum TasksCommand {
    /// List your tasks: those of your credentials (--token) on a server that
    /// authenticates, else only this connection's (tasks/list is a 2025-11-25 method,
    /// so this speaks 2025-11-25 unless --mode says otherwise).
    List(Target),
    /// Show a task's state.
    Get(TaskArgs),
    /// Wait for a task's result and print it.
    Result(TaskArgs),
    /// Cancel a task.
    Cancel(TaskArgs),
}

/// A task on a server.
#[derive(ClapArgs, Debug)]
pub struct TaskArgs {
    /// The server.
    #[command(flatten)]
    pub target: Target,
    /// The task id.
    pub id: String,
}

async fn connect(t: &Target) -> Result<Client, Error> {
    let mode = match t.mode {
        ModeArg::Auto => Mode::Auto,
        ModeArg::Handshake => Mode::Handshake,
        ModeArg::Modern => Mode::Modern,
    };
    let mut options = ClientOptions::default().mode(mode).client_info("ferry-cli", env!("CARGO_PKG_VERSION"));
    if let Some(token) = &t.token {
        options = options.bearer_token(token);
    }
    for h in &t.headers {
        let (name, value) = h.split_once(':').ok_or_else(|| format!("header '{h}' is not 'Name: value'"))?;
        options = options.header(name.trim(), value.trim());
    }
    let client = if t.target.starts_with("http://") || t.target.starts_with("https://") {
        Client::connect_http(&t.target, options).await?
    } else {
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c").arg(format!("exec {}", t.target)).stderr(std::process::Stdio::null());
        Client::connect_stdio(cmd, options).await?
    };
    Ok(client)
}

/// Parse `key=value` pairs into an arguments object.
pub fn parse_arguments(pairs: &[String]) -> Result<Value, Error> {
    let mut args = Map::new();
    for pair in pairs {
        let (k, v) = pair.split_once('=').ok_or_else(|| format!("argument '{pair}' is not key=value"))?;
        if k.is_empty() {
            return Err(format!("argument '{pair}' has no key").into());
        }
        let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_string()));
        args.insert(k.to_string(), value);
    }
    Ok(Value::Object(args))
}

fn task_json(t: &TaskInfo) -> Value {
    let mut v = json!({
        "taskId": t.task_id, "status": t.status, "statusMessage": t.status_message,
        "createdAt": t.created_at, "lastUpdatedAt": t.last_updated_at, "ttlMs": t.ttl_ms,
        "pollIntervalMs": t.poll_interval_ms,
    });
    if let Some((p, total)) = t.progress {
        v["progress"] = json!({"progress": p, "total": total});
    }
    v
}

fn print_task(t: &TaskInfo, as_json: bool) {
    if as_json {
        println!("{}", task_json(t));
    } else {
        let msg = t.status_message.as_deref().map(|m| format!("  {m}")).unwrap_or_default();
        println!("{}  {}{}", t.task_id, t.status, msg);
    }
}

/// Print a tool result; tool errors go to stderr and fail the command.
fn print_result(r: &Value, as_json: bool) -> Result<(), Error> {
    if as_json {
        println!("{r}");
    } else if let Ok(call) = serde_json::from_value::<CallToolResult>(r.clone()) {
        if !call.content.is_empty() || call.structured_content.is_some() {
            for c in &call.content {
                match c {
                    Content::Text { text } => println!("{text}"),
                    other => println!("{}", serde_json::to_string(other).unwrap_or_default()),
                }
            }
            if call.content.is_empty() {
                println!("{}", call.structured_content.unwrap_or_default());
            }
        }
        if call.is_error {
            return Err("the tool reported an error".into());
        }
    } else {
        println!("{}", serde_json::to_string_pretty(r).unwrap_or_default());
    }
    Ok(())
}

/// `ferry call`.
pub async fn call(a: CallArgs) -> Result<(), Error> {
    let arguments = parse_arguments(&a.args)?;
    let client = connect(&a.target).await?;
    let as_json = a.target.json;
    if !a.task {
        let r = client.call_tool(&a.tool, arguments).await?;
        return print_result(&serde_json::to_value(r)?, as_json);
    }
    let handle = client.call_tool_task(&a.tool, arguments).await?;
    let Some(id) = handle.id().map(str::to_string) else {
        // The server answered at once.
        let r = handle.result().await?;
        return print_result(&serde_json::to_value(r)?, as_json);
    };
    if !a.wait {
        if as_json {
            println!("{}", task_json(&handle.get().await?));
        } else {
            println!("{id}");
            eprintln!("task started; fetch it later with: ferry tasks result {} {id}", a.target.target);
        }
        return Ok(());
    }
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
                Some(Err(e)) => break Err(Error::from(e)),
                None => break Err("the status stream ended early".into()),
            },
            _ = interrupt.recv() => {
                bar.set_message("cancelling");
                let info = handle.cancel().await?;
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
            Err(e) => Err(e.into()),
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

/// `ferry tools`.
pub async fn tools(t: Target) -> Result<(), Error> {
    let client = connect(&t).await?;
    let tools = client.list_tools().await?;
    if t.json {
        println!("{}", serde_json::to_string(&tools)?);
        return Ok(());
    }
    for tool in tools {
        let support = tool.execution.as_ref().map(|e| format!("{:?}", e.task_support).to_lowercase());
        let params: Vec<String> = tool
            .input_schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        println!(
            "{}({}){}  {}",
            tool.name,
            params.join(", "),
            support.map(|s| format!(" [task: {s}]")).unwrap_or_default(),
            tool.description.unwrap_or_default()
        );
    }
    Ok(())
}

/// `ferry prompts`.
pub async fn prompts(t: Target) -> Result<(), Error> {
    let prompts = connect(&t).await?.list_prompts().await?;
    if t.json {
        println!("{}", serde_json::to_string(&prompts)?);
        return Ok(());
    }
    for p in prompts {
        let args: Vec<String> =
            p.arguments.iter().map(|a| if a.required { a.name.clone() } else { format!("{}?", a.name) }).collect();
        println!("{}({})  {}", p.name, args.join(", "), p.description.unwrap_or_default());
    }
    Ok(())
}

/// `ferry resources`: fixed resources, then templates.
pub async fn resources(t: Target) -> Result<(), Error> {
    let client = connect(&t).await?;
    let (resources, templates) = (client.list_resources().await?, client.list_resource_templates().await?);
    if t.json {
        println!("{}", json!({"resources": resources, "resourceTemplates": templates}));
        return Ok(());
    }
    for r in resources {
        println!("{}  {}", r.uri, r.description.unwrap_or(r.name));
    }
    for r in templates {
        println!("{}  {}", r.uri_template, r.description.unwrap_or(r.name));
    }
    Ok(())
}

/// `ferry read`: text contents as they are, binary ones as a note of their size.
pub async fn read(a: ReadArgs) -> Result<(), Error> {
    let result = connect(&a.target).await?.read_resource(&a.uri).await?;
    if a.target.json {
        println!("{}", serde_json::to_string(&result)?);
        return Ok(());
    }
    for c in result.contents {
        match (c.text, c.blob) {
            (Some(text), _) => println!("{text}"),
            (None, Some(blob)) => println!("[{} bytes of base64, {}]", blob.len(), c.mime_type.unwrap_or_default()),
            (None, None) => {}
        }
    }
    Ok(())
}

/// `ferry tasks ...`.
pub async fn tasks(cmd: TasksCommand) -> Result<(), Error> {
    match cmd {
        TasksCommand::List(mut t) => {
            if t.mode == ModeArg::Auto {
                t.mode = ModeArg::Handshake;
            }
            let client = connect(&t).await?;
            let mut cursor: Option<String> = None;
            loop {
                let (page, next) = client.list_tasks(cursor.as_deref()).await?;
                for task in &page {
                    print_task(task, t.json);
                }
                match next {
                    Some(c) => cursor = Some(c),
                    None => return Ok(()),
                }
            }
        }
        TasksCommand::Get(a) => {
            let client = connect(&a.target).await?;
            print_task(&client.task::<Value>(&a.id).get().await?, a.target.json);
            Ok(())
        }
        TasksCommand::Result(a) => {
            let client = connect(&a.target).await?;
            let r = client.task::<Value>(&a.id).result().await?;
            print_result(&r, a.target.json)
        }
        TasksCommand::Cancel(a) => {
            let client = connect(&a.target).await?;
            print_task(&client.task::<Value>(&a.id).cancel().await?, a.target.json);
            Ok(())
        }
    }
}
