//! The live dashboard: `ferry serve --dashboard` (next to MCP) and `ferry dashboard`
//! (standalone, against a Redis deployment, no MCP). Off unless asked for; on loopback
//! unless an address is given.

use crate::{Error, StoreArgs, UsageError};
use clap::Args as ClapArgs;
use ferry_server::dashboard::{self, DashboardConfig};
use ferry_server::engine::Backend;
use ferry_server::transport::{serve_router, ConnectionLimits};
use std::net::SocketAddr;
use std::sync::Arc;

/// Where the dashboard listens when no address is given: loopback only.
pub const DEFAULT_DASHBOARD_ADDR: &str = "127.0.0.1:8766";

/// Options of the dashboard shared by `serve --dashboard` and `ferry dashboard`.
#[derive(ClapArgs, Debug, Clone)]
pub struct DashboardArgs {
    /// Most dashboard event streams (open browser tabs) at once; more get 503.
    #[arg(long, env = "FERRY_DASHBOARD_MAX_STREAMS", default_value_t = dashboard::DEFAULT_MAX_EVENT_STREAMS)]
    pub dashboard_max_streams: usize,
}

/// Options of `ferry dashboard`.
#[derive(ClapArgs, Debug)]
pub struct DashboardCommandArgs {
    /// Address of the dashboard (and the admin API); the page is at /dashboard.
    #[arg(long, env = "FERRY_DASHBOARD_ADDR", default_value = DEFAULT_DASHBOARD_ADDR)]
    pub addr: SocketAddr,
    /// The admin token: `Authorization: Bearer TOKEN` for cancelling tasks (and for
    /// reading, off loopback). Without one, a random token is made and printed in the URL.
    #[arg(long, env = "FERRY_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Dashboard bounds.
    #[command(flatten)]
    pub dashboard: DashboardArgs,
    /// The deployment's Redis (required) and key prefix.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Run `ferry dashboard`: the dashboard of a Redis deployment, without MCP.
pub(crate) async fn command(args: DashboardCommandArgs) -> Result<(), Error> {
    let url =
        args.store.redis.clone().ok_or_else(|| UsageError("dashboard needs --redis (or FERRY_REDIS_URL)".into()))?;
    let backend: Arc<dyn Backend> = Arc::new(crate::roles::connect(&args.store, &url).await?);
    let listener = bind(args.addr).await?;
    let limits = ConnectionLimits::default();
    let served = serve(backend, listener, args.admin_token, &args.dashboard, &limits);
    tokio::select! {
        r = served => r,
        _ = crate::roles::shutdown_signal() => {
            eprintln!("ferry: shutting down");
            Ok(())
        }
    }
}

/// Bind the dashboard's address, explaining a failure.
pub(crate) async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, Error> {
    tokio::net::TcpListener::bind(addr).await.map_err(|e| crate::roles::bind_error(addr, e))
}

/// Serve the dashboard on `listener` until it fails, printing its URL on stderr.
///
/// Reads (the page, the event stream) are open on a loopback listener and need the
/// admin token elsewhere; cancelling always needs it. Without a token, a random one is
/// made for this run and handed to the page in the URL's fragment (which browsers
/// never send to a server).
pub(crate) async fn serve(
    backend: Arc<dyn Backend>,
    listener: tokio::net::TcpListener,
    token: Option<String>,
    args: &DashboardArgs,
    limits: &ConnectionLimits,
) -> Result<(), Error> {
    let addr = listener.local_addr()?;
    let loopback = addr.ip().is_loopback();
    if token.as_deref().is_some_and(str::is_empty) {
        return Err(UsageError("--admin-token is empty".into()).into());
    }
    let (token, made) = match token {
        Some(t) => (t, false),
        None => (random_token(), true),
    };
    if args.dashboard_max_streams == 0 {
        return Err(UsageError("--dashboard-max-streams must be at least 1".into()).into());
    }
    let config = DashboardConfig {
        admin_token: Some(token.clone()),
        open_reads: loopback,
        max_event_streams: args.dashboard_max_streams,
        ..DashboardConfig::default()
    };
    let router = dashboard::router(backend, config);
    if made {
        eprintln!("ferry: dashboard at http://{addr}/dashboard#token={token} (admin token made for this run)");
    } else {
        eprintln!("ferry: dashboard at http://{addr}/dashboard");
    }
    serve_router(listener, router, limits).await?;
    Ok(())
}

/// 128 random bits (in a task id's alphabet).
fn random_token() -> String {
    ferry_server::engine::new_task_id()
}
