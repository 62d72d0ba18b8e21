//! The `tracing` span of each MCP request, shaped by the OpenTelemetry semantic
//! conventions for MCP (a `server` span named `{mcp.method.name} {target}`).
//!
//! Fields: `mcp.method.name`; `gen_ai.tool.name` (and `gen_ai.operation.name =
//! execute_tool`) or `gen_ai.prompt.name` for a component this server has (an unknown
//! name stays out, so a caller cannot mint span names); `mcp.resource.uri` for a
//! resource read; `jsonrpc.request.id`; `mcp.protocol.version` (the era);
//! `mcp.session.id`, a digest of the session id (the id itself is a credential);
//! `network.transport` (`tcp` for HTTP, `pipe` for stdio); `ferry.task.id` when the
//! request created a task; and on failure `error.type`, `rpc.response.status_code`
//! and an error status. Argument values are never recorded.
//!
//! The span's parent is the caller's W3C trace context when it sends one:
//! `params._meta.traceparent`/`tracestate` (the MCP convention, so it wins; a different
//! HTTP `traceparent` is then linked) or else the HTTP `traceparent`/`tracestate`
//! headers. It only takes effect when a propagator is installed ([`ferry_tasks::trace`]).

use crate::answer::Answer;
use crate::dispatch::{Call, Incoming};
use crate::server::Shared;
use ferry_protocol::Request;
use ferry_tasks::trace::{self, TraceContext};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tracing::field::Empty;
use tracing::Span;

/// The span of `req`, a child of the caller's trace context when it sent one.
pub(crate) fn request(shared: &Arc<Shared>, req: &Request, inc: &Incoming) -> Span {
    let params = req.params.as_ref().and_then(Value::as_object);
    let name = params.and_then(|p| p.get("name")).and_then(Value::as_str);
    let (tool, prompt) = match req.method.as_str() {
        "tools/call" => (name.filter(|n| shared.components().tool(n).is_some()), None),
        "prompts/get" => (None, name.filter(|n| shared.components().prompt(n).is_some())),
        _ => (None, None),
    };
    // Fields as `&str`, not `%` (Display through `format!` in the OpenTelemetry layer).
    let joined;
    let otel_name = match tool.or(prompt) {
        Some(target) => {
            joined = format!("{} {target}", req.method);
            joined.as_str()
        }
        None => req.method.as_str(),
    };
    let span = tracing::info_span!(
        "mcp.request",
        otel.name = otel_name,
        otel.kind = "server",
        otel.status_code = Empty,
        otel.status_description = Empty,
        mcp.method.name = req.method.as_str(),
        gen_ai.operation.name = Empty,
        gen_ai.tool.name = Empty,
        gen_ai.prompt.name = Empty,
        mcp.resource.uri = Empty,
        jsonrpc.request.id = %req.id,
        mcp.protocol.version = Empty,
        mcp.session.id = Empty,
        network.transport = if inc.http.is_some() { "tcp" } else { "pipe" },
        ferry.task.id = Empty,
        error.type = Empty,
        rpc.response.status_code = Empty,
    );
    if let Some(tool) = tool {
        span.record("gen_ai.operation.name", "execute_tool");
        span.record("gen_ai.tool.name", tool);
    }
    if let Some(prompt) = prompt {
        span.record("gen_ai.prompt.name", prompt);
    }
    if req.method == "resources/read" {
        if let Some(uri) = params.and_then(|p| p.get("uri")).and_then(Value::as_str) {
            span.record("mcp.resource.uri", uri);
        }
    }
    if trace::enabled() {
        let (from_meta, from_header) = remote_contexts(params, inc);
        match (from_meta, from_header) {
            (Some(parent), header) => {
                trace::set_parent(&span, &parent);
                // The transport's context is linked, as the MCP conventions ask.
                if let Some(header) = header.filter(|h| h.traceparent != parent.traceparent) {
                    trace::add_link(&span, &header);
                }
            }
            (None, Some(parent)) => trace::set_parent(&span, &parent),
            (None, None) => {}
        }
    }
    span
}

/// The caller's trace contexts: in `params._meta` (the MCP one, the parent) and in the
/// HTTP headers (the transport's).
fn remote_contexts(
    params: Option<&serde_json::Map<String, Value>>,
    inc: &Incoming,
) -> (Option<TraceContext>, Option<TraceContext>) {
    let meta = params.and_then(|p| p.get("_meta")).and_then(Value::as_object);
    let from_meta = meta.and_then(|m| {
        let parent = m.get("traceparent")?.as_str()?;
        TraceContext::from_untrusted(parent, m.get("tracestate").and_then(Value::as_str))
    });
    let from_header = inc
        .http
        .as_ref()
        .and_then(|h| TraceContext::from_untrusted(h.traceparent.as_deref()?, h.tracestate.as_deref()));
    (from_meta, from_header)
}

/// What classifying the request told: its era and session.
pub(crate) fn record_call(span: &Span, call: &Call) {
    // Nothing to do for a span no layer takes (no digest to work out).
    if span.is_disabled() {
        return;
    }
    span.record("mcp.protocol.version", call.era.version());
    if let Some(session) = &call.session {
        span.record("mcp.session.id", session_digest(&session.id).as_str());
    }
}

/// Record how the request ended (`None`: cancelled, no answer).
pub(crate) fn record_response(span: &Span, response: Option<&Answer>) {
    let Some(response) = response else { return };
    if let Some(e) = response.error() {
        let code = e.code.to_string();
        span.record("error.type", code.as_str());
        span.record("rpc.response.status_code", code.as_str());
        span.record("otel.status_code", "ERROR");
        span.record("otel.status_description", e.message.as_str());
    } else if response.is_tool_error() {
        span.record("error.type", "tool_error");
        span.record("otel.status_code", "ERROR");
    }
}

/// Record the task a request created on its span (the current one).
pub(crate) fn record_task(task_id: &str) {
    Span::current().record("ferry.task.id", task_id);
}

/// A session's stand-in in traces: 16 hex digits of its id's SHA-256 (the same for
/// every request of the session, useless to open it).
fn session_digest(id: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(16);
    for b in Sha256::digest(id.as_bytes()).iter().take(8) {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}
