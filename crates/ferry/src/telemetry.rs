//! What the command line reports: log lines on stderr (text or JSON) and, when an
//! OTLP endpoint is configured, traces exported over OTLP (HTTP/protobuf).
//!
//! The library crates only emit `tracing` spans (one per MCP request, one per task
//! run; see `ferry_server` and `ferry_tasks::trace`). This module is the one place
//! that installs the subscriber and, for `serve` and `worker`, the OpenTelemetry
//! pipeline and the propagator that carries a request's trace context into its task
//! jobs. Traces are on when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set and `OTEL_SDK_DISABLED` is not `true`;
//! otherwise no exporter, no propagator and no trace context in jobs.

use crate::{Command, Error, LogArgs, UsageError};
use clap::ValueEnum;
use ferry_protocol::types::Implementation;
use ferry_server::engine::trace::{self, Propagator, TraceContext};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use std::sync::atomic::{AtomicBool, Ordering};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{filter_fn, FilterExt, LevelFilter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// The help text on traces shown under `serve --help` and `worker --help`.
pub const TRACES_HELP: &str = "\
Traces (OpenTelemetry): set OTEL_EXPORTER_OTLP_ENDPOINT (e.g. http://collector:4318) or
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT to export a span per MCP request and per task run over
OTLP HTTP/protobuf. A task's run in a worker joins the trace of the request that created it;
a client's W3C traceparent (params._meta.traceparent, else the traceparent header) is the
request span's parent. Also read: OTEL_SERVICE_NAME (default: the server's name and role,
e.g. my-server-serve), OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER[_ARG], OTEL_BSP_*,
OTEL_EXPORTER_OTLP_[TRACES_]HEADERS/TIMEOUT. OTEL_SDK_DISABLED=true turns export off.";

/// How log lines are written on stderr.
#[derive(ValueEnum, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// One line of text per event, for people.
    #[default]
    Text,
    /// One JSON object per line (timestamp, level, target, fields, and the spans the
    /// event happened in with their fields), for log collectors.
    Json,
}

/// Whether stderr carries JSON lines (`--log-format json` of `serve` or `worker`).
static JSON_LINES: AtomicBool = AtomicBool::new(false);

/// Tell the operator something on stderr whatever the log filter: `ferry: MESSAGE`,
/// or under `--log-format json` a JSON object shaped like the log events'.
pub(crate) fn say(level: &str, message: &str) {
    if JSON_LINES.load(Ordering::Relaxed) {
        let line = serde_json::json!({
            "timestamp": ferry_protocol::time_fmt::rfc3339(ferry_protocol::time_fmt::now_ms()),
            "level": level,
            "fields": {"message": message},
            "target": "ferry",
        });
        eprintln!("{line}");
    } else {
        eprintln!("ferry: {message}");
    }
}

/// The installed reporting; [`shutdown`](Telemetry::shutdown) flushes the spans not yet exported.
pub(crate) struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Export what is buffered and stop the exporter (waits for the collector, within
    /// the exporter's timeout).
    pub async fn shutdown(self) {
        let Some(provider) = self.provider else { return };
        let flushed = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        if let Ok(Err(e)) = flushed {
            say("WARN", &format!("could not export the last traces: {e}"));
        }
    }
}

/// Install logging for `command`, and for `serve`/`worker` trace export when configured.
/// A misconfigured exporter (an endpoint that is no URL, an unsupported protocol) is a
/// usage error.
pub(crate) fn init(command: &Command, info: &Implementation) -> Result<Telemetry, Error> {
    let (role, log) = match command {
        Command::Serve(args) => ("serve", Some(&args.log)),
        Command::Worker(args) => ("worker", Some(&args.log)),
        _ => ("client", None),
    };
    let provider = match log {
        Some(_) if otlp_configured() => Some(tracer_provider(info, role)?),
        _ => None,
    };
    let mut layers: Vec<Box<dyn Layer<Registry> + Send + Sync>> = vec![log_layer(log)];
    if let Some(provider) = &provider {
        let tracer = provider.tracer("ferry");
        // Spans at info and above go out whatever --log-level says of the log lines.
        // Per span, only what the spans' fields say: no thread, no code location (three
        // attributes more to build and encode per span), no idle/busy timings (clock reads
        // on every poll). No context activation either: it clones and attaches the span's
        // OpenTelemetry context on every poll of its future, and nothing here reads the
        // ambient context (parents come from the `tracing` span tree and `Propagator`).
        let otel = tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_threads(false)
            .with_location(false)
            .with_tracked_inactivity(false)
            .with_context_activation(false)
            .with_filter(LevelFilter::INFO);
        layers.push(otel.boxed());
        opentelemetry::global::set_tracer_provider(provider.clone());
        trace::install(OtelPropagator(TraceContextPropagator::new()));
    }
    tracing_subscriber::registry().with(layers).try_init().ok();
    Ok(Telemetry { provider })
}

/// Servers and workers log their lifecycle and errors (per-task lines are debug);
/// client commands log only warnings of their own unless asked (RUST_LOG).
fn log_layer(log: Option<&LogArgs>) -> Box<dyn Layer<Registry> + Send + Sync> {
    let filter = match log {
        // `--log-level`, else RUST_LOG (clap reads it for these roles), else info.
        Some(log) => log.filter.as_deref().unwrap_or("info").into(),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
    };
    // The log layer formats the fields of each span it is given, event or not: the
    // request and task spans (one per request, one per task run) are given to it only
    // when debug lines (the per-task ones) can be on, so a server at info or above does
    // not format them for every request. Its rarer warnings then carry no span prefix.
    let spans_logged = filter.max_level_hint().is_none_or(|level| level >= LevelFilter::DEBUG);
    let filter = filter.and(filter_fn(move |meta| spans_logged || !is_hot_span(meta)));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    match log.map(|l| l.format).unwrap_or_default() {
        LogFormat::Json => {
            JSON_LINES.store(true, Ordering::Relaxed);
            fmt.json().with_filter(filter).boxed()
        }
        LogFormat::Text => fmt
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())) // no colour codes in log files
            .with_filter(filter)
            .boxed(),
    }
}

/// A span made per request or per task run (`ferry_server`'s and `ferry_tasks::trace`'s).
fn is_hot_span(meta: &tracing::Metadata<'_>) -> bool {
    meta.is_span() && matches!(meta.name(), "mcp.request" | "ferry.task")
}

/// A non-empty environment variable.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Whether traces are to be exported: an OTLP endpoint is set, and neither
/// `OTEL_SDK_DISABLED=true` nor `OTEL_TRACES_EXPORTER=none` says otherwise.
fn otlp_configured() -> bool {
    if env("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        return false;
    }
    if env("OTEL_TRACES_EXPORTER").is_some_and(|v| v.trim().eq_ignore_ascii_case("none")) {
        return false;
    }
    env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some() || env("OTEL_EXPORTER_OTLP_ENDPOINT").is_some()
}

/// The OTLP pipeline: HTTP/protobuf exporter behind the batch processor (which reads
/// `OTEL_BSP_*`), the sampler of `OTEL_TRACES_SAMPLER`, and the resource.
fn tracer_provider(info: &Implementation, role: &str) -> Result<SdkTracerProvider, Error> {
    for var in ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"] {
        if let Some(url) = env(var) {
            let ok = url.parse::<http::Uri>().is_ok_and(|u| matches!(u.scheme_str(), Some("http" | "https")));
            if !ok {
                return Err(UsageError(format!("{var}='{url}' is not an http:// or https:// URL")).into());
            }
        }
    }
    for var in ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"] {
        if let Some(p) = env(var).filter(|p| p.trim() != "http/protobuf") {
            return Err(UsageError(format!(
                "{var}='{p}': this build exports traces over OTLP http/protobuf only; unset it or set http/protobuf"
            ))
            .into());
        }
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .build()
        .map_err(|e| format!("cannot set up the OTLP trace exporter: {e}"))?;
    let mut resource = Resource::builder().with_attributes([
        KeyValue::new("service.version", info.version.clone()),
        KeyValue::new("ferry.role", role.to_string()),
        KeyValue::new("process.pid", i64::from(std::process::id())),
    ]);
    let named = env("OTEL_SERVICE_NAME").is_some()
        || env("OTEL_RESOURCE_ATTRIBUTES")
            .is_some_and(|a| a.split(',').any(|kv| kv.trim().starts_with("service.name=")));
    if !named {
        resource = resource.with_service_name(format!("{}-{role}", info.name));
    }
    Ok(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource.build()).build())
}

/// W3C Trace Context between `tracing` spans (through the OpenTelemetry layer) and the
/// strings that travel in jobs and requests.
struct OtelPropagator(TraceContextPropagator);

impl Propagator for OtelPropagator {
    fn context_of(&self, span: &tracing::Span) -> Option<TraceContext> {
        let cx = span.context();
        if !cx.span().span_context().is_valid() {
            return None;
        }
        let mut carrier = Carrier::default();
        self.0.inject_context(&cx, &mut carrier);
        Some(TraceContext { traceparent: carrier.traceparent?, tracestate: carrier.tracestate })
    }

    fn set_parent(&self, span: &tracing::Span, parent: &TraceContext) {
        let cx = self.0.extract(&Source(parent));
        // A malformed traceparent extracts to no span: the span stays a root.
        if cx.span().span_context().is_valid() {
            let _ = span.set_parent(cx);
        }
    }

    fn add_link(&self, span: &tracing::Span, linked: &TraceContext) {
        // An invalid context is not linked (`add_link` checks).
        span.add_link(self.0.extract(&Source(linked)).span().span_context().clone());
    }
}

/// The W3C strings a span's context is written into (no map: the two keys are known).
#[derive(Default)]
struct Carrier {
    traceparent: Option<String>,
    tracestate: Option<String>,
}

impl Injector for Carrier {
    fn set(&mut self, key: &str, value: String) {
        match key {
            "traceparent" => self.traceparent = Some(value),
            "tracestate" if !value.is_empty() => self.tracestate = Some(value),
            _ => {}
        }
    }
}

/// W3C strings read as they are, to extract a context from (no copies into a map).
struct Source<'a>(&'a TraceContext);

impl Extractor for Source<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            "traceparent" => Some(self.0.traceparent.as_str()),
            "tracestate" => self.0.tracestate.as_deref(),
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent", "tracestate"]
    }
}
