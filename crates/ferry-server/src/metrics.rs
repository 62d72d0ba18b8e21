//! Prometheus metrics and health probes.
//!
//! Off by default in the library: nothing is recorded until a recorder is installed
//! ([`install`], done for you by [`HttpOptions::metrics`](crate::transport::HttpOptions::metrics)
//! and by `ferry serve`); without one, each recording is a few instructions. Metrics
//! go through the [`metrics`] facade into the Prometheus recorder of
//! `metrics-exporter-prometheus`, rendered by our own routes (no listener of the
//! exporter's):
//!
//! * `GET /metrics` — the Prometheus text exposition (on the MCP listener when
//!   `HttpOptions::metrics` is set; on `ferry worker --metrics-addr`);
//! * `GET /healthz` — `200` while the process runs;
//! * `GET /readyz` — `200` when the task store answers a ping ([`Backend::ping`]) and
//!   the process is not shutting down ([`Probes::set_draining`]); else `503` with a JSON
//!   `{"status": "unavailable", "reason": ...}`.
//!
//! The metrics of this crate (those of the task engine are listed in
//! [`ferry_tasks::metrics`]; both are served together):
//!
//! | name | type | labels | meaning |
//! |---|---|---|---|
//! | `ferry_requests_total` | counter | `method`, `outcome` | JSON-RPC requests answered (or cancelled), HTTP and stdio |
//! | `ferry_request_duration_seconds` | histogram | `method` | time from a request's arrival at the dispatcher to its answer (for a streamed answer, the end of the handler) |
//! | `ferry_sessions` | gauge | — | open sessions (HTTP and stdio), read at scrape time |
//! | `ferry_sse_streams` | gauge | — | SSE responses being sent now (streamed answers, listen streams, `GET` streams) |
//! | `ferry_limit_refusals_total` | counter | `limit` | refusals by a limit (see [`Limit`] for the names) |
//!
//! `method` is one of the MCP methods this server answers ([`METHODS`]), `other` for
//! anything else. `outcome` is `ok`, `cancelled` (no answer: the client went away or
//! cancelled) or the class of the JSON-RPC error: `parse_error`, `invalid_request`,
//! `method_not_found`, `invalid_params`, `internal_error`, `resource_not_found`,
//! `header_mismatch`, `missing_capability`, `unsupported_version`, `limit_exceeded`,
//! `insufficient_scope`, `request_cancelled`, `other_error`. A tool's error result
//! (`isError`) is an `ok` answer. No label carries an id, a session or an argument.
//!
//! Refused before the dispatcher (a body too large, a full session table...), a request
//! counts under `ferry_limit_refusals_total`, not `ferry_requests_total`. Oversized
//! request heads (HTTP 431) are answered by hyper itself and not counted.

use crate::answer::Answer;
use crate::registry::Components;
use crate::server::Shared;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::routing::get;
use axum::Router;
use ferry_protocol::ErrorCode;
use ferry_tasks::metrics::EngineGauges;
use ferry_tasks::Backend;
use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

pub use ferry_tasks::metrics::{refused, Limit};

/// Counter: requests by `method` and `outcome`.
pub const REQUESTS: &str = "ferry_requests_total";
/// Histogram: request latency in seconds by `method`.
pub const REQUEST_SECONDS: &str = "ferry_request_duration_seconds";
/// Gauge: open sessions.
pub const SESSIONS: &str = "ferry_sessions";
/// Gauge: SSE responses being sent.
pub const SSE_STREAMS: &str = "ferry_sse_streams";

/// The methods that get their own `method` label; the rest are `other`.
pub const METHODS: &[&str] = &[
    "initialize",
    "ping",
    "server/discover",
    "logging/setLevel",
    "tools/list",
    "tools/call",
    "prompts/list",
    "prompts/get",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "subscriptions/listen",
    "completion/complete",
    "tasks/get",
    "tasks/result",
    "tasks/list",
    "tasks/cancel",
    "tasks/update",
];

/// Histogram buckets (seconds) of every `_seconds` histogram: 1 ms to an hour, so the
/// same buckets serve request latency, queue waits and task run times.
pub const BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0];

/// Why metrics could not be turned on.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The process already has another recorder of the `metrics` facade.
    #[error("cannot install the Prometheus recorder: {0}")]
    Install(String),
}

static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// Install the process-wide Prometheus recorder (once; later calls return the same
/// handle) and start its upkeep (a thread draining histogram samples every 5 s, so
/// memory stays bounded between scrapes). Fails when another recorder of the
/// `metrics` facade was installed first.
pub fn install() -> Result<PrometheusHandle, MetricsError> {
    let installed = HANDLE.get_or_init(|| {
        let mut builder = PrometheusBuilder::new();
        for name in [REQUEST_SECONDS].iter().chain(ferry_tasks::metrics::HISTOGRAMS) {
            builder =
                builder.set_buckets_for_metric(Matcher::Full(name.to_string()), BUCKETS).map_err(|e| e.to_string())?;
        }
        let handle = builder.install_recorder().map_err(|e| e.to_string())?;
        describe();
        ferry_tasks::metrics::describe();
        ferry_tasks::metrics::cache_handles();
        REQUEST_HANDLES.get_or_init(RequestHandles::default);
        gauge!(SSE_STREAMS).increment(0.0); // shown from the first scrape on, at 0
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new().name("ferry-metrics-upkeep".into()).spawn(move || loop {
            std::thread::sleep(Duration::from_secs(5));
            upkeep.run_upkeep();
        });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "no metrics upkeep thread; histograms are drained at each scrape only");
        }
        Ok(handle)
    });
    installed.clone().map_err(MetricsError::Install)
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(REQUESTS, "JSON-RPC requests answered, by method and outcome");
    describe_histogram!(REQUEST_SECONDS, Unit::Seconds, "Time to answer a JSON-RPC request, by method");
    describe_gauge!(SESSIONS, "Open MCP sessions");
    describe_gauge!(SSE_STREAMS, "SSE responses being sent");
}

/// Count a message refused by the parse limits (`json_shape`); other parse errors are not refusals.
pub(crate) fn count_parse_refusal(error: &ferry_protocol::ErrorObject) {
    if error.data.as_ref().is_some_and(|d| d.get("limit").is_some()) {
        refused(Limit::JsonShape);
    }
}

/// The values of the `outcome` label.
const OUTCOMES: &[&str] = &[
    "ok",
    "cancelled",
    "parse_error",
    "invalid_request",
    "method_not_found",
    "invalid_params",
    "internal_error",
    "resource_not_found",
    "header_mismatch",
    "missing_capability",
    "unsupported_version",
    "limit_exceeded",
    "insufficient_scope",
    "request_cancelled",
    "other_error",
];

/// The `outcome` label of an answer (`None`: cancelled, nothing sent), as its index in [`OUTCOMES`].
fn outcome_index(response: Option<&Answer>) -> usize {
    let Some(response) = response else { return 1 };
    let Some(error) = response.error() else { return 0 };
    match error.code {
        ErrorCode::PARSE_ERROR => 2,
        ErrorCode::INVALID_REQUEST => 3,
        ErrorCode::METHOD_NOT_FOUND => 4,
        ErrorCode::INVALID_PARAMS => 5,
        ErrorCode::INTERNAL_ERROR => 6,
        ErrorCode::RESOURCE_NOT_FOUND => 7,
        ErrorCode::HEADER_MISMATCH => 8,
        ErrorCode::MISSING_CLIENT_CAPABILITY => 9,
        ErrorCode::UNSUPPORTED_VERSION => 10,
        ErrorCode::LIMIT_EXCEEDED => 11,
        ErrorCode::INSUFFICIENT_SCOPE => 12,
        ErrorCode::REQUEST_CANCELLED => 13,
        _ => 14,
    }
}

/// The request metrics' handles by method and outcome, registered on first use, once
/// [`install`] installed our recorder: a request then costs two array lookups and two
/// atomic updates. Without it (no recorder, or another one), the facade's macros.
struct RequestHandles {
    /// By `method * OUTCOMES.len() + outcome`; `METHODS.len()` is `other`.
    counts: Vec<OnceLock<metrics::Counter>>,
    durations: Vec<OnceLock<metrics::Histogram>>,
}

impl Default for RequestHandles {
    fn default() -> Self {
        let methods = METHODS.len() + 1;
        Self {
            counts: (0..methods * OUTCOMES.len()).map(|_| OnceLock::new()).collect(),
            durations: (0..methods).map(|_| OnceLock::new()).collect(),
        }
    }
}

static REQUEST_HANDLES: OnceLock<RequestHandles> = OnceLock::new();

/// Times one request from the dispatcher's start to its answer.
pub(crate) struct RequestTimer {
    /// Index in [`METHODS`] (its length: `other`).
    method: usize,
    started: Instant,
}

impl RequestTimer {
    /// Start timing a request of `method`.
    pub fn start(method: &str) -> Self {
        let method = METHODS.iter().position(|m| *m == method).unwrap_or(METHODS.len());
        Self { method, started: Instant::now() }
    }

    /// Count the answer and its latency.
    pub(crate) fn finish(self, response: Option<&Answer>) {
        let took = self.started.elapsed().as_secs_f64();
        let outcome = outcome_index(response);
        let method = METHODS.get(self.method).copied().unwrap_or("other");
        let count = || counter!(REQUESTS, "method" => method, "outcome" => OUTCOMES[outcome]);
        let duration = || histogram!(REQUEST_SECONDS, "method" => method);
        match REQUEST_HANDLES.get() {
            Some(h) => {
                h.counts[self.method * OUTCOMES.len() + outcome].get_or_init(count).increment(1);
                h.durations[self.method].get_or_init(duration).record(took);
            }
            None => {
                count().increment(1);
                duration().record(took);
            }
        }
    }
}

/// Counts one open SSE response in `ferry_sse_streams` while it lives.
pub(crate) struct SseStream(());

impl SseStream {
    /// One more stream open.
    pub fn open() -> Self {
        gauge!(SSE_STREAMS).increment(1.0);
        SseStream(())
    }
}

impl Drop for SseStream {
    fn drop(&mut self) {
        gauge!(SSE_STREAMS).decrement(1.0);
    }
}

/// The `component` label of a task's `kind` and `name`: the registered tool, prompt or
/// job name, the URI of a fixed resource, the template a URI matched, else `unknown`.
pub(crate) fn component_label(components: &Components, kind: &str, name: &str) -> String {
    let known = match kind {
        "tools/call" => components.tool(name).is_some(),
        "prompts/get" => components.prompt(name).is_some(),
        crate::jobs::JOB_KIND => components.job(name).is_some(),
        "resources/read" if components.has_resource(name) => true,
        "resources/read" => {
            let template = components.templates.iter().find(|t| t.parsed.matches(name).is_some());
            return template.map_or_else(unknown, |t| t.def.template.clone());
        }
        _ => false,
    };
    if known {
        name.to_string()
    } else {
        unknown()
    }
}

fn unknown() -> String {
    ferry_tasks::metrics::UNKNOWN_COMPONENT.to_string()
}

/// What `/metrics` renders: the recorder's handle and the scrape-time gauges.
struct Exposition {
    handle: PrometheusHandle,
    engine: EngineGauges,
}

/// The probe and metrics routes of a process: `/healthz`, `/readyz` and, with metrics,
/// `/metrics`. A server adds them to its HTTP router (see
/// [`HttpOptions`](crate::transport::HttpOptions)); `ferry worker --metrics-addr` serves
/// them alone ([`Probes::router`]).
#[derive(Clone)]
pub struct Probes {
    backend: Arc<dyn Backend>,
    draining: Arc<AtomicBool>,
    metrics: Option<Arc<Exposition>>,
    shared: Option<Weak<Shared>>,
}

impl Probes {
    /// Probes of a process whose tasks live in `backend` (no `/metrics` yet).
    pub fn new(backend: Arc<dyn Backend>) -> Self {
        Self { backend, draining: Arc::new(AtomicBool::new(false)), metrics: None, shared: None }
    }

    /// Serve `/metrics` too, installing the Prometheus recorder if need be ([`install`]).
    pub fn with_metrics(mut self) -> Result<Self, MetricsError> {
        let handle = install()?;
        let engine = EngineGauges::new(self.backend.clone());
        self.metrics = Some(Arc::new(Exposition { handle, engine }));
        Ok(self)
    }

    /// Probes of a server: its backend, its sessions for `ferry_sessions`, its drain flag.
    pub(crate) fn of_server(shared: &Arc<Shared>) -> Self {
        Self {
            backend: shared.backend.clone(),
            draining: shared.draining.clone(),
            metrics: None,
            shared: Some(Arc::downgrade(shared)),
        }
    }

    /// From now on `/readyz` answers `503` ("shutting down"), so load balancers stop
    /// sending work while running jobs finish.
    pub fn set_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// The routes, to serve alone or merge into another router.
    pub fn router(&self) -> Router {
        let mut router = Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz));
        if self.metrics.is_some() {
            router = router.route("/metrics", get(render));
        }
        router.with_state(self.clone())
    }

    /// Serve the routes on `listener` until the future is dropped.
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        let limits = crate::transport::ConnectionLimits { max_connections: Some(64), ..Default::default() };
        crate::transport::serve_router(listener, self.router(), &limits).await
    }
}

async fn healthz() -> HttpResponse {
    json_answer(StatusCode::OK, serde_json::json!({"status": "ok"}))
}

async fn readyz(State(probes): State<Probes>) -> HttpResponse {
    if probes.draining.load(Ordering::Relaxed) {
        return unavailable("shutting down".into());
    }
    match tokio::time::timeout(Duration::from_secs(2), probes.backend.ping()).await {
        Ok(Ok(())) => json_answer(StatusCode::OK, serde_json::json!({"status": "ready"})),
        Ok(Err(e)) => unavailable(format!("task store: {e}")),
        Err(_) => unavailable("task store: no answer to a ping within 2 s".into()),
    }
}

fn unavailable(reason: String) -> HttpResponse {
    json_answer(StatusCode::SERVICE_UNAVAILABLE, serde_json::json!({"status": "unavailable", "reason": reason}))
}

fn json_answer(status: StatusCode, body: serde_json::Value) -> HttpResponse {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

async fn render(State(probes): State<Probes>) -> HttpResponse {
    let Some(exposition) = &probes.metrics else {
        return StatusCode::NOT_FOUND.into_response();
    };
    exposition.engine.refresh().await;
    if let Some(shared) = probes.shared.as_ref().and_then(Weak::upgrade) {
        let open = crate::session::lock(&shared.sessions).len();
        gauge!(SESSIONS).set(open as f64);
    }
    exposition.handle.run_upkeep();
    let text = exposition.handle.render();
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_fixed_sets() {
        assert_eq!(METHODS[RequestTimer::start("tools/call").method], "tools/call");
        assert_eq!(RequestTimer::start("tools/call-01hx").method, METHODS.len(), "other");
        let err = Answer { id: None, outcome: Err(ferry_protocol::ErrorObject::invalid_params("x")) };
        assert_eq!(OUTCOMES[outcome_index(Some(&err))], "invalid_params");
        assert_eq!(OUTCOMES[outcome_index(None)], "cancelled");
    }
}
