//! The admin listener of `ferry serve` (`--admin-addr`): the admin API on a port of its own.

use crate::{Error, UsageError};
use clap::Args as ClapArgs;
use ferry_server::admin::{self, AdminConfig};
use ferry_server::engine::Backend;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Shortest admin token accepted.
const MIN_TOKEN_CHARS: usize = 16;

/// The admin API's listener and credential (`serve`).
#[derive(ClapArgs, Debug, Clone, Default)]
pub struct AdminArgs {
    /// Serve the admin API (`/admin/api/status`, `/admin/api/tasks`, ...) on this address, apart
    /// from the MCP port; off when not given. On a loopback address reads need no token; on any
    /// other address everything needs --admin-token. Changes (cancel) always need the token.
    #[arg(long, env = "FERRY_ADMIN_ADDR", value_name = "ADDR")]
    pub admin_addr: Option<SocketAddr>,
    /// The admin bearer token (`Authorization: Bearer TOKEN`), at least 16 characters. Without
    /// it the admin API only reads, and only on a loopback address.
    #[arg(long, env = "FERRY_ADMIN_TOKEN", hide_env_values = true, conflicts_with = "admin_token_file")]
    pub admin_token: Option<String>,
    /// A file holding the admin token (surrounding whitespace ignored).
    #[arg(long, env = "FERRY_ADMIN_TOKEN_FILE", value_name = "PATH")]
    pub admin_token_file: Option<PathBuf>,
}

/// The token of `--admin-token` or else `--admin-token-file` (surrounding whitespace dropped).
pub fn read_token(token: Option<&str>, file: Option<&std::path::Path>) -> Result<Option<String>, Error> {
    Ok(match (token, file) {
        (Some(t), _) => Some(t.trim().to_string()),
        (None, Some(path)) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| UsageError(format!("cannot read --admin-token-file {}: {e}", path.display())))?
                .trim()
                .to_string(),
        ),
        (None, None) => None,
    })
}

/// The server's admin token of `--admin-token` or `--admin-token-file`, checked.
pub fn admin_token(token: Option<&str>, file: Option<&std::path::Path>) -> Result<Option<String>, Error> {
    let Some(token) = read_token(token, file)? else { return Ok(None) };
    if token.chars().count() < MIN_TOKEN_CHARS {
        return Err(UsageError(format!(
            "the admin token has {} characters; use at least {MIN_TOKEN_CHARS} (e.g. `openssl rand -hex 32`)",
            token.chars().count()
        ))
        .into());
    }
    Ok(Some(token))
}

impl AdminArgs {
    /// Bind the admin listener if asked for, and return the future serving it (or `None`).
    pub async fn start(
        &self,
        backend: Arc<dyn Backend>,
    ) -> Result<Option<impl std::future::Future<Output = std::io::Result<()>>>, Error> {
        let token = admin_token(self.admin_token.as_deref(), self.admin_token_file.as_deref())?;
        let Some(addr) = self.admin_addr else {
            if token.is_some() {
                tracing::warn!("an admin token is set but --admin-addr is not: the admin API is off");
            }
            return Ok(None);
        };
        let open_reads = addr.ip().is_loopback();
        if !open_reads && token.is_none() {
            return Err(UsageError(format!(
                "--admin-addr {addr} is not a loopback address, so the admin API needs --admin-token \
                 (or --admin-token-file, FERRY_ADMIN_TOKEN)"
            ))
            .into());
        }
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on --admin-addr {addr}: {e}"))?;
        let bound = listener.local_addr()?;
        let access = match (&token, open_reads) {
            (Some(_), true) => "reads open on loopback, changes need the admin token",
            (Some(_), false) => "everything needs the admin token",
            (None, _) => "reads open on loopback, changes refused (no --admin-token)",
        };
        eprintln!("ferry: admin API at http://{bound}/admin/api/ ({access})");
        let router = admin::router(backend, AdminConfig { token, open_reads });
        Ok(Some(admin::serve(listener, router)))
    }
}
