//! A Ferry server exposing every fixture the official MCP conformance suites
//! call on a server under test:
//!
//! * `@modelcontextprotocol/conformance` 0.1.16 (protocol 2025-11-25 sessions):
//!   the `test_*` tools, resources, template and prompts, with the names, URIs
//!   and contents the scenarios check;
//! * `@modelcontextprotocol/conformance` 0.2.0-alpha.12, `tasks-*` scenarios
//!   (the `io.modelcontextprotocol/tasks` extension on stateless 2026-07-28):
//!   `greet`, `slow_compute`, `failing_job`, `protocol_error_job`,
//!   `confirm_delete`, `multi_input` and `test_tool_with_task`;
//! * the same version's other 2026-07-28 scenarios: `input-required-result-*`,
//!   `server-stateless` diagnostics, `json-schema-2020-12` and
//!   `http-custom-header-server-validation` (see `modern.rs`).
//!
//! Everything is built with ordinary framework features (`ToolDef`, `Args<T>`,
//! `Context`, `Progress`, task support modes); only tool contents are literal.
//! `INTEROP.md` at the workspace root says how to run the suites against it.

mod modern;

use ferry_server::protocol::ErrorObject;
use ferry_server::{
    Args, CallToolResult, Content, Context, GetPromptResult, LoggingLevel, Prepared, Progress, PromptDef,
    PromptMessage, ResourceContents, ResourceDef, ResourceTemplateDef, Server, ServerBuilder, TaskSupport, ToolDef,
    ToolError,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;

/// A 1x1 PNG (base64).
pub const PNG_BASE64: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

/// A tiny WAV file: 8 samples of 8 kHz mono silence (base64).
pub const WAV_BASE64: &str = "UklGRiwAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQgAAACAgICAgICAgA==";

fn image() -> Content {
    Content::Image { data: PNG_BASE64.into(), mime_type: "image/png".into() }
}

fn embedded(uri: &str, mime_type: &str, text: &str) -> Content {
    Content::Resource {
        resource: ResourceContents {
            uri: uri.into(),
            mime_type: Some(mime_type.into()),
            text: Some(text.into()),
            blob: None,
        },
    }
}

/// Arguments of `test_sampling`.
#[derive(Deserialize, JsonSchema)]
pub struct SamplingArgs {
    /// The prompt to send to the client's model.
    pub prompt: String,
}

/// Arguments of `test_elicitation`.
#[derive(Deserialize, JsonSchema)]
pub struct ElicitationArgs {
    /// The message to show the user.
    pub message: String,
}

/// A postal address (the `$defs` entry of `json_schema_2020_12_tool`).
#[derive(Deserialize, JsonSchema)]
#[schemars(rename = "address", extend("$anchor" = "addressDef"))]
pub struct Address {
    /// Street and number.
    #[serde(default)]
    pub street: Option<String>,
    /// City.
    #[serde(default)]
    pub city: Option<String>,
}

/// How to reach someone (`contactMethod` of `json_schema_2020_12_tool`).
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ContactMethod {
    /// By phone.
    Phone,
    /// By email.
    Email,
}

/// Arguments of `json_schema_2020_12_tool`: the schema carries `$schema`, `$defs` (with an
/// `$anchor`), `additionalProperties: false`, a composition (`allOf`/`anyOf`) and a
/// condition (`if`/`then`/`else`), all from schemars attributes; Ferry lists it unchanged.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(extend(
    "$schema" = "https://json-schema.org/draft/2020-12/schema",
    "allOf" = [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if" = {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then" = {"required": ["phone"]},
    "else" = {"required": ["email"]},
))]
pub struct JsonSchema2020Args {
    /// A name.
    #[serde(default)]
    pub name: Option<String>,
    /// An address.
    #[serde(default)]
    pub address: Option<Address>,
    /// How to reach them.
    #[serde(default)]
    pub contact_method: Option<ContactMethod>,
    /// A phone number.
    #[serde(default)]
    pub phone: Option<String>,
    /// An email address.
    #[serde(default)]
    pub email: Option<String>,
}

/// Arguments of `greet`.
#[derive(Deserialize, JsonSchema)]
pub struct GreetArgs {
    /// Who to greet.
    pub name: String,
}

/// Arguments of `slow_compute`.
#[derive(Deserialize, JsonSchema)]
pub struct SlowComputeArgs {
    /// How long to work, in seconds (0 answers at once).
    pub seconds: f64,
    /// A label echoed in the result.
    #[serde(default)]
    pub label: String,
}

/// Arguments of `confirm_delete`.
#[derive(Deserialize, JsonSchema)]
pub struct ConfirmDeleteArgs {
    /// The file to (pretend to) delete.
    pub filename: String,
}

/// Arguments of the `test://template/{id}/data` template.
#[derive(Deserialize, JsonSchema)]
pub struct TemplateArgs {
    /// The id in the URI.
    pub id: String,
}

/// Arguments of `test_prompt_with_arguments`.
#[derive(Deserialize, JsonSchema)]
pub struct PromptArgs {
    /// First argument.
    pub arg1: String,
    /// Second argument.
    pub arg2: String,
}

/// Arguments of `test_prompt_with_embedded_resource`.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmbeddedPromptArgs {
    /// URI of the resource to embed.
    pub resource_uri: String,
}

/// Sleep, unless the execution is cancelled first. Returns whether it slept through.
async fn sleep_or_cancel(cx: &Context, d: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = cx.cancellation().cancelled() => false,
    }
}

fn confirm_schema() -> Value {
    json!({"type": "object", "properties": {"confirm": {"type": "boolean", "description": "Really do it?"}}, "required": ["confirm"]})
}

fn name_schema() -> Value {
    json!({"type": "object", "properties": {
        "name": {"type": "string", "description": "Your name"},
        "confirm": {"type": "boolean", "description": "Confirm"}
    }, "required": ["name"]})
}

fn accepted(answer: &Value) -> bool {
    answer.get("action").and_then(Value::as_str) == Some("accept")
}

/// Tools, resources and prompts of the 0.1.16 suite (2025-11-25 sessions).
fn core_fixtures(b: ServerBuilder) -> ServerBuilder {
    b.tool(
        ToolDef::new("test_simple_text")
            .description("Returns a simple text response")
            .handler(|| async { "This is a simple text response for testing." }),
    )
    .tool(ToolDef::new("test_image_content").description("Returns an image (PNG)").handler(|| async { image() }))
    .tool(
        ToolDef::new("test_audio_content")
            .description("Returns audio (WAV)")
            .handler(|| async { Content::Audio { data: WAV_BASE64.into(), mime_type: "audio/wav".into() } }),
    )
    .tool(ToolDef::new("test_embedded_resource").description("Returns an embedded text resource").handler(|| async {
        embedded("test://embedded-resource", "text/plain", "This is an embedded resource content.")
    }))
    .tool(
        ToolDef::new("test_multiple_content_types")
            .description("Returns text, an image and an embedded resource")
            .handler(|| async {
                vec![
                    Content::text("Multiple content types test:"),
                    image(),
                    embedded("test://mixed-content-resource", "application/json", r#"{"test":"data","value":123}"#),
                ]
            }),
    )
    .tool(ToolDef::new("test_tool_with_logging").description("Logs three messages while it runs").handler(
        |cx: Context| async move {
            for (i, message) in
                ["Tool execution started", "Tool processing data", "Tool execution completed"].into_iter().enumerate()
            {
                if i > 0 {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                cx.log(LoggingLevel::Info, message);
            }
            "Logging test completed"
        },
    ))
    .tool(
        ToolDef::new("test_error_handling").description("Always fails with a tool error").handler(|| async {
            Err::<String, _>(ToolError::new("This tool intentionally returns an error for testing"))
        }),
    )
    .tool(ToolDef::new("test_tool_with_progress").description("Reports progress 0, 50, 100 of 100").handler(
        |progress: Progress| async move {
            for (i, p) in [0.0, 50.0, 100.0].into_iter().enumerate() {
                if i > 0 {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                progress.report(p, Some(100.0), None).await;
            }
            "Progress test completed"
        },
    ))
    .tool(ToolDef::new("test_sampling").description("Asks the client's model to answer a prompt").handler(
        |Args(a): Args<SamplingArgs>, cx: Context| async move {
            let answer = cx
                .sample(json!({
                    "messages": [{"role": "user", "content": {"type": "text", "text": a.prompt}}],
                    "maxTokens": 100,
                }))
                .await?;
            let text = answer["content"]["text"].as_str().unwrap_or_default().to_string();
            Ok::<_, ToolError>(format!("LLM response: {text}"))
        },
    ))
    .tool(ToolDef::new("test_elicitation").description("Asks the user for a username and an email").handler(
        |Args(a): Args<ElicitationArgs>, cx: Context| async move {
            let schema = json!({"type": "object", "properties": {
                "username": {"type": "string", "description": "Your username"},
                "email": {"type": "string", "description": "Your email address"}
            }, "required": ["username", "email"]});
            let answer = cx.elicit(&a.message, schema).await?;
            Ok::<_, ToolError>(format!("User response: {answer}"))
        },
    ))
    .tool(
        ToolDef::new("test_elicitation_sep1034_defaults")
            .description("Elicitation whose fields have defaults (SEP-1034)")
            .handler(|cx: Context| async move {
                let schema = json!({"type": "object", "properties": {
                    "name": {"type": "string", "description": "Name", "default": "John Doe"},
                    "age": {"type": "integer", "description": "Age", "default": 30},
                    "score": {"type": "number", "description": "Score", "default": 95.5},
                    "status": {"type": "string", "description": "Status",
                               "enum": ["active", "inactive", "pending"], "default": "active"},
                    "verified": {"type": "boolean", "description": "Verified", "default": true}
                }});
                let answer = cx.elicit("Please review and update the form fields with defaults", schema).await?;
                Ok::<_, ToolError>(format!(
                    "Elicitation completed: action={}, content={}",
                    answer["action"].as_str().unwrap_or("?"),
                    answer["content"]
                ))
            }),
    )
    .tool(
        ToolDef::new("test_elicitation_sep1330_enums")
            .description("Elicitation with every enum shape (SEP-1330)")
            .handler(|cx: Context| async move {
                let schema = json!({"type": "object", "properties": {
                    "untitledSingle": {"type": "string", "description": "Pick one",
                                       "enum": ["option1", "option2", "option3"]},
                    "titledSingle": {"type": "string", "description": "Pick one (titled)", "oneOf": [
                        {"const": "value1", "title": "First Option"},
                        {"const": "value2", "title": "Second Option"},
                        {"const": "value3", "title": "Third Option"}]},
                    "legacyEnum": {"type": "string", "description": "Pick one (legacy)",
                                   "enum": ["opt1", "opt2", "opt3"],
                                   "enumNames": ["Option One", "Option Two", "Option Three"]},
                    "untitledMulti": {"type": "array", "description": "Pick several",
                                      "items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
                    "titledMulti": {"type": "array", "description": "Pick several (titled)", "items": {"anyOf": [
                        {"const": "value1", "title": "First Choice"},
                        {"const": "value2", "title": "Second Choice"},
                        {"const": "value3", "title": "Third Choice"}]}}
                }});
                let answer = cx.elicit("Please choose from the enum options", schema).await?;
                Ok::<_, ToolError>(format!(
                    "Elicitation completed: action={}, content={}",
                    answer["action"].as_str().unwrap_or("?"),
                    answer["content"]
                ))
            }),
    )
    .tool(ToolDef::new("json_schema_2020_12_tool").description("Tool with JSON Schema 2020-12 features").handler(
        |Args(a): Args<JsonSchema2020Args>| async move {
            let city = a.address.and_then(|ad| ad.city).unwrap_or_default();
            format!("name={}, city={city}", a.name.unwrap_or_default())
        },
    ))
    .tool(
        ToolDef::new("test_reconnection")
            .description("Closes its SSE stream mid-call, then answers: the client resumes with Last-Event-ID")
            .handler(|cx: Context| async move {
                cx.close_stream();
                tokio::time::sleep(Duration::from_millis(100)).await;
                "Reconnection test completed"
            }),
    )
    .resource(
        ResourceDef::new("test://static-text", "static-text")
            .description("A static text resource")
            .mime_type("text/plain")
            .handler(|| async { "This is the content of the static text resource.".to_string() }),
    )
    .resource(
        ResourceDef::new("test://static-binary", "static-binary")
            .description("A static binary resource (PNG)")
            .mime_type("image/png")
            .handler(|| async {
                ResourceContents {
                    uri: "test://static-binary".into(),
                    mime_type: Some("image/png".into()),
                    text: None,
                    blob: Some(PNG_BASE64.into()),
                }
            }),
    )
    .resource(
        ResourceDef::new("test://watched-resource", "watched-resource")
            .description("A resource clients can subscribe to")
            .mime_type("text/plain")
            .handler(|| async { "Watched resource content.".to_string() }),
    )
    .resource_template(
        ResourceTemplateDef::new("test://template/{id}/data", "template-data")
            .description("Data for an id")
            .mime_type("application/json")
            .handler(|Args(t): Args<TemplateArgs>| async move {
                let text = json!({"id": t.id, "templateTest": true, "data": format!("Data for ID: {}", t.id)});
                ResourceContents {
                    uri: format!("test://template/{}/data", t.id),
                    mime_type: Some("application/json".into()),
                    text: Some(text.to_string()),
                    blob: None,
                }
            }),
    )
    .prompt(
        PromptDef::new("test_simple_prompt")
            .description("A simple prompt without arguments")
            .handler(|| async { "This is a simple prompt for testing.".to_string() }),
    )
    .prompt(
        PromptDef::new("test_prompt_with_arguments")
            .description("A prompt with two arguments")
            .handler(|Args(a): Args<PromptArgs>| async move {
                format!("Prompt with arguments: arg1='{}', arg2='{}'", a.arg1, a.arg2)
            })
            // The completion scenario asks for `arg1` starting with "test".
            .complete_values("arg1", ["test", "testing", "tested", "paris", "park"]),
    )
    .prompt(PromptDef::new("test_prompt_with_embedded_resource").description("A prompt embedding a resource").handler(
        |Args(a): Args<EmbeddedPromptArgs>| async move {
            vec![
                PromptMessage {
                    role: "user".into(),
                    content: embedded(&a.resource_uri, "text/plain", "Embedded resource content for testing."),
                },
                PromptMessage::user("Please process the embedded resource above."),
            ]
        },
    ))
    .prompt(PromptDef::new("test_prompt_with_image").description("A prompt with an image").handler(|| async {
        GetPromptResult {
            description: None,
            messages: vec![
                PromptMessage { role: "user".into(), content: image() },
                PromptMessage::user("Please analyze the image above."),
            ],
        }
    }))
}

/// Tools of the 0.2.0-alpha `tasks-*` scenarios (stateless 2026-07-28 with the tasks extension).
fn task_fixtures(b: ServerBuilder) -> ServerBuilder {
    b.tool(
        ToolDef::new("greet")
            .description("Greets someone; never runs as a task")
            .task_support(TaskSupport::Forbidden)
            .handler(|Args(g): Args<GreetArgs>| async move { format!("Hello, {}!", g.name) }),
    )
    .tool(
        ToolDef::new("slow_compute")
            .description("Works for `seconds` seconds; runs as a task when the client supports tasks")
            .task_support(TaskSupport::Optional)
            .handler(|Args(a): Args<SlowComputeArgs>, cx: Context| async move {
                let secs = if a.seconds.is_finite() { a.seconds.clamp(0.0, 3600.0) } else { 0.0 };
                if !sleep_or_cancel(&cx, Duration::from_secs_f64(secs)).await {
                    return Err(ToolError::new("cancelled"));
                }
                Ok(format!("{}: computed for {secs} s", a.label))
            }),
    )
    .tool(
        ToolDef::new("failing_job")
            .description("Only runs as a task; ends with a tool error after about a second")
            .task_support(TaskSupport::Required)
            .handler(|cx: Context| async move {
                sleep_or_cancel(&cx, Duration::from_secs(1)).await;
                Err::<String, _>(ToolError::new("failing_job failed on purpose"))
            }),
    )
    .tool(
        ToolDef::new("protocol_error_job")
            .description("Only runs as a task; ends with a JSON-RPC error")
            .task_support(TaskSupport::Required)
            .handler(|cx: Context| async move {
                sleep_or_cancel(&cx, Duration::from_millis(200)).await;
                Err::<String, _>(ToolError::rpc(ErrorObject::internal("protocol_error_job failed on purpose")))
            }),
    )
    .tool(
        ToolDef::new("confirm_delete")
            .description("Asks for confirmation, then (pretends to) delete a file")
            .task_support(TaskSupport::Optional)
            .handler(|Args(a): Args<ConfirmDeleteArgs>, cx: Context| async move {
                let answer = cx.elicit(&format!("Delete {}?", a.filename), confirm_schema()).await?;
                let confirmed = accepted(&answer) && answer["content"]["confirm"] == json!(true);
                Ok::<_, ToolError>(if confirmed {
                    format!("Deleted {}", a.filename)
                } else {
                    format!("Kept {}", a.filename)
                })
            }),
    )
    .tool(
        ToolDef::new("multi_input")
            .description("Asks two questions at once")
            .task_support(TaskSupport::Optional)
            .handler(|cx: Context| async move {
                let (a, b) = tokio::join!(
                    cx.elicit("First input: your name?", name_schema()),
                    cx.elicit("Second input: your name?", name_schema())
                );
                let (a, b) = (a?, b?);
                Ok::<_, ToolError>(format!(
                    "Got {} and {}",
                    a["content"]["name"].as_str().unwrap_or("?"),
                    b["content"]["name"].as_str().unwrap_or("?")
                ))
            }),
    )
    .tool(
        ToolDef::new("test_tool_with_task")
            .description("Asks for a name first (before any task exists), then greets it in a background task")
            .task_support(TaskSupport::Required)
            // Asked in the request itself: on the stateless wire that is an MRTR round
            // (`input_required`), and only the round with the answer creates the task.
            .prepare(|cx: Context| async move {
                let answer = cx.elicit("Please enter your name.", name_schema()).await?;
                if !accepted(&answer) {
                    return Err(ToolError::new("no name given"));
                }
                Ok(answer["content"]["name"].as_str().unwrap_or("stranger").to_string())
            })
            .handler(|Prepared(name): Prepared<String>, cx: Context| async move {
                sleep_or_cancel(&cx, Duration::from_millis(500)).await;
                CallToolResult::text(format!("Hello, {name}!"))
            }),
    )
}

/// Every fixture on a builder (change settings or the backend before building).
pub fn builder() -> ServerBuilder {
    let b = Server::builder("ferry-conformance", env!("CARGO_PKG_VERSION"))
        .instructions("Fixtures for the MCP conformance suites, served by Ferry.");
    let b = task_fixtures(core_fixtures(b));
    modern::stateless_fixtures(modern::input_required_fixtures(b))
}

/// The fixture server.
pub fn server() -> Result<Server, ferry_server::BuildError> {
    builder().build()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_fixture_builds() {
        let server = super::server().expect("fixtures are valid");
        assert!(server.config().instructions.is_some());
    }
}
