//! The live dashboard: `ferry serve --dashboard` (on the admin listener, next to MCP) and
//! `ferry dashboard` (standalone, against a Redis deployment, no MCP). Off unless asked
//! for; on loopback unless an address is given.

use crate::{Error, StoreArgs, UsageError};
use clap::Args as ClapArgs;
use ferry_server::admin::{self, AdminConfig};
use ferry_server::dashboard::{self, DashboardConfig};
use ferry_server::engine::Backend;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Where the dashboard listens when no address is given: loopback only.
pub const DEFAULT_DASHBOARD_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8766);

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
    /// Address of the dashboard and the admin API; the page is at /dashboard. Off loopback,
    /// everything needs --admin-token.
    #[arg(long, env = "FERRY_DASHBOARD_ADDR", default_value_t = DEFAULT_DASHBOARD_ADDR)]
    pub addr: SocketAddr,
    /// The admin token (`Authorization: Bearer TOKEN`, at least 16 characters), needed to cancel
    /// tasks (and to read, off loopback). Without one, a random one is made for this run and
    /// printed in the dashboard's URL.
    #[arg(long, env = "FERRY_ADMIN_TOKEN", hide_env_values = true, conflicts_with = "admin_token_file")]
    pub admin_token: Option<String>,
    /// A file holding the admin token (surrounding whitespace ignored).
    #[arg(long, env = "FERRY_ADMIN_TOKEN_FILE", value_name = "PATH")]
    pub admin_token_file: Option<PathBuf>,
    /// Dashboard bounds.
    #[command(flatten)]
    pub dashboard: DashboardArgs,
    /// The deployment's Redis (required) and key prefix.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Run `ferry dashboard`: the dashboard and admin API of a Redis deployment, without MCP.
pub(crate) async fn command(args: DashboardCommandArgs) -> Result<(), Error> {
    let url =
        args.store.redis.clone().ok_or_else(|| UsageError("dashboard needs --redis (or FERRY_REDIS_URL)".into()))?;
    let token = crate::ops::admin_token(args.admin_token.as_deref(), args.admin_token_file.as_deref())?;
    let loopback = args.addr.ip().is_loopback();
    if !loopback && token.is_none() {
        return Err(UsageError(format!(
            "--addr {} is not a loopback address, so the dashboard needs --admin-token (or --admin-token-file, \
             FERRY_ADMIN_TOKEN)",
            args.addr
        ))
        .into());
    }
    let backend: Arc<dyn Backend> = Arc::new(crate::roles::connect(&args.store, &url).await?);
    let listener =
        tokio::net::TcpListener::bind(args.addr).await.map_err(|e| crate::roles::bind_error(args.addr, e))?;
    let bound = listener.local_addr()?;
    let router = router(backend, token, loopback, &args.dashboard, bound)?;
    tokio::select! {
        r = admin::serve(listener, router) => r?,
        _ = crate::roles::shutdown_signal() => eprintln!("ferry: shutting down"),
    }
    Ok(())
}

/// The admin API with the dashboard, for a listener bound at `bound`; prints the page's URL.
///
/// Reads (the page's data, the event stream) are open when `open_reads` (a loopback
/// listener) and need the admin token otherwise; cancelling always needs it. Without a
/// token, a random one is made for this run and handed to the page in the URL's
/// fragment (which browsers never send to a server, nor in a `Referer`).
pub(crate) fn router(
    backend: Arc<dyn Backend>,
    token: Option<String>,
    open_reads: bool,
    args: &DashboardArgs,
    bound: SocketAddr,
) -> Result<axum::Router, Error> {
    if args.dashboard_max_streams == 0 {
        return Err(UsageError("--dashboard-max-streams must be at least 1".into()).into());
    }
    let (token, made) = match token {
        Some(t) => (t, false),
        // 128 bits from the OS-seeded CSPRNG (a task id's alphabet).
        None => (ferry_server::engine::new_task_id(), true),
    };
    if made {
        eprintln!("ferry: dashboard at http://{bound}/dashboard#token={token} (admin token made for this run)");
    } else {
        eprintln!("ferry: dashboard at http://{bound}/dashboard");
    }
    let config = DashboardConfig { max_event_streams: args.dashboard_max_streams, ..DashboardConfig::default() };
    Ok(dashboard::router(backend, AdminConfig { token: Some(token), open_reads }, config))
}
