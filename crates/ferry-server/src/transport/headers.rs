//! Streamable HTTP headers that repeat the body (SEP-2243, protocol 2026-07-28).
//!
//! A 2026-07-28 request says in headers what its body says, so proxies can route
//! without reading the body: `MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`, and
//! one `Mcp-Param-{Name}` for each argument its tool marks with `x-mcp-header`
//! ([`ferry_protocol::headers`]). The server processes the body, so it must refuse a
//! request whose headers are missing, malformed or disagree with it: HTTP 400 with
//! -32020 (`HeaderMismatch`), before anything runs.
//!
//! One opt-in relaxes this for clients that leave out a routing header
//! ([`ServerConfig::accept_missing_routing_headers`](crate::ServerConfig::accept_missing_routing_headers)):
//! a *missing* `Mcp-Method` or `Mcp-Name` is then accepted when the body carries the
//! value. A header that is present is always checked, and `MCP-Protocol-Version` and
//! `Mcp-Param-*` stay required.

use crate::registry::Components;
use axum::http::HeaderMap;
use ferry_protocol::headers::decode_value;
use ferry_protocol::{ErrorCode, ErrorObject};
use serde_json::{Map, Value};

/// The headers of a Streamable HTTP request that must agree with its body.
#[derive(Debug, Default, Clone)]
pub(crate) struct HttpHeaders {
    pub protocol_version: Option<String>,
    pub method: Option<String>,
    /// `Mcp-Name`, as sent (possibly `=?base64?…?=`); `Some(None)`: not visible ASCII.
    pub name: Option<Option<String>>,
    /// Every `Mcp-Param-*` header: the lower-cased name after `mcp-param-`, and the
    /// value (`None`: not visible ASCII).
    pub params: Vec<(String, Option<String>)>,
    /// W3C Trace Context `traceparent` (the caller's span; see `crate::spans`).
    pub traceparent: Option<String>,
    /// W3C Trace Context `tracestate`.
    pub tracestate: Option<String>,
}

impl HttpHeaders {
    pub fn from_map(headers: &HeaderMap) -> Self {
        let text = |name: &str| headers.get(name).map(|v| v.to_str().ok().map(str::to_string));
        let params = headers
            .iter()
            .filter_map(|(name, value)| {
                let suffix = name.as_str().strip_prefix("mcp-param-")?;
                Some((suffix.to_string(), value.to_str().ok().map(str::to_string)))
            })
            .collect();
        Self {
            protocol_version: text("mcp-protocol-version").flatten(),
            method: text("mcp-method").flatten(),
            name: text("mcp-name"),
            params,
            traceparent: text("traceparent").flatten(),
            tracestate: text("tracestate").flatten(),
        }
    }
}

fn mismatch(what: String) -> ErrorObject {
    ErrorObject::new(ErrorCode::HEADER_MISMATCH, format!("Header mismatch: {what}"))
}

/// Refuse a 2026-07-28 request whose headers disagree with its body. With
/// `accept_missing_routing`, a missing `Mcp-Method` or `Mcp-Name` whose value the body
/// carries is accepted (never a present one that disagrees).
pub(crate) fn check(
    h: &HttpHeaders,
    version: &str,
    method: &str,
    params: &Map<String, Value>,
    components: &Components,
    accept_missing_routing: bool,
) -> Result<(), ErrorObject> {
    match h.protocol_version.as_deref() {
        Some(v) if v == version => {}
        Some(v) => return Err(mismatch(format!("MCP-Protocol-Version is '{v}' but _meta says '{version}'"))),
        None => return Err(mismatch("MCP-Protocol-Version header is required".into())),
    }
    match &h.method {
        Some(m) if m == method => {}
        Some(m) => return Err(mismatch(format!("Mcp-Method is '{m}' but the body's method is '{method}'"))),
        // The body always names its method.
        None if accept_missing_routing => {}
        None => return Err(mismatch("Mcp-Method header is required".into())),
    }
    // Requests that name something must say it in Mcp-Name too.
    let body_name = match method {
        "tasks/get" | "tasks/update" | "tasks/cancel" => params.get("taskId").and_then(Value::as_str),
        "tools/call" | "prompts/get" => params.get("name").and_then(Value::as_str),
        "resources/read" => params.get("uri").and_then(Value::as_str),
        _ => return Ok(()),
    };
    let header = match (&h.name, body_name) {
        (None, Some(body)) if accept_missing_routing => body.to_string(),
        (None, _) => return Err(mismatch(format!("Mcp-Name header is required for {method}"))),
        (Some(None), _) => return Err(mismatch("Mcp-Name has characters a header value cannot carry".into())),
        (Some(Some(raw)), _) => decode_value(raw).map_err(|e| mismatch(format!("Mcp-Name: {e}")))?,
    };
    if let Some(body) = body_name {
        if header != body {
            return Err(mismatch(format!("Mcp-Name is '{header}' but the body names '{body}'")));
        }
    }
    if let (Some(tool), "tools/call") = (body_name, method) {
        check_params(h, components, tool, params)?;
    }
    Ok(())
}

/// Every `x-mcp-header` argument of the tool has its header, and they agree; a header
/// for an argument the body does not give is refused too.
fn check_params(
    h: &HttpHeaders,
    components: &Components,
    tool: &str,
    params: &Map<String, Value>,
) -> Result<(), ErrorObject> {
    let empty = Map::new();
    let arguments = params.get("arguments").and_then(Value::as_object).unwrap_or(&empty);
    for p in components.header_params(tool) {
        let header = p.header();
        let mut sent = h.params.iter().filter(|(n, _)| n.eq_ignore_ascii_case(&p.name)).map(|(_, v)| v);
        let raw = sent.next();
        if sent.next().is_some() {
            return Err(mismatch(format!("{header} appears more than once")));
        }
        let body = p.value_in(arguments);
        let raw = match (raw, body) {
            (None, None) => continue,
            (None, Some(_)) => {
                return Err(mismatch(format!("{header} header is required: the body gives '{}'", p.path.join("."))))
            }
            (Some(_), None) => {
                return Err(mismatch(format!("{header} is sent but the body gives no '{}'", p.path.join("."))))
            }
            (Some(raw), Some(_)) => raw,
        };
        let text = match raw {
            Some(raw) => decode_value(raw).map_err(|e| mismatch(format!("{header}: {e}")))?,
            None => return Err(mismatch(format!("{header} has characters a header value cannot carry"))),
        };
        if let Some(body) = body.filter(|b| !p.agrees(&text, b)) {
            return Err(mismatch(format!("{header} is '{text}' but the body's '{}' is {body}", p.path.join("."))));
        }
    }
    Ok(())
}
