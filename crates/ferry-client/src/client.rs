//! The client: connect, negotiate, call.

use crate::error::ClientError;
use crate::task::{TaskHandle, TaskInfo};
use crate::transport::{Hints, HttpTransport, IoTransport, StdioTransport, Transport, DEFAULT_MAX_MESSAGE};
use ferry_protocol::headers::{header_params, HeaderParam};
use ferry_protocol::tasks::EXTENSION_ID;
use ferry_protocol::types::{
    CallToolResult, Completion, CompletionReference, GetPromptResult, Implementation, Prompt, ReadResourceResult,
    Resource, ResourceTemplate, Tool,
};
use ferry_protocol::version::{
    LATEST_HANDSHAKE, META_CLIENT_CAPABILITIES, META_CLIENT_INFO, META_PROTOCOL_VERSION, MODERN,
};
use ferry_protocol::{ErrorCode, ErrorObject, Message, Notification, Request, RequestId, Response, TaskSupport};
use futures::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, mpsc};

/// Most rounds of input a stateless request may ask for before the client gives up.
const MAX_INPUT_ROUNDS: usize = 16;

/// Which protocol era to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Probe with `server/discover` (2026-07-28); fall back to `initialize` (2025-11-25).
    #[default]
    Auto,
    /// Always `initialize` (2025-11-25 and tasks Form A).
    Handshake,
    /// Always stateless 2026-07-28 (tasks Form B).
    Modern,
}

/// Answers a request from the server (`elicitation/create`, `sampling/createMessage`).
pub type InputHandler = Arc<dyn Fn(Value) -> BoxFuture<'static, Result<Value, ErrorObject>> + Send + Sync>;

/// How to connect.
///
/// ```
/// use ferry_client::{ClientOptions, Mode};
/// use serde_json::json;
/// let options = ClientOptions::default()
///     .mode(Mode::Handshake)
///     .on_elicit(|_request| async { Ok(json!({"action": "accept", "content": {"name": "Ada"}})) });
/// ```
#[derive(Clone, Default)]
pub struct ClientOptions {
    pub(crate) mode: Mode,
    pub(crate) info: Option<Implementation>,
    pub(crate) elicit: Option<InputHandler>,
    pub(crate) sample: Option<InputHandler>,
    pub(crate) task_ttl_ms: Option<u64>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) max_message_bytes: Option<usize>,
    pub(crate) roots: Option<Vec<Value>>,
    pub(crate) log_level: Option<String>,
    pub(crate) oauth: Option<crate::oauth::OAuthConfig>,
}

impl ClientOptions {
    /// Choose the protocol era.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }
    /// Name and version sent to the server.
    pub fn client_info(mut self, name: &str, version: &str) -> Self {
        self.info = Some(Implementation::new(name, version));
        self
    }
    /// Ask servers to keep tasks (and their results) this long, in ms. Only the
    /// 2025-11-25 form lets a requestor ask; servers may grant less.
    pub fn task_ttl_ms(mut self, ttl: u64) -> Self {
        self.task_ttl_ms = Some(ttl);
        self
    }
    /// Send this HTTP header with every request (credentials, tracing ...).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    /// The longest message accepted from a stdio server, in bytes (default 64 MiB).
    /// A longer line is skipped as it arrives, without being buffered, and logged.
    pub fn max_message_bytes(mut self, max: usize) -> Self {
        self.max_message_bytes = Some(max);
        self
    }
    /// Ask for the server's log messages (`notifications/message`) at `level` and above
    /// (`debug`, `info`, ... `emergency`): `logging/setLevel` after a 2025-11-25 handshake,
    /// the `io.modelcontextprotocol/logLevel` request meta on 2026-07-28. Read them from
    /// [`Client::notifications`].
    pub fn log_level(mut self, level: impl Into<String>) -> Self {
        self.log_level = Some(level.into());
        self
    }
    /// Authenticate with `Authorization: Bearer <token>` (HTTP). On a server
    /// with an authenticator, tasks belong to the token's subject: any client
    /// with the same credentials, in any process, can list and fetch them.
    pub fn bearer_token(self, token: impl std::fmt::Display) -> Self {
        self.header("authorization", format!("Bearer {token}"))
    }
    /// Sign in to a server that is an OAuth protected resource when it asks (HTTP): see
    /// [`oauth`](crate::oauth). The tokens it gets replace any `authorization` header.
    pub fn oauth(mut self, config: crate::oauth::OAuthConfig) -> Self {
        self.oauth = Some(config);
        self
    }
    /// Answer `elicitation/create` (also declares the `elicitation` capability).
    pub fn on_elicit<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, ErrorObject>> + Send + 'static,
    {
        self.elicit = Some(Arc::new(move |v| Box::pin(f(v))));
        self
    }
    /// Offer these roots (`file://` URIs and display names) to servers that ask with
    /// `roots/list` (also declares the `roots` capability). Without roots the client
    /// declares none, and a server asking is told the method is not handled.
    ///
    /// ```
    /// let options = ferry_client::ClientOptions::default().roots([("file:///home/ada/project", "project")]);
    /// ```
    pub fn roots<U: Into<String>, N: Into<String>>(mut self, roots: impl IntoIterator<Item = (U, N)>) -> Self {
        let list = roots.into_iter().map(|(uri, name)| json!({"uri": uri.into(), "name": name.into()})).collect();
        self.roots = Some(list);
        self
    }
    /// Answer `sampling/createMessage` (also declares the `sampling` capability).
    pub fn on_sample<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, ErrorObject>> + Send + 'static,
    {
        self.sample = Some(Arc::new(move |v| Box::pin(f(v))));
        self
    }
}

/// A connection to an MCP server.
///
/// Cheap to clone. Requests may run concurrently.
///
/// ```no_run
/// # async fn run() -> Result<(), ferry_client::ClientError> {
/// use ferry_client::{Client, ClientOptions};
/// use serde_json::json;
/// let client = Client::connect_http("http://127.0.0.1:8765/mcp", ClientOptions::default()).await?;
/// let task = client.call_tool_task("sleep", json!({"ms": 1000})).await?;
/// println!("started {:?}", task.id());
/// let result = task.await?; // call now, fetch later
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    transport: Box<dyn Transport>,
    pub(crate) modern: bool,
    protocol_version: Mutex<String>,
    server_caps: Mutex<Value>,
    server_info: Mutex<Value>,
    client_caps: Value,
    info: Implementation,
    next_id: AtomicI64,
    notifications: broadcast::Sender<Notification>,
    tools: Mutex<HashMap<String, TaskSupport>>,
    /// The `x-mcp-header` parameters of each listed tool (2026-07-28), to mirror into headers.
    mirrored: Mutex<HashMap<String, Vec<HeaderParam>>>,
    /// `close` was called.
    closed: std::sync::atomic::AtomicBool,
    pub(crate) options: ClientOptions,
}

impl Client {
    /// Connect to a Streamable HTTP endpoint.
    pub async fn connect_http(url: &str, options: ClientOptions) -> Result<Client, ClientError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let oauth = options.oauth.clone().map(|c| Arc::new(crate::oauth::OAuth::new(c, url)));
        let transport = Box::new(HttpTransport::new(url.to_string(), options.headers.clone(), oauth, tx)?);
        Self::negotiate(transport, rx, options).await
    }

    /// Start a server process and talk to it over its stdin/stdout.
    pub async fn connect_stdio(
        command: tokio::process::Command,
        options: ClientOptions,
    ) -> Result<Client, ClientError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let transport = Box::new(StdioTransport::spawn(command, options.max_message_bytes, tx)?);
        Self::negotiate(transport, rx, options).await
    }

    /// Talk newline-delimited JSON-RPC over any reader and writer: a server in the same
    /// process through an in-memory pipe (the `ferrymcp` facade's `connect_in_process`
    /// does that for a `Server`), a socket, a serial line.
    pub async fn connect_io<R, W>(reader: R, writer: W, options: ClientOptions) -> Result<Client, ClientError>
    where
        R: tokio::io::AsyncRead + Unpin + Send + 'static,
        W: tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (tx, rx) = mpsc::unbounded_channel();
        let max = options.max_message_bytes.unwrap_or(DEFAULT_MAX_MESSAGE);
        let transport = Box::new(IoTransport::new(reader, writer, max, tx));
        Self::negotiate(transport, rx, options).await
    }

    async fn negotiate(
        transport: Box<dyn Transport>,
        inbox: mpsc::UnboundedReceiver<Message>,
        options: ClientOptions,
    ) -> Result<Client, ClientError> {
        let mut client_caps = json!({});
        if options.elicit.is_some() {
            client_caps["elicitation"] = json!({});
        }
        if options.sample.is_some() {
            client_caps["sampling"] = json!({});
        }
        if options.roots.is_some() {
            client_caps["roots"] = json!({});
        }
        let info =
            options.info.clone().unwrap_or_else(|| Implementation::new("ferry-client", env!("CARGO_PKG_VERSION")));
        let (notifications, _) = broadcast::channel(1024);
        let make = |modern: bool, transport: Box<dyn Transport>| {
            Arc::new(Inner {
                transport,
                modern,
                protocol_version: Mutex::new(if modern { MODERN.into() } else { String::new() }),
                server_caps: Mutex::new(json!({})),
                server_info: Mutex::new(json!({})),
                client_caps: client_caps.clone(),
                info: info.clone(),
                next_id: AtomicI64::new(1),
                notifications: notifications.clone(),
                tools: Mutex::new(HashMap::new()),
                mirrored: Mutex::new(HashMap::new()),
                closed: Default::default(),
                options: options.clone(),
            })
        };
        let client = if options.mode == Mode::Handshake {
            Client { inner: make(false, transport) }
        } else {
            let probe = Client { inner: make(true, transport) };
            match probe.request("server/discover", json!({})).await {
                Ok(found) if supports_modern(&found) => {
                    *lock(&probe.inner.server_caps) = found.get("capabilities").cloned().unwrap_or_default();
                    let info =
                        found.pointer("/_meta/io.modelcontextprotocol~1serverInfo").or_else(|| found.get("serverInfo"));
                    *lock(&probe.inner.server_info) = info.cloned().unwrap_or_default();
                    probe
                }
                other if options.mode == Mode::Modern => {
                    return Err(match other {
                        Err(e) => e,
                        Ok(_) => ClientError::Protocol("the server does not speak protocol 2026-07-28".into()),
                    })
                }
                _ => {
                    // Not a modern server: reuse the transport for a handshake.
                    let inner = Arc::try_unwrap(probe.inner)
                        .map_err(|_| ClientError::Protocol("client still in use during negotiation".into()))?;
                    Client { inner: make(false, inner.transport) }
                }
            }
        };
        tokio::spawn(serve_inbox(Arc::downgrade(&client.inner), inbox));
        if !client.inner.modern {
            client.initialize().await?;
        }
        Ok(client)
    }

    async fn initialize(&self) -> Result<(), ClientError> {
        let result = self
            .request(
                "initialize",
                json!({"protocolVersion": LATEST_HANDSHAKE, "capabilities": self.inner.client_caps, "clientInfo": self.inner.info}),
            )
            .await?;
        let version = result
            .get("protocolVersion")
            .and_then(Value::as_str)
            .ok_or_else(|| ClientError::Protocol("initialize result has no protocolVersion".into()))?;
        *lock(&self.inner.protocol_version) = version.to_string();
        *lock(&self.inner.server_caps) = result.get("capabilities").cloned().unwrap_or_default();
        *lock(&self.inner.server_info) = result.get("serverInfo").cloned().unwrap_or_default();
        self.notify("notifications/initialized", json!({})).await?;
        self.inner.transport.listen(self.hints(None)).await;
        if let Some(level) = &self.inner.options.log_level {
            if self.server_capabilities().get("logging").is_some() {
                self.request("logging/setLevel", json!({ "level": level })).await?;
            }
        }
        Ok(())
    }

    /// The negotiated protocol version.
    pub fn protocol_version(&self) -> String {
        lock(&self.inner.protocol_version).clone()
    }

    /// Whether this is a stateless 2026-07-28 connection (tasks Form B).
    pub fn is_modern(&self) -> bool {
        self.inner.modern
    }

    /// The server's capabilities.
    pub fn server_capabilities(&self) -> Value {
        lock(&self.inner.server_caps).clone()
    }

    /// The server's name and version.
    pub fn server_info(&self) -> Value {
        lock(&self.inner.server_info).clone()
    }

    /// The session id the server gave (Streamable HTTP in the 2025-11-25 era), for logs
    /// and for reaching the same session from elsewhere.
    pub fn session_id(&self) -> Option<String> {
        self.inner.transport.session_id()
    }

    /// Notifications from the server (progress, logs, task status...).
    pub fn notifications(&self) -> broadcast::Receiver<Notification> {
        self.inner.notifications.subscribe()
    }

    pub(crate) fn hints(&self, name: Option<&str>) -> Hints {
        let version = lock(&self.inner.protocol_version).clone();
        Hints {
            protocol_version: (!version.is_empty()).then_some(version),
            name: name.map(str::to_string),
            method_header: self.inner.modern,
            params: Vec::new(),
        }
    }

    /// The `Mcp-Param-*` headers of a `tools/call` (2026-07-28): each argument the tool
    /// marks with `x-mcp-header`, encoded; absent and null arguments send none.
    fn mirrored_params(&self, params: &Value) -> Vec<(String, String)> {
        let (Some(tool), Some(arguments)) =
            (params.get("name").and_then(Value::as_str), params.get("arguments").and_then(Value::as_object))
        else {
            return Vec::new();
        };
        let known = lock(&self.inner.mirrored);
        let Some(marked) = known.get(tool) else { return Vec::new() };
        marked.iter().filter_map(|p| Some((p.header(), p.render(p.value_in(arguments)?)?))).collect()
    }

    fn with_meta(&self, mut params: Value) -> Value {
        if !self.inner.modern {
            return params;
        }
        let mut caps = self.inner.client_caps.clone();
        caps["extensions"] = json!({ EXTENSION_ID: {} });
        if !params.is_object() {
            params = json!({});
        }
        let meta = params.as_object_mut().and_then(|p| {
            p.entry("_meta").or_insert_with(|| json!({}));
            p.get_mut("_meta").and_then(Value::as_object_mut)
        });
        if let Some(m) = meta {
            m.insert(META_PROTOCOL_VERSION.into(), json!(MODERN));
            m.insert(META_CLIENT_CAPABILITIES.into(), caps);
            m.insert(META_CLIENT_INFO.into(), json!(self.inner.info));
            if let Some(level) = &self.inner.options.log_level {
                m.insert("io.modelcontextprotocol/logLevel".into(), json!(level));
            }
        }
        params
    }

    /// Send any request; returns its result or the server's error.
    pub async fn request(&self, method: &str, params: Value) -> Result<Value, ClientError> {
        self.request_as(self.next_request_id(), method, params).await
    }

    /// Open a `subscriptions/listen` stream (2026-07-28) for `[value]` under `key` of the
    /// filter, in the background. Its request id tells its acknowledgement and
    /// notifications apart; aborting the handle closes it.
    pub(crate) fn open_listen(&self, key: &str, value: &str) -> (RequestId, tokio::task::JoinHandle<()>) {
        let id = self.next_request_id();
        let (client, request_id) = (self.clone(), id.clone());
        let params = json!({ "notifications": { key: [value] } });
        let task = tokio::spawn(async move {
            if let Err(e) = client.request_as(request_id, "subscriptions/listen", params).await {
                tracing::debug!(error = %e, "the listen stream ended");
            }
        });
        (id, task)
    }

    /// A fresh id for a request sent with [`Client::request_as`].
    pub(crate) fn next_request_id(&self) -> RequestId {
        RequestId::Number(self.inner.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// Send a request under a given id (to recognise what the server sends about it).
    pub(crate) async fn request_as(&self, id: RequestId, method: &str, params: Value) -> Result<Value, ClientError> {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(ClientError::Closed(method.to_string()));
        }
        let name = match method {
            "tools/call" | "prompts/get" => params.get("name").and_then(Value::as_str).map(str::to_string),
            "resources/read" => params.get("uri").and_then(Value::as_str).map(str::to_string),
            m if m.starts_with("tasks/") => params.get("taskId").and_then(Value::as_str).map(str::to_string),
            _ => None,
        };
        // Abandoning a request (dropping its future) cancels it on the server, as the MCP
        // cancellation rules ask; a lost HTTP connection alone does not (streams resume).
        // `initialize` is never cancelled; stateless (2026-07-28) requests end with their connection.
        let armed = !self.inner.modern && method != "initialize";
        let mut guard = CancelOnDrop(armed.then(|| (self.clone(), id.clone())));
        let mirrored = method == "tools/call" && self.inner.modern;
        let mut hints = self.hints(name.as_deref());
        if mirrored {
            hints.params = self.mirrored_params(&params);
        }
        let req = Request::new(id, method, Some(self.with_meta(params)));
        let mut resp = self.inner.transport.request(req.clone(), hints.clone()).await;
        // Headers the server wants but we did not know of: the tool's schema changed or was
        // never listed. Read the tools again and retry once, as SEP-2243 suggests.
        let refused = matches!(&resp, Ok(r) if r.error.as_ref().is_some_and(|e| e.code == ErrorCode::HEADER_MISMATCH));
        if mirrored && refused && Box::pin(self.list_tools()).await.is_ok() {
            hints.params = self.mirrored_params(req.params.as_ref().unwrap_or(&Value::Null));
            resp = self.inner.transport.request(req, hints).await;
        }
        guard.0 = None;
        let resp = resp?;
        match (resp.result, resp.error) {
            (_, Some(e)) => Err(ClientError::Rpc(e)),
            (Some(v), None) => Ok(v),
            (None, None) => Err(ClientError::Protocol(format!("{method}: empty response"))),
        }
    }

    async fn notify(&self, method: &str, params: Value) -> Result<(), ClientError> {
        self.inner.transport.notify(Notification::new(method, Some(params)), self.hints(None)).await
    }

    /// All tools (following pagination).
    pub async fn list_tools(&self) -> Result<Vec<Tool>, ClientError> {
        let mut tools: Vec<Tool> = self.list_all("tools/list", "tools").await?;
        if self.inner.modern {
            // A tool whose x-mcp-header annotations break the rules is left out (SEP-2243),
            // so one bad definition does not keep the others from being used.
            let mut mirrored = lock(&self.inner.mirrored);
            mirrored.clear();
            tools.retain(|t| match header_params(&t.input_schema) {
                Ok(params) => {
                    mirrored.insert(t.name.clone(), params);
                    true
                }
                Err(reason) => {
                    tracing::warn!(tool = %t.name, %reason, "tool left out: invalid x-mcp-header");
                    false
                }
            });
        }
        let mut known = lock(&self.inner.tools);
        for t in &tools {
            known.insert(t.name.clone(), t.execution.as_ref().map(|e| e.task_support).unwrap_or_default());
        }
        Ok(tools)
    }

    /// All prompts (following pagination).
    pub async fn list_prompts(&self) -> Result<Vec<Prompt>, ClientError> {
        self.list_all("prompts/list", "prompts").await
    }

    /// All fixed resources (following pagination).
    pub async fn list_resources(&self) -> Result<Vec<Resource>, ClientError> {
        self.list_all("resources/list", "resources").await
    }

    /// All resource templates (following pagination).
    pub async fn list_resource_templates(&self) -> Result<Vec<ResourceTemplate>, ClientError> {
        self.list_all("resources/templates/list", "resourceTemplates").await
    }

    /// Every item of a paginated list method.
    pub async fn list_all<T: DeserializeOwned>(&self, method: &str, key: &str) -> Result<Vec<T>, ClientError> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let params = match &cursor {
                Some(c) => json!({"cursor": c}),
                None => json!({}),
            };
            let page = self.request(method, params).await?;
            let list = page.get(key).cloned().unwrap_or_else(|| json!([]));
            items.extend(parse::<Vec<T>>(list)?);
            match page.get("nextCursor").and_then(Value::as_str) {
                Some(c) => cursor = Some(c.to_string()),
                None => return Ok(items),
            }
        }
    }

    /// Call a tool and wait for its result (a tool error is a result with `is_error`).
    ///
    /// When the server decides to run it as a task anyway (it may, on the 2026-07-28
    /// wire), the task is followed to its end.
    pub async fn call_tool(&self, name: &str, arguments: Value) -> Result<CallToolResult, ClientError> {
        self.complete("tools/call", json!({"name": name, "arguments": arguments})).await
    }

    /// A plain request whose answer may still be a task, or may ask for input first
    /// (2026-07-28): wait for the task; answer input rounds with the user's handlers.
    async fn complete<T: DeserializeOwned>(&self, method: &str, mut params: Value) -> Result<T, ClientError> {
        let mut responses = Map::new();
        for _round in 0..MAX_INPUT_ROUNDS {
            let result = self.request(method, params.clone()).await?;
            match result.get("resultType").and_then(Value::as_str) {
                Some("task") => {
                    let info = TaskInfo::from_wire(&result)?;
                    return TaskHandle::<T>::attach(self.clone(), info.task_id, None).result().await;
                }
                Some("input_required") => {
                    let asked = result.get("inputRequests").and_then(Value::as_object).cloned().unwrap_or_default();
                    if asked.is_empty() {
                        return Err(ClientError::Protocol(format!("{method}: input_required without inputRequests")));
                    }
                    for (key, req) in asked {
                        if responses.contains_key(&key) {
                            continue;
                        }
                        let what = req.get("method").and_then(Value::as_str).unwrap_or_default().to_string();
                        let answer = self.answer(&what, req.get("params").cloned().unwrap_or_else(|| json!({}))).await;
                        responses.insert(key, answer.map_err(ClientError::Rpc)?);
                    }
                    params["inputResponses"] = Value::Object(responses.clone());
                    // Echo the state exactly, and none when the server gave none.
                    match (result.get("requestState"), params.as_object_mut()) {
                        (Some(state), _) => params["requestState"] = state.clone(),
                        (None, Some(p)) => drop(p.remove("requestState")),
                        (None, None) => {}
                    }
                }
                _ => return parse(result),
            }
        }
        Err(ClientError::Protocol(format!("{method}: still asking for input after {MAX_INPUT_ROUNDS} rounds")))
    }

    /// Call a tool as a task: returns at once with a handle to await, poll or cancel.
    /// A server may still answer at once; the handle then holds the result.
    pub async fn call_tool_task(
        &self,
        name: &str,
        arguments: Value,
    ) -> Result<TaskHandle<CallToolResult>, ClientError> {
        self.check_task_support("tools/call")?;
        if !self.inner.modern {
            let support = self.tool_support(name).await?;
            if support == TaskSupport::Forbidden {
                return Err(ClientError::TaskForbidden(name.to_string()));
            }
        }
        self.start_task("tools/call", json!({"name": name, "arguments": arguments})).await
    }

    /// Whether the server runs `method` as a task at all ([`ClientError::NoTaskSupport`] if not).
    fn check_task_support(&self, method: &str) -> Result<(), ClientError> {
        let caps = self.server_capabilities();
        let offered = if self.inner.modern {
            // 2026-07-28: tasks are the extension, which `server/discover` lists when offered.
            caps.pointer(&format!("/extensions/{}", EXTENSION_ID.replace('/', "~1"))).is_some()
        } else {
            let (group, verb) = method.split_once('/').unwrap_or((method, ""));
            caps.pointer(&format!("/tasks/requests/{group}/{verb}")).is_some()
        };
        if offered {
            Ok(())
        } else {
            Err(ClientError::NoTaskSupport(method.to_string()))
        }
    }

    /// Get a prompt.
    pub async fn get_prompt(&self, name: &str, arguments: Value) -> Result<GetPromptResult, ClientError> {
        self.complete("prompts/get", json!({"name": name, "arguments": arguments})).await
    }

    /// Get a prompt as a task (2025-11-25 servers that declare it).
    pub async fn get_prompt_task(
        &self,
        name: &str,
        arguments: Value,
    ) -> Result<TaskHandle<GetPromptResult>, ClientError> {
        self.start_task("prompts/get", json!({"name": name, "arguments": arguments})).await
    }

    /// Read a resource.
    pub async fn read_resource(&self, uri: &str) -> Result<ReadResourceResult, ClientError> {
        self.complete("resources/read", json!({"uri": uri})).await
    }

    /// Read a resource as a task (2025-11-25 servers that declare it).
    pub async fn read_resource_task(&self, uri: &str) -> Result<TaskHandle<ReadResourceResult>, ClientError> {
        self.start_task("resources/read", json!({"uri": uri})).await
    }

    /// Suggestions for an argument of a prompt or resource template
    /// (`completion/complete`): `value` is what was typed so far, `context` the
    /// other arguments already chosen (name to value).
    ///
    /// ```no_run
    /// # async fn run(client: ferry_client::Client) -> Result<(), ferry_client::ClientError> {
    /// use ferry_client::CompletionReference;
    /// let prompt = CompletionReference::Prompt { name: "greet".into() };
    /// let names = client.complete_argument(prompt, "name", "Gr", &[]).await?;
    /// println!("{:?} of {:?}", names.values, names.total);
    /// # Ok(()) }
    /// ```
    pub async fn complete_argument(
        &self,
        reference: CompletionReference,
        argument: &str,
        value: &str,
        context: &[(&str, &str)],
    ) -> Result<Completion, ClientError> {
        let mut params = json!({"ref": reference, "argument": {"name": argument, "value": value}});
        if !context.is_empty() {
            let arguments: Map<String, Value> = context.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
            params["context"] = json!({ "arguments": arguments });
        }
        let result = self.request("completion/complete", params).await?;
        serde_json::from_value(result.get("completion").cloned().unwrap_or(Value::Null))
            .map_err(|e| ClientError::Protocol(format!("completion/complete: {e}")))
    }

    /// A handle on an existing task, by id: fetch later, even from another process
    /// (in the 2025-11-25 era the task belongs to the session that created it).
    pub fn task<T: DeserializeOwned>(&self, id: &str) -> TaskHandle<T> {
        TaskHandle::attach(self.clone(), id.to_string(), None)
    }

    /// One page of this client's tasks (2025-11-25 `tasks/list`): those of its
    /// credentials on a server that authenticates, else those of its session.
    /// The 2026-07-28 protocol has no task listing: a modern connection answers
    /// [`ClientError::NoTaskSupport`] (connect with [`Mode::Handshake`] to list).
    pub async fn list_tasks(&self, cursor: Option<&str>) -> Result<(Vec<TaskInfo>, Option<String>), ClientError> {
        if self.inner.modern {
            return Err(ClientError::NoTaskSupport("tasks/list (not part of protocol 2026-07-28)".into()));
        }
        let params = match cursor {
            Some(c) => json!({"cursor": c}),
            None => json!({}),
        };
        let page = self.request("tasks/list", params).await?;
        let tasks = page
            .get("tasks")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(TaskInfo::from_wire).collect::<Result<Vec<_>, _>>())
            .transpose()?
            .unwrap_or_default();
        Ok((tasks, page.get("nextCursor").and_then(Value::as_str).map(str::to_string)))
    }

    async fn tool_support(&self, name: &str) -> Result<TaskSupport, ClientError> {
        if let Some(s) = lock(&self.inner.tools).get(name) {
            return Ok(*s);
        }
        self.list_tools().await?;
        lock(&self.inner.tools)
            .get(name)
            .copied()
            .ok_or_else(|| ClientError::Rpc(ErrorObject::invalid_params(format!("Unknown tool: {name}"))))
    }

    async fn start_task<T: DeserializeOwned>(
        &self,
        method: &str,
        mut params: Value,
    ) -> Result<TaskHandle<T>, ClientError> {
        self.check_task_support(method)?;
        if !self.inner.modern {
            params["task"] = match self.inner.options.task_ttl_ms {
                Some(ttl) => json!({"ttl": ttl}),
                None => json!({}),
            };
        }
        let result = self.request(method, params).await?;
        if self.inner.modern {
            return match result.get("resultType").and_then(Value::as_str) {
                Some("task") => {
                    let info = TaskInfo::from_wire(&result)?;
                    Ok(TaskHandle::attach(self.clone(), info.task_id.clone(), None))
                }
                _ => Ok(TaskHandle::finished(self.clone(), result)),
            };
        }
        match result.get("task") {
            Some(task) => {
                let info = TaskInfo::from_wire(task)?;
                Ok(TaskHandle::attach(self.clone(), info.task_id.clone(), None))
            }
            None => Ok(TaskHandle::finished(self.clone(), result)),
        }
    }

    /// Answer a server-to-client request with the user's handlers.
    pub(crate) async fn answer(&self, method: &str, params: Value) -> Result<Value, ErrorObject> {
        let handler = match method {
            "elicitation/create" => self.inner.options.elicit.clone(),
            "sampling/createMessage" => self.inner.options.sample.clone(),
            "ping" => return Ok(json!({})),
            "roots/list" => match &self.inner.options.roots {
                Some(roots) => return Ok(json!({ "roots": roots })),
                None => None,
            },
            other => return Err(ErrorObject::method_not_found(other)),
        };
        let Some(h) = handler else {
            return Err(ErrorObject::new(ErrorCode::METHOD_NOT_FOUND, format!("this client does not handle {method}")));
        };
        // A panicking callback must still produce an answer, or the server waits forever.
        match tokio::spawn(h(params)).await {
            Ok(answer) => answer,
            Err(e) => Err(ErrorObject::internal(format!("the client's {method} handler failed: {e}"))),
        }
    }

    /// End the session (HTTP DELETE) or the server process (stdio). Requests after it,
    /// by this client or a task handle of it, fail with [`ClientError::Closed`].
    pub async fn close(&self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        self.inner.transport.close().await;
    }
}

fn supports_modern(discover: &Value) -> bool {
    discover.get("supportedVersions").and_then(Value::as_array).is_some_and(|v| v.iter().any(|x| x == MODERN))
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn parse<T: DeserializeOwned>(v: Value) -> Result<T, ClientError> {
    serde_json::from_value(v).map_err(|e| ClientError::Protocol(e.to_string()))
}

/// Handle what the server sends besides responses: fan notifications out,
/// answer its requests.
async fn serve_inbox(client: std::sync::Weak<Inner>, mut inbox: mpsc::UnboundedReceiver<Message>) {
    while let Some(msg) = inbox.recv().await {
        let Some(inner) = client.upgrade() else { return };
        let client = Client { inner };
        match msg {
            Message::Notification(n) => {
                if n.method == "notifications/tools/list_changed" {
                    lock(&client.inner.tools).clear(); // what each tool allows is read again when needed
                }
                let _ = client.inner.notifications.send(n);
            }
            Message::Request(req) => {
                tokio::spawn(async move {
                    let params = req.params.clone().unwrap_or_else(|| json!({}));
                    let mut answer = client.answer(&req.method, params.clone()).await;
                    // Echo the related-task tag so the server can route the answer (2025-11-25).
                    if let (Ok(Value::Object(map)), Some(meta)) = (&mut answer, params.get("_meta")) {
                        if let Some(related) = meta.get(ferry_protocol::tasks::META_RELATED_TASK) {
                            let mut m = Map::new();
                            m.insert(ferry_protocol::tasks::META_RELATED_TASK.into(), related.clone());
                            map.entry("_meta").or_insert(Value::Object(m));
                        }
                    }
                    let resp = match answer {
                        Ok(v) => Response::ok(req.id, v),
                        Err(e) => Response::err(Some(req.id), e),
                    };
                    if let Err(e) = client.inner.transport.respond(resp, client.hints(None)).await {
                        tracing::warn!(error = %e, "could not answer the server's request");
                    }
                });
            }
            Message::Response(_) => {}
        }
    }
}

/// Sends `notifications/cancelled` for a request whose future was dropped before its answer.
struct CancelOnDrop(Option<(Client, RequestId)>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let Some((client, id)) = self.0.take() else { return };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        runtime.spawn(async move {
            let params = json!({"requestId": id, "reason": "The client stopped waiting for the answer."});
            if let Err(e) = client.notify("notifications/cancelled", params).await {
                tracing::debug!(error = %e, "could not cancel an abandoned request");
            }
        });
    }
}

/// The filter granted to the listen request `id`, if `n` is its acknowledgement.
pub(crate) fn acknowledgement<'a>(n: &'a Notification, id: &RequestId) -> Option<&'a Value> {
    let p = n.params.as_ref().filter(|_| n.method == "notifications/subscriptions/acknowledged")?;
    let ours = p.pointer("/_meta/io.modelcontextprotocol~1subscriptionId").is_some_and(|s| *s == json!(id));
    ours.then(|| p.get("notifications").unwrap_or(&Value::Null))
}

/// Whether a granted filter lists `value` under `key`.
pub(crate) fn honours(filter: &Value, key: &str, value: &str) -> bool {
    filter.get(key).and_then(Value::as_array).is_some_and(|vs| vs.iter().any(|v| v.as_str() == Some(value)))
}
