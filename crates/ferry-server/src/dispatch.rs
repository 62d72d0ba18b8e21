//! Routing one JSON-RPC message to its handling, era by era.
//!
//! Every request is first classified: a request whose `params._meta` carries
//! `io.modelcontextprotocol/protocolVersion` is *modern* (2026-07-28,
//! stateless, Form B tasks); anything else belongs to the *handshake* session
//! it arrived on (Form A tasks when the session negotiated 2025-11-25). The era
//! decides the wire shape of every answer; the handlers and the task store are
//! the same for both.

use crate::answer::{Answer, Answered, Out};
use crate::component::prompt::typed_arguments;
use crate::context::{progress_token, CallInner, Context, META_LOG_LEVEL};
use crate::error::ToolError;
use crate::rounds::{self, Carried, Rounds};
use crate::server::Shared;
use crate::session::{lock, Outbound, Session};
use crate::transport::headers::{self, HttpHeaders};
use crate::{spans, tasks};
use ferry_protocol::tasks::{missing_extension_error, EXTENSION_ID};
use ferry_protocol::types::{CallToolResult, LoggingLevel, ReadResourceResult};
use ferry_protocol::version::{
    negotiate_handshake, META_CLIENT_CAPABILITIES, META_PROTOCOL_VERSION, META_SERVER_INFO, MODERN, SUPPORTED_VERSIONS,
};
use ferry_protocol::{Era, ErrorCode, ErrorObject, Notification, Request, RequestId, Response, TaskSupport};
use ferry_tasks::SessionChange;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Where a request came from and how to reach its sender.
#[derive(Default, Clone)]
pub(crate) struct Incoming {
    pub session: Option<Arc<Session>>,
    pub outbound: Option<Outbound>,
    pub http: Option<HttpHeaders>,
    pub auth_subject: Option<String>,
    /// What the caller's access token allows (a protected server), for component scopes.
    pub auth_scopes: Option<std::collections::BTreeSet<String>>,
    /// The caller's per-client key (`session_table::client_key` of its subject and of its
    /// network address, when the router is served with `ConnectInfo`).
    pub client: Option<String>,
    /// Cancels the call (the transport's: an answer nobody can receive any more).
    pub cancel: CancellationToken,
}

/// A classified request.
pub(crate) struct Call {
    pub id: RequestId,
    pub method: String,
    pub params: Map<String, Value>,
    pub meta: Option<Map<String, Value>>,
    pub era: Era,
    pub client_caps: Arc<Value>,
    pub session: Option<Arc<Session>>,
    pub outbound: Option<Outbound>,
    pub owner: String,
    /// The authenticated subject (HTTP with an authenticator).
    pub subject: Option<String>,
    /// The caller's per-client key (its subject, else its address), when known (HTTP).
    pub client: Option<String>,
    pub cancel: CancellationToken,
    /// The verified `requestState` of a retried stateless request (MRTR).
    pub carried: Option<Carried>,
    /// What the caller's access token allows, on a protected server.
    pub scopes: Option<std::collections::BTreeSet<String>>,
}

impl Call {
    /// Whether the request declared the tasks extension (modern wire).
    pub fn declares_tasks(&self) -> bool {
        self.era.is_modern()
            && self.client_caps.get("extensions").and_then(|e| e.get(EXTENSION_ID)).is_some_and(Value::is_object)
    }

    /// Whether the caller's token grants every scope in `needed` (always, on a server
    /// that is not protected: scopes come only with OAuth tokens).
    pub fn allows(&self, needed: &[String]) -> bool {
        self.scopes.as_ref().is_none_or(|granted| needed.iter().all(|s| granted.contains(s)))
    }

    /// `Err` (-32030, HTTP 403) unless the caller's token grants `needed`.
    pub fn require(&self, needed: &[String], what: &str) -> Result<(), ErrorObject> {
        if self.allows(needed) {
            return Ok(());
        }
        Err(insufficient_scope(needed, what))
    }

    pub fn str_param(&self, key: &str) -> Result<&str, ErrorObject> {
        self.params
            .get(key)
            .and_then(Value::as_str)
            .ok_or_else(|| ErrorObject::invalid_params(format!("{} needs a string '{key}' parameter", self.method)))
    }

    fn context(&self, shared: &Arc<Shared>) -> Context {
        Context::new(CallInner {
            shared: shared.clone(),
            request_id: Some(self.id.clone()),
            session: self.session.clone(),
            session_id: self.session.as_ref().map(|s| s.id.clone()),
            subject: self.subject.clone(),
            scopes: self.scopes.clone(),
            protocol_version: self.era.version().to_string(),
            client_caps: self.client_caps.clone(),
            progress_token: progress_token(self.meta.as_ref()),
            outbound: self.outbound.clone(),
            task: None,
            cancel: self.cancel.clone(),
            deps: Default::default(),
            cleanups: Default::default(),
            rounds: self.era.is_modern().then(|| {
                let log_level = self
                    .meta
                    .as_ref()
                    .and_then(|m| m.get(META_LOG_LEVEL))
                    .and_then(|l| serde_json::from_value(l.clone()).ok());
                Rounds::new(&self.method, &self.params, self.subject.as_deref(), log_level, self.carried.clone())
            }),
            prepared: Default::default(),
        })
    }
}

pub(crate) type Reply = Result<Value, ErrorObject>;

/// Answer a request, in its span (see `crate::spans`). `None`: the request was cancelled
/// and gets no response.
pub(crate) async fn handle_request(shared: &Arc<Shared>, req: Request, inc: Incoming) -> Option<Answer> {
    let timer = crate::metrics::RequestTimer::start(&req.method);
    let span = spans::request(shared, &req, &inc);
    let response = answer(shared, req, inc).instrument(span.clone()).await;
    spans::record_response(&span, response.as_ref());
    timer.finish(response.as_ref());
    response
}

async fn answer(shared: &Arc<Shared>, req: Request, inc: Incoming) -> Option<Answer> {
    let id = req.id.clone();
    let call = match classify(shared, req, inc) {
        Ok(Classified::Call(call)) => *call,
        Ok(Classified::Answered(reply)) => return Some(Answer::new(id, reply.map(Out::Tree))),
        Err(e) => return Some(Answer::new(id, Err(e))),
    };
    spans::record_call(&tracing::Span::current(), &call);
    let modern = call.era.is_modern();
    let method = call.method.clone();
    let session = call.session.clone();
    if let Some(s) = &session {
        lock(&s.in_flight).insert(call.id.clone(), call.cancel.clone());
    }
    let cancel = call.cancel.clone();
    let reply = tokio::select! {
        r = route(shared, &call) => Some(r),
        _ = cancel.cancelled() => None,
    };
    if let Some(s) = &session {
        lock(&s.in_flight).remove(&call.id);
    }
    let reply = reply?;
    Some(Answer::new(id, if modern { reply.and_then(|out| modern_result(shared, &method, out)) } else { reply }))
}

/// Every modern result carries `resultType` and the server info; cacheable ones
/// (`CacheableResult` in the 2026-07-28 schema) also `cacheScope` and `ttlMs`.
/// A result written as text gets its members around the text (see [`Out::with_meta`]).
fn modern_result(shared: &Shared, method: &str, out: Out) -> Answered {
    let mut v = match (out, cache_scope(method)) {
        (out @ Out::Raw { .. }, None) => return out.with_meta(Some("complete"), META_SERVER_INFO, &shared.info),
        (out, _) => out.into_value(),
    };
    if let Some(obj) = v.as_object_mut() {
        obj.entry("resultType").or_insert_with(|| json!("complete"));
        if let (Some(scope), Some("complete")) = (cache_scope(method), obj["resultType"].as_str()) {
            obj.entry("cacheScope").or_insert_with(|| json!(scope));
            obj.entry("ttlMs").or_insert_with(|| json!(0));
        }
    }
    Out::Tree(v).with_meta(None, META_SERVER_INFO, &shared.info)
}

/// The cache scope of a cacheable result: discovery and component lists do not
/// depend on the caller; resource contents may. (`ttlMs` is always 0: re-fetch freely.)
fn cache_scope(method: &str) -> Option<&'static str> {
    match method {
        "server/discover" | "tools/list" | "prompts/list" | "resources/list" | "resources/templates/list" => {
            Some("public")
        }
        "resources/read" => Some("private"),
        _ => None,
    }
}

enum Classified {
    Call(Box<Call>),
    Answered(Reply),
}

fn classify(shared: &Arc<Shared>, mut req: Request, inc: Incoming) -> Result<Classified, ErrorObject> {
    let params = match req.params.take() {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => return Err(ErrorObject::invalid_params("params must be an object")),
    };
    let meta = params.get("_meta").and_then(Value::as_object).cloned();
    // Owners are namespaced so that no subject can be named like a session.
    let owner_of = |session: &Option<Arc<Session>>| match (&inc.auth_subject, session) {
        (Some(subject), _) => ["subject:", subject].concat(),
        (None, Some(s)) => ["session:", &s.id].concat(),
        (None, None) => ferry_tasks::ANONYMOUS_OWNER.into(),
    };
    if let Some(version) = meta.as_ref().and_then(|m| m.get(META_PROTOCOL_VERSION)) {
        let version = version.as_str().ok_or_else(|| {
            ErrorObject::invalid_params(format!("Bad Request: _meta.{META_PROTOCOL_VERSION} must be a string"))
        })?;
        // Headers that disagree with the body are reported as such, before the version itself.
        if let Some(h) = &inc.http {
            let lenient = shared.config.accept_missing_routing_headers;
            headers::check(h, version, &req.method, &params, &shared.components(), lenient)?;
        }
        if version != MODERN {
            return Err(ErrorObject::new(ErrorCode::UNSUPPORTED_VERSION, "Unsupported protocol version")
                .with_data(json!({"supported": SUPPORTED_VERSIONS, "requested": version})));
        }
        let client_caps =
            meta.as_ref().and_then(|m| m.get(META_CLIENT_CAPABILITIES)).filter(|c| c.is_object()).cloned().ok_or_else(
                || ErrorObject::invalid_params(format!("Bad Request: _meta.{META_CLIENT_CAPABILITIES} is required")),
            )?;
        let client_caps = Arc::new(client_caps);
        if req.method == "initialize" {
            return Err(ErrorObject::method_not_found("initialize (protocol 2026-07-28 has no handshake)"));
        }
        rounds::check_responses(&params)?;
        let carried = rounds::open(shared, &req.method, &params, inc.auth_subject.as_deref())?;
        let session = None;
        return Ok(Classified::Call(Box::new(Call {
            owner: owner_of(&session),
            subject: inc.auth_subject.clone(),
            id: req.id,
            method: req.method,
            params,
            meta,
            era: Era::Modern,
            client_caps,
            session,
            outbound: inc.outbound,
            client: inc.client,
            cancel: inc.cancel,
            carried,
            scopes: inc.auth_scopes.clone(),
        })));
    }
    let Some(session) = inc.session.clone() else {
        if req.method == "ping" {
            return Ok(Classified::Answered(Ok(json!({}))));
        }
        if req.method == "server/discover" {
            return Err(ErrorObject::invalid_params(format!(
                "Bad Request: server/discover is a 2026-07-28 request and needs params._meta.{META_PROTOCOL_VERSION}"
            )));
        }
        return Err(ErrorObject::invalid_request(
            "Bad Request: no session. Send 'initialize' first, or use protocol 2026-07-28 (params._meta)",
        ));
    };
    if req.method == "initialize" {
        return Ok(Classified::Answered(initialize(shared, &session, &params)));
    }
    let version = session.version();
    if version.is_empty() {
        if req.method == "ping" {
            return Ok(Classified::Answered(Ok(json!({}))));
        }
        return Err(ErrorObject::invalid_request("Bad Request: the session is not initialized"));
    }
    let client_caps = lock(&session.client_caps).clone();
    let session = Some(session);
    Ok(Classified::Call(Box::new(Call {
        owner: owner_of(&session),
        subject: inc.auth_subject.clone(),
        id: req.id,
        method: req.method,
        params,
        meta,
        era: Era::Handshake(version),
        client_caps,
        session,
        outbound: inc.outbound,
        client: inc.client,
        cancel: inc.cancel,
        carried: None,
        scopes: inc.auth_scopes.clone(),
    })))
}

fn initialize(shared: &Shared, session: &Session, params: &Map<String, Value>) -> Reply {
    let requested = params
        .get("protocolVersion")
        .and_then(Value::as_str)
        .ok_or_else(|| ErrorObject::invalid_params("initialize needs a string 'protocolVersion'"))?;
    if !session.version().is_empty() {
        return Err(ErrorObject::invalid_request("Session already initialized"));
    }
    let version = negotiate_handshake(requested);
    *lock(&session.protocol_version) = version.to_string();
    *lock(&session.client_caps) =
        Arc::new(params.get("capabilities").filter(|c| c.is_object()).cloned().unwrap_or(json!({})));
    *lock(&session.client_info) = params.get("clientInfo").cloned().unwrap_or(Value::Null);
    let mut result = json!({
        "protocolVersion": version,
        "capabilities": handshake_capabilities(shared, version),
        "serverInfo": shared.info,
    });
    if let Some(i) = &shared.config.instructions {
        result["instructions"] = json!(i);
    }
    Ok(result)
}

fn handshake_capabilities(shared: &Shared, version: &str) -> Value {
    let mut caps = json!({
        "tools": {"listChanged": true},
        "prompts": {"listChanged": true},
        "resources": {"subscribe": true, "listChanged": true},
        "logging": {},
        "completions": {},
    });
    let requests = task_requests(shared);
    if Era::Handshake(version.to_string()).has_form_a() && !requests.is_empty() {
        caps["tasks"] = json!({"list": {}, "cancel": {}, "requests": requests});
    }
    caps
}

/// The request kinds some component can answer as a task (`tasks.requests` of the
/// capabilities; empty: the server offers no tasks). Components added later are
/// announced to sessions opened later.
fn task_requests(shared: &Shared) -> Map<String, Value> {
    let c = shared.components();
    let can = |s: Option<TaskSupport>| shared.support(s) != TaskSupport::Forbidden;
    let mut requests = Map::new();
    if c.tools.iter().any(|t| can(t.common.task_support)) {
        requests.insert("tools".into(), json!({"call": {}}));
    }
    if c.prompts.iter().any(|p| can(p.common.task_support)) {
        requests.insert("prompts".into(), json!({"get": {}}));
    }
    if c.resources.iter().any(|r| can(r.common.task_support))
        || c.templates.iter().any(|t| can(t.def.common.task_support))
    {
        requests.insert("resources".into(), json!({"read": {}}));
    }
    requests
}

fn discover(shared: &Shared) -> Value {
    let mut result = json!({
        "supportedVersions": SUPPORTED_VERSIONS,
        "capabilities": {
            "tools": {"listChanged": true},
            "prompts": {"listChanged": true},
            "resources": {"subscribe": true, "listChanged": true},
            "logging": {},
            "completions": {},
        },
        "serverInfo": shared.info,
        "cacheScope": "public",
        "ttlMs": 0,
        "_meta": {META_SERVER_INFO: shared.info},
    });
    // The tasks extension, when some component can run as a task.
    if !task_requests(shared).is_empty() {
        result["capabilities"]["extensions"] = json!({EXTENSION_ID: {}});
    }
    if let Some(i) = &shared.config.instructions {
        result["instructions"] = json!(i);
    }
    result
}

/// Methods the stateless protocol (2026-07-28) no longer has.
const REMOVED_IN_MODERN: &[&str] = &["ping", "logging/setLevel", "resources/subscribe", "resources/unsubscribe"];

/// The methods whose results may be written as text; the others build trees ([`route_tree`]).
async fn route(shared: &Arc<Shared>, call: &Call) -> Answered {
    match call.method.as_str() {
        "tools/call" => call_tool(shared, call).await,
        "prompts/get" => get_prompt(shared, call).await,
        "resources/read" => read_resource(shared, call).await,
        "tasks/get" | "tasks/result" | "tasks/list" | "tasks/cancel" | "tasks/update" => {
            tasks::handle(shared, call).await
        }
        _ => route_tree(shared, call).await.map(Out::Tree),
    }
}

async fn route_tree(shared: &Arc<Shared>, call: &Call) -> Reply {
    if call.era.is_modern() && REMOVED_IN_MODERN.contains(&call.method.as_str()) {
        return Err(ErrorObject::method_not_found(&call.method));
    }
    match call.method.as_str() {
        "ping" => Ok(json!({})),
        "server/discover" => Ok(discover(shared)),
        "logging/setLevel" => set_level(shared, call).await,
        "tools/list" => {
            let with_execution = call.era.has_form_a();
            let c = shared.components();
            let items: Vec<_> = c
                .tools
                .iter()
                .filter(|t| call.allows(&t.common.scopes))
                .map(|t| t.listing(shared.support(t.common.task_support), with_execution))
                .collect();
            paginate(shared, call, "tools", &items)
        }
        "prompts/list" => {
            let c = shared.components();
            let items: Vec<_> =
                c.prompts.iter().filter(|p| call.allows(&p.common.scopes)).map(|p| p.listing()).collect();
            paginate(shared, call, "prompts", &items)
        }
        "resources/list" => {
            let c = shared.components();
            let items: Vec<_> =
                c.resources.iter().filter(|r| call.allows(&r.common.scopes)).map(|r| r.listing()).collect();
            paginate(shared, call, "resources", &items)
        }
        "resources/templates/list" => {
            let c = shared.components();
            let items: Vec<_> =
                c.templates.iter().filter(|t| call.allows(&t.def.common.scopes)).map(|t| t.def.listing()).collect();
            paginate(shared, call, "resourceTemplates", &items)
        }
        "resources/subscribe" | "resources/unsubscribe" => subscribe(shared, call).await,
        "subscriptions/listen" => crate::listen::listen(shared, call).await,
        "completion/complete" => complete(shared, call).await,
        other => Err(ErrorObject::method_not_found(other)),
    }
}

/// `completion/complete`: ask the completer of a prompt argument or a template variable.
async fn complete(shared: &Shared, call: &Call) -> Reply {
    use crate::component::complete::{find, MAX_VALUES};
    let bad = |m: &str| ErrorObject::invalid_params(format!("completion/complete: {m}"));
    let reference = call.params.get("ref").filter(|r| r.is_object()).ok_or_else(|| bad("needs a 'ref' object"))?;
    let argument =
        call.params.get("argument").filter(|a| a.is_object()).ok_or_else(|| bad("needs an 'argument' object"))?;
    let (Some(name), Some(value)) =
        (argument.get("name").and_then(Value::as_str), argument.get("value").and_then(Value::as_str))
    else {
        return Err(bad("'argument' needs a string 'name' and a string 'value'"));
    };
    let field = |key: &str| {
        reference.get(key).and_then(Value::as_str).ok_or_else(|| bad(&format!("this 'ref' needs a string '{key}'")))
    };
    let empty = Vec::new();
    let components = shared.components();
    // The component's completable arguments and their completers.
    let (component, known, completers): (String, Vec<String>, _) = match reference.get("type").and_then(Value::as_str) {
        Some("ref/prompt") => {
            let prompt_name = field("name")?;
            let p = components.prompt(prompt_name).ok_or_else(|| bad(&format!("Unknown prompt: {prompt_name}")))?;
            let known = p.listing().arguments.into_iter().map(|a| a.name).collect();
            (format!("prompt '{prompt_name}'"), known, &p.completers)
        }
        Some("ref/resource") => {
            let uri = field("uri")?;
            // The template itself, else a template the URI matches, else a fixed resource (no arguments).
            let template = components
                .templates
                .iter()
                .find(|t| t.def.template == uri)
                .or_else(|| components.templates.iter().find(|t| t.parsed.matches(uri).is_some()));
            match template {
                Some(t) => (
                    format!("resource template '{}'", t.def.template),
                    t.parsed.variables().map(str::to_string).collect(),
                    &t.def.completers,
                ),
                None if components.has_resource(uri) => (format!("resource '{uri}'"), Vec::new(), &empty),
                None => return Err(bad(&format!("Unknown resource or template: {uri}"))),
            }
        }
        Some(other) => return Err(bad(&format!("unknown ref type '{other}' (ref/prompt or ref/resource)"))),
        None => return Err(bad("'ref' needs a 'type'")),
    };
    if !known.iter().any(|k| k == name) {
        return Err(bad(&format!("{component} has no argument '{name}'")));
    }
    let mut values = match find(completers, name) {
        Some(c) => {
            let request = crate::CompletionRequest {
                argument: name.to_string(),
                value: value.to_string(),
                arguments: call
                    .params
                    .get("context")
                    .and_then(|c| c.get("arguments"))
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default(),
            };
            c(request).await.map_err(ToolError::into_error_object)?
        }
        None => Vec::new(),
    };
    let total = values.len();
    values.truncate(MAX_VALUES);
    Ok(json!({"completion": {"values": values, "total": total, "hasMore": total > MAX_VALUES}}))
}

async fn set_level(shared: &Shared, call: &Call) -> Reply {
    let level: LoggingLevel = serde_json::from_value(call.params.get("level").cloned().unwrap_or(Value::Null))
        .map_err(|_| ErrorObject::invalid_params("logging/setLevel needs a valid 'level' (debug ... emergency)"))?;
    if let Some(s) = &call.session {
        shared.change_session(s, SessionChange::LogLevel(level)).await.map_err(tasks::store_error)?;
    }
    Ok(json!({}))
}

async fn subscribe(shared: &Shared, call: &Call) -> Reply {
    let uri = call.str_param("uri")?;
    if shared.components().resolve_resource(uri).is_none() {
        return Err(resource_not_found(uri, call.era.is_modern()));
    }
    if let Some(s) = &call.session {
        let change = if call.method == "resources/subscribe" {
            SessionChange::Subscribe(uri.to_string())
        } else {
            SessionChange::Unsubscribe(uri.to_string())
        };
        shared.change_session(s, change).await.map_err(tasks::store_error)?;
    }
    Ok(json!({}))
}

/// One page of a list; the cursor is the offset of the page's first item.
fn paginate<T: Serialize>(shared: &Shared, call: &Call, key: &str, items: &[T]) -> Reply {
    let start = match call.params.get("cursor") {
        None | Some(Value::Null) => 0,
        Some(Value::String(c)) => c
            .parse::<usize>()
            .ok()
            .filter(|&n| n <= items.len())
            .ok_or_else(|| ErrorObject::invalid_params(format!("Invalid cursor: {c}")))?,
        Some(_) => return Err(ErrorObject::invalid_params("Invalid cursor: must be a string")),
    };
    let end = (start + shared.config.page_size.max(1)).min(items.len());
    let mut result = Map::new();
    result.insert(
        key.into(),
        serde_json::to_value(&items[start..end]).map_err(|e| ErrorObject::internal(e.to_string()))?,
    );
    if end < items.len() {
        result.insert("nextCursor".into(), json!(end.to_string()));
    }
    Ok(Value::Object(result))
}

/// Whether a request becomes a task: `Ok(Some(requested_ttl))` if so.
fn decide_task(call: &Call, support: TaskSupport, what: &str) -> Result<Option<Option<f64>>, ErrorObject> {
    match &call.era {
        Era::Modern => {
            if call.method != "tools/call" {
                return Ok(None); // the extension defines tasks for tools/call only
            }
            match (support, call.declares_tasks()) {
                (TaskSupport::Required, false) => Err(missing_extension_error()),
                (TaskSupport::Forbidden, _) | (TaskSupport::Optional, false) => Ok(None),
                (_, true) => Ok(Some(None)),
            }
        }
        era if era.has_form_a() => {
            let task = call.params.get("task");
            match (support, task) {
                (TaskSupport::Forbidden, Some(_)) => Err(ErrorObject::new(
                    ErrorCode::METHOD_NOT_FOUND,
                    format!("{what} does not support task-augmented execution (params.task)"),
                )),
                (TaskSupport::Required, None) => Err(ErrorObject::new(
                    ErrorCode::METHOD_NOT_FOUND,
                    format!("{what} requires task-augmented execution: send params.task"),
                )),
                (_, Some(t)) => {
                    if !t.is_object() {
                        return Err(ErrorObject::invalid_params("params.task must be an object"));
                    }
                    Ok(Some(t.get("ttl").and_then(Value::as_f64)))
                }
                (_, None) => Ok(None),
            }
        }
        _ => match support {
            TaskSupport::Required => Err(ErrorObject::new(
                ErrorCode::METHOD_NOT_FOUND,
                format!("{what} requires task-augmented execution, which needs protocol 2025-11-25 or later"),
            )),
            _ => Ok(None),
        },
    }
}

/// The arguments a tool's input schema names, when the schema allows no others
/// (`properties` without a permissive `additionalProperties` or combinators); all of them otherwise.
fn known_arguments(schema: Option<&Value>, args: &Map<String, Value>) -> Map<String, Value> {
    let closed = schema.and_then(Value::as_object).and_then(|s| {
        let open = ["patternProperties", "allOf", "anyOf", "oneOf", "$ref", "unevaluatedProperties"]
            .iter()
            .any(|k| s.contains_key(*k))
            || s.get("additionalProperties").is_some_and(|a| a != &Value::Bool(false));
        (!open).then(|| s.get("properties")?.as_object()).flatten()
    });
    match closed {
        Some(props) => {
            args.iter().filter(|(k, _)| props.contains_key(*k)).map(|(k, v)| (k.clone(), v.clone())).collect()
        }
        None => args.clone(),
    }
}

fn arguments(call: &Call, key: &str) -> Result<Map<String, Value>, ErrorObject> {
    match call.params.get(key) {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(_) => Err(ErrorObject::invalid_params(format!("'{key}' must be an object"))),
    }
}

async fn call_tool(shared: &Arc<Shared>, call: &Call) -> Answered {
    let name = call.str_param("name")?;
    let components = shared.components();
    let tool = components.tool(name).ok_or_else(|| ErrorObject::invalid_params(format!("Unknown tool: {name}")))?;
    call.require(&tool.common.scopes, &format!("tool '{name}'"))?;
    let args = arguments(call, "arguments")?;
    let tool_support = shared.support(tool.common.task_support);
    let task = decide_task(call, tool_support, &format!("Tool '{name}'"))?;
    let prepare_validate = tool.prepare.as_ref().and_then(|p| p.describe.validate);
    for validate in [tool.common.describe.validate, prepare_validate].into_iter().flatten() {
        if let Err(msg) = validate(&args) {
            // Input validation errors are tool execution errors, so a model can correct itself.
            return Out::raw(&CallToolResult::error(format!("Invalid arguments for tool '{name}': {msg}")), true);
        }
    }
    let cx = call.context(shared);
    if let Some(prepare) = &tool.prepare {
        // In the request itself, before any task exists: its questions are asked now
        // (stateless: as MRTR rounds, so the task is only created once all are answered).
        let outcome = (prepare.handler)(cx.clone(), args.clone()).await;
        if let Some(asked) = cx.input_required() {
            return asked.map(Out::Tree);
        }
        match outcome {
            Ok(v) => {
                let _ = cx.inner.prepared.set(v);
            }
            Err(e) => return tool_outcome(Err(e)),
        }
    }
    if let Some(ttl) = task {
        let prepared = cx.prepared().cloned();
        // What the tool does not take is not kept with the task.
        let kept = known_arguments(tool.common.describe.input_schema.as_ref(), &args);
        let optional = call.era.is_modern() && tool_support == TaskSupport::Optional;
        match tasks::create(shared, call, "tools/call", name, Value::Object(kept), ttl, prepared).await {
            // A modern call to a tool that need not be a task runs directly when tasks are out of room.
            Err(e) if optional && tasks::is_out_of_room(&e) => {
                tracing::debug!(tool = name, error = %e.message, "no room for a task; running the call directly");
            }
            // A quick one is answered with its result when it ends within the window.
            Ok(created) if optional && !shared.config.quick_answer.is_zero() => {
                let window = shared.config.quick_answer;
                let quick = crate::quick::wait(shared, &created.task_id, window).await;
                return quick.map_or(Ok(created.answer), |reply| reply.map(Out::Tree));
            }
            created => return created.map(|c| c.answer),
        }
    }
    let handler = tool.common.handler.as_ref().ok_or_else(|| ErrorObject::internal("tool has no handler"))?;
    let _turn = tool.common.slot().await;
    let outcome = handler(cx.clone(), args).await;
    if let Some(asked) = cx.input_required() {
        return asked.map(Out::Tree);
    }
    tool_outcome(outcome)
}

/// A direct tool call's answer: a result, a tool error result, or a JSON-RPC error.
/// Results are written once, as text.
fn tool_outcome(outcome: Result<CallToolResult, ToolError>) -> Answered {
    match outcome {
        Ok(result) => Out::raw(&result, result.is_error),
        Err(ToolError::Message(m)) | Err(ToolError::Retryable(m)) => Out::raw(&CallToolResult::error(m), true),
        Err(ToolError::Rpc(e)) => Err(e),
    }
}

async fn get_prompt(shared: &Arc<Shared>, call: &Call) -> Answered {
    let name = call.str_param("name")?;
    let components = shared.components();
    let prompt =
        components.prompt(name).ok_or_else(|| ErrorObject::invalid_params(format!("Unknown prompt: {name}")))?;
    call.require(&prompt.common.scopes, &format!("prompt '{name}'"))?;
    let args = typed_arguments(prompt.common.describe.input_schema.as_ref(), arguments(call, "arguments")?)
        .map_err(|m| ErrorObject::invalid_params(format!("Invalid arguments for prompt '{name}': {m}")))?;
    let task = decide_task(call, shared.support(prompt.common.task_support), &format!("Prompt '{name}'"))?;
    if let Some(validate) = prompt.common.describe.validate {
        validate(&args)
            .map_err(|m| ErrorObject::invalid_params(format!("Invalid arguments for prompt '{name}': {m}")))?;
    }
    if let Some(ttl) = task {
        return tasks::create(shared, call, "prompts/get", name, Value::Object(args), ttl, None)
            .await
            .map(|c| c.answer);
    }
    let handler = prompt.common.handler.as_ref().ok_or_else(|| ErrorObject::internal("prompt has no handler"))?;
    let cx = call.context(shared);
    let outcome = handler(cx.clone(), args).await;
    if let Some(asked) = cx.input_required() {
        return asked.map(Out::Tree);
    }
    let mut v = to_value(outcome.map_err(ToolError::into_error_object)?)?;
    if v.get("description").is_none() {
        if let Some(d) = &prompt.description {
            v["description"] = json!(d);
        }
    }
    Ok(Out::Tree(v))
}

/// An unknown resource: -32602 on 2026-07-28 (SEP-2164), -32002 before it.
pub(crate) fn resource_not_found(uri: &str, modern: bool) -> ErrorObject {
    let code = if modern { ErrorCode::INVALID_PARAMS } else { ErrorCode::RESOURCE_NOT_FOUND };
    ErrorObject::new(code, format!("Resource not found: {uri}")).with_data(json!({"uri": uri}))
}

/// Fill in the URI of contents a handler left blank.
pub(crate) fn fill_uri(mut r: ReadResourceResult, uri: &str) -> ReadResourceResult {
    for c in &mut r.contents {
        if c.uri.is_empty() {
            c.uri = uri.to_string();
        }
    }
    r
}

async fn read_resource(shared: &Arc<Shared>, call: &Call) -> Answered {
    let uri = call.str_param("uri")?;
    let components = shared.components();
    let (common, vars) =
        components.resolve_resource(uri).ok_or_else(|| resource_not_found(uri, call.era.is_modern()))?;
    call.require(&common.scopes, &format!("resource '{uri}'"))?;
    let task = decide_task(call, shared.support(common.task_support), &format!("Resource '{uri}'"))?;
    if let Some(validate) = common.describe.validate {
        validate(&vars).map_err(|m| ErrorObject::invalid_params(format!("Invalid resource URI '{uri}': {m}")))?;
    }
    if let Some(ttl) = task {
        return tasks::create(shared, call, "resources/read", uri, Value::Object(vars), ttl, None)
            .await
            .map(|c| c.answer);
    }
    let handler = common.handler.as_ref().ok_or_else(|| ErrorObject::internal("resource has no handler"))?;
    let cx = call.context(shared);
    let outcome = handler(cx.clone(), vars).await;
    if let Some(asked) = cx.input_required() {
        return asked.map(Out::Tree);
    }
    to_value(fill_uri(outcome.map_err(ToolError::into_error_object)?, uri)).map(Out::Tree)
}

/// A caller whose token lacks scopes `what` needs.
pub(crate) fn insufficient_scope(needed: &[String], what: &str) -> ErrorObject {
    ErrorObject::new(ErrorCode::INSUFFICIENT_SCOPE, format!("Forbidden: {what} needs the scope {}", needed.join(" ")))
        .with_data(json!({"requiredScopes": needed}))
}

pub(crate) fn to_value<T: Serialize>(v: T) -> Reply {
    serde_json::to_value(v).map_err(|e| ErrorObject::internal(format!("cannot serialize result: {e}")))
}

/// Handle a notification from the client. Returns it when it concerns a call this
/// process does not run (a cancellation of a request another front end runs).
pub(crate) fn handle_notification(n: Notification, session: Option<&Arc<Session>>) -> Option<Notification> {
    match n.method.as_str() {
        "notifications/initialized" => {
            if let Some(s) = session {
                s.initialized.store(true, Ordering::Relaxed);
            }
        }
        "notifications/cancelled" => {
            let id = n.params.as_ref().and_then(|p| p.get("requestId")).cloned();
            let id: Option<RequestId> = id.and_then(|v| serde_json::from_value(v).ok());
            if let (Some(s), Some(id)) = (session, id) {
                match lock(&s.in_flight).get(&id) {
                    Some(token) => {
                        tracing::debug!(request_id = %id, "request cancelled by the client");
                        token.cancel();
                    }
                    None => return Some(n),
                }
            }
        }
        other => tracing::trace!(method = other, "notification ignored"),
    }
    None
}

/// Deliver a client's response to the server-to-client request it answers. Returns it
/// when no request of this process waits for it (another front end may have asked).
pub(crate) fn handle_response(resp: Response, session: Option<&Arc<Session>>) -> Option<Response> {
    let (Some(s), Some(id)) = (session, resp.id.as_ref()) else { return None };
    let pending = lock(&s.pending).remove(&id.to_string());
    let Some(tx) = pending else {
        tracing::debug!(id = %id, "response to a request this process did not send");
        return Some(resp);
    };
    let result = match (resp.result, resp.error) {
        (_, Some(e)) => Err(e),
        (Some(v), None) => Ok(v),
        (None, None) => Ok(Value::Null),
    };
    let _ = tx.send(result);
    None
}
