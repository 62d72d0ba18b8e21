//! The demo server: six tools (one per task-support mode and outcome), a
//! resource, a resource template and a prompt. Tests, benchmarks and interop
//! checks all drive this server.
//!
//! The tools, the resource and the template are plain functions declared with
//! `#[tool]` and `#[resource]` (each generates a `<name>_tool()` /
//! `<name>_resource()` function); the prompt shows the builder API the macros
//! expand to. The name of the template and of the prompt completes
//! (`completion/complete`) from a short list of names.

use ferry_server::{
    resource, tool, Args, CompletionRequest, Progress, PromptDef, Server, ServerBuilder, TaskSupport, ToolError,
};
use schemars::JsonSchema;
use serde::Deserialize;
use std::time::Duration;

/// Add two integers.
#[tool(task = "optional")]
pub async fn add(#[arg(description = "First addend.")] a: i64, #[arg(description = "Second addend.")] b: i64) -> i64 {
    a.wrapping_add(b)
}

/// Sleep for `ms` milliseconds, then say so.
#[tool(task = "optional")]
pub async fn sleep(#[arg(description = "How long to sleep, in milliseconds.")] ms: u64) -> String {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    format!("slept {ms}")
}

/// Fail with the given message (a tool error).
#[tool(task = "optional")]
pub async fn fail(
    #[arg(description = "The error message to fail with.")] message: String,
) -> Result<String, ToolError> {
    Err(ToolError::new(message))
}

/// Count `steps` steps, `delay_ms` apart, reporting progress.
#[tool(task = "optional")]
pub async fn progress(
    #[arg(description = "Number of steps.")] steps: u32,
    #[arg(description = "Delay between steps, in milliseconds.")] delay_ms: u64,
    progress: Progress,
) -> String {
    for i in 1..=steps {
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        progress.step(i.into(), steps.into(), &format!("step {i}/{steps}")).await;
    }
    format!("done {steps}")
}

/// Double x; only runs as a task.
#[tool(task = "required")]
pub async fn must_task(#[arg(description = "The number to double.")] x: i64) -> i64 {
    x.wrapping_mul(2)
}

/// Double x; never runs as a task.
#[tool(task = "forbidden")]
pub async fn no_task(#[arg(description = "The number to double.")] x: i64) -> i64 {
    x.wrapping_mul(2)
}

/// What this demo server is.
#[resource(uri = "ferry://demo/readme", mime_type = "text/plain", task = "optional")]
pub async fn readme() -> String {
    "Ferry demo server: try the add, sleep and progress tools.".to_string()
}

/// A greeting for `name`.
#[resource(template = "ferry://demo/greeting/{name}", mime_type = "text/plain", task = "optional")]
pub async fn greeting(#[arg(description = "Who to greet.", complete = "complete_name")] name: String) -> String {
    format!("Hello, {name}!")
}

/// Names the demo suggests for `name` arguments.
pub const NAMES: [&str; 6] = ["Ada", "Alan", "Barbara", "Edsger", "Grace", "Grete"];

/// Completes a name: the known names that start with what was typed, ignoring case.
pub async fn complete_name(req: CompletionRequest) -> Vec<String> {
    let typed = req.value.to_lowercase();
    NAMES.iter().filter(|n| n.to_lowercase().starts_with(&typed)).map(|n| n.to_string()).collect()
}

/// Arguments of the `greet` prompt.
#[derive(Deserialize, JsonSchema)]
pub struct NameArgs {
    /// Who to greet.
    pub name: String,
}

/// The demo's components on a builder, so callers can change settings or the backend.
pub fn builder() -> ServerBuilder {
    Server::builder("ferry-demo", env!("CARGO_PKG_VERSION"))
        .instructions("Demo server of Ferry: tools that add, sleep, fail, report progress, and double numbers.")
        .tool(add_tool())
        .tool(sleep_tool())
        .tool(fail_tool())
        .tool(progress_tool())
        .tool(must_task_tool())
        .tool(no_task_tool())
        .resource(readme_resource())
        .resource_template(greeting_resource())
        // The prompt is built with the builder API that `#[prompt]` expands to,
        // to keep that API demonstrated (`#[prompt]` would declare it as a function).
        .prompt(
            PromptDef::new("greet")
                .description("Ask the model to greet someone.")
                .task_support(TaskSupport::Optional)
                .handler(|Args(n): Args<NameArgs>| async move { format!("Please greet {} warmly.", n.name) })
                .complete_values("name", NAMES),
        )
}

/// The demo server with default settings.
pub fn server() -> Server {
    // The demo's components are fixed and checked by tests, so building cannot fail.
    builder().build().expect("demo server components are valid")
}
