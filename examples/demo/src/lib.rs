//! The demo server: six tools (one per task-support mode and outcome), a
//! resource, a resource template and a prompt. Tests, benchmarks and interop
//! checks all drive this server.

use ferry_server::{
    Args, Progress, PromptDef, ResourceDef, ResourceTemplateDef, Server, ServerBuilder, TaskSupport, ToolDef, ToolError,
};
use schemars::JsonSchema;
use serde::Deserialize;
use std::time::Duration;

/// Arguments of `add`.
#[derive(Deserialize, JsonSchema)]
pub struct AddArgs {
    /// First addend.
    pub a: i64,
    /// Second addend.
    pub b: i64,
}

/// Arguments of `sleep`.
#[derive(Deserialize, JsonSchema)]
pub struct SleepArgs {
    /// How long to sleep, in milliseconds.
    pub ms: u64,
}

/// Arguments of `fail`.
#[derive(Deserialize, JsonSchema)]
pub struct FailArgs {
    /// The error message to fail with.
    pub message: String,
}

/// Arguments of `progress`.
#[derive(Deserialize, JsonSchema)]
pub struct ProgressArgs {
    /// Number of steps.
    pub steps: u32,
    /// Delay between steps, in milliseconds.
    pub delay_ms: u64,
}

/// Arguments of `must_task` and `no_task`.
#[derive(Deserialize, JsonSchema)]
pub struct XArgs {
    /// The number to double.
    pub x: i64,
}

/// Arguments of the `greeting` template and prompt.
#[derive(Deserialize, JsonSchema)]
pub struct NameArgs {
    /// Who to greet.
    pub name: String,
}

/// The demo's components on a builder, so callers can change settings or the backend.
pub fn builder() -> ServerBuilder {
    Server::builder("ferry-demo", env!("CARGO_PKG_VERSION"))
        .instructions("Demo server of Ferry: tools that add, sleep, fail, report progress, and double numbers.")
        .tool(
            ToolDef::new("add")
                .description("Add two integers.")
                .task_support(TaskSupport::Optional)
                .handler(|Args(a): Args<AddArgs>| async move { a.a.wrapping_add(a.b) }),
        )
        .tool(
            ToolDef::new("sleep")
                .description("Sleep for `ms` milliseconds, then say so.")
                .task_support(TaskSupport::Optional)
                .handler(|Args(s): Args<SleepArgs>| async move {
                    tokio::time::sleep(Duration::from_millis(s.ms)).await;
                    format!("slept {}", s.ms)
                }),
        )
        .tool(
            ToolDef::new("fail")
                .description("Fail with the given message (a tool error).")
                .task_support(TaskSupport::Optional)
                .handler(|Args(f): Args<FailArgs>| async move { Err::<String, _>(ToolError::new(f.message)) }),
        )
        .tool(
            ToolDef::new("progress")
                .description("Count `steps` steps, `delay_ms` apart, reporting progress.")
                .task_support(TaskSupport::Optional)
                .handler(|Args(p): Args<ProgressArgs>, progress: Progress| async move {
                    for i in 1..=p.steps {
                        tokio::time::sleep(Duration::from_millis(p.delay_ms)).await;
                        progress.step(i.into(), p.steps.into(), &format!("step {i}/{}", p.steps)).await;
                    }
                    format!("done {}", p.steps)
                }),
        )
        .tool(
            ToolDef::new("must_task")
                .description("Double x; only runs as a task.")
                .task_support(TaskSupport::Required)
                .handler(|Args(a): Args<XArgs>| async move { a.x.wrapping_mul(2) }),
        )
        .tool(
            ToolDef::new("no_task")
                .description("Double x; never runs as a task.")
                .task_support(TaskSupport::Forbidden)
                .handler(|Args(a): Args<XArgs>| async move { a.x.wrapping_mul(2) }),
        )
        .resource(
            ResourceDef::new("ferry://demo/readme", "readme")
                .description("What this demo server is.")
                .mime_type("text/plain")
                .task_support(TaskSupport::Optional)
                .handler(|| async { "Ferry demo server: try the add, sleep and progress tools.".to_string() }),
        )
        .resource_template(
            ResourceTemplateDef::new("ferry://demo/greeting/{name}", "greeting")
                .description("A greeting for `name`.")
                .mime_type("text/plain")
                .task_support(TaskSupport::Optional)
                .handler(|Args(n): Args<NameArgs>| async move { format!("Hello, {}!", n.name) }),
        )
        .prompt(
            PromptDef::new("greet")
                .description("Ask the model to greet someone.")
                .task_support(TaskSupport::Optional)
                .handler(|Args(n): Args<NameArgs>| async move { format!("Please greet {} warmly.", n.name) }),
        )
}

/// The demo server with default settings.
pub fn server() -> Server {
    // The demo's components are fixed and checked by tests, so building cannot fail.
    builder().build().expect("demo server components are valid")
}
