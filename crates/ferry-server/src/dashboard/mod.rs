//! The operator's live dashboard: one page at `/dashboard` (HTML, CSS and JavaScript
//! embedded in the binary, nothing fetched from elsewhere) and its event stream at
//! `/admin/api/events` (see [`events`](self::events)).
//!
//! The page reads the admin API (`/admin/api/status`, `/admin/api/tasks`, ...) of the
//! same listener, follows the event stream, and cancels a task with the admin token
//! the operator types in (kept in the tab's `sessionStorage`). [`router`] is the admin
//! API with the dashboard added: serve it on the admin listener only, never the MCP port.
//!
//! Credentials are the admin API's ([`AdminConfig`]): the event stream is a read; the
//! page's own files hold no data and are served to anyone who reaches the listener (a
//! browser cannot send a bearer token when it navigates). Where reads are open (a
//! loopback listener), requests must name a loopback host (`Host: localhost:…`,
//! `127.0.0.1:…`), so a web page cannot reach the API through DNS rebinding.
//!
//! Every answer of this router (the admin API's too) carries `Content-Security-Policy:
//! default-src 'self'` (no inline script or style, no other origin), `X-Content-Type-Options:
//! nosniff`, `Referrer-Policy: no-referrer` and `X-Frame-Options: DENY`; the page builds
//! its DOM with `textContent`, so task names and messages (which callers choose) are never
//! read as markup.

pub mod events;

use crate::admin::{self, AdminConfig};
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use ferry_tasks::Backend;
use std::sync::Arc;
use std::time::Duration;

pub use events::TaskSummary;

/// Most event streams open at once by default (each is a browser tab).
pub const DEFAULT_MAX_EVENT_STREAMS: usize = 16;
/// Events one stream holds for a slow reader by default before dropping (then `resync`).
pub const DEFAULT_EVENT_BUFFER: usize = 256;

/// Settings of the dashboard (who may use it is the admin API's [`AdminConfig`]).
#[derive(Debug, Clone)]
pub struct DashboardConfig {
    /// Most event streams at once; more get `503` [default: 16].
    pub max_event_streams: usize,
    /// Events one stream buffers for a slow reader before it drops them and sends `resync` [default: 256].
    pub event_buffer: usize,
    /// How often the engine's stats are read and sent [default: 1 s].
    pub stats_every: Duration,
    /// How often an idle stream gets a keep-alive comment [default: 15 s].
    pub keep_alive: Duration,
}

impl Default for DashboardConfig {
    fn default() -> Self {
        Self {
            max_event_streams: DEFAULT_MAX_EVENT_STREAMS,
            event_buffer: DEFAULT_EVENT_BUFFER,
            stats_every: Duration::from_secs(1),
            keep_alive: Duration::from_secs(15),
        }
    }
}

const INDEX_HTML: &str = include_str!("assets/index.html");
const JS: &str = "text/javascript; charset=utf-8";

/// The page's files under `/dashboard/`: name, content type, contents (ES modules, no build step).
const FILES: [(&str, &str, &str); 6] = [
    ("app.js", JS, include_str!("assets/app.js")),
    ("api.js", JS, include_str!("assets/api.js")),
    ("chart.js", JS, include_str!("assets/chart.js")),
    ("util.js", JS, include_str!("assets/util.js")),
    ("app.css", "text/css; charset=utf-8", include_str!("assets/app.css")),
    ("favicon.svg", "image/svg+xml", include_str!("assets/favicon.svg")),
];

/// The page's own files, the only things it loads.
const CSP: &str = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; \
                   form-action 'self'; frame-ancestors 'none'";

/// The admin API ([`admin::router_with`]) with the dashboard: `GET /dashboard` and its
/// files under `/dashboard/`, and `GET /admin/api/events` behind the admin credential.
pub fn router(backend: Arc<dyn Backend>, admin: AdminConfig, config: DashboardConfig) -> Router {
    let open_reads = admin.open_reads;
    let feed = events::Feed::new(backend.clone(), config);
    let events = Router::new().route("/admin/api/events", get(move || event_stream(feed.clone())));
    let mut page = Router::new()
        .route("/dashboard", get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }))
        .route("/dashboard/", get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }));
    for (name, content_type, body) in FILES {
        page = page.route(&format!("/dashboard/{name}"), get(move || async move { asset(content_type, body) }));
    }
    let mut router = admin::router_with(backend, admin, events).merge(page);
    if open_reads {
        router = router.layer(axum::middleware::from_fn(loopback_host_only));
    }
    // Outermost, so that refusals get the headers too.
    router.layer(axum::middleware::map_response(|mut response: Response| async move {
        secure(response.headers_mut());
        response
    }))
}

/// DNS-rebinding protection for a listener whose reads are open: only loopback host names.
async fn loopback_host_only(request: Request, next: Next) -> Response {
    let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    if crate::transport::is_loopback_host(host) {
        return next.run(request).await;
    }
    refusal(StatusCode::FORBIDDEN, "this admin listener answers only to a loopback host name (localhost, 127.0.0.1)")
}

/// One embedded file, with the page's security headers.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

/// Add the security headers every answer of the dashboard's router carries.
fn secure(headers: &mut HeaderMap) {
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

async fn event_stream(feed: Arc<events::Feed>) -> Response {
    let mut response = match feed.open() {
        Some(sse) => sse.into_response(),
        None => {
            let mut r = refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("too many dashboard event streams open (at most {})", feed.max_streams()),
            );
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            return r;
        }
    };
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn refusal(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "error": message }).to_string();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}
