//! Distributed tracing across the hop from the request that creates a task to the
//! worker that runs it.
//!
//! Ferry's library crates only emit [`tracing`] spans; they never depend on an
//! OpenTelemetry SDK. What ties a span to a trace that crosses processes is a
//! [`Propagator`], installed once per process by whoever sets up the exporter (the
//! `ferry` command line does when `OTEL_EXPORTER_OTLP_ENDPOINT` is set). Without one,
//! nothing is propagated and [`Job::trace`](crate::Job::trace) stays empty: no cost.
//!
//! The context travels as W3C Trace Context strings ([`TraceContext`]): the front end
//! stores the `traceparent`/`tracestate` of its request span in the job, and the
//! worker's task-run span (see [`task_span`]) becomes its child, in whatever process
//! claims the job.

use crate::record::{Job, Outcome};
use ferry_protocol::ErrorObject;
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;
use tracing::field::Empty;
use tracing::Span;

/// Longest `traceparent` taken from a caller (version 00 has 55 characters; later
/// versions may append fields).
pub const MAX_TRACEPARENT_LEN: usize = 256;
/// Longest `tracestate` taken from a caller (the W3C limit a vendor must propagate);
/// a longer one is dropped, the `traceparent` kept.
pub const MAX_TRACESTATE_LEN: usize = 512;

/// A W3C Trace Context: the `traceparent` and, when present, `tracestate` of a span.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceContext {
    /// `version-traceid-parentid-flags`, e.g. `00-4bf9…4736-00f0…02b7-01`.
    pub traceparent: String,
    /// Vendor-specific trace state, passed on as received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracestate: Option<String>,
}

impl TraceContext {
    /// A context from untrusted strings (a header, a request's `_meta`): `None` when
    /// the `traceparent` is empty or longer than [`MAX_TRACEPARENT_LEN`]; a
    /// `tracestate` longer than [`MAX_TRACESTATE_LEN`] is left out. The format itself
    /// is checked by the [`Propagator`], which ignores a malformed one (as W3C asks).
    pub fn from_untrusted(traceparent: &str, tracestate: Option<&str>) -> Option<Self> {
        let traceparent = traceparent.trim();
        if traceparent.is_empty() || traceparent.len() > MAX_TRACEPARENT_LEN {
            return None;
        }
        let tracestate =
            tracestate.map(str::trim).filter(|s| !s.is_empty() && s.len() <= MAX_TRACESTATE_LEN).map(str::to_string);
        Some(Self { traceparent: traceparent.to_string(), tracestate })
    }
}

/// Connects `tracing` spans to a distributed trace (implemented over OpenTelemetry by
/// the `ferry` command line).
pub trait Propagator: Send + Sync + 'static {
    /// The W3C context of `span`, to hand to another process; `None` when the span is
    /// not part of a trace.
    fn context_of(&self, span: &Span) -> Option<TraceContext>;

    /// Make `span` a child of the remote `parent`. Called before the span is first
    /// entered; a malformed `parent` is ignored.
    fn set_parent(&self, span: &Span, parent: &TraceContext);

    /// Link `span` to another context it relates to without being its child (the
    /// transport's context when the request's own one is the parent). Nothing by default.
    fn add_link(&self, _span: &Span, _linked: &TraceContext) {}
}

static PROPAGATOR: OnceLock<Box<dyn Propagator>> = OnceLock::new();

/// Install the process's propagator. `false` when one was installed before (the first stays).
pub fn install(propagator: impl Propagator) -> bool {
    PROPAGATOR.set(Box::new(propagator)).is_ok()
}

/// Whether a propagator is installed (trace contexts are carried at all).
pub fn enabled() -> bool {
    PROPAGATOR.get().is_some()
}

/// The W3C context of the current span, to store in a job; `None` without a propagator.
pub fn current() -> Option<TraceContext> {
    PROPAGATOR.get().and_then(|p| p.context_of(&Span::current()))
}

/// Make `span` a child of `parent` (nothing without a propagator).
pub fn set_parent(span: &Span, parent: &TraceContext) {
    if let Some(p) = PROPAGATOR.get() {
        p.set_parent(span, parent);
    }
}

/// Link `span` to `linked` (nothing without a propagator).
pub fn add_link(span: &Span, linked: &TraceContext) {
    if let Some(p) = PROPAGATOR.get() {
        p.add_link(span, linked);
    }
}

/// The span of one run of `job` in a worker named `worker`: a child of the span that
/// created the task ([`Job::trace`]), when the job carries one. Fields follow the
/// OpenTelemetry conventions where there are some (a tool run is an `execute_tool`
/// span of the GenAI conventions; the run is a `consumer` of a queued job) and are
/// `ferry.*` otherwise. [`record_outcome`] fills in how the run ended.
pub fn task_span(job: &Job, worker: &str) -> Span {
    let otel_name = match job.kind.as_str() {
        "tools/call" => format!("execute_tool {}", job.name),
        // Prompts and background jobs (`jobs/run`) are registered by name: few names.
        "prompts/get" | "jobs/run" => format!("{} {}", job.kind, job.name),
        // A resource URI may carry anything (template arguments): not in the name.
        other => other.to_string(),
    };
    // Fields as `&str`, not `%` (Display through `format!` in the OpenTelemetry layer).
    let span = tracing::info_span!(
        "ferry.task",
        otel.name = otel_name.as_str(),
        otel.kind = "consumer",
        otel.status_code = Empty,
        otel.status_description = Empty,
        mcp.method.name = job.kind.as_str(),
        gen_ai.operation.name = Empty,
        gen_ai.tool.name = Empty,
        gen_ai.prompt.name = Empty,
        mcp.resource.uri = Empty,
        ferry.task.id = job.task_id.as_str(),
        ferry.task.attempt = job.attempt,
        ferry.task.outcome = Empty,
        ferry.worker.name = worker,
        error.type = Empty,
    );
    match job.kind.as_str() {
        "tools/call" => {
            span.record("gen_ai.operation.name", "execute_tool");
            span.record("gen_ai.tool.name", job.name.as_str());
        }
        "prompts/get" => {
            span.record("gen_ai.prompt.name", job.name.as_str());
        }
        "resources/read" => {
            span.record("mcp.resource.uri", job.name.as_str());
        }
        _ => {}
    }
    if let Some(parent) = &job.trace {
        set_parent(&span, parent);
    }
    span
}

/// How a task run ended, for [`record_outcome`].
#[derive(Debug, Clone, Copy)]
pub enum RunEnd<'a> {
    /// The handler finished with this outcome.
    Finished(&'a Outcome),
    /// The run failed and will be tried again.
    Retrying(&'a ErrorObject),
    /// The run failed with no attempt left.
    Failed(&'a ErrorObject),
    /// The task was cancelled.
    Cancelled,
}

/// Record on `span` (a [`task_span`]) how the run ended: `ferry.task.outcome`
/// (`completed`, `tool_error`, `failed`, `retrying`, `cancelled`), and for failures
/// `error.type` and an error status.
pub fn record_outcome(span: &Span, end: RunEnd<'_>) {
    let (outcome, error) = match end {
        RunEnd::Finished(Outcome::Result { is_error: false, .. }) => ("completed", None),
        RunEnd::Finished(Outcome::Result { is_error: true, .. }) => ("tool_error", None),
        RunEnd::Finished(Outcome::Error { error }) => ("failed", Some(&**error)),
        RunEnd::Retrying(error) => ("retrying", Some(error)),
        RunEnd::Failed(error) => ("failed", Some(error)),
        RunEnd::Cancelled => ("cancelled", None),
    };
    span.record("ferry.task.outcome", outcome);
    match error {
        Some(e) => {
            span.record("error.type", e.code.to_string());
            span.record("otel.status_code", "ERROR");
            span.record("otel.status_description", e.message.as_str());
        }
        None if outcome == "tool_error" => {
            span.record("error.type", "tool_error");
            span.record("otel.status_code", "ERROR");
        }
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_contexts_are_bounded() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let c = TraceContext::from_untrusted(tp, Some("rojo=1")).expect("taken");
        assert_eq!((c.traceparent.as_str(), c.tracestate.as_deref()), (tp, Some("rojo=1")));
        assert!(TraceContext::from_untrusted("", None).is_none());
        assert!(TraceContext::from_untrusted(&"0".repeat(MAX_TRACEPARENT_LEN + 1), None).is_none());
        let long = "a=".to_string() + &"b".repeat(MAX_TRACESTATE_LEN);
        assert_eq!(TraceContext::from_untrusted(tp, Some(&long)).expect("taken").tracestate, None);
    }

    #[test]
    fn without_a_propagator_nothing_is_carried() {
        assert!(!enabled());
        assert_eq!(current(), None);
    }
}
