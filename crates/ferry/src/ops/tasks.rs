//! `ferry admin tasks list|show|cancel`: every owner's tasks, as an operator.
//!
//! A separate command from `ferry tasks` on purpose: that one is an MCP client and sees
//! only its caller's tasks through the server's MCP endpoint; this one reads the
//! deployment itself (Redis, or the server's admin listener with the admin token).

use super::format::{human_ms, parse_age, table};
use super::{Cancelled, SourceArgs};
use crate::Error;
use clap::{Args as ClapArgs, Subcommand};
use ferry_protocol::time_fmt::now_ms;
use ferry_server::engine::inspect::parse_statuses;
use ferry_server::engine::{TaskDetail, TaskFilter, TaskRecord, TaskStatus};
use serde_json::json;

/// `ferry admin ...`.
#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Every owner's tasks: list, show one whole, cancel.
    #[command(subcommand)]
    Tasks(TasksCommand),
}

/// `ferry admin tasks ...`.
#[derive(Subcommand, Debug)]
pub enum TasksCommand {
    /// List tasks of every owner, oldest first, filtered.
    List(ListArgs),
    /// Show one task whole: record, arguments, attempt, worker, timings.
    Show(TaskArgs),
    /// Cancel a task of any owner (through --admin-url this needs the admin token).
    Cancel(TaskArgs),
}

/// Options of `admin tasks list`.
#[derive(ClapArgs, Debug)]
pub struct ListArgs {
    /// Which deployment.
    #[command(flatten)]
    pub source: SourceArgs,
    /// Only these statuses, comma-separated (working, input_required, completed, failed, cancelled).
    #[arg(long, value_name = "LIST", value_parser = |s: &str| parse_statuses(s).map(Statuses))]
    pub status: Option<Statuses>,
    /// Only tasks of this tool (or prompt name, or resource URI).
    #[arg(long, value_name = "NAME")]
    pub tool: Option<String>,
    /// Only tasks of this owner (as stored: `subject:...`, `session:...`, `anonymous`).
    #[arg(long)]
    pub owner: Option<String>,
    /// Only tasks created at least this long ago (500ms, 30s, 5m, 2h, 1d).
    #[arg(long, value_name = "AGE", value_parser = parse_age)]
    pub older_than: Option<u64>,
    /// Only tasks created at most this long ago (500ms, 30s, 5m, 2h, 1d).
    #[arg(long, value_name = "AGE", value_parser = parse_age)]
    pub newer_than: Option<u64>,
    /// Only tasks whose id, tool or status message contains this text (any case).
    #[arg(long, value_name = "TEXT")]
    pub search: Option<String>,
    /// Most tasks to print (1 to 500).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..=500))]
    pub limit: u16,
    /// Go on from where an earlier listing stopped (the cursor it printed).
    #[arg(long)]
    pub cursor: Option<String>,
    /// Print `{"tasks": [...], "nextCursor": ...}` instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// The statuses of `--status`.
#[derive(Debug, Clone, PartialEq)]
pub struct Statuses(pub Vec<TaskStatus>);

/// Options of `admin tasks show` and `cancel`.
#[derive(ClapArgs, Debug)]
pub struct TaskArgs {
    /// The task id.
    pub id: String,
    /// Which deployment.
    #[command(flatten)]
    pub source: SourceArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Run `ferry admin ...`.
pub async fn admin(command: AdminCommand) -> Result<(), Error> {
    let AdminCommand::Tasks(command) = command;
    match command {
        TasksCommand::List(args) => list(args).await,
        TasksCommand::Show(args) => show(args).await,
        TasksCommand::Cancel(args) => cancel(args).await,
    }
}

async fn list(args: ListArgs) -> Result<(), Error> {
    let filter = TaskFilter {
        status: args.status.map(|s| s.0).unwrap_or_default(),
        name: args.tool,
        owner: args.owner,
        min_age_ms: args.older_than,
        max_age_ms: args.newer_than,
        search: args.search,
    };
    let source = args.source.connect().await?;
    let page = source.list(&filter, args.cursor.as_deref(), args.limit.into()).await?;
    if args.json {
        let tasks: Vec<TaskRecord> = page.tasks.into_iter().map(|t| TaskRecord { outcome: None, ..t }).collect();
        println!("{}", json!({ "tasks": tasks, "nextCursor": page.next_cursor }));
        return Ok(());
    }
    let now = now_ms();
    let rows: Vec<Vec<String>> = page
        .tasks
        .iter()
        .map(|t| {
            vec![
                t.id.clone(),
                t.status.as_str().to_string(),
                t.name.to_string(),
                t.owner.clone(),
                human_ms(now.saturating_sub(t.created_at)),
                progress(t),
                t.status_message.clone().unwrap_or_default(),
            ]
        })
        .collect();
    if rows.is_empty() {
        println!("No tasks match.");
    } else {
        print!("{}", table(&["ID", "STATUS", "TOOL", "OWNER", "AGE", "PROGRESS", "MESSAGE"], &rows, 40));
    }
    if let Some(cursor) = page.next_cursor {
        eprintln!("More: add --cursor {cursor}");
    }
    Ok(())
}

fn progress(t: &TaskRecord) -> String {
    match &t.progress {
        Some(p) => match p.total {
            Some(total) if total > 0.0 => format!("{:.0}%", 100.0 * p.progress / total),
            _ => format!("{}", p.progress),
        },
        None => String::new(),
    }
}

async fn show(args: TaskArgs) -> Result<(), Error> {
    let source = args.source.connect().await?;
    let detail = source.detail(&args.id).await?.ok_or_else(|| unknown(&args.id))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&detail)?);
    } else {
        print!("{}", describe(&detail, now_ms()));
    }
    Ok(())
}

/// One task for people.
fn describe(d: &TaskDetail, now: u64) -> String {
    let r = &d.record;
    let mut out = String::new();
    let mut line = |k: &str, v: String| out += &format!("{k:<12}{v}\n");
    line("Task", r.id.clone());
    line("Status", r.status.as_str().to_string());
    line("Request", format!("{} {}", r.kind, r.name));
    line("Owner", r.owner.clone());
    line("Created", format!("{} ago", human_ms(now.saturating_sub(r.created_at))));
    let ran = if r.status.is_terminal() { "ended" } else { "last change" };
    line("Updated", format!("{} ago ({ran})", human_ms(now.saturating_sub(r.updated_at))));
    if let Some(m) = &r.status_message {
        line("Message", m.clone());
    }
    if r.progress.is_some() {
        line("Progress", progress(r));
    }
    if let Some(w) = &d.worker {
        line("Worker", w.clone());
    }
    if let Some(at) = d.claimed_at_ms {
        line("Running", format!("{} (claimed)", human_ms(now.saturating_sub(at))));
    }
    if let Some(at) = d.not_before_ms.filter(|at| *at > now) {
        line("Starts in", human_ms(at - now));
    }
    if let Some(n) = d.attempt {
        line("Attempt", n.to_string());
    }
    if let Some(a) = &d.arguments {
        line("Arguments", a.to_string());
    }
    if !r.input_requests.is_empty() {
        line("Waiting for", r.input_requests.keys().cloned().collect::<Vec<_>>().join(", "));
    }
    if let Some(o) = &r.outcome {
        line("Outcome", serde_json::to_string(o).unwrap_or_default());
    }
    out
}

async fn cancel(args: TaskArgs) -> Result<(), Error> {
    let source = args.source.connect().await?;
    match source.cancel(&args.id).await? {
        Cancelled::Now(record) => {
            if args.json {
                println!("{}", serde_json::to_string(&record)?);
            } else {
                println!("Cancelled {} ({} of {}).", record.id, record.name, record.owner);
            }
            Ok(())
        }
        Cancelled::AlreadyEnded(record) => {
            Err(format!("task {} had already ended ({}); nothing to cancel", record.id, record.status.as_str()).into())
        }
        Cancelled::Unknown => Err(unknown(&args.id)),
    }
}

fn unknown(id: &str) -> Error {
    format!("no task {id} (unknown, or expired after it ended)").into()
}
