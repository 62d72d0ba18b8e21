//! The admin API: what an operator sees of a deployment and may do to it, over HTTP,
//! on a listener of its own (never the MCP port).
//!
//! | route | what |
//! |---|---|
//! | `GET /admin/api/status` | [`EngineStats`](crate::engine::EngineStats): queue, workers, throughput |
//! | `GET /admin/api/tasks?status=&name=&owner=&minAgeMs=&maxAgeMs=&search=&cursor=&limit=` | `{"tasks": [...], "nextCursor": ...}`, every owner's tasks, oldest first (records without their `outcome`; `limit` 1..=500, default 50) |
//! | `GET /admin/api/tasks/{id}` | [`TaskDetail`](crate::engine::TaskDetail) (404 when unknown) |
//! | `POST /admin/api/tasks/{id}/cancel` | the cancelled record (409 with the record when it had already ended) |
//!
//! Credential ([`AdminConfig`]): anything but reading (`GET`/`HEAD`) needs
//! `Authorization: Bearer <token>`, always, and is refused (403) when no token is
//! configured. Reading needs the token too unless `open_reads` (which `ferry serve`
//! sets only on a loopback listener). A missing or wrong token is 401 with
//! `WWW-Authenticate: Bearer`. Errors are JSON: `{"error": "..."}`.
//!
//! More routes (a dashboard, an event stream) join through [`router_with`], behind the
//! same credential check:
//!
//! ```
//! use axum::{extract::State, routing::get, Router};
//! use ferry_server::admin::{self, Admin, AdminConfig};
//! use std::sync::Arc;
//!
//! async fn hello(State(admin): State<Admin>) -> String {
//!     format!("{} workers", admin.backend.stats().await.map(|s| s.workers.len()).unwrap_or(0))
//! }
//! let backend = Arc::new(ferry_server::engine::MemoryBackend::default());
//! let extra: Router<Admin> = Router::new().route("/dashboard", get(hello));
//! let app: Router = admin::router_with(backend, AdminConfig { token: Some("s3cret".into()), open_reads: false }, extra);
//! ```

mod routes;

use crate::engine::{Backend, BackendError};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use std::sync::Arc;

/// Who may use the admin API.
#[derive(Clone, Default)]
pub struct AdminConfig {
    /// The admin bearer token. Without one, only reads are possible (and only with `open_reads`).
    pub token: Option<String>,
    /// Reads need no token (set it only where the listener is reachable by operators alone,
    /// such as a loopback address).
    pub open_reads: bool,
}

impl std::fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminConfig")
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("open_reads", &self.open_reads)
            .finish()
    }
}

/// The state of the admin routes: the task backend and who may use it.
#[derive(Clone)]
pub struct Admin {
    /// The deployment's task backend.
    pub backend: Arc<dyn Backend>,
    config: Arc<AdminConfig>,
}

impl Admin {
    /// Admin state over `backend`.
    pub fn new(backend: Arc<dyn Backend>, config: AdminConfig) -> Self {
        Self { backend, config: Arc::new(config) }
    }

    /// Whether `headers` may read (`write == false`) or change (`write == true`) things.
    pub fn authorize(&self, headers: &HeaderMap, write: bool) -> Result<(), AdminError> {
        if !write && self.config.open_reads {
            return Ok(());
        }
        let Some(token) = &self.config.token else {
            return Err(AdminError::Forbidden(if write {
                "changes through the admin API need an admin token, and none is configured: start the server with \
                 --admin-token, --admin-token-file or FERRY_ADMIN_TOKEN"
            } else {
                "this admin listener is not on a loopback address, so reading needs an admin token, and none is \
                 configured: start the server with --admin-token, --admin-token-file or FERRY_ADMIN_TOKEN"
            }));
        };
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        match given {
            Some(given) if crate::auth::constant_time_eq(given.as_bytes(), token.as_bytes()) => Ok(()),
            Some(_) => Err(AdminError::Unauthorized("the admin token is wrong")),
            None => Err(AdminError::Unauthorized("send the admin token: Authorization: Bearer <token>")),
        }
    }
}

/// The admin API over `backend`.
pub fn router(backend: Arc<dyn Backend>, config: AdminConfig) -> Router {
    router_with(backend, config, Router::new())
}

/// The admin API plus `extra` routes, all behind the credential check (reads: `GET`
/// and `HEAD`; anything else is a change and needs the token).
pub fn router_with(backend: Arc<dyn Backend>, config: AdminConfig, extra: Router<Admin>) -> Router {
    let admin = Admin::new(backend, config);
    routes::routes()
        .merge(extra)
        .fallback(|| async { AdminError::NotFound("no such admin route".into()) })
        .layer(axum::middleware::from_fn_with_state(admin.clone(), guard))
        .with_state(admin)
}

async fn guard(State(admin): State<Admin>, request: Request, next: Next) -> Response {
    let write = !matches!(*request.method(), Method::GET | Method::HEAD);
    match admin.authorize(request.headers(), write) {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

/// Most connections the admin listener keeps open at once (16 per client address); more
/// wait in the listen backlog.
pub const MAX_CONNECTIONS: usize = 64;

/// Serve `router` on `listener` until the future is dropped (the admin listener of
/// `ferry serve`), within the MCP listener's bounds on slow clients (a request head within
/// 10 s, at most 64 KiB) and at most [`MAX_CONNECTIONS`] connections.
pub async fn serve(listener: tokio::net::TcpListener, router: Router) -> std::io::Result<()> {
    let limits = crate::transport::ConnectionLimits {
        max_connections: Some(MAX_CONNECTIONS),
        max_connections_per_client: Some(16),
        ..Default::default()
    };
    crate::transport::serve_router(listener, router, &limits).await
}

/// An admin API refusal or failure, answered as `{"error": "..."}` with its status.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No or a wrong token (401, `WWW-Authenticate: Bearer`).
    #[error("{0}")]
    Unauthorized(&'static str),
    /// Not allowed at all with this configuration (403).
    #[error("{0}")]
    Forbidden(&'static str),
    /// A bad query or path (400).
    #[error("{0}")]
    BadRequest(String),
    /// Unknown task or route (404).
    #[error("{0}")]
    NotFound(String),
    /// The store failed or cannot answer.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let status = match &self {
            AdminError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AdminError::Forbidden(_) => StatusCode::FORBIDDEN,
            AdminError::BadRequest(_) | AdminError::Backend(BackendError::InvalidCursor) => StatusCode::BAD_REQUEST,
            AdminError::NotFound(_) => StatusCode::NOT_FOUND,
            AdminError::Backend(BackendError::Unsupported(_)) => StatusCode::NOT_IMPLEMENTED,
            AdminError::Backend(BackendError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            AdminError::Backend(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let message = match &self {
            AdminError::Backend(BackendError::InvalidCursor) => "invalid cursor: use a nextCursor of this API".into(),
            other => other.to_string(),
        };
        let mut response = (status, Json(serde_json::json!({ "error": message }))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
