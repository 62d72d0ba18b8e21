//! The operator's live dashboard: one page at `/dashboard` (HTML, CSS and JavaScript
//! embedded in the binary, nothing fetched from elsewhere) and its event stream at
//! `/admin/api/events` (see [`events`](self::events)).
//!
//! The page reads the admin API (`/admin/api/status`, `/admin/api/tasks`, ...) of the
//! same listener, follows the event stream, and cancels a task with the admin token
//! the operator types in (kept in the tab's `sessionStorage`). Mount [`router`] next
//! to the admin API's router, on the admin listener only: nothing here is for MCP callers.
//!
//! Every answer carries `Content-Security-Policy: default-src 'self'` (no inline
//! script or style, no other origin), `X-Content-Type-Options: nosniff` and
//! `Referrer-Policy: no-referrer`; the page builds its DOM with `textContent`, so task
//! names and messages (which callers choose) are never read as markup.

pub mod events;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
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

/// Settings of the dashboard's routes.
#[derive(Debug, Clone)]
pub struct DashboardConfig {
    /// The admin token (`Authorization: Bearer`); without one, nothing but open reads.
    pub admin_token: Option<String>,
    /// Whether reads (the page, the event stream) are open without the token. Writes
    /// (cancel) always need it.
    pub open_reads: bool,
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
            admin_token: None,
            open_reads: false,
            max_event_streams: DEFAULT_MAX_EVENT_STREAMS,
            event_buffer: DEFAULT_EVENT_BUFFER,
            stats_every: Duration::from_secs(1),
            keep_alive: Duration::from_secs(15),
        }
    }
}

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");
const FAVICON_SVG: &str = include_str!("assets/favicon.svg");

/// The page's own files, the only things it loads.
const CSP: &str = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; \
                   form-action 'self'; frame-ancestors 'none'";

/// Routes: `GET /dashboard` (and its files under `/dashboard/`), `GET /admin/api/events`.
pub fn router(backend: Arc<dyn Backend>, config: DashboardConfig) -> Router {
    let feed = events::Feed::new(backend, config.clone());
    Router::new()
        .route("/dashboard", get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }))
        .route("/dashboard/", get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }))
        .route("/dashboard/app.js", get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }))
        .route("/dashboard/app.css", get(|| async { asset("text/css; charset=utf-8", APP_CSS) }))
        .route("/dashboard/favicon.svg", get(|| async { asset("image/svg+xml", FAVICON_SVG) }))
        .route("/admin/api/events", get(event_stream))
        .with_state(Arc::new(Routes { feed, config }))
}

struct Routes {
    feed: Arc<events::Feed>,
    config: DashboardConfig,
}

/// One embedded file, with the page's security headers.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response();
    secure(response.headers_mut());
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// Add the security headers every dashboard answer carries.
fn secure(headers: &mut HeaderMap) {
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

async fn event_stream(State(routes): State<Arc<Routes>>, headers: HeaderMap) -> Response {
    if !routes.config.open_reads && !has_token(&headers, routes.config.admin_token.as_deref()) {
        return refusal(StatusCode::UNAUTHORIZED, "reading needs the admin token (Authorization: Bearer)");
    }
    let mut response = match routes.feed.open() {
        Some(sse) => sse.into_response(),
        None => {
            let mut r = refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("too many event streams open (at most {})", routes.config.max_event_streams),
            );
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            return r;
        }
    };
    secure(response.headers_mut());
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn refusal(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "error": message }).to_string();
    let mut response = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    secure(response.headers_mut());
    response
}

/// Whether the request carries `Authorization: Bearer <token>` (compared in constant time).
fn has_token(headers: &HeaderMap, token: Option<&str>) -> bool {
    let Some(token) = token else { return false };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or_default();
    given.len() == token.len() && given.bytes().zip(token.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}
