//! `ferry call`, `tools`, `prompts`, `prompt get`, `resources`, `read` and `tasks`: a
//! client for any MCP server.
//!
//! Output: text for people by default; with `--json`, exactly one JSON document on
//! stdout per command (the MCP result: `{"tools": [...]}`, a `CallToolResult`, a task,
//! `{"tasks": [...]}` ...). Messages, progress and the server's log messages go to stderr.

mod arguments;
mod call;
mod commands;

pub use arguments::{parse_arguments, prompt_arguments, split_pairs, tool_arguments};
pub use call::call;
pub use commands::{prompt, prompts, read, resources, tasks, tools};

use crate::{Error, UsageError};
use clap::{Args as ClapArgs, Subcommand, ValueEnum};
use ferry_client::{Client, ClientError, ClientOptions, Mode};
use ferry_server::protocol::types::LoggingLevel;
use serde_json::Value;
use std::future::Future;
use std::time::Duration;

/// How long connecting and the handshake may take without `--timeout`.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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

/// The least severe server log message printed on stderr; `None`: none (`--log-level off`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLogs(pub Option<LoggingLevel>);

fn parse_log_level(s: &str) -> Result<ServerLogs, String> {
    if s.eq_ignore_ascii_case("off") {
        return Ok(ServerLogs(None));
    }
    serde_json::from_value(Value::String(s.to_lowercase())).map(|l| ServerLogs(Some(l))).map_err(|_| {
        format!("'{s}' is not a level: debug, info, notice, warning, error, critical, alert, emergency or off")
    })
}

/// Where the server is and how to talk to it.
#[derive(ClapArgs, Debug, Clone)]
pub struct Target {
    /// `http(s)://host:port/mcp`, or a command that serves MCP on stdio (e.g. "ferry serve --stdio").
    pub target: String,
    /// Protocol era.
    #[arg(long, value_enum, default_value_t = ModeArg::Auto)]
    pub mode: ModeArg,
    /// Print one JSON document on stdout instead of text.
    #[arg(long)]
    pub json: bool,
    /// Bearer token for servers that authenticate (HTTP).
    #[arg(long, env = "FERRY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Extra HTTP header, `Name: value` (repeatable).
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// Give up when the command has not finished after SECS seconds, the server's start and
    /// handshake included. Without it the handshake must finish within 10 s; the rest may take
    /// as long as it takes.
    #[arg(long, value_name = "SECS", value_parser = parse_secs)]
    pub timeout: Option<Duration>,
    /// Print the server's log messages at this level and above on stderr (debug, info, notice,
    /// warning, error, critical, alert, emergency; off for none).
    #[arg(long, value_name = "LEVEL", default_value = "info", value_parser = parse_log_level)]
    pub log_level: ServerLogs,
}

fn parse_secs(s: &str) -> Result<Duration, String> {
    match s.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs > 0.0 && secs < 1e9 => Ok(Duration::from_secs_f64(secs)),
        _ => Err(format!("'{s}' is not a number of seconds above 0")),
    }
}

impl Target {
    /// Whether the target is a command run on stdio (not an HTTP URL).
    pub fn is_stdio(&self) -> bool {
        !(self.target.starts_with("http://") || self.target.starts_with("https://"))
    }
}

/// Options of `call`.
#[derive(ClapArgs, Debug)]
pub struct CallArgs {
    /// The server.
    #[command(flatten)]
    pub target: Target,
    /// The tool to call.
    pub tool: String,
    /// Arguments as key=value, read as the tool's input schema says (`n=1` is a number for
    /// an integer parameter, text for a string one); where it says nothing, values that
    /// parse as JSON are JSON, the rest text.
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

/// `prompt` subcommands.
#[derive(Subcommand, Debug)]
pub enum PromptCommand {
    /// Render a prompt with its arguments and print its messages.
    Get(PromptArgs),
}

impl PromptCommand {
    /// The server this command talks to.
    pub fn target(&self) -> &Target {
        match self {
            PromptCommand::Get(a) => &a.target,
        }
    }
}

/// A prompt and its arguments.
#[derive(ClapArgs, Debug)]
pub struct PromptArgs {
    /// The server.
    #[command(flatten)]
    pub target: Target,
    /// The prompt's name.
    pub name: String,
    /// Arguments as key=value (prompt arguments are text).
    pub args: Vec<String>,
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

impl TasksCommand {
    /// The server this command talks to.
    pub fn target(&self) -> &Target {
        match self {
            TasksCommand::List(t) => t,
            TasksCommand::Get(a) | TasksCommand::Result(a) | TasksCommand::Cancel(a) => &a.target,
        }
    }
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

/// Run a client command within `--timeout`, if given.
pub async fn bounded(timeout: Option<Duration>, command: impl Future<Output = Result<(), Error>>) -> Result<(), Error> {
    match timeout {
        None => command.await,
        Some(limit) => tokio::time::timeout(limit, command)
            .await
            .unwrap_or_else(|_| Err(format!("gave up after {}s (--timeout)", limit.as_secs_f64()).into())),
    }
}

/// Connect to the target, within the handshake's time; the server's log messages are
/// printed on stderr from then on.
async fn connect(t: &Target) -> Result<Client, Error> {
    let limit = t.timeout.unwrap_or(DEFAULT_HANDSHAKE_TIMEOUT);
    let client = match tokio::time::timeout(limit, open(t)).await {
        Ok(Ok(client)) => client,
        Ok(Err(e)) => return Err(explain_target(t, e)),
        Err(_) => {
            let what = if t.is_stdio() { "the command" } else { "the server" };
            let mut message =
                format!("no answer to the MCP handshake from {what} '{}' within {}s", t.target, limit.as_secs_f64());
            if t.is_stdio() {
                message.push_str(" (does it serve MCP on stdio?)");
            }
            message.push_str("; --timeout SECS waits longer");
            return Err(message.into());
        }
    };
    print_logs(&client, t.log_level);
    Ok(client)
}

async fn open(t: &Target) -> Result<Client, Error> {
    let mode = match t.mode {
        ModeArg::Auto => Mode::Auto,
        ModeArg::Handshake => Mode::Handshake,
        ModeArg::Modern => Mode::Modern,
    };
    let mut options = options(t, mode)?;
    if let Some(Value::String(level)) = t.log_level.0.map(|l| serde_json::to_value(l).unwrap_or_default()) {
        options = options.log_level(level);
    }
    let client = if t.is_stdio() {
        let mut cmd = tokio::process::Command::new("sh");
        // Its stderr is kept (its end explains a server that exits), not shown.
        cmd.arg("-c").arg(format!("exec {}", t.target)).stderr(std::process::Stdio::piped());
        Client::connect_stdio(cmd, options).await?
    } else {
        Client::connect_http(&t.target, options).await?
    };
    Ok(client)
}

/// The client options the target's flags give (credentials, headers), in `mode`.
fn options(t: &Target, mode: Mode) -> Result<ClientOptions, UsageError> {
    let mut options = ClientOptions::default().mode(mode).client_info("ferry-cli", env!("CARGO_PKG_VERSION"));
    if let Some(token) = &t.token {
        options = options.bearer_token(token);
    } else if let Some(oauth) = (!t.is_stdio()).then(|| crate::login::stored_config(&t.target)).flatten() {
        options = options.oauth(oauth);
    }
    for h in &t.headers {
        let (name, value) =
            h.split_once(':').ok_or_else(|| UsageError(format!("header '{h}' is not 'Name: value'")))?;
        options = options.header(name.trim(), value.trim());
    }
    Ok(options)
}

/// A failed connection, with a word on a target that looks like a URL without its scheme
/// (it was run as a command).
fn explain_target(t: &Target, e: Error) -> Error {
    if e.is::<UsageError>() {
        return e;
    }
    if matches!(e.downcast_ref::<ClientError>(), Some(ClientError::Unauthorized(_))) && !t.is_stdio() {
        return format!("{e}\n  sign in with: ferry login {} (or give --token)", t.target).into();
    }
    let looks_like_url = t.is_stdio() && !t.target.contains(char::is_whitespace) && {
        let host_port = t.target.split('/').next().unwrap_or_default();
        host_port.starts_with("localhost")
            || host_port.rsplit_once(':').is_some_and(|(_, port)| port.parse::<u16>().is_ok())
    };
    if looks_like_url {
        return format!(
            "'{0}' was run as a command, and failed: {e}\n  it looks like a URL without its scheme: did you mean http://{0}?",
            t.target
        )
        .into();
    }
    e
}

/// Print the server's `notifications/message` at `level` and above on stderr.
fn print_logs(client: &Client, ServerLogs(level): ServerLogs) {
    let Some(level) = level else { return };
    let mut notifications = client.notifications();
    tokio::spawn(async move {
        loop {
            let n = match notifications.recv().await {
                Ok(n) => n,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return,
            };
            let Some(params) = n.params.as_ref().filter(|_| n.method == "notifications/message") else { continue };
            let said = params.get("level").and_then(|l| serde_json::from_value::<LoggingLevel>(l.clone()).ok());
            if said.is_some_and(|s| s < level) {
                continue;
            }
            let label = params.get("level").and_then(Value::as_str).unwrap_or("log");
            let logger = params.get("logger").and_then(Value::as_str).map(|l| format!(" {l}")).unwrap_or_default();
            let data = match params.get("data") {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            };
            eprintln!("[{label}]{logger}: {data}");
        }
    });
}

/// A word on errors that come from asking the user for input, which this client cannot do.
fn elicitation_hint(message: &str) -> Option<&'static str> {
    let about_input = ["elicitation", "sampling", "requiredCapabilities", "Missing required client capability"];
    about_input.iter().any(|w| message.contains(w)).then_some(
        "the tool asks the user for input (elicitation or sampling), which the ferry command line \
         cannot answer: call it from a client that can ask its user",
    )
}

/// A client error as the command reports it (with a hint when it is about user input).
fn report(e: ClientError) -> Error {
    let message = match &e {
        ClientError::Rpc(obj) => format!("{e}{}", obj.data.as_ref().map(|d| format!(" {d}")).unwrap_or_default()),
        _ => e.to_string(),
    };
    match elicitation_hint(&message) {
        Some(hint) => format!("{e}\n  {hint}").into(),
        None => e.into(),
    }
}
