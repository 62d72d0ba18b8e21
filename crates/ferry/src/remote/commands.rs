//! The listing and reading commands, and how results and tasks are printed.

use super::{connect, prompt_arguments, report, ModeArg, PromptCommand, Target, TasksCommand};
use crate::{Error, UsageError};
use ferry_client::{CallToolResult, Content, TaskInfo};
use serde_json::{json, Value};

/// A task as JSON (`--json`).
pub(super) fn task_json(t: &TaskInfo) -> Value {
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

/// A task as one line of text.
fn task_line(t: &TaskInfo) -> String {
    let msg = t.status_message.as_deref().map(|m| format!("  {m}")).unwrap_or_default();
    format!("{}  {}{}", t.task_id, t.status, msg)
}

/// Print one task.
pub(super) fn print_task(t: &TaskInfo, as_json: bool) {
    if as_json {
        println!("{}", task_json(t));
    } else {
        println!("{}", task_line(t));
    }
}

/// Print a tool result; tool errors go to stderr and fail the command.
pub(super) fn print_result(r: &Value, as_json: bool) -> Result<(), Error> {
    let call = serde_json::from_value::<CallToolResult>(r.clone()).ok();
    if as_json {
        println!("{r}");
    } else if let Some(call) = &call {
        for c in &call.content {
            match c {
                Content::Text { text } => println!("{text}"),
                other => println!("{}", serde_json::to_string(other).unwrap_or_default()),
            }
        }
        if call.content.is_empty() {
            if let Some(structured) = &call.structured_content {
                println!("{structured}");
            }
        }
    } else {
        println!("{}", serde_json::to_string_pretty(r).unwrap_or_default());
    }
    match call {
        Some(call) if call.is_error => {
            let text: Vec<&str> = call.content.iter().filter_map(Content::as_text).collect();
            match super::elicitation_hint(&text.join(" ")) {
                Some(hint) => Err(format!("the tool reported an error\n  {hint}").into()),
                None => Err("the tool reported an error".into()),
            }
        }
        _ => Ok(()),
    }
}

/// `ferry tools`.
pub async fn tools(t: Target) -> Result<(), Error> {
    let client = connect(&t).await?;
    let tools = client.list_tools().await.map_err(report)?;
    if t.json {
        println!("{}", json!({ "tools": tools }));
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
    let prompts = connect(&t).await?.list_prompts().await.map_err(report)?;
    if t.json {
        println!("{}", json!({ "prompts": prompts }));
        return Ok(());
    }
    for p in prompts {
        let args: Vec<String> =
            p.arguments.iter().map(|a| if a.required { a.name.clone() } else { format!("{}?", a.name) }).collect();
        println!("{}({})  {}", p.name, args.join(", "), p.description.unwrap_or_default());
    }
    Ok(())
}

/// `ferry prompt get`: the prompt's messages, each under its role.
pub async fn prompt(cmd: PromptCommand) -> Result<(), Error> {
    let PromptCommand::Get(a) = cmd;
    let client = connect(&a.target).await?;
    let prompts = client.list_prompts().await.map_err(report)?;
    let Some(prompt) = prompts.iter().find(|p| p.name == a.name) else {
        let names: Vec<&str> = prompts.iter().map(|p| p.name.as_str()).collect();
        return Err(UsageError(format!("no prompt '{}' on this server; it has: {}", a.name, names.join(", "))).into());
    };
    let arguments = prompt_arguments(prompt, &a.args)?;
    let result = client.get_prompt(&a.name, arguments).await.map_err(report)?;
    if a.target.json {
        println!("{}", serde_json::to_string(&result)?);
        return Ok(());
    }
    for m in result.messages {
        let text = match &m.content {
            Content::Text { text } => text.clone(),
            other => serde_json::to_string(other)?,
        };
        println!("[{}]\n{text}", m.role);
    }
    Ok(())
}

/// `ferry resources`: fixed resources, then templates.
pub async fn resources(t: Target) -> Result<(), Error> {
    let client = connect(&t).await?;
    let resources = client.list_resources().await.map_err(report)?;
    let templates = client.list_resource_templates().await.map_err(report)?;
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
pub async fn read(a: super::ReadArgs) -> Result<(), Error> {
    let result = connect(&a.target).await?.read_resource(&a.uri).await.map_err(report)?;
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
        TasksCommand::List(t) => list_tasks(t).await,
        TasksCommand::Get(a) => {
            let client = connect(&a.target).await?;
            print_task(&client.task::<Value>(&a.id).get().await.map_err(report)?, a.target.json);
            Ok(())
        }
        TasksCommand::Result(a) => {
            let client = connect(&a.target).await?;
            let r = client.task::<Value>(&a.id).result().await.map_err(report)?;
            print_result(&r, a.target.json)
        }
        TasksCommand::Cancel(a) => {
            let client = connect(&a.target).await?;
            print_task(&client.task::<Value>(&a.id).cancel().await.map_err(report)?, a.target.json);
            Ok(())
        }
    }
}

/// `ferry tasks list`: every page; when there are none, why that may be.
async fn list_tasks(mut t: Target) -> Result<(), Error> {
    if t.mode == ModeArg::Auto {
        t.mode = ModeArg::Handshake;
    }
    let client = connect(&t).await?;
    let mut tasks = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let (page, next) = client.list_tasks(cursor.as_deref()).await.map_err(report)?;
        tasks.extend(page);
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    if t.json {
        println!("{}", json!({ "tasks": tasks.iter().map(task_json).collect::<Vec<_>>() }));
    } else {
        tasks.iter().for_each(|task| println!("{}", task_line(task)));
    }
    if tasks.is_empty() {
        let credentials = t.token.is_some() || t.headers.iter().any(|h| h.to_lowercase().starts_with("authorization"));
        if credentials {
            eprintln!("ferry: no tasks belong to these credentials on this server");
        } else {
            eprintln!(
                "ferry: no tasks: without credentials (--token) a server lists only the tasks of the \
                 connection asking, and this one is new; fetch a task by its id (`ferry tasks get TARGET ID`)"
            );
        }
    }
    Ok(())
}
