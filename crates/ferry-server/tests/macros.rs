//! `#[tool]`, `#[prompt]` and `#[resource]`: components declared as plain
//! functions, driven over newline-delimited JSON-RPC (`Server::serve_io`).

mod support;

use support::Peer;

use ferry_server::engine::Job;
use ferry_server::{
    prompt, resource, tool, Args, BuildError, Context, Dep, FromCall, Json, Prepared, Progress, Provided, Server,
    ServerBuilder, State, TaskHandle, ToolError,
};
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

// ---------------------------------------------------------------- tools

/// Add two integers.
///
/// Wraps around on overflow.
#[tool(task = "optional", read_only, idempotent, open_world = false)]
async fn add(#[arg(description = "First addend.")] a: i64, #[arg(description = "Second addend.")] b: i64) -> i64 {
    a.wrapping_add(b)
}

/// Greet someone.
#[tool(name = "greet_person", title = "Greeter", description = "Say hello (explicit description).")]
pub async fn greet(
    #[arg(description = "Who to greet.")] name: String,
    #[arg(description = "Shout it?")] loud: Option<bool>,
    #[arg(default, rename = "times", description = "How often (default 0 means once).")] repeat: u32,
) -> String {
    let text = format!("Hello, {name}!");
    let text = if loud.unwrap_or(false) { text.to_uppercase() } else { text };
    vec![text; repeat.max(1) as usize].join(" ")
}

/// A label registered as state.
struct Label {
    text: &'static str,
}

/// A fake connection made by a provider.
struct Conn {
    id: u32,
}

/// Echo `text` with everything injected: state, a provided dependency, the
/// context, progress and the task handle.
#[tool]
async fn whoami(
    text: String,
    state: State<Label>,
    db: Dep<Conn>,
    cx: Context,
    progress: Progress,
    task: TaskHandle,
) -> String {
    progress.step(1, 1, "echoing").await;
    format!(
        "{text} | state {} | conn {} | task {} | session {}",
        state.text,
        db.id,
        task.is_task(),
        cx.session_id().is_some()
    )
}

/// Someone's own extractor, injected with `#[inject]`.
struct Caller(String);

impl FromCall for Caller {
    async fn from_call(_cx: &Context, _args: &Map<String, Value>) -> Result<Self, ToolError> {
        Ok(Caller("the real caller".to_string()))
    }
}

/// Say who calls.
#[tool]
async fn caller(#[inject] who: Caller, suffix: Option<String>) -> String {
    format!("{}{}", who.0, suffix.unwrap_or_default())
}

/// Fibonacci, computed by a plain (sync) function on the blocking pool.
#[tool(task = "optional")]
fn fib(#[arg(description = "Which Fibonacci number.")] mut n: u64) -> u64 {
    let (mut a, mut b) = (0u64, 1u64);
    while n > 0 {
        (a, b) = (b, a.wrapping_add(b));
        n -= 1;
    }
    a
}

/// Read the label (sync, only injected parameters).
#[tool]
fn label(state: State<Label>) -> String {
    state.text.to_string()
}

/// Sleep, but only as a task and never longer than 150 ms.
#[tool(task = "required", timeout_ms = 150, destructive)]
async fn slow(ms: u64) -> String {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    format!("slept {ms}")
}

static FLAKY_RUNS: AtomicU32 = AtomicU32::new(0);

/// Fail transiently once, then succeed.
#[tool(task = "optional", retries = 1)]
async fn flaky() -> Result<String, ToolError> {
    match FLAKY_RUNS.fetch_add(1, Ordering::SeqCst) {
        0 => Err(ToolError::retryable("try again")),
        n => Ok(format!("ok on run {}", n + 1)),
    }
}

/// A point.
#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Point {
    /// Horizontal.
    x: i64,
    /// Vertical.
    y: i64,
}

/// Manhattan length of a point given as `Args<T>`.
#[tool(task = "forbidden")]
async fn manhattan(Args(p): Args<Point>, _cx: Context) -> i64 {
    p.x.abs() + p.y.abs()
}

mod weather {
    /// The user's own type called `State`: an argument, not an injected value.
    #[derive(serde::Deserialize, schemars::JsonSchema, Debug)]
    pub enum State {
        /// Sun.
        Sunny,
        /// Rain.
        Rainy,
    }
}

/// Statistics of some numbers.
#[derive(serde::Serialize, schemars::JsonSchema)]
struct Stats {
    count: usize,
    sum: f64,
}

/// Describe the weather; `type` is a raw identifier.
#[tool]
async fn forecast(#[arg] state: weather::State, r#type: String, values: Vec<f64>) -> Json<Stats> {
    let _ = (state, r#type);
    Json(Stats { count: values.len(), sum: values.iter().sum() })
}

/// Add what the prepare step (chained on the generated definition) returned.
#[tool]
async fn plus_prepared(x: i64, Prepared(n): Prepared<i64>) -> i64 {
    x + n
}

#[doc = concat!(" Described by ", "a macro.")]
///   Indented second line.
#[tool]
async fn macro_doc() -> &'static str {
    "ok"
}

// ---------------------------------------------------------------- prompts

/// Ask the model to write an essay.
#[prompt(title = "Essay", task = "optional")]
async fn essay(
    #[arg(description = "What to write about.")] topic: String,
    #[arg(description = "Roughly how many words.")] words: Option<u32>,
    state: State<Label>,
) -> String {
    format!("Write {} words about {topic} ({}).", words.unwrap_or(500), state.text)
}

/// A fixed prompt from a plain function.
#[prompt(name = "hello")]
fn hello_prompt_fn(cx: Context) -> String {
    format!("Say hello (session: {}).", cx.session_id().is_some())
}

/// Names the thread it runs on: a plain function runs on the blocking pool.
#[prompt]
fn pool_prompt() -> String {
    thread_name()
}

fn thread_name() -> String {
    std::thread::current().name().unwrap_or("unnamed").to_string()
}

// ---------------------------------------------------------------- resources

/// Names the thread it runs on.
#[resource(uri = "test://pool")]
fn pool_resource() -> String {
    thread_name()
}

/// The message of the day.
#[resource(uri = "test://motd", mime_type = "text/plain")]
fn motd() -> String {
    "Welcome aboard".to_string()
}

/// A file below a folder.
#[resource(template = "test://files/{dir}/{+path}", name = "file", title = "A file", mime_type = "text/plain")]
async fn file(
    #[arg(description = "The folder.")] dir: String,
    #[arg(description = "The path below it.")] path: String,
    state: State<Label>,
) -> String {
    format!("dir={dir} path={path} label={}", state.text)
}

/// A user, by id (renamed variable).
#[resource(template = "test://users/{id}", task = "required")]
async fn user(#[arg(rename = "id")] user_id: String) -> String {
    format!("user {user_id}")
}

// ---------------------------------------------------------------- server

fn builder() -> ServerBuilder {
    Server::builder("macros", "1")
        .state(Label { text: "the real label" })
        .provider(|_cx: Context| async move { Ok(Provided::new(Conn { id: 7 })) })
        .tool(add_tool())
        .tool(greet_tool())
        .tool(whoami_tool())
        .tool(caller_tool())
        .tool(fib_tool())
        .tool(label_tool())
        .tool(slow_tool())
        .tool(flaky_tool())
        .tool(manhattan_tool())
        .tool(forecast_tool())
        .tool(macro_doc_tool())
        .tool(plus_prepared_tool().prepare(|| async { Ok::<_, ToolError>(41) }))
        .prompt(essay_prompt())
        .prompt(hello_prompt_fn_prompt())
        .prompt(pool_prompt_prompt())
        .resource(motd_resource())
        .resource(pool_resource_resource())
        .resource_template(file_resource())
        .resource_template(user_resource())
}

async fn session() -> Peer {
    Peer::session(builder().build().expect("valid server")).await
}

fn find(list: &Value, key: &str, name: &str) -> Value {
    list["result"][key]
        .as_array()
        .and_then(|a| a.iter().find(|t| t["name"] == name))
        .cloned()
        .unwrap_or_else(|| panic!("no {name} in {list}"))
}

fn text(response: &Value) -> String {
    response["result"]["content"][0]["text"].as_str().unwrap_or_else(|| panic!("no text in {response}")).to_string()
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
    k.sort();
    k
}

fn required(schema: &Value) -> Vec<String> {
    let mut r: Vec<String> = schema["required"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    r.sort();
    r
}

#[tokio::test]
async fn functions_stay_callable() {
    assert_eq!(add(2, 3).await, 5);
    assert_eq!(fib(10), 55);
    assert_eq!(greet("Ada".into(), Some(true), 2).await, "HELLO, ADA! HELLO, ADA!");
    assert_eq!(motd(), "Welcome aboard");
    // The generated definitions are ordinary builder values.
    assert_eq!(add_tool().name(), "add");
    assert_eq!(greet_tool().name(), "greet_person");
}

#[tokio::test]
async fn tools_are_listed_with_names_descriptions_and_schemas() {
    let mut p = session().await;
    let tools = p.request("tools/list", json!({})).await;

    let add = find(&tools, "tools", "add");
    assert_eq!(add["description"], "Add two integers.\n\nWraps around on overflow.");
    let schema = &add["inputSchema"];
    assert_eq!(schema["type"], "object");
    assert_eq!(keys(&schema["properties"]), ["a", "b"]);
    assert_eq!(schema["properties"]["a"]["description"], "First addend.");
    assert_eq!(schema["properties"]["b"]["description"], "Second addend.");
    assert_eq!(required(schema), ["a", "b"]);
    assert_eq!(add["execution"]["taskSupport"], "optional");
    assert_eq!(add["annotations"], json!({"readOnlyHint": true, "idempotentHint": true, "openWorldHint": false}));

    let greet = find(&tools, "tools", "greet_person");
    assert_eq!(greet["title"], "Greeter");
    assert_eq!(greet["description"], "Say hello (explicit description).");
    let schema = &greet["inputSchema"];
    assert_eq!(keys(&schema["properties"]), ["loud", "name", "times"]);
    assert_eq!(required(schema), ["name"], "Option and defaulted arguments are optional: {schema}");
    assert_eq!(schema["properties"]["loud"]["description"], "Shout it?");
    assert_eq!(schema["properties"]["times"]["description"], "How often (default 0 means once).");
    assert!(greet.get("annotations").is_none_or(Value::is_null));

    let fib = find(&tools, "tools", "fib");
    assert_eq!(fib["description"], "Fibonacci, computed by a plain (sync) function on the blocking pool.");
    assert_eq!(keys(&fib["inputSchema"]["properties"]), ["n"]);

    // Doc attributes that are not literals are joined the same way, at run time.
    assert_eq!(find(&tools, "tools", "macro_doc")["description"], "Described by a macro.\n  Indented second line.");

    let slow = find(&tools, "tools", "slow");
    assert_eq!(slow["execution"], json!({"taskSupport": "required"}));
    assert_eq!(slow["annotations"], json!({"destructiveHint": true}));

    // Server default (forbidden) when the macro says nothing; explicit "forbidden" too.
    assert_eq!(find(&tools, "tools", "whoami")["execution"]["taskSupport"], "forbidden");
    assert_eq!(find(&tools, "tools", "manhattan")["execution"]["taskSupport"], "forbidden");

    // Args<T> passes through: T's schema, T's field docs.
    let manhattan = find(&tools, "tools", "manhattan");
    assert_eq!(keys(&manhattan["inputSchema"]["properties"]), ["x", "y"]);
    assert_eq!(manhattan["inputSchema"]["properties"]["x"]["description"], "Horizontal.");

    // `#[arg]` makes a `State`-named type an argument; raw identifiers lose their `r#`;
    // `Json<T>` gives an output schema.
    let forecast = find(&tools, "tools", "forecast");
    assert_eq!(keys(&forecast["inputSchema"]["properties"]), ["state", "type", "values"]);
    assert_eq!(keys(&forecast["outputSchema"]["properties"]), ["count", "sum"]);
}

#[tokio::test]
async fn injected_parameters_are_neither_in_the_schema_nor_settable() {
    let mut p = session().await;
    let tools = p.request("tools/list", json!({})).await;
    let whoami = find(&tools, "tools", "whoami");
    assert_eq!(keys(&whoami["inputSchema"]["properties"]), ["text"]);
    assert_eq!(required(&whoami["inputSchema"]), ["text"]);
    let label = find(&tools, "tools", "label");
    assert_eq!(label["inputSchema"], json!({"type": "object", "properties": {}}));
    let plus = find(&tools, "tools", "plus_prepared");
    assert_eq!(keys(&plus["inputSchema"]["properties"]), ["x"]);
    let caller = find(&tools, "tools", "caller");
    assert_eq!(keys(&caller["inputSchema"]["properties"]), ["suffix"]);

    // A caller naming the injected parameters changes nothing.
    let r = p
        .call(
            "whoami",
            json!({"text": "hi", "state": "fake", "db": {"id": 99}, "cx": null, "progress": 5, "task": true}),
        )
        .await;
    assert_eq!(text(&r), "hi | state the real label | conn 7 | task false | session true", "{r}");
    let r = p.call("label", json!({"state": "fake", "0": "fake"})).await;
    assert_eq!(text(&r), "the real label");
    let r = p.call("caller", json!({"who": "an impostor", "suffix": "!"})).await;
    assert_eq!(text(&r), "the real caller!");
}

#[tokio::test]
async fn tools_are_called() {
    let mut p = session().await;
    assert_eq!(text(&p.call("add", json!({"a": 2, "b": 40})).await), "42");
    let r = p.call("greet_person", json!({"name": "Ada"})).await;
    assert_eq!(text(&r), "Hello, Ada!");
    let r = p.call("greet_person", json!({"name": "Ada", "loud": true, "times": 2})).await;
    assert_eq!(text(&r), "HELLO, ADA! HELLO, ADA!");
    // The Rust name of a renamed argument is not its wire name.
    let r = p.call("greet_person", json!({"name": "Ada", "repeat": 3})).await;
    assert_eq!(text(&r), "Hello, Ada!");
    // A sync function, directly and as a task.
    assert_eq!(text(&p.call("fib", json!({"n": 20})).await), "6765");
    let created = p.request("tools/call", json!({"name": "fib", "arguments": {"n": 30}, "task": {}})).await;
    let id = created["result"]["task"]["taskId"].as_str().expect("a task id").to_string();
    let result = p.request("tasks/result", json!({"taskId": id})).await;
    assert_eq!(text(&result), "832040");
    assert_eq!(text(&p.call("manhattan", json!({"x": -3, "y": 4})).await), "7");
    let r = p.call("plus_prepared", json!({"x": 1, "n": 1000})).await;
    assert_eq!(text(&r), "42", "{r}");
    let r = p.call("forecast", json!({"state": "Rainy", "type": "daily", "values": [1.5, 2.5]})).await;
    assert_eq!(r["result"]["structuredContent"], json!({"count": 2, "sum": 4.0}));
    // Missing or mistyped arguments are rejected as with the builder API (a
    // tool error or an invalid-params error, whichever the server reports).
    let rejected = |r: &Value, what: &str| {
        let message = r["error"]["message"].as_str().or(r["result"]["content"][0]["text"].as_str());
        let flagged = r["error"]["code"] == -32602 || r["result"]["isError"] == true;
        assert!(flagged && message.unwrap_or_default().contains(what), "{r}");
    };
    rejected(&p.call("add", json!({"a": 1})).await, "missing field `b`");
    rejected(&p.call("add", json!({"a": "one", "b": 2})).await, "invalid type");
}

#[tokio::test]
async fn task_required_tools_and_timeouts() {
    let mut p = session().await;
    // Not as a task: refused, since the tool requires one.
    let direct = p.call("slow", json!({"ms": 1})).await;
    assert!(direct.get("error").is_some(), "{direct}");
    // A quick run finishes.
    let created = p.request("tools/call", json!({"name": "slow", "arguments": {"ms": 1}, "task": {}})).await;
    let id = created["result"]["task"]["taskId"].as_str().expect("a task id").to_string();
    assert_eq!(text(&p.request("tasks/result", json!({"taskId": id})).await), "slept 1");
    // A long one is stopped by `timeout_ms`.
    let created = p.request("tools/call", json!({"name": "slow", "arguments": {"ms": 10000}, "task": {}})).await;
    let id = created["result"]["task"]["taskId"].as_str().expect("a task id").to_string();
    let result = tokio::time::timeout(Duration::from_secs(5), p.request("tasks/result", json!({"taskId": id})))
        .await
        .expect("the timeout ends the task well before 10 s");
    assert!(result.to_string().contains("timed out after 150 ms"), "{result}");
    let status = p.request("tasks/get", json!({"taskId": id})).await;
    assert_eq!(status["result"]["status"], "failed", "{status}");
}

#[tokio::test]
async fn retries_are_applied() {
    let mut p = session().await;
    let created = p.request("tools/call", json!({"name": "flaky", "arguments": {}, "task": {}})).await;
    let id = created["result"]["task"]["taskId"].as_str().expect("a task id").to_string();
    let result = p.request("tasks/result", json!({"taskId": id})).await;
    assert_eq!(text(&result), "ok on run 2", "{result}");
}

#[tokio::test]
async fn executor_sees_timeout_and_retries() {
    let server = builder().build().expect("valid server");
    let executor = server.executor();
    let job = |name: &str| Job {
        task_id: "t".into(),
        kind: "tools/call".into(),
        name: name.into(),
        arguments: json!({}),
        context: json!({}),
        attempt: 1,
        not_before: None,
        trace: None,
    };
    assert_eq!(executor.timeout(&job("slow")), Some(Duration::from_millis(150)));
    assert_eq!(executor.max_attempts(&job("slow")), 1);
    assert_eq!(executor.timeout(&job("flaky")), None);
    assert_eq!(executor.max_attempts(&job("flaky")), 2);
}

#[tokio::test]
async fn prompts_are_listed_and_rendered() {
    let mut p = session().await;
    let prompts = p.request("prompts/list", json!({})).await;
    let essay = find(&prompts, "prompts", "essay");
    assert_eq!(essay["title"], "Essay");
    assert_eq!(essay["description"], "Ask the model to write an essay.");
    let args = essay["arguments"].as_array().expect("arguments");
    let arg = |n: &str| args.iter().find(|a| a["name"] == n).cloned().unwrap_or_default();
    assert_eq!(args.len(), 2, "the injected state is no argument: {essay}");
    assert_eq!(arg("topic")["description"], "What to write about.");
    assert_eq!(arg("topic")["required"], true);
    assert_eq!(arg("words")["description"], "Roughly how many words.");
    assert_ne!(arg("words")["required"], true);

    let r = p.request("prompts/get", json!({"name": "essay", "arguments": {"topic": "ferries", "state": "x"}})).await;
    assert_eq!(r["result"]["messages"][0]["content"]["text"], "Write 500 words about ferries (the real label).");
    let r = p.request("prompts/get", json!({"name": "hello"})).await;
    assert_eq!(r["result"]["messages"][0]["content"]["text"], "Say hello (session: true).");
    let hello = find(&prompts, "prompts", "hello");
    assert_eq!(hello["description"], "A fixed prompt from a plain function.");
    // task = "optional" on a prompt: it can run as a task.
    let created = p.request("prompts/get", json!({"name": "essay", "arguments": {"topic": "x"}, "task": {}})).await;
    let id = created["result"]["task"]["taskId"].as_str().expect("a task id").to_string();
    let r = p.request("tasks/result", json!({"taskId": id})).await;
    assert_eq!(r["result"]["messages"][0]["content"]["text"], "Write 500 words about x (the real label).");
}

#[tokio::test]
async fn resources_and_templates() {
    let mut p = session().await;
    let list = p.request("resources/list", json!({})).await;
    let motd = list["result"]["resources"].as_array().and_then(|a| a.first()).cloned().unwrap_or_default();
    assert_eq!(motd["uri"], "test://motd");
    assert_eq!(motd["name"], "motd");
    assert_eq!(motd["mimeType"], "text/plain");
    assert_eq!(motd["description"], "The message of the day.");
    let r = p.request("resources/read", json!({"uri": "test://motd"})).await;
    assert_eq!(r["result"]["contents"][0]["text"], "Welcome aboard");
    assert_eq!(r["result"]["contents"][0]["uri"], "test://motd");

    let templates = p.request("resources/templates/list", json!({})).await;
    let file = find(&templates, "resourceTemplates", "file");
    assert_eq!(file["uriTemplate"], "test://files/{dir}/{+path}");
    assert_eq!(file["title"], "A file");
    assert_eq!(file["description"], "A file below a folder.");
    assert_eq!(file["mimeType"], "text/plain");
    let user = find(&templates, "resourceTemplates", "user");
    assert_eq!(user["uriTemplate"], "test://users/{id}");

    // Template variables become the arguments; `{+path}` keeps its slashes.
    let r = p.request("resources/read", json!({"uri": "test://files/docs/a/b%20c.txt"})).await;
    assert_eq!(r["result"]["contents"][0]["text"], "dir=docs path=a/b c.txt label=the real label", "{r}");
    assert_eq!(r["result"]["contents"][0]["uri"], "test://files/docs/a/b%20c.txt");

    // A renamed argument takes the variable of its wire name; task = "required" applies.
    let created = p.request("resources/read", json!({"uri": "test://users/42", "task": {}})).await;
    let id = created["result"]["task"]["taskId"].as_str().expect("a task id").to_string();
    let r = p.request("tasks/result", json!({"taskId": id})).await;
    assert_eq!(r["result"]["contents"][0]["text"], "user 42", "{r}");
}

/// Sync prompt and resource functions run on Tokio's blocking pool, not inline
/// on the runtime thread (here the test's own thread, which serves the session).
#[tokio::test]
async fn sync_prompts_and_resources_run_on_the_blocking_pool() {
    let mut p = session().await;
    let here = thread_name();
    let r = p.request("prompts/get", json!({"name": "pool_prompt"})).await;
    let ran_on = r["result"]["messages"][0]["content"]["text"].as_str().expect("a text").to_string();
    assert_ne!(ran_on, here, "{r}");
    let r = p.request("resources/read", json!({"uri": "test://pool"})).await;
    let ran_on = r["result"]["contents"][0]["text"].as_str().expect("a text").to_string();
    assert_ne!(ran_on, here, "{r}");
    // The thread is the test's own (current-thread runtime), so run inline the names would match.
    assert!(here.contains("blocking_pool"), "{here}");
}

#[test]
fn a_missing_provider_or_state_is_a_build_error() {
    let e = Server::builder("x", "1").state(Label { text: "l" }).tool(whoami_tool()).build().err();
    assert!(
        matches!(&e, Some(BuildError::MissingProvider { component, type_name })
            if component == "tool 'whoami'" && type_name.ends_with("Conn")),
        "{e:?}"
    );
    let e = Server::builder("x", "1").prompt(essay_prompt()).build().err();
    assert!(matches!(&e, Some(BuildError::MissingState { .. })), "{e:?}");
    let e = Server::builder("x", "1").resource_template(file_resource()).build().err();
    assert!(matches!(&e, Some(BuildError::MissingState { .. })), "{e:?}");
    let e = Server::builder("x", "1").tool(plus_prepared_tool()).build().err();
    assert!(matches!(&e, Some(BuildError::NoPrepareStep { .. })), "{e:?}");
    // With everything registered it builds.
    assert!(Server::builder("x", "1")
        .state(Label { text: "l" })
        .provider(|_cx: Context| async move { Ok(Provided::new(Conn { id: 1 })) })
        .tool(whoami_tool())
        .build()
        .is_ok());
}
