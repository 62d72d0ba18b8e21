//! Building a server: registering components, state and providers, and
//! checking at start-up that every handler's needs are met.

use crate::component::{PromptDef, ResourceDef, ResourceTemplateDef, ToolDef};
use crate::context::Context;
use crate::error::{BuildError, ToolError};
use crate::extract::{erase_provider, ErasedProvider, Provided};
use crate::pace::{PollInterval, RunTimes};
use crate::quick::DEFAULT_QUICK_ANSWER;
use crate::registry::{Components, Definitions, Injectables};
use crate::session::{lock, Session};
use crate::session_table::{sweep_period, SessionIndex};
use axum::http::HeaderMap;
use ferry_protocol::time_fmt::now_ms;
use ferry_protocol::types::Implementation;
use ferry_protocol::{Message, Notification, TaskSupport};
use ferry_tasks::{
    Backend, BackendError, MemoryBackend, Notice, SessionStore, TaskRecord, Worker, WorkerConfig, WorkerHandle,
};
use std::any::{Any, TypeId};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;
use tokio::sync::broadcast;

/// Server-wide settings. Every bound a request could push has a limit here.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Task support of components that do not set their own.
    pub default_task_support: TaskSupport,
    /// TTL of a task whose requestor asked for none (ms).
    pub default_ttl_ms: u64,
    /// Largest TTL granted (ms); larger requests are lowered to it.
    pub max_ttl_ms: u64,
    /// Smallest TTL granted (ms); smaller requests are raised to it, so a result can be read.
    pub min_ttl_ms: u64,
    /// How long a blocked `tasks/result` rides out a task store that cannot be reached
    /// (a Redis outage) before it answers with an error.
    pub store_outage_grace: Duration,
    /// How the `pollInterval` / `pollIntervalMs` suggested to requestors is chosen
    /// (default: adaptive, from the recent run times of each tool; see [`crate::pace`]).
    /// A tool's own ([`ToolDef::poll_interval`]) takes precedence.
    pub poll_interval: PollInterval,
    /// Items per page of list methods.
    pub page_size: usize,
    /// Largest accepted HTTP request body, and stdio line (bytes).
    pub max_body_bytes: usize,
    /// Bounds on the JSON of each incoming message (nesting depth, number of values),
    /// checked before it is parsed; see [`ParseLimits`](ferry_protocol::ParseLimits).
    pub parse_limits: ferry_protocol::ParseLimits,
    /// Most open sessions (default 10 000). When full, a new session takes the place of the
    /// oldest half-open one, else of the least recently used one without a call running;
    /// `initialize` gets HTTP 503 only when every session has a call running.
    pub max_sessions: usize,
    /// An established session unused this long is dropped (default 1 h).
    pub session_idle: Duration,
    /// Run an in-process worker for background tasks (turn off for a pure front end).
    pub local_worker: bool,
    /// Concurrency of the in-process worker.
    pub worker_concurrency: usize,
    /// Instructions for the client, returned by `initialize` / `server/discover`.
    pub instructions: Option<String>,
    /// Accepted `Origin`/`Host` hosts for HTTP (DNS-rebinding protection); empty = loopback names only.
    pub allowed_hosts: Vec<String>,
    /// Most HTTP sessions one client holds at once (default 100; 0 = no limit). A client is
    /// its authenticated subject, else its IP address (an IPv6 address by its /64); behind
    /// a proxy, all clients share the proxy's address. One more `initialize` gets HTTP 429.
    pub max_sessions_per_client: usize,
    /// A session that has not finished its handshake this long after `initialize` (no
    /// `notifications/initialized`, no other request) is dropped (default 30 s).
    pub session_handshake_timeout: Duration,
    /// Most bytes of messages one SSE stream holds for its reader (default 256 KiB): what a
    /// slow or absent reader has not taken yet, and what a resumable stream keeps for a
    /// client coming back. Beyond it the oldest notifications (progress, logs) are dropped,
    /// then the oldest requests to the client; the response is never dropped.
    pub max_stream_buffer_bytes: usize,
    /// Secret that seals the `requestState` of multi-round stateless requests (HMAC-SHA256;
    /// see [`Context::input`](crate::Context::input)). `None` (the default): a random secret
    /// per process, so a retry must reach the process that asked. Give every front end
    /// behind one load balancer the same secret (at least 32 random bytes).
    pub request_state_secret: Option<Vec<u8>>,
    /// How long a `requestState` stays valid (default 15 min): the time a client has to
    /// answer one round's questions.
    pub request_state_ttl: Duration,
    /// Largest `requestState`, sealed (default 64 KiB). A round whose answers and kept state
    /// would make it larger fails with -32603; a longer one from a client is refused.
    pub max_request_state_bytes: usize,
    /// Accept a 2026-07-28 HTTP request that leaves out `Mcp-Method` or `Mcp-Name` when
    /// its body carries the value (default `false`: the spec requires both, HTTP 400 with
    /// -32020). For clients that omit a routing header (FastMCP's tasks client sends no
    /// `Mcp-Name` on `tasks/get|update|cancel`; see INTEROP.md). A header that is present
    /// and disagrees with the body is refused either way; `MCP-Protocol-Version` and
    /// `Mcp-Param-*` stay required.
    pub accept_missing_routing_headers: bool,
    /// Form B quick answers: how long a 2026-07-28 `tools/call` to a task-optional tool
    /// that became a task waits for the task to end, to answer with its result directly
    /// (`resultType: "complete"`, as a direct call) instead of a CreateTaskResult, which
    /// saves the client a `tasks/get`. The task is stored all the same. SEP-2663 leaves the
    /// choice to the server per request, and a client that declared the extension must
    /// take either answer. Default [`DEFAULT_QUICK_ANSWER`] (2 ms): a task still running
    /// then is answered with its task, at most that much later; `Duration::ZERO` turns it
    /// off (every such call answers with its task). See `crate::quick`.
    pub quick_answer: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            default_task_support: TaskSupport::Forbidden,
            default_ttl_ms: 60 * 60 * 1000,
            max_ttl_ms: 24 * 60 * 60 * 1000,
            min_ttl_ms: 1000,
            store_outage_grace: Duration::from_secs(60),
            poll_interval: PollInterval::default(),
            page_size: 100,
            max_body_bytes: 4 * 1024 * 1024,
            parse_limits: ferry_protocol::ParseLimits::default(),
            max_sessions: 10_000,
            session_idle: Duration::from_secs(60 * 60),
            local_worker: true,
            worker_concurrency: 64,
            instructions: None,
            allowed_hosts: Vec::new(),
            max_sessions_per_client: 100,
            session_handshake_timeout: Duration::from_secs(30),
            max_stream_buffer_bytes: 256 * 1024,
            request_state_secret: None,
            request_state_ttl: Duration::from_secs(15 * 60),
            max_request_state_bytes: 64 * 1024,
            accept_missing_routing_headers: false,
            quick_answer: DEFAULT_QUICK_ANSWER,
        }
    }
}

/// Everything handlers and transports share.
pub(crate) struct Shared {
    pub info: Implementation,
    pub config: ServerConfig,
    /// The components now offered (see [`crate::registry`]).
    components: RwLock<Arc<Components>>,
    /// Which lists changed (`notifications/<kind>/list_changed`), for listen streams.
    pub list_changes: broadcast::Sender<&'static str>,
    pub states: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
    pub providers: HashMap<TypeId, ErasedProvider>,
    pub backend: Arc<dyn Backend>,
    pub sessions: Mutex<HashMap<String, Arc<Session>>>,
    /// Where sessions are shared with other front ends (see `shared_sessions.rs`); `None`:
    /// this process's table is the only place they live.
    pub session_store: Option<Arc<dyn SessionStore>>,
    /// Counts and orders of the HTTP sessions in `sessions` (see `session_table.rs`).
    pub session_index: Mutex<SessionIndex>,
    pub authenticator: Option<Authenticator>,
    /// OAuth protected-resource setup (bearer tokens, scopes, metadata).
    pub protected: Option<crate::auth::ProtectedResource>,
    /// Input requests of tasks already sent to a client over some `tasks/result` stream.
    pub dispatched_inputs: Mutex<HashSet<(String, String)>>,
    /// Waiters for one task's changes (`tasks/result`).
    pub watchers: Arc<crate::watch::Watchers>,
    /// Recent run times per tool (prompt, resource), for poll intervals.
    pub run_times: RunTimes,
    pub background: OnceLock<Background>,
    /// Seals and opens the `requestState` of stateless rounds.
    pub sealer: crate::rounds::Sealer,
    /// Set when the process is shutting down: `/readyz` answers 503.
    pub draining: Arc<std::sync::atomic::AtomicBool>,
}

pub(crate) struct Background {
    #[allow(dead_code)]
    pub worker: Option<WorkerHandle>,
}

impl Shared {
    /// The components now offered; a request keeps the set it started with.
    pub fn components(&self) -> Arc<Components> {
        self.components.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
    /// Edit the definitions; when `edit` says it changed them, check the new set, put it
    /// in place and tell the clients that `list` (the list_changed method) changed.
    pub fn change(&self, list: &'static str, edit: impl FnOnce(&mut Definitions) -> bool) -> Result<bool, BuildError> {
        let mut slot = self.components.write().unwrap_or_else(|e| e.into_inner());
        let mut defs = slot.definitions();
        if !edit(&mut defs) {
            return Ok(false);
        }
        let inject = Injectables { states: &self.states, providers: &self.providers };
        *slot = Arc::new(Components::new(defs, &inject)?);
        drop(slot);
        // Sessions of the handshake era hear it on their stream; 2026-07-28 clients only when they listen.
        let sessions: Vec<Arc<Session>> =
            lock(&self.sessions).values().filter(|s| !s.version().is_empty()).cloned().collect();
        for s in sessions {
            s.send_standalone(Message::Notification(Notification::new(list, None)));
        }
        let _ = self.list_changes.send(list);
        Ok(true)
    }
    pub async fn resource_updated(&self, uri: &str) -> Result<(), BackendError> {
        let params = serde_json::json!({ "uri": uri });
        self.backend.notify(Notice { session: None, method: crate::tasks::RESOURCE_UPDATED.into(), params }).await
    }
    pub fn session(&self, id: &str) -> Option<Arc<Session>> {
        lock(&self.sessions).get(id).cloned()
    }
    /// Set the poll interval `rec` reports now (see [`crate::pace`]): its component's
    /// policy, else the server's, from the name's recent run times and the task's age.
    pub fn pace(&self, rec: &mut TaskRecord) {
        let c = self.components();
        let own = match &*rec.kind {
            "tools/call" => c.tool(&rec.name).and_then(|t| t.common.poll_interval),
            "prompts/get" => c.prompt(&rec.name).and_then(|p| p.common.poll_interval),
            "resources/read" => c.resolve_resource(&rec.name).and_then(|(r, _)| r.poll_interval),
            _ => None,
        };
        let until = if rec.status.is_terminal() { rec.updated_at } else { now_ms() };
        let age = until.saturating_sub(rec.created_at);
        let median = self.run_times.median(&rec.kind, &rec.name);
        rec.poll_interval_ms = own.unwrap_or(self.config.poll_interval).interval_ms(median, age);
    }
    pub fn support(&self, own: Option<TaskSupport>) -> TaskSupport {
        own.unwrap_or(self.config.default_task_support)
    }
    /// The granted TTL for a requested one: within `[min_ttl_ms, max_ttl_ms]`. A TTL
    /// counts from the moment the task ends (a running task never expires).
    pub fn grant_ttl(&self, requested: Option<f64>) -> u64 {
        let (min, max) = (self.config.min_ttl_ms, self.config.max_ttl_ms.max(self.config.min_ttl_ms));
        let t = match requested {
            Some(t) if t.is_finite() && t >= 0.0 => t.ceil() as u64,
            _ => self.config.default_ttl_ms,
        };
        t.clamp(min, max)
    }
}

pub(crate) const TOOLS_CHANGED: &str = "notifications/tools/list_changed";
pub(crate) const PROMPTS_CHANGED: &str = "notifications/prompts/list_changed";
pub(crate) const RESOURCES_CHANGED: &str = "notifications/resources/list_changed";

fn push<T>(list: &mut Vec<T>, item: T) -> bool {
    list.push(item);
    true
}

fn remove<T>(list: &mut Vec<T>, gone: impl Fn(&T) -> bool) -> bool {
    let before = list.len();
    list.retain(|x| !gone(x));
    list.len() != before
}

/// Collects components, state and providers; [`build`](ServerBuilder::build) checks them.
pub struct ServerBuilder {
    info: Implementation,
    config: ServerConfig,
    tools: Vec<ToolDef>,
    jobs: Vec<ToolDef>,
    prompts: Vec<PromptDef>,
    resources: Vec<ResourceDef>,
    templates: Vec<ResourceTemplateDef>,
    states: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
    providers: HashMap<TypeId, ErasedProvider>,
    backend: Option<Arc<dyn Backend>>,
    session_store: Option<Arc<dyn SessionStore>>,
    authenticator: Option<Authenticator>,
    protected: Option<crate::auth::ProtectedResource>,
}

/// Decides who sends an HTTP request, from its headers: `Some(subject)` lets it
/// in as that subject, `None` turns it away with `401 Unauthorized`.
///
/// The subject owns the tasks it creates: any session or stateless request of
/// the same subject sees them (`tasks/list`, `tasks/get`, ...), no other does,
/// and a session opened by one subject is not usable by another.
pub type Authenticator = Arc<dyn Fn(&HeaderMap) -> Option<String> + Send + Sync>;

/// A built MCP server. Cheap to clone; serve it with
/// [`serve_http`](Server::serve_http), [`serve_stdio`](Server::serve_stdio) or
/// [`router`](Server::router).
///
/// ```
/// use ferry_server::{Server, ToolDef};
/// let server = Server::builder("hello", "1.0.0")
///     .tool(ToolDef::new("hello").handler(|| async { "Hello!" }))
///     .build()
///     .unwrap();
/// ```
#[derive(Clone)]
pub struct Server {
    pub(crate) shared: Arc<Shared>,
}

impl Server {
    /// Start building a server with its name and version.
    pub fn builder(name: impl Into<String>, version: impl Into<String>) -> ServerBuilder {
        ServerBuilder {
            info: Implementation::new(name, version),
            config: ServerConfig::default(),
            tools: Vec::new(),
            jobs: Vec::new(),
            prompts: Vec::new(),
            resources: Vec::new(),
            templates: Vec::new(),
            states: HashMap::new(),
            providers: HashMap::new(),
            backend: None,
            session_store: None,
            authenticator: None,
            protected: None,
        }
    }

    /// The settings.
    pub fn config(&self) -> &ServerConfig {
        &self.shared.config
    }

    /// The task backend.
    pub fn backend(&self) -> Arc<dyn Backend> {
        self.shared.backend.clone()
    }

    /// An executor that runs this server's handlers for task jobs: give it to a
    /// [`Worker`] to run tasks in another process (`ferry worker`).
    pub fn executor(&self) -> Arc<dyn ferry_tasks::Executor> {
        Arc::new(crate::tasks::TaskExecutor(self.shared.clone()))
    }

    /// Tell the clients subscribed to `uri` (`resources/subscribe`) that it changed:
    /// `notifications/resources/updated` goes to each of their sessions, in whichever
    /// process serves it (through the task backend, so with Redis every front end
    /// hears it). Handlers do the same with [`Context::notify_resource_updated`].
    ///
    /// ```
    /// # async fn run(server: ferry_server::Server) -> Result<(), ferry_server::engine::BackendError> {
    /// server.notify_resource_updated("ferry://demo/readme").await?;
    /// # Ok(()) }
    /// ```
    pub async fn notify_resource_updated(&self, uri: &str) -> Result<(), BackendError> {
        self.shared.resource_updated(uri).await
    }

    /// The health probes of this server (`/healthz`, `/readyz`; see [`crate::metrics`]):
    /// [`Probes::set_draining`](crate::metrics::Probes::set_draining) turns `/readyz` to 503
    /// when the process begins to shut down.
    pub fn probes(&self) -> crate::metrics::Probes {
        crate::metrics::Probes::of_server(&self.shared)
    }

    /// Enqueue and look up jobs (see [`crate::jobs`]).
    pub fn jobs(&self) -> crate::Jobs {
        crate::Jobs { shared: self.shared.clone() }
    }

    /// Offer another tool while serving. It is checked like [`ServerBuilder::build`]
    /// checks (a name already in use is [`BuildError::Duplicate`]); clients hear
    /// `notifications/tools/list_changed`. Changes are per process: a `ferry worker`
    /// runs the components of its own process, so add the tool there too if its tasks
    /// may run there. A call already running keeps the set of components it started with.
    ///
    /// ```
    /// use ferry_server::{Server, ToolDef};
    /// let server = Server::builder("grows", "1").build().unwrap();
    /// server.add_tool(ToolDef::new("hello").handler(|| async { "Hello!" })).unwrap();
    /// assert!(server.remove_tool("hello"));
    /// ```
    pub fn add_tool(&self, tool: ToolDef) -> Result<(), BuildError> {
        self.shared.change(TOOLS_CHANGED, |d| push(&mut d.tools, tool)).map(drop)
    }

    /// Stop offering a tool; `false` if there was none of that name. Calls already
    /// running finish; tasks of it that have not started fail ("Unknown tool").
    pub fn remove_tool(&self, name: &str) -> bool {
        self.shared.change(TOOLS_CHANGED, |d| remove(&mut d.tools, |t| t.name == name)).unwrap_or(false)
    }

    /// Offer another prompt while serving (see [`add_tool`](Server::add_tool)).
    pub fn add_prompt(&self, prompt: PromptDef) -> Result<(), BuildError> {
        self.shared.change(PROMPTS_CHANGED, |d| push(&mut d.prompts, prompt)).map(drop)
    }

    /// Stop offering a prompt; `false` if there was none of that name.
    pub fn remove_prompt(&self, name: &str) -> bool {
        self.shared.change(PROMPTS_CHANGED, |d| remove(&mut d.prompts, |p| p.name == name)).unwrap_or(false)
    }

    /// Offer another resource while serving (see [`add_tool`](Server::add_tool)).
    pub fn add_resource(&self, resource: ResourceDef) -> Result<(), BuildError> {
        self.shared.change(RESOURCES_CHANGED, |d| push(&mut d.resources, resource)).map(drop)
    }

    /// Stop offering the resource at `uri`; `false` if there was none.
    pub fn remove_resource(&self, uri: &str) -> bool {
        self.shared.change(RESOURCES_CHANGED, |d| remove(&mut d.resources, |r| r.uri == uri)).unwrap_or(false)
    }

    /// Offer another resource template while serving (see [`add_tool`](Server::add_tool)).
    pub fn add_resource_template(&self, template: ResourceTemplateDef) -> Result<(), BuildError> {
        self.shared.change(RESOURCES_CHANGED, |d| push(&mut d.templates, template)).map(drop)
    }

    /// Stop offering the template `uri_template`; `false` if there was none.
    pub fn remove_resource_template(&self, uri_template: &str) -> bool {
        self.shared
            .change(RESOURCES_CHANGED, |d| remove(&mut d.templates, |t| t.template == uri_template))
            .unwrap_or(false)
    }

    /// Start the background parts (in-process worker, event forwarding, session
    /// sweeping) on the current runtime. Called by the transports; idempotent.
    pub fn start(&self) {
        self.shared.background.get_or_init(|| {
            let shared = self.shared.clone();
            tokio::spawn(crate::tasks::forward_events(shared.clone()));
            let weak = Arc::downgrade(&shared);
            let every = sweep_period(shared.config.session_handshake_timeout, shared.config.session_idle);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                loop {
                    tick.tick().await;
                    match weak.upgrade() {
                        Some(s) => s.sweep_sessions(),
                        None => return,
                    }
                }
            });
            let worker = shared.config.local_worker.then(|| {
                let config = WorkerConfig {
                    concurrency: shared.config.worker_concurrency,
                    name: format!("{}-local", shared.info.name),
                    ..WorkerConfig::default()
                };
                Worker::new(shared.backend.clone(), self.executor(), config).start()
            });
            Background { worker }
        });
    }
}

impl ServerBuilder {
    /// The name and version the server will give (`serverInfo`).
    pub fn info(&self) -> &Implementation {
        &self.info
    }
    /// Replace the settings.
    pub fn config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }
    /// Change the settings in place.
    pub fn configure(mut self, f: impl FnOnce(&mut ServerConfig)) -> Self {
        f(&mut self.config);
        self
    }
    /// Task support of components that do not set their own.
    pub fn default_task_support(mut self, s: TaskSupport) -> Self {
        self.config.default_task_support = s;
        self
    }
    /// Instructions for clients.
    pub fn instructions(mut self, text: impl Into<String>) -> Self {
        self.config.instructions = Some(text.into());
        self
    }
    /// Add a tool.
    pub fn tool(mut self, t: ToolDef) -> Self {
        self.tools.push(t);
        self
    }
    /// Register a job: durable background work handlers enqueue with
    /// [`Context::jobs`] (see [`crate::jobs`]). Written like a tool, never shown to clients.
    pub fn job(mut self, j: ToolDef) -> Self {
        self.jobs.push(j);
        self
    }
    /// Add a prompt.
    pub fn prompt(mut self, p: PromptDef) -> Self {
        self.prompts.push(p);
        self
    }
    /// Add a resource.
    pub fn resource(mut self, r: ResourceDef) -> Self {
        self.resources.push(r);
        self
    }
    /// Add a resource template.
    pub fn resource_template(mut self, t: ResourceTemplateDef) -> Self {
        self.templates.push(t);
        self
    }
    /// Register shared state, injected as `State<T>`.
    pub fn state<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.states.insert(TypeId::of::<T>(), Arc::new(value));
        self
    }
    /// Register a provider of `T`, injected as `Dep<T>`. It runs once per
    /// execution that needs it; its cleanup runs when that execution is over.
    ///
    /// ```
    /// use ferry_server::{Context, Dep, Provided, Server, ToolDef};
    /// struct Db { url: String }
    /// let server = Server::builder("s", "1")
    ///     .provider(|_cx: Context| async move {
    ///         Ok(Provided::new(Db { url: "mem://".into() }).on_cleanup(|_db| async {}))
    ///     })
    ///     .tool(ToolDef::new("where").handler(|db: Dep<Db>| async move { db.url.clone() }))
    ///     .build()
    ///     .unwrap();
    /// ```
    pub fn provider<T, F, Fut>(mut self, f: F) -> Self
    where
        T: Send + Sync + 'static,
        F: Fn(Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Provided<T>, ToolError>> + Send + 'static,
    {
        self.providers.insert(TypeId::of::<T>(), erase_provider(f));
        self
    }
    /// Use this task backend (default: a [`MemoryBackend`]).
    pub fn backend(mut self, backend: Arc<dyn Backend>) -> Self {
        self.backend = Some(backend);
        self
    }
    /// Share 2025-11-25 sessions with the other front ends of a deployment through
    /// `store`, so that any of them serves any request of any session without sticky
    /// sessions (give every front end the same store and the same task backend).
    /// `ferry serve --redis` uses the Redis engine's store. Without one, sessions live in
    /// this process only. How limits and changes work then: see
    /// [`ferry_tasks::sessions`] and the README.
    ///
    /// ```
    /// use ferry_server::{engine::MemorySessionStore, Server};
    /// use std::sync::Arc;
    /// let store = Arc::new(MemorySessionStore::default());
    /// let a = Server::builder("s", "1").session_store(store.clone()).build().unwrap();
    /// let b = Server::builder("s", "1").session_store(store).backend(a.backend()).build().unwrap();
    /// ```
    pub fn session_store(mut self, store: Arc<dyn SessionStore>) -> Self {
        self.session_store = Some(store);
        self
    }
    /// Use this task backend unless one was given already.
    pub fn default_backend(mut self, backend: impl FnOnce() -> Arc<dyn Backend>) -> Self {
        self.backend.get_or_insert_with(backend);
        self
    }

    /// Authenticate HTTP requests (see [`Authenticator`]): tasks then belong to
    /// the subject, across sessions and processes. Without it, tasks belong to
    /// their session (2025-11-25) and a stateless task's id is its capability.
    /// stdio needs none: its one peer started the process.
    ///
    /// ```
    /// use ferry_server::Server;
    /// let server = Server::builder("private", "1")
    ///     .authenticate(|headers| {
    ///         let token = headers.get("authorization")?.to_str().ok()?.strip_prefix("Bearer ")?;
    ///         (token == "s3cret").then(|| "alice".to_string())
    ///     })
    ///     .build()
    ///     .unwrap();
    /// ```
    pub fn authenticate(mut self, f: impl Fn(&HeaderMap) -> Option<String> + Send + Sync + 'static) -> Self {
        self.authenticator = Some(Arc::new(f));
        self
    }

    /// Protect the server as an OAuth 2.1 resource (see [`crate::auth`]): HTTP requests
    /// need a bearer token its verifier accepts; components may require scopes.
    pub fn protect(mut self, resource: crate::auth::ProtectedResource) -> Self {
        self.protected = Some(resource);
        self
    }

    /// Check everything and build the server.
    pub fn build(self) -> Result<Server, BuildError> {
        if let Some(p) = &self.protected {
            if p.verifier.is_none() {
                return Err(BuildError::Auth("the protected resource has no token verifier".into()));
            }
            if self.authenticator.is_some() {
                return Err(BuildError::Auth("use either authenticate(..) or protect(..), not both".into()));
            }
        }
        let defs = Definitions {
            tools: self.tools,
            jobs: self.jobs,
            prompts: self.prompts,
            resources: self.resources,
            templates: self.templates,
        };
        let components = Components::new(defs, &Injectables { states: &self.states, providers: &self.providers })?;
        let backend = self.backend.unwrap_or_else(|| Arc::new(MemoryBackend::default()));
        Ok(Server {
            shared: Arc::new(Shared {
                info: self.info,
                sealer: crate::rounds::Sealer::new(&self.config),
                config: self.config,
                components: RwLock::new(Arc::new(components)),
                list_changes: broadcast::channel(64).0,
                states: self.states,
                providers: self.providers,
                backend,
                sessions: Mutex::new(HashMap::new()),
                session_store: self.session_store,
                session_index: Mutex::new(SessionIndex::default()),
                authenticator: self.authenticator,
                protected: self.protected,
                dispatched_inputs: Mutex::new(HashSet::new()),
                watchers: Default::default(),
                run_times: RunTimes::default(),
                background: OnceLock::new(),
                draining: Default::default(),
            }),
        })
    }
}
