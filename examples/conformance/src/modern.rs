//! Fixtures of the 0.2.0-alpha scenarios for stateless 2026-07-28 servers:
//! `input-required-result-*` (multi round-trip requests, SEP-2322),
//! `server-stateless` (SEP-2575 diagnostics and list changes on listen streams) and
//! `http-custom-header-server-validation` (`x-mcp-header`, SEP-2243).
//!
//! Each is ordinary Ferry code: questions are asked with `Context::input(key)`, the
//! rounds, the sealed `requestState` and the header checks are the framework's.

use ferry_server::{Args, Context, PromptDef, PromptMessage, ServerBuilder, ToolDef, ToolError};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};

fn one_field(field: &str, ty: &str) -> Value {
    json!({"type": "object", "properties": {field: {"type": ty}}, "required": [field]})
}

fn sampling(text: &str, max_tokens: u32) -> Value {
    json!({"messages": [{"role": "user", "content": {"type": "text", "text": text}}], "maxTokens": max_tokens})
}

/// The text of a sampling answer (`CreateMessageResult`).
fn sampled(answer: &Value) -> &str {
    answer["content"]["text"].as_str().unwrap_or("?")
}

/// The URIs of a `ListRootsResult`.
fn root_uris(answer: &Value) -> String {
    let roots = answer["roots"].as_array().map(Vec::as_slice).unwrap_or_default();
    roots.iter().filter_map(|r| r["uri"].as_str()).collect::<Vec<_>>().join(", ")
}

/// Arguments of `test_header_mirroring`: three of them mirrored into headers.
#[derive(Deserialize, JsonSchema)]
pub struct HeaderArgs {
    /// Where to run the query (sent as `Mcp-Param-Region` too).
    #[schemars(extend("x-mcp-header" = "Region"))]
    pub region: String,
    /// How urgent it is (sent as `Mcp-Param-Priority` when given).
    #[serde(default)]
    #[schemars(extend("x-mcp-header" = "Priority"))]
    pub priority: Option<i64>,
    /// Say more (sent as `Mcp-Param-Verbose` when given).
    #[serde(default)]
    #[schemars(extend("x-mcp-header" = "Verbose"))]
    pub verbose: Option<bool>,
    /// The query; not mirrored.
    pub query: String,
}

/// `input-required-result-*`: tools and a prompt that ask the client for input.
pub(crate) fn input_required_fixtures(b: ServerBuilder) -> ServerBuilder {
    b.tool(ToolDef::new("test_input_required_result_elicitation").description("Asks the user's name").handler(
        |cx: Context| async move {
            let a = cx.input("user_name").elicit("What is your name?", one_field("name", "string")).await?;
            Ok::<_, ToolError>(format!("Hello, {}!", a["content"]["name"].as_str().unwrap_or("?")))
        },
    ))
    .tool(
        ToolDef::new("test_input_required_result_sampling").description("Asks the client's model a question").handler(
            |cx: Context| async move {
                let a = cx.input("capital_question").sample(sampling("What is the capital of France?", 100)).await?;
                Ok::<_, ToolError>(format!("The model said: {}", sampled(&a)))
            },
        ),
    )
    .tool(ToolDef::new("test_input_required_result_list_roots").description("Asks for the client's roots").handler(
        |cx: Context| async move {
            let a = cx.input("client_roots").list_roots().await?;
            Ok::<_, ToolError>(format!("Roots: {}", root_uris(&a)))
        },
    ))
    .tool(
        ToolDef::new("test_input_required_result_request_state")
            .description("Asks for a confirmation and checks its own state on the retry")
            .handler(|cx: Context| async move {
                // What the first round kept must come back unchanged with the answer.
                let checked = cx.request_state() == Some(&json!({"asked": "confirm"}));
                cx.set_request_state(json!({"asked": "confirm"}));
                let a = cx.input("confirm").elicit("Please confirm", one_field("ok", "boolean")).await?;
                if !checked {
                    return Err(ToolError::new("the request state did not come back"));
                }
                Ok(format!("state-ok, confirmed={}", a["content"]["ok"]))
            }),
    )
    .tool(
        ToolDef::new("test_input_required_result_multiple_inputs")
            .description("Asks for a name, a greeting and the roots at once")
            .handler(|cx: Context| async move {
                let (name, greeting, roots) = tokio::join!(
                    cx.input("user_name").elicit("What is your name?", one_field("name", "string")),
                    cx.input("greeting").sample(sampling("Generate a greeting", 50)),
                    cx.input("client_roots").list_roots(),
                );
                let (name, greeting, roots) = (name?, greeting?, roots?);
                Ok::<_, ToolError>(format!(
                    "{} {}, roots: {}",
                    sampled(&greeting),
                    name["content"]["name"].as_str().unwrap_or("?"),
                    root_uris(&roots)
                ))
            }),
    )
    .tool(
        ToolDef::new("test_input_required_result_multi_round")
            .description("Asks two questions, one round each")
            .handler(|cx: Context| async move {
                let name = cx.input("step1").elicit("Step 1: What is your name?", one_field("name", "string")).await?;
                let color = cx
                    .input("step2")
                    .elicit("Step 2: What is your favorite color?", one_field("color", "string"))
                    .await?;
                Ok::<_, ToolError>(format!(
                    "{} likes {}",
                    name["content"]["name"].as_str().unwrap_or("?"),
                    color["content"]["color"].as_str().unwrap_or("?")
                ))
            }),
    )
    .tool(
        ToolDef::new("test_input_required_result_tampered_state")
            .description("Asks for a confirmation; its state is sealed against tampering")
            .handler(|cx: Context| async move {
                cx.set_request_state(json!({"may_delete": false}));
                let a = cx.input("confirm").elicit("Please confirm", one_field("ok", "boolean")).await?;
                Ok::<_, ToolError>(format!("confirmed={}", a["content"]["ok"]))
            }),
    )
    .tool(
        ToolDef::new("test_input_required_result_capabilities")
            .description("Asks only what the client declared it can answer")
            .handler(|cx: Context| async move {
                let mut said = Vec::new();
                if cx.client_supports("sampling") {
                    let a = cx.input("model_hint").sample(sampling("Say something", 20)).await?;
                    said.push(format!("model: {}", sampled(&a)));
                }
                if cx.client_supports("elicitation") {
                    let a = cx.input("user_name").elicit("What is your name?", one_field("name", "string")).await?;
                    said.push(format!("user: {}", a["content"]["name"]));
                }
                Ok::<_, ToolError>(if said.is_empty() { "nothing to ask".to_string() } else { said.join("; ") })
            }),
    )
    .prompt(
        PromptDef::new("test_input_required_result_prompt").description("A prompt that asks for context").handler(
            |cx: Context| async move {
                let a = cx
                    .input("user_context")
                    .elicit("What context should the prompt use?", one_field("context", "string"))
                    .await?;
                let context = a["content"]["context"].as_str().unwrap_or_default().to_string();
                Ok::<_, ToolError>(vec![PromptMessage::user(format!("Use this context: {context}"))])
            },
        ),
    )
}

/// `server-stateless`: diagnostics of SEP-2575, and hooks that change the lists.
pub(crate) fn stateless_fixtures(b: ServerBuilder) -> ServerBuilder {
    b.tool(
        ToolDef::new("test_missing_capability")
            .description("Needs sampling: a client that did not declare it gets -32021")
            .handler(|cx: Context| async move {
                let a = cx.sample(sampling("Say hello", 10)).await?;
                Ok::<_, ToolError>(sampled(&a).to_string())
            }),
    )
    .tool(
        ToolDef::new("test_streaming_elicitation")
            .description("Asks the user a question: on a stateless request, an InputRequiredResult")
            .handler(|cx: Context| async move {
                let a = cx.elicit("Continue?", one_field("ok", "boolean")).await?;
                Ok::<_, ToolError>(format!("answer: {}", a["action"]))
            }),
    )
    .tool(ToolDef::new("test_logging_tool").description("Logs three messages (sent only if the request asks)").handler(
        |cx: Context| async move {
            for step in ["starting", "working", "done"] {
                cx.info(step);
            }
            "logged three messages"
        },
    ))
    .tool(ToolDef::new("test_trigger_tool_change").description("Adds or removes the tool test_dynamic_tool").handler(
        |cx: Context| async move {
            let server = cx.server();
            if server.remove_tool("test_dynamic_tool") {
                return Ok("removed test_dynamic_tool".to_string());
            }
            let tool = ToolDef::new("test_dynamic_tool").description("Comes and goes").handler(|| async { "here" });
            server.add_tool(tool).map_err(|e| ToolError::new(e.to_string()))?;
            Ok::<_, ToolError>("added test_dynamic_tool".to_string())
        },
    ))
    .tool(
        ToolDef::new("test_trigger_prompt_change")
            .description("Adds or removes the prompt test_dynamic_prompt")
            .handler(|cx: Context| async move {
                let server = cx.server();
                if server.remove_prompt("test_dynamic_prompt") {
                    return Ok("removed test_dynamic_prompt".to_string());
                }
                let prompt = PromptDef::new("test_dynamic_prompt")
                    .description("Comes and goes")
                    .handler(|| async { "here".to_string() });
                server.add_prompt(prompt).map_err(|e| ToolError::new(e.to_string()))?;
                Ok::<_, ToolError>("added test_dynamic_prompt".to_string())
            }),
    )
    .tool(
        ToolDef::new("test_header_mirroring")
            .description("Runs a query in a region; region, priority and verbose travel in Mcp-Param-* headers")
            .handler(|Args(a): Args<HeaderArgs>| async move {
                format!("ran '{}' in {} (priority {:?}, verbose {:?})", a.query, a.region, a.priority, a.verbose)
            }),
    )
}
