//! The Streamable HTTP transport (axum).
//!
//! A `POST` carries one JSON-RPC message. Notifications and responses are
//! acknowledged with `202`. A request is answered with `application/json` when
//! its handler sends nothing before the response, and upgraded to an SSE stream
//! as soon as it does (progress, logs, requests to the client), so quick calls
//! stay cheap and long ones stream.

// Early returns carry a finished HTTP response; boxing it would only add noise.
#![allow(clippy::result_large_err)]

use super::body::BodyBudget;
use super::headers::HttpHeaders;
use super::listener::ConnectionLimits;
use super::media::{self, Accepts};
use super::readable_id;
use super::sse::{self, parse_event_id, StreamLog};
use crate::answer::Answer;
use crate::dispatch::{handle_notification, handle_request, handle_response, Incoming};
use crate::server::{Server, ServerConfig, Shared};
use crate::session::{lock, Outbound, Session};
use crate::session_table::{client_key, Refusal};
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::routing::any;
use axum::Router;
use ferry_protocol::time_fmt::now_ms;
use ferry_protocol::version::HANDSHAKE_VERSIONS;
use ferry_protocol::version::SUPPORTED_VERSIONS;
use ferry_protocol::{ErrorCode, ErrorObject, Message, RequestId, Response};
use futures::stream::{self, StreamExt};
use futures::FutureExt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

const SESSION_HEADER: &str = "mcp-session-id";

/// Options of the HTTP transport.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// The endpoint path.
    pub path: String,
    /// Check `Host` and `Origin` against loopback names and `ServerConfig::allowed_hosts`
    /// (DNS-rebinding protection). On by default; meant for servers bound to loopback.
    pub check_host: bool,
    /// How long a client should wait before reconnecting to a broken SSE stream
    /// (the `retry:` of the priming event).
    pub sse_retry: Duration,
    /// How long a handler's stream stays open for its client to come back
    /// (`Last-Event-ID`) after the server closed the connection
    /// (`Context::close_stream`), and how long a finished stream can still be resumed.
    pub resume_grace: Duration,
    /// Bounds on connections and request bodies (slow or idle clients, bodies in flight).
    pub limits: ConnectionLimits,
    /// Serve Prometheus metrics at `GET /metrics`, installing the process's recorder
    /// (see [`crate::metrics`]). Off by default: nothing is recorded without it.
    pub metrics: bool,
    /// Serve the health probes `GET /healthz` and `GET /readyz` (on by default).
    pub probes: bool,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            path: "/mcp".into(),
            check_host: true,
            sse_retry: Duration::from_secs(1),
            resume_grace: Duration::from_secs(15),
            limits: ConnectionLimits::default(),
            metrics: false,
            probes: true,
        }
    }
}

#[derive(Clone)]
struct App {
    server: Server,
    options: Arc<HttpOptions>,
    bodies: Arc<BodyBudget>,
}

impl Server {
    /// An axum router serving MCP at `/mcp` (mount it, or serve it yourself).
    pub fn router(&self) -> Router {
        self.router_with(HttpOptions::default())
    }

    /// An axum router with explicit options.
    pub fn router_with(&self, options: HttpOptions) -> Router {
        self.start();
        let path = options.path.clone();
        let bodies = Arc::new(BodyBudget::new(&options.limits, self.shared.config.max_body_bytes));
        let probes = options.probes || options.metrics;
        let metrics = options.metrics;
        let router = super::credentials::metadata_routes(Router::new(), &self.shared);
        let mut router = router.route(&path, any(endpoint)).with_state(App {
            server: self.clone(),
            options: Arc::new(options),
            bodies,
        });
        if probes {
            let mut probes = self.probes();
            if metrics {
                match probes.clone().with_metrics() {
                    Ok(with) => probes = with,
                    Err(e) => tracing::error!(error = %e, "no /metrics"),
                }
            }
            router = router.merge(probes.router());
        }
        router
    }

    /// Serve Streamable HTTP at `http://{addr}/mcp` until the process ends.
    pub async fn serve_http(&self, addr: SocketAddr) -> std::io::Result<()> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        self.serve_listener(listener).await
    }

    /// Serve Streamable HTTP on a bound listener (`Host`/`Origin` checked when it is a loopback one).
    pub async fn serve_listener(&self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        let options = HttpOptions {
            check_host: listener.local_addr().map(|a| a.ip().is_loopback()).unwrap_or(true),
            ..HttpOptions::default()
        };
        self.serve_listener_with(listener, options).await
    }

    /// Serve Streamable HTTP on a bound listener with explicit options, within
    /// `options.limits` (see [`ConnectionLimits`]).
    pub async fn serve_listener_with(
        &self,
        listener: tokio::net::TcpListener,
        options: HttpOptions,
    ) -> std::io::Result<()> {
        tracing::info!(addr = ?listener.local_addr().ok(), "serving MCP over Streamable HTTP at {}", options.path);
        let limits = options.limits.clone();
        super::listener::serve(listener, self.router_with(options), &limits).await
    }
}

pub(super) fn error_response(status: StatusCode, error: ErrorObject) -> HttpResponse {
    error_reply(status, None, error)
}

/// An error answer for a request whose id is known (or `None` when the body could not be read).
fn error_reply(status: StatusCode, id: Option<RequestId>, error: ErrorObject) -> HttpResponse {
    let body = serde_json::to_vec(&Response::err(id, error)).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

pub(crate) fn is_loopback_host(host: &str) -> bool {
    let host = host.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        host.rsplit_once(':').map(|(h, p)| if p.chars().all(|c| c.is_ascii_digit()) { h } else { host }).unwrap_or(host)
    };
    matches!(name.to_ascii_lowercase().as_str(), "localhost" | "127.0.0.1" | "::1") || name.starts_with("127.")
}

fn host_allowed(app: &App, host: &str) -> bool {
    let allowed = &app.server.shared.config.allowed_hosts;
    is_loopback_host(host) || allowed.iter().any(|a| a.eq_ignore_ascii_case(host) || host.starts_with(&format!("{a}:")))
}

/// DNS-rebinding protection: a browser page on another origin must not reach a local server.
fn check_origin(app: &App, headers: &HeaderMap) -> Result<(), HttpResponse> {
    if !app.options.check_host {
        return Ok(());
    }
    let forbidden = |what: &str| {
        Err(error_response(
            StatusCode::FORBIDDEN,
            ErrorObject::invalid_request(format!("Forbidden: {what} not allowed")),
        ))
    };
    if let Some(host) = header_str(headers, "host") {
        if !host_allowed(app, host) {
            return forbidden(&format!("Host '{host}'"));
        }
    }
    if let Some(origin) = header_str(headers, "origin") {
        let host = origin.split("://").nth(1).unwrap_or(origin);
        if origin != "null" && !host_allowed(app, host) {
            return forbidden(&format!("Origin '{origin}'"));
        }
        if origin == "null" {
            return forbidden("Origin 'null'");
        }
    }
    Ok(())
}

async fn endpoint(State(app): State<App>, request: axum::extract::Request) -> HttpResponse {
    let (parts, body) = request.into_parts();
    let (method, headers) = (parts.method, parts.headers);
    // The client's address, when the router is served with `ConnectInfo` (as `serve_listener` does).
    let peer = parts.extensions.get::<axum::extract::ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    if let Err(r) = check_origin(&app, &headers) {
        return r;
    }
    let caller = match super::credentials::authenticate(&app.server.shared, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (subject, scopes) = match caller {
        Some(c) => (Some(c.subject), c.scopes),
        None => (None, None),
    };
    match method {
        Method::POST => post(app, headers, subject, scopes, peer, body).await,
        Method::GET => get(app, headers, subject).await,
        Method::DELETE => delete(app, headers, subject).await,
        _ => {
            let mut r =
                error_response(StatusCode::METHOD_NOT_ALLOWED, ErrorObject::invalid_request("Method not allowed"));
            r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, POST, DELETE"));
            r
        }
    }
}

/// Find the session named by the header (adopting it from a shared store): `Ok(None)`
/// when there is no header. `id`: the request being answered, echoed in the error. A
/// session is only found by the subject that opened it.
async fn session_of(
    app: &App,
    headers: &HeaderMap,
    subject: &Option<String>,
    request: Option<RequestId>,
) -> Result<Option<Arc<Session>>, HttpResponse> {
    let Some(id) = header_str(headers, SESSION_HEADER) else { return Ok(None) };
    match app.server.shared.find_session(id, subject).await {
        Ok(Some(s)) => {
            s.touch(now_ms());
            Ok(Some(s))
        }
        Ok(None) => Err(error_reply(StatusCode::NOT_FOUND, request, ErrorObject::invalid_request("Session not found"))),
        Err(e) => Err(refused(&app.server.shared.config, request, Refusal::Store(e.to_string()))),
    }
}

/// The session of a GET or DELETE, which only make sense within one.
async fn required_session(
    app: &App,
    headers: &HeaderMap,
    subject: &Option<String>,
) -> Result<Arc<Session>, HttpResponse> {
    session_of(app, headers, subject, None).await?.ok_or_else(|| {
        error_response(
            StatusCode::BAD_REQUEST,
            ErrorObject::invalid_request("Bad Request: Mcp-Session-Id header is required"),
        )
    })
}

/// A session's requests carry a protocol version in `MCP-Protocol-Version` (or none, as
/// 2025-03-26 clients do). One this server cannot speak in a session is refused with 400,
/// as the spec asks of an "invalid or unsupported" version; another supported version is
/// accepted (the official suite sends 2025-03-26 on a 2025-11-25 session) and the session
/// goes on in the version it negotiated.
fn negotiated_version(session: &Session, headers: &HeaderMap, id: Option<RequestId>) -> Result<(), HttpResponse> {
    let (Some(sent), negotiated) = (header_str(headers, "mcp-protocol-version"), session.version()) else {
        return Ok(());
    };
    if negotiated.is_empty() || HANDSHAKE_VERSIONS.contains(&sent) {
        return Ok(());
    }
    Err(error_reply(
        StatusCode::BAD_REQUEST,
        id,
        ErrorObject::invalid_request(format!(
            "Bad Request: MCP-Protocol-Version '{sent}' is not a version of a session (this one negotiated '{negotiated}')"
        ))
        .with_data(serde_json::json!({"negotiated": negotiated, "requested": sent, "supported": HANDSHAKE_VERSIONS})),
    ))
}

fn status_for(error: &ErrorObject, modern: bool) -> StatusCode {
    match error.code {
        ErrorCode::HEADER_MISMATCH | ErrorCode::MISSING_CLIENT_CAPABILITY | ErrorCode::UNSUPPORTED_VERSION => {
            StatusCode::BAD_REQUEST
        }
        ErrorCode::METHOD_NOT_FOUND if modern => StatusCode::NOT_FOUND,
        // Errors of the envelope (session, headers, `_meta`) rather than of the method's work.
        _ if error.message.starts_with("Bad Request") => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    }
}

async fn post(
    app: App,
    headers: HeaderMap,
    subject: Option<String>,
    scopes: Option<std::collections::BTreeSet<String>>,
    peer: Option<IpAddr>,
    body: Body,
) -> HttpResponse {
    let shared = app.server.shared.clone();
    if let Some(problem) = media::content_type_problem(header_str(&headers, "content-type")) {
        return error_response(StatusCode::UNSUPPORTED_MEDIA_TYPE, ErrorObject::invalid_request(problem));
    }
    let accepts = header_str(&headers, "accept").map_or(Accepts::ANYTHING, Accepts::parse);
    if !accepts.any() {
        return error_response(
            StatusCode::NOT_ACCEPTABLE,
            ErrorObject::invalid_request(
                "Not Acceptable: the Accept header must allow application/json and/or text/event-stream",
            ),
        );
    }
    let client = client_key(subject.as_deref(), peer);
    let (bytes, held) = match app.bodies.read(body, &headers, client.as_deref().unwrap_or_default()).await {
        Ok(read) => read,
        Err(r) => return r,
    };
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return error_response(
            StatusCode::BAD_REQUEST,
            ErrorObject::invalid_request("Invalid request: JSON-RPC batches are not supported"),
        );
    }
    let msg = match Message::parse_limited(&bytes, &shared.config.parse_limits) {
        Ok(m) => m,
        Err(e) => {
            crate::metrics::count_parse_refusal(&e);
            return error_reply(StatusCode::BAD_REQUEST, readable_id(&bytes), e);
        }
    };
    // Parsed: the body's bytes go back to the budget.
    drop((held, bytes));
    // Every error from here on answers a message whose id (if it is a request) is known.
    let id = match &msg {
        Message::Request(r) => Some(r.id.clone()),
        _ => None,
    };
    let session = match session_of(&app, &headers, &subject, id.clone()).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let body_modern = match &msg {
        Message::Request(r) => r
            .params
            .as_ref()
            .and_then(|p| p.get("_meta"))
            .and_then(|m| m.get(ferry_protocol::version::META_PROTOCOL_VERSION))
            .is_some(),
        _ => false,
    };
    let header_version = header_str(&headers, "mcp-protocol-version");
    if let (Message::Request(_), Some(ferry_protocol::version::MODERN), false) = (&msg, header_version, body_modern) {
        return error_reply(
            StatusCode::BAD_REQUEST,
            id,
            ErrorObject::invalid_params(format!(
                "Bad Request: a 2026-07-28 request needs params._meta.{}",
                ferry_protocol::version::META_PROTOCOL_VERSION
            )),
        );
    }
    // A modern body's header is compared with its `_meta` by the dispatcher (-32020 on mismatch).
    if let (Some(v), false) = (header_version, body_modern) {
        if !SUPPORTED_VERSIONS.contains(&v) {
            return error_reply(
                StatusCode::BAD_REQUEST,
                id,
                ErrorObject::new(
                    ErrorCode::UNSUPPORTED_VERSION,
                    format!("Bad Request: unsupported protocol version {v}"),
                )
                .with_data(serde_json::json!({"supported": SUPPORTED_VERSIONS, "requested": v})),
            );
        }
    }
    if let (Some(s), false) = (&session, body_modern) {
        if let Err(r) = negotiated_version(s, &headers, id.clone()) {
            return r;
        }
    }
    if let (Some(s), Message::Request(_)) = (&session, &msg) {
        s.note_request();
    }
    let req = match msg {
        Message::Notification(n) => {
            let elsewhere = handle_notification(n, session.as_ref()).map(Message::Notification);
            if let Some(s) = &session {
                shared.session_used(s);
                shared.forward_to_copies(s, elsewhere).await;
            }
            return StatusCode::ACCEPTED.into_response();
        }
        Message::Response(r) => {
            let elsewhere = handle_response(r, session.as_ref()).map(Message::Response);
            if let Some(s) = &session {
                shared.forward_to_copies(s, elsewhere).await;
            }
            return StatusCode::ACCEPTED.into_response();
        }
        Message::Request(req) => req,
    };
    if let Some(s) = &session {
        shared.session_used(s);
    }
    let modern = body_modern;
    // A legacy `initialize` opens a new session.
    let mut new_session = None;
    let session = if req.method == "initialize" && !modern {
        if session.is_some() {
            return error_reply(
                StatusCode::BAD_REQUEST,
                Some(req.id.clone()),
                ErrorObject::invalid_request("Bad Request: this session is already initialized"),
            );
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        let s = Arc::new(Session::http(id, subject.clone(), client.clone(), now_ms()));
        new_session = Some(s.clone());
        Some(s)
    } else {
        if session.is_none() && !modern && req.method != "ping" && req.method != "server/discover" {
            return error_reply(
                StatusCode::BAD_REQUEST,
                Some(req.id.clone()),
                ErrorObject::invalid_request("Bad Request: Mcp-Session-Id header is required"),
            );
        }
        session
    };
    let http = HttpHeaders::from_map(&headers);
    let accepts_sse = accepts.sse;

    let request_id = req.id.clone();
    // The channel for messages before the answer is made only when the handler sends one.
    let (outbound, receiving) = match accepts_sse.then(Outbound::lazy) {
        Some((outbound, receiving)) => (Some(outbound), Some(receiving)),
        None => (None, None),
    };
    let cancel = CancellationToken::new();
    let inc = Incoming {
        session: session.clone(),
        outbound,
        http: Some(http),
        auth_subject: subject,
        auth_scopes: scopes,
        client,
        cancel: cancel.clone(),
    };
    // A plain JSON answer, or a stream nobody can resume, dies with its connection: dropping
    // this future (the client went away) before the answer cancels the call.
    let mut handler = Handler::start(shared.clone(), req, inc, cancel.clone());

    // JSON unless the handler speaks (or closes the stream) before it answers. Messages
    // come first: one queued in the very poll that answered must still go out (on the SSE
    // stream, before the answer).
    let (opened, answered) = match &receiving {
        Some(receiving) => tokio::select! {
            biased;
            rx = receiving.opened() => (Some(rx), None),
            resp = handler.finish() => (receiving.take(), Some(resp)),
        },
        None => (None, Some(handler.finish().await)),
    };
    // The first message, which opened the channel.
    let first = opened.and_then(|mut rx| Some((rx.try_recv().ok()?, rx)));
    let mut response = match (first, answered) {
        (Some((first, rx)), answered) if accepts_sse => {
            // The rest of the handler runs in a task of its own, behind the stream.
            let done = match answered {
                Some(resp) => answer_now(resp),
                None => handler.detach(),
            };
            // Opened before the first event is written, so every event can be resumed.
            let log = StreamLog::open(session.as_ref(), request_id, shared.config.max_stream_buffer_bytes);
            let (grace, retry) = (app.options.resume_grace, app.options.sse_retry);
            if sse::is_close(&first) {
                // Closed before saying anything: the priming event alone, the client resumes.
                let events = stream::iter(log.priming(0, retry));
                log.pump(session.clone(), None, rx, done, grace, cancel);
                sse::response(events)
            } else {
                let events = stream::iter(log.priming(0, retry)).chain(log.follow(0, 0));
                log.pump(session.clone(), Some(first), rx, done, grace, cancel);
                sse::response(events)
            }
        }
        (_, answered) => {
            // The handler's senders are dropped just before its response is handed over
            // (or it had none): no messages, so the response itself.
            let resp = match answered {
                Some(resp) => resp,
                None => handler.finish().await,
            };
            let resp = resp.unwrap_or_else(|| {
                Answer::new(
                    request_id.clone(),
                    Err(ErrorObject::new(ErrorCode::REQUEST_CANCELLED, "Request cancelled")),
                )
            });
            if let (Some(s), true) = (&new_session, resp.error().is_none()) {
                if let Err(refusal) = app.server.shared.open_session(s.clone()).await {
                    return refused(&app.server.shared.config, Some(request_id), refusal);
                }
            } else {
                new_session = None; // a failed initialize opens no session: hand out no id
            }
            let forbidden = resp.error().and_then(|e| super::credentials::forbidden_status(&app.server.shared, e));
            let status = match &forbidden {
                Some((status, _)) => *status,
                None => resp.error().map(|e| status_for(e, modern)).unwrap_or(StatusCode::OK),
            };
            match (accepts.json, status) {
                // A client that takes only streams gets its answer as a (one-event) stream.
                (false, StatusCode::OK) => sse::response(stream::iter(sse::single(&resp.into_message()))),
                _ => {
                    let body = serde_json::to_vec(&resp).unwrap_or_default();
                    let mut r = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
                    if let Some((_, challenge)) = forbidden {
                        r.headers_mut().insert(header::WWW_AUTHENTICATE, challenge);
                    }
                    r
                }
            }
        }
    };
    if let Some(s) = new_session {
        if let Ok(v) = HeaderValue::from_str(&s.id) {
            response.headers_mut().insert(SESSION_HEADER, v);
        }
    }
    response
}

/// A request's handler, run within its POST's own task: a quick JSON answer needs no
/// task, channel or stream log of its own. A handler that speaks before it answers
/// moves to a task of its own ([`Handler::detach`]) behind the SSE stream.
struct Handler {
    running: Option<Pin<Box<dyn Future<Output = Option<Answer>> + Send>>>,
    cancel: CancellationToken,
}

impl Handler {
    fn start(shared: Arc<Shared>, req: ferry_protocol::Request, inc: Incoming, cancel: CancellationToken) -> Self {
        // A panicking handler answers as a cancelled one (as when it ran in a task of its own).
        let answer = async move { handle_request(&shared, req, inc).await };
        let answer = AssertUnwindSafe(answer).catch_unwind().map(Result::ok).map(Option::flatten);
        Self { running: Some(Box::pin(answer)), cancel }
    }

    /// Run the handler to its answer (`None`: cancelled). Cancel-safe: when dropped
    /// unfinished, the next call goes on where this one stopped.
    async fn finish(&mut self) -> Option<Answer> {
        let running = self.running.as_mut()?;
        let answer = running.await;
        self.running = None;
        answer
    }

    /// The rest of the handler in a task of its own; its answer comes on the receiver.
    fn detach(mut self) -> oneshot::Receiver<Option<Answer>> {
        let (tx, rx) = oneshot::channel();
        if let Some(running) = self.running.take() {
            tokio::spawn(async move {
                let _ = tx.send(running.await);
            });
        }
        rx
    }
}

impl Drop for Handler {
    /// The POST was dropped before the answer (the client went away): the call is
    /// cancelled and finishes in a task of its own, so its bookkeeping runs.
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            self.cancel.cancel();
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(running);
            }
        }
    }
}

/// An answer already in, as the receiver a stream's pump waits on.
fn answer_now(resp: Option<Answer>) -> oneshot::Receiver<Option<Answer>> {
    let (tx, rx) = oneshot::channel();
    let _ = tx.send(resp);
    rx
}

/// A new session refused by the session table: 429 (this client holds too many) or
/// 503 (the table is full of busy sessions, or the shared session store is out of
/// reach), with a `Retry-After` and a message saying what to do.
fn refused(config: &ServerConfig, id: Option<RequestId>, refusal: Refusal) -> HttpResponse {
    let (status, retry, scope, message) = match refusal {
        Refusal::ClientLimit { limit } => {
            crate::metrics::refused(crate::metrics::Limit::SessionsPerClient);
            let retry = config.session_handshake_timeout.as_secs().max(1);
            let message = format!(
                "Too many sessions for this client (limit {limit}): end sessions you no longer use \
                 (HTTP DELETE) or retry in {retry} s"
            );
            (StatusCode::TOO_MANY_REQUESTS, retry, "owner", message)
        }
        Refusal::Full { max } => {
            crate::metrics::refused(crate::metrics::Limit::Sessions);
            let message = format!("Server busy: all {max} sessions have calls running; retry in {BUSY_RETRY_SECS} s");
            (StatusCode::SERVICE_UNAVAILABLE, BUSY_RETRY_SECS, "server", message)
        }
        Refusal::Store(e) => {
            let message = format!("Server busy: the session store is out of reach ({e}); retry in {BUSY_RETRY_SECS} s");
            (StatusCode::SERVICE_UNAVAILABLE, BUSY_RETRY_SECS, "server", message)
        }
    };
    let data = serde_json::json!({ "scope": scope, "retryAfterSeconds": retry });
    let mut r = error_reply(status, id, ErrorObject::new(ErrorCode::LIMIT_EXCEEDED, message).with_data(data));
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry));
    r
}

/// When to try again after a `503` for a full table.
const BUSY_RETRY_SECS: u64 = 5;

async fn get(app: App, headers: HeaderMap, subject: Option<String>) -> HttpResponse {
    if !header_str(&headers, "accept").is_some_and(media::accepts_event_stream) {
        return error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorObject::invalid_request("GET needs Accept: text/event-stream"),
        );
    }
    let session = match required_session(&app, &headers, &subject).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Err(r) = negotiated_version(&session, &headers, None) {
        return r;
    }
    app.server.shared.session_used(&session);
    // The standalone stream of another front end's copy of a shared session (an even
    // stream number): its events were at-most-once notifications; open this one's afresh.
    let foreign_standalone = |stream: u64| {
        app.server.shared.sessions_shared() && stream.is_multiple_of(2) && stream != session.standalone_stream_id()
    };
    let last = header_str(&headers, "last-event-id")
        .filter(|last| !parse_event_id(last).is_some_and(|(stream, _)| foreign_standalone(stream)));
    // Resuming a response stream: the rest of it, then it ends.
    if let Some(last) = last {
        let found =
            parse_event_id(last).and_then(|(stream, n)| Some((lock(&session.streams).get(&stream)?.clone(), n)));
        let Some((log, after)) = found else {
            return error_response(
                StatusCode::BAD_REQUEST,
                ErrorObject::invalid_request(format!(
                    "Bad Request: Last-Event-ID '{last}' names no stream of this session that can be resumed \
                     (unknown, or finished and forgotten)"
                )),
            );
        };
        if log.request.is_none() {
            log.end_readers(); // the standalone stream has one reader: this one
        }
        return sse::response(log.follow(after, log.closes()));
    }
    if sse::resumable(&session) {
        // The standalone stream, resumable: what comes from now on, after a priming event.
        let log = StreamLog::standalone(&session, app.server.shared.config.max_stream_buffer_bytes);
        log.end_readers();
        let at = log.last();
        let events = stream::iter(log.priming(at, app.options.sse_retry)).chain(log.follow(at, log.closes()));
        return sse::response(events);
    }
    let log = StreamLog::plain_standalone(&session, app.server.shared.config.max_stream_buffer_bytes);
    sse::response(log.follow(0, 0))
}

async fn delete(app: App, headers: HeaderMap, subject: Option<String>) -> HttpResponse {
    let session = match required_session(&app, &headers, &subject).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Err(r) = negotiated_version(&session, &headers, None) {
        return r;
    }
    if let Err(e) = app.server.shared.end_session(&session).await {
        return refused(&app.server.shared.config, None, Refusal::Store(e.to_string()));
    }
    StatusCode::OK.into_response()
}
