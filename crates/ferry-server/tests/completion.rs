//! `completion/complete`: completers of prompt arguments and template variables,
//! declared with the builder and with `#[arg(complete = "...")]`, in both eras;
//! the 100-value limit; and every bad request answered with -32602.

mod support;

use support::{modern_meta, Peer};

use ferry_server::{
    prompt, resource, Args, BuildError, CompletionRequest, PromptDef, ResourceDef, ResourceTemplateDef, Server,
    ToolError,
};
use serde_json::{json, Value};

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Trip {
    country: String,
    city: String,
}

/// Cities of the country already chosen (`context.arguments`).
async fn cities(req: CompletionRequest) -> Vec<String> {
    let all: &[&str] = match req.arguments.get("country").and_then(Value::as_str) {
        Some("France") => &["Paris", "Lyon", "Lille"],
        Some("Italy") => &["Rome", "Milan"],
        _ => &[],
    };
    all.iter().filter(|c| c.starts_with(&req.value)).map(|c| c.to_string()).collect()
}

/// Plan a trip.
#[prompt]
async fn plan(
    #[arg(complete = "countries")] country: String,
    #[arg(description = "Days away.", complete = "days")] days: String,
) -> String {
    format!("Plan {days} days in {country}")
}

async fn countries(req: CompletionRequest) -> Vec<&'static str> {
    ["France", "Italy", "Finland"].into_iter().filter(|c| c.starts_with(&req.value)).collect()
}

/// Numbers 1..=150 that start with what was typed: more than one answer holds.
async fn days(req: CompletionRequest) -> Result<Vec<String>, ToolError> {
    if req.value == "x" {
        return Err(ToolError::invalid_params("days are numbers"));
    }
    Ok((1..=150).map(|n| n.to_string()).filter(|n| n.starts_with(&req.value)).collect())
}

/// A file by path.
#[resource(template = "files:///{+path}")]
async fn file(#[arg(complete = "paths")] path: String) -> String {
    format!("contents of {path}")
}

async fn paths(req: CompletionRequest) -> Vec<String> {
    vec![format!("{}/notes.txt", req.value.trim_end_matches('/'))]
}

fn server() -> Server {
    Server::builder("completion", "1")
        .prompt(
            PromptDef::new("trip")
                .handler(|Args(t): Args<Trip>| async move { format!("{} in {}", t.city, t.country) })
                .complete_values("country", ["France", "Italy", "finland"])
                .complete("city", cities),
        )
        .prompt(plan_prompt())
        .resource_template(
            ResourceTemplateDef::new("weather://{country}/{city}", "weather")
                .handler(|Args(t): Args<Trip>| async move { format!("sunny in {}", t.city) })
                .complete("city", cities),
        )
        .resource_template(file_resource())
        .resource(ResourceDef::new("weather://about", "about").handler(|| async { String::from("about") }))
        .build()
        .unwrap()
}

fn prompt_ref(name: &str, argument: &str, value: &str) -> Value {
    json!({"ref": {"type": "ref/prompt", "name": name}, "argument": {"name": argument, "value": value}})
}

fn resource_ref(uri: &str, argument: &str, value: &str) -> Value {
    json!({"ref": {"type": "ref/resource", "uri": uri}, "argument": {"name": argument, "value": value}})
}

async fn complete(p: &mut Peer, params: Value) -> Value {
    let r = p.request("completion/complete", params).await;
    assert!(r.get("error").is_none(), "{r}");
    r["result"]["completion"].clone()
}

#[tokio::test]
async fn fixed_lists_complete_by_prefix_ignoring_case() {
    let mut p = Peer::session(server()).await;
    let c = complete(&mut p, prompt_ref("trip", "country", "f")).await;
    assert_eq!(c, json!({"values": ["France", "finland"], "total": 2, "hasMore": false}));
    let c = complete(&mut p, prompt_ref("trip", "country", "")).await;
    assert_eq!(c["values"], json!(["France", "Italy", "finland"]));
}

#[tokio::test]
async fn completers_see_the_arguments_already_chosen() {
    let mut p = Peer::session(server()).await;
    let mut params = prompt_ref("trip", "city", "L");
    params["context"] = json!({"arguments": {"country": "France"}});
    assert_eq!(complete(&mut p, params).await["values"], json!(["Lyon", "Lille"]));
    // Without context the completer knows no country.
    assert_eq!(complete(&mut p, prompt_ref("trip", "city", "L")).await["values"], json!([]));
    // The same completer on a template's variable.
    let mut params = resource_ref("weather://{country}/{city}", "city", "");
    params["context"] = json!({"arguments": {"country": "Italy"}});
    assert_eq!(complete(&mut p, params).await["values"], json!(["Rome", "Milan"]));
}

#[tokio::test]
async fn macro_declared_completers_work_and_answers_hold_at_most_100() {
    let mut p = Peer::session(server()).await;
    assert_eq!(complete(&mut p, prompt_ref("plan", "country", "F")).await["values"], json!(["France", "Finland"]));
    let c = complete(&mut p, prompt_ref("plan", "days", "")).await;
    assert_eq!(c["values"].as_array().unwrap().len(), 100);
    assert_eq!(c["values"][0], "1");
    assert_eq!((c["total"].clone(), c["hasMore"].clone()), (json!(150), json!(true)));
    let c = complete(&mut p, prompt_ref("plan", "days", "14")).await;
    assert_eq!(
        c,
        json!({"values": ["14", "140", "141", "142", "143", "144", "145", "146", "147", "148", "149"],
        "total": 11, "hasMore": false})
    );
    // A template given by a URI it matches finds its completer too.
    let c = complete(&mut p, resource_ref("files:///docs/readme.md", "path", "docs/")).await;
    assert_eq!(c["values"], json!(["docs/notes.txt"]));
}

#[tokio::test]
async fn an_argument_without_a_completer_completes_to_nothing() {
    let mut p = Peer::session(server()).await;
    let c = complete(&mut p, resource_ref("weather://{country}/{city}", "country", "F")).await;
    assert_eq!(c, json!({"values": [], "total": 0, "hasMore": false}));
}

#[tokio::test]
async fn bad_completion_requests_are_invalid_params() {
    let mut p = Peer::session(server()).await;
    let cases = [
        (json!({}), "needs a 'ref' object"),
        (json!({"ref": {"type": "ref/prompt", "name": "trip"}}), "needs an 'argument' object"),
        (json!({"ref": {"type": "ref/prompt", "name": "trip"}, "argument": {"name": "city"}}), "string 'value'"),
        (json!({"ref": {"type": "ref/tool", "name": "x"}, "argument": {"name": "a", "value": ""}}), "unknown ref type"),
        (json!({"ref": {"name": "trip"}, "argument": {"name": "city", "value": ""}}), "needs a 'type'"),
        (json!({"ref": {"type": "ref/prompt"}, "argument": {"name": "city", "value": ""}}), "needs a string 'name'"),
        (prompt_ref("nope", "city", ""), "Unknown prompt: nope"),
        (prompt_ref("trip", "planet", ""), "prompt 'trip' has no argument 'planet'"),
        (resource_ref("weather://{country}/{city}", "town", ""), "has no argument 'town'"),
        (resource_ref("nowhere://x", "a", ""), "Unknown resource or template: nowhere://x"),
        (resource_ref("weather://about", "a", ""), "resource 'weather://about' has no argument 'a'"),
        (prompt_ref("plan", "days", "x"), "days are numbers"),
    ];
    for (params, expected) in cases {
        let r = p.request("completion/complete", params.clone()).await;
        assert_eq!(r["error"]["code"], -32602, "{params}: {r}");
        let message = r["error"]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{params}: {message}");
    }
}

#[tokio::test]
async fn completion_works_on_the_stateless_protocol_too() {
    let mut p = Peer::connect(server());
    let mut params = prompt_ref("trip", "country", "I");
    params["_meta"] = modern_meta(json!({}));
    let r = p.request("completion/complete", params).await;
    assert_eq!(r["result"]["completion"]["values"], json!(["Italy"]), "{r}");
    assert_eq!(r["result"]["resultType"], "complete", "{r}");
}

#[test]
fn a_completer_for_an_argument_the_component_lacks_is_a_build_error() {
    let e = Server::builder("x", "1")
        .prompt(
            PromptDef::new("trip")
                .handler(|Args(t): Args<Trip>| async move { t.city })
                .complete_values("planet", ["Mars"]),
        )
        .build()
        .err()
        .expect("refused");
    assert!(matches!(e, BuildError::UnknownCompletionArgument { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "prompt 'trip' declares a completer for 'planet', which is not one of its arguments (city, country)"
    );
    let e = Server::builder("x", "1")
        .resource_template(
            ResourceTemplateDef::new("w://{city}", "w")
                .handler(|| async { String::new() })
                .complete_values("town", ["Rome"]),
        )
        .build()
        .err()
        .expect("refused");
    assert_eq!(
        e.to_string(),
        "resource template 'w://{city}' declares a completer for 'town', which is not one of its arguments (city)"
    );
}
