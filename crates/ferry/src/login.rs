//! `ferry login URL`: sign in to a server that is an OAuth protected resource, and the
//! token file the client commands then use; `ferry logout URL` forgets and revokes them.
//!
//! Tokens are kept in `tokens.json` of the user's config directory (`$FERRY_CONFIG_DIR`,
//! else `$XDG_CONFIG_HOME/ferry`, else `~/.config/ferry`), readable by the user alone
//! (0600, in a 0700 directory), keyed by the server's URL.

use crate::{Error, UsageError};
use clap::Args as ClapArgs;
use ferry_client::oauth::{self, LoopbackAuthorizer, OAuthConfig, OAuthError, OAuthTokens, TokenStore};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Options of `login`.
#[derive(ClapArgs, Debug)]
pub struct LoginArgs {
    /// The server's MCP URL (`https://host/mcp`).
    pub url: String,
    /// Sign in as a machine with the client credentials grant (needs --client-id and --client-secret).
    #[arg(long)]
    pub client_credentials: bool,
    /// A client registered with the authorization server (default: register one, where it offers that).
    #[arg(long, env = "FERRY_CLIENT_ID")]
    pub client_id: Option<String>,
    /// That client's secret.
    #[arg(long, env = "FERRY_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: Option<String>,
    /// A scope to ask for (repeatable; default: those the server names).
    #[arg(long = "scope")]
    pub scopes: Vec<String>,
    /// Print the sign-in URL only; do not try to open a browser.
    #[arg(long)]
    pub no_browser: bool,
    /// How long to wait for the browser's redirect, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub wait: u64,
}

/// Run `ferry login`.
pub async fn login(args: LoginArgs) -> Result<(), Error> {
    if !(args.url.starts_with("http://") || args.url.starts_with("https://")) {
        return Err(UsageError(format!("login wants the server's http(s) URL, got '{}'", args.url)).into());
    }
    let store = FileStore::new()?;
    let path = store.path.display().to_string();
    let mut config = if args.client_credentials {
        let (Some(id), Some(secret)) = (&args.client_id, &args.client_secret) else {
            return Err(UsageError("--client-credentials needs --client-id and --client-secret".into()).into());
        };
        OAuthConfig::client_credentials(id, secret)
    } else {
        let browser = !args.no_browser;
        let authorizer = LoopbackAuthorizer::new(move |url| async move { show(&url, browser) })?
            .timeout(Duration::from_secs(args.wait));
        let mut config = OAuthConfig::interactive(authorizer);
        if let Some(id) = &args.client_id {
            config = config.client(id, args.client_secret.clone());
        }
        config
    };
    config = config.client_name("ferry-cli").store(store);
    if !args.scopes.is_empty() {
        config = config.scopes(args.scopes.iter().cloned());
    }
    let tokens = oauth::sign_in(&args.url, config).await?;
    let scope = tokens.scope.as_deref().map(|s| format!(" (scopes: {s})")).unwrap_or_default();
    eprintln!("Signed in to {} with {}{scope}; tokens saved in {path}", args.url, tokens.issuer);
    Ok(())
}

/// Options of `logout`.
#[derive(ClapArgs, Debug)]
pub struct LogoutArgs {
    /// The server's MCP URL, as given to `ferry login`.
    pub url: String,
}

/// Run `ferry logout`: revoke the server's tokens where the authorization server offers
/// that, and forget them.
pub async fn logout(args: LogoutArgs) -> Result<(), Error> {
    let store = FileStore::new()?;
    let Some(tokens) = store.load(&args.url) else {
        eprintln!("Not signed in to {} (nothing in {})", args.url, store.path.display());
        return Ok(());
    };
    let revoked = oauth::revoke(&tokens).await;
    store.remove(&args.url)?;
    match revoked {
        Ok(true) => eprintln!("Signed out of {}: tokens revoked and forgotten", args.url),
        Ok(false) => eprintln!("Signed out of {}: tokens forgotten ({} cannot revoke them)", args.url, tokens.issuer),
        Err(e) => eprintln!("Signed out of {}: tokens forgotten, but revoking them failed: {e}", args.url),
    }
    Ok(())
}

/// Show the sign-in URL, and open it in a browser if asked and one can be found.
fn show(url: &str, browser: bool) {
    eprintln!("Open this URL in a browser to sign in:\n  {url}");
    if browser {
        let opener = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
        let _ = std::process::Command::new(opener)
            .arg(url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }
}

/// The client options' OAuth part for an HTTP server: a machine client when
/// `FERRY_CLIENT_ID` and `FERRY_CLIENT_SECRET` are set, else the tokens `ferry login`
/// stored for `url`, if any.
pub(crate) fn stored_config(url: &str) -> Option<OAuthConfig> {
    let store = FileStore::new().ok()?;
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let (Some(id), Some(secret)) = (env("FERRY_CLIENT_ID"), env("FERRY_CLIENT_SECRET")) {
        return Some(OAuthConfig::client_credentials(id, secret).client_name("ferry-cli").store(store));
    }
    store.load(url)?;
    Some(OAuthConfig::stored_only().store(store))
}

/// Tokens in a JSON file readable by the user alone.
struct FileStore {
    path: PathBuf,
}

impl FileStore {
    fn new() -> Result<Self, Error> {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        let dir = var("FERRY_CONFIG_DIR")
            .or_else(|| var("XDG_CONFIG_HOME").map(|d| d.join("ferry")))
            .or_else(|| var("HOME").map(|h| h.join(".config").join("ferry")))
            .ok_or("no config directory: set FERRY_CONFIG_DIR or HOME")?;
        Ok(Self { path: dir.join("tokens.json") })
    }

    fn read(&self) -> BTreeMap<String, OAuthTokens> {
        std::fs::read(&self.path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
    }

    /// Forget the tokens of `server`.
    fn remove(&self, server: &str) -> Result<(), OAuthError> {
        let mut all = self.read();
        all.remove(server);
        self.write(&all)
    }

    /// Replace the file's contents with `all`: written beside it, then renamed over it
    /// (never half a file), readable by the user alone.
    fn write(&self, all: &BTreeMap<String, OAuthTokens>) -> Result<(), OAuthError> {
        let failed = |e: std::io::Error| OAuthError::Store(format!("{}: {e}", self.path.display()));
        let text = serde_json::to_vec_pretty(all).map_err(|e| OAuthError::Store(e.to_string()))?;
        let dir = self.path.parent().unwrap_or(&self.path);
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
            builder.mode(0o700);
            options.mode(0o600);
        }
        builder.create(dir).map_err(failed)?;
        let temp = self.path.with_extension(format!("json.{}", std::process::id()));
        let mut file = options.open(&temp).map_err(failed)?;
        std::io::Write::write_all(&mut file, &text).map_err(failed)?;
        drop(file);
        std::fs::rename(&temp, &self.path).map_err(failed)
    }
}

impl TokenStore for FileStore {
    fn load(&self, server: &str) -> Option<OAuthTokens> {
        self.read().remove(server)
    }

    fn save(&self, server: &str, tokens: &OAuthTokens) -> Result<(), OAuthError> {
        let mut all = self.read();
        all.insert(server.to_string(), tokens.clone());
        self.write(&all)
    }
}
