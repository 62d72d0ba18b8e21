//! A server on rmcp 3.11 (the official Rust SDK) with tasks of the 2026-07-28 extension
//! `io.modelcontextprotocol/tasks` (rmcp's `TaskManager`), served over Streamable HTTP:
//! the foreign peer for `ferry-client` in this crate's tests. The tests in `tests/` also
//! run rmcp's client against Ferry.
//!
//! Tools: `add` (never a task), and, run as tasks when the request declares the
//! extension: `slow_add` (waits `ms`), `steps` (reports each step as the task's status
//! message), `sleep` (stops when cancelled), `fail` (a tool error).

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CancelTaskParams, ContentBlock, CreateTaskResult,
    GetTaskParams, GetTaskResult, Implementation, JsonObject, ListToolsResult, PaginatedRequestParams,
    ServerCapabilities, ServerConfig, Tool, UpdateTaskParams,
};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::task_manager::{TaskContext, TaskExit, TaskFuture, TaskManager, TaskOptions};
use rmcp::transport::streamable_http_server::{
    session::local::LocalSessionManager, StreamableHttpServerConfig, StreamableHttpService,
};
use rmcp::{ErrorData, ServerHandler};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The server's name in `serverInfo`.
pub const NAME: &str = "rmcp-peer";

/// The rmcp server; one per connection, sharing one task manager.
#[derive(Clone, Default)]
pub struct Peer {
    tasks: TaskManager,
}

fn tool(name: &'static str, description: &'static str, properties: Value) -> Tool {
    let required: Vec<&String> = properties.as_object().map(|p| p.keys().collect()).unwrap_or_default();
    let schema = json!({"type": "object", "properties": properties, "required": required});
    let schema: JsonObject = serde_json::from_value(schema).unwrap_or_default();
    Tool::new(name, description, schema)
}

fn text(s: impl Into<String>) -> Vec<ContentBlock> {
    vec![ContentBlock::text(s)]
}

fn int(args: &JsonObject, key: &str) -> Result<i64, ErrorData> {
    args.get(key).and_then(Value::as_i64).ok_or_else(|| ErrorData::invalid_params(format!("'{key}' is required"), None))
}

/// Sleep `ms`, or stop as cancelled when the task (if any) is cancelled first.
async fn pause(ctx: &Option<TaskContext>, ms: i64) -> Result<(), TaskExit> {
    let sleep = tokio::time::sleep(Duration::from_millis(ms.max(0) as u64));
    match ctx {
        Some(ctx) => tokio::select! {
            _ = ctx.cancelled() => Err(TaskExit::Cancelled),
            _ = sleep => Ok(()),
        },
        None => {
            sleep.await;
            Ok(())
        }
    }
}

/// What a tool does, as the future of its task (`ctx`) or of a plain call (`None`).
fn work(name: &str, args: &JsonObject, ctx: Option<TaskContext>) -> Result<TaskFuture, ErrorData> {
    Ok(match name {
        "slow_add" => {
            let (a, b, ms) = (int(args, "a")?, int(args, "b")?, int(args, "ms").unwrap_or(0));
            Box::pin(async move {
                pause(&ctx, ms).await?;
                Ok(CallToolResult::success(text((a + b).to_string())))
            })
        }
        "steps" => {
            let count = int(args, "count")?;
            Box::pin(async move {
                for i in 1..=count {
                    pause(&ctx, 100).await?;
                    if let Some(ctx) = &ctx {
                        ctx.set_status_message(format!("step {i}/{count}"));
                    }
                }
                Ok(CallToolResult::success(text(format!("counted {count}"))))
            })
        }
        "sleep" => {
            let ms = int(args, "ms")?;
            Box::pin(async move {
                pause(&ctx, ms).await?;
                Ok(CallToolResult::success(text(format!("slept {ms}"))))
            })
        }
        "fail" => {
            let message = args.get("message").and_then(Value::as_str).unwrap_or("failed").to_string();
            Box::pin(async move { Ok(CallToolResult::error(text(message))) })
        }
        other => return Err(ErrorData::invalid_params(format!("unknown tool: {other}"), None)),
    })
}

impl ServerHandler for Peer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().enable_tasks().build())
            .with_server_info(Implementation::new(NAME, "3.11.0"))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let int = json!({"type": "integer"});
        Ok(ListToolsResult::with_all_items(vec![
            tool("add", "Add two integers (never a task).", json!({"a": int, "b": int})),
            tool("slow_add", "Add after `ms` milliseconds.", json!({"a": int, "b": int, "ms": int})),
            tool("steps", "Count `count` steps of 100 ms.", json!({"count": int})),
            tool("sleep", "Sleep `ms` milliseconds.", json!({"ms": int})),
            tool("fail", "Fail with a tool error.", json!({"message": {"type": "string"}})),
        ]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = request.arguments.clone().unwrap_or_default();
        if request.name == "add" {
            return Ok(CallToolResponse::Complete(CallToolResult::success(text(
                (int(&args, "a")? + int(&args, "b")?).to_string(),
            ))));
        }
        if !context.client_capabilities().is_some_and(|caps| caps.supports_tasks()) {
            // Without the extension: run it in the request.
            return match work(&request.name, &args, None)?.await {
                Ok(result) => Ok(CallToolResponse::Complete(result)),
                Err(TaskExit::Error(e)) => Err(e),
                Err(TaskExit::Cancelled) => Err(ErrorData::internal_error("cancelled", None)),
            };
        }
        // Check the arguments before the task exists, then run it as one.
        drop(work(&request.name, &args, None)?);
        let name = request.name.to_string();
        let options = TaskOptions::new().with_poll_interval_ms(50);
        let task = self.tasks.spawn(options, move |ctx| {
            work(&name, &args, Some(ctx)).unwrap_or_else(|e| Box::pin(async move { Err(TaskExit::Error(e)) }))
        });
        Ok(CallToolResponse::Task(CreateTaskResult::new(task)))
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        Ok(GetTaskResult::new(self.tasks.get_task(&request.task_id)?))
    }

    async fn update_task(
        &self,
        request: UpdateTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.tasks.update_task(&request.task_id, request.input_responses)
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.tasks.cancel_task(&request.task_id)
    }
}

/// The rmcp server on a free port with rmcp's default Streamable HTTP settings
/// (sessions for `initialize`, stateless requests otherwise); its URL. It stops when
/// `stop` is cancelled.
pub async fn serve(stop: CancellationToken) -> std::io::Result<String> {
    let peer = Peer::default();
    let config = StreamableHttpServerConfig::default().with_cancellation_token(stop.child_token());
    let service: StreamableHttpService<Peer, LocalSessionManager> =
        StreamableHttpService::new(move || Ok(peer.clone()), Default::default(), config);
    let router = axum::Router::new().nest_service("/mcp", service);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/mcp", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, router).with_graceful_shutdown(stop.cancelled_owned()).await });
    Ok(url)
}
