//! The `ferry` command line as a library: give your own server binary the same
//! `serve` and `worker` subcommands (plus the client commands `call`, `tools`
//! and `tasks`, which work against any MCP server).
//!
//! A Ferry deployment on Redis runs one binary in two roles: `serve` answers
//! MCP requests (and may run no handlers itself), `worker` claims task jobs
//! from Redis and runs the handlers. Both roles need the same handlers and
//! dependency providers, so both are the same program:
//!
//! ```no_run
//! // src/main.rs of your server
//! fn main() -> std::process::ExitCode {
//!     let builder = ferry_server::Server::builder("my-server", "1.0.0")
//!         .tool(ferry_server::ToolDef::new("hello").handler(|| async { "hi" }));
//!     ferry::run(builder)
//! }
//! ```
//!
//! ```text
//! my-server serve  --redis redis://cache:6379 --no-local-worker   # front end
//! my-server worker --redis redis://cache:6379 --concurrency 32    # on each worker machine
//! ```

mod limits;
pub mod remote;

pub use limits::{LimitArgs, SessionArgs};

use clap::{Args as ClapArgs, Parser, Subcommand};
use ferry_redis::{RedisBackend, RedisConfig};
use ferry_server::engine::{MemoryBackend, MemoryConfig, TaskLimits, Worker, WorkerConfig};
use ferry_server::transport::HttpOptions;
use ferry_server::ServerBuilder;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// The command line.
#[derive(Parser, Debug)]
#[command(name = "ferry", version, about = "Ferry: MCP servers with durable background tasks")]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve MCP over Streamable HTTP (or stdio).
    Serve(Box<ServeArgs>),
    /// Run task handlers for jobs queued in Redis.
    Worker(WorkerArgs),
    /// Call a tool on an MCP server (`--task --wait` to follow a background task).
    Call(remote::CallArgs),
    /// List a server's tools.
    Tools(remote::Target),
    /// List a server's prompts.
    Prompts(remote::Target),
    /// List a server's resources and resource templates.
    Resources(remote::Target),
    /// Read a resource and print its contents.
    Read(remote::ReadArgs),
    /// Inspect tasks on a server.
    #[command(subcommand)]
    Tasks(remote::TasksCommand),
}

/// Where tasks live.
#[derive(ClapArgs, Debug, Clone)]
pub struct StoreArgs {
    /// Redis URL; without it tasks live in this process's memory.
    #[arg(long, env = "FERRY_REDIS_URL")]
    pub redis: Option<String>,
    /// Key prefix in Redis (one per deployment).
    #[arg(long, env = "FERRY_PREFIX", default_value = "ferry")]
    pub prefix: String,
    /// Milliseconds after which the job of a silent worker is given to another.
    #[arg(long, env = "FERRY_REDELIVERY_TIMEOUT_MS", default_value_t = 30_000)]
    pub redelivery_timeout_ms: u64,
    /// Most task handlers this process runs at once.
    #[arg(long, env = "FERRY_CONCURRENCY", default_value_t = 64)]
    pub concurrency: usize,
    /// Most unfinished tasks in total; more are refused (error -32029, scope "server").
    #[arg(long, env = "FERRY_MAX_LIVE_TASKS", default_value_t = TaskLimits::default().max_live)]
    pub max_live_tasks: usize,
    /// Most unfinished tasks of one client (auth subject, else session, else address);
    /// more are refused (error -32029, scope "owner").
    #[arg(long, env = "FERRY_MAX_LIVE_TASKS_PER_CLIENT", default_value_t = TaskLimits::default().max_live_per_owner)]
    pub max_live_tasks_per_client: usize,
    /// Most task handlers of one client running at once on the embedded engine (the rest of
    /// its tasks wait their turn), so that one client's long tasks leave room for others.
    #[arg(long, env = "FERRY_MAX_RUNNING_PER_CLIENT", default_value_t = TaskLimits::default().max_running_per_owner)]
    pub max_running_per_client: usize,
    /// Largest arguments, and largest result, of one task in bytes (a larger result fails the task).
    #[arg(long, env = "FERRY_MAX_TASK_BYTES", default_value_t = TaskLimits::default().max_argument_bytes)]
    pub max_task_bytes: usize,
}

impl StoreArgs {
    /// The task limits these options give.
    pub fn limits(&self) -> TaskLimits {
        TaskLimits {
            max_live: self.max_live_tasks,
            max_live_per_owner: self.max_live_tasks_per_client,
            max_running_per_owner: self.max_running_per_client,
            max_argument_bytes: self.max_task_bytes,
            max_result_bytes: self.max_task_bytes,
            ..TaskLimits::default()
        }
    }
}

/// What a long-running role (`serve`, `worker`) logs on stderr.
///
/// The default, `info`, logs the life of the process (listening, connecting to
/// Redis, shutting down) and warnings and errors, never a line per request or
/// per task: those are at `debug`. The flag takes the same filter syntax as
/// `RUST_LOG` and wins over it; without the flag `RUST_LOG` applies as before.
#[derive(ClapArgs, Debug, Clone, Default)]
pub struct LogArgs {
    /// Log filter: a level (error, warn, info, debug, trace) or RUST_LOG-style
    /// directives such as `info,ferry_server=debug`. Per-task lines are at debug.
    /// Wins over RUST_LOG; without either, `info`.
    #[arg(long = "log-level", value_name = "FILTER", env = "RUST_LOG", value_parser = parse_log_filter)]
    pub filter: Option<String>,
}

/// Check a log filter at parse time, so a typo is refused rather than ignored.
/// A bare word must be a level: `loud` would otherwise be read as a target name
/// (logging only that target, at trace), which silences everything else.
fn parse_log_filter(s: &str) -> Result<String, String> {
    for directive in s.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        if !directive.contains(['=', '[']) && directive.parse::<tracing_subscriber::filter::LevelFilter>().is_err() {
            return Err(format!(
                "'{directive}' is not a level (off, error, warn, info, debug, trace); \
                 give a target its level as in 'info,ferry_server=debug'"
            ));
        }
    }
    tracing_subscriber::EnvFilter::builder().parse(s).map(|_| s.to_string()).map_err(|e| e.to_string())
}

/// Options of `serve`.
#[derive(ClapArgs, Debug)]
pub struct ServeArgs {
    /// Address for Streamable HTTP (the endpoint is /mcp).
    #[arg(long, env = "FERRY_ADDR", default_value = "127.0.0.1:8765")]
    pub addr: SocketAddr,
    /// Serve on stdin/stdout instead of HTTP.
    #[arg(long)]
    pub stdio: bool,
    /// Run no task handlers here: leave all task jobs to `worker` processes (needs --redis).
    #[arg(long, requires = "redis")]
    pub no_local_worker: bool,
    /// Require `Authorization: Bearer TOKEN` on HTTP and name the caller SUBJECT
    /// (`SUBJECT=TOKEN`, repeatable; env: comma-separated). Tasks then belong to
    /// the subject across sessions and processes.
    #[arg(
        long = "auth-token",
        value_name = "SUBJECT=TOKEN",
        env = "FERRY_AUTH_TOKENS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub auth_tokens: Vec<String>,
    /// Smallest task TTL granted, in ms (the time a result is kept after its task ends).
    #[arg(long, env = "FERRY_MIN_TTL_MS", default_value_t = 1000)]
    pub min_ttl_ms: u64,
    /// Secret sealing the `requestState` of multi-round stateless calls (at least 32 bytes); give
    /// every front end behind one load balancer the same [default: random per process].
    #[arg(
        long,
        env = "FERRY_REQUEST_STATE_SECRET",
        hide_env_values = true,
        conflicts_with = "request_state_secret_file"
    )]
    pub request_state_secret: Option<String>,
    /// A file holding that secret (its bytes, at least 32).
    #[arg(long, env = "FERRY_REQUEST_STATE_SECRET_FILE", value_name = "PATH")]
    pub request_state_secret_file: Option<std::path::PathBuf>,
    /// Accept 2026-07-28 requests that leave out `Mcp-Method`/`Mcp-Name` when the body carries
    /// the value (for clients that omit them; a header that disagrees is still refused).
    #[arg(long, env = "FERRY_ACCEPT_MISSING_ROUTING_HEADERS")]
    pub accept_missing_routing_headers: bool,
    /// Bounds for untrusted clients.
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Task storage.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Bounds of HTTP sessions and streams.
    #[command(flatten)]
    pub sessions: SessionArgs,
    /// Logging.
    #[command(flatten)]
    pub log: LogArgs,
}

/// Options of `worker`.
#[derive(ClapArgs, Debug)]
pub struct WorkerArgs {
    /// Name of this worker in Redis (unique per process).
    #[arg(long, env = "FERRY_WORKER_NAME")]
    pub name: Option<String>,
    /// Seconds running jobs may take to finish after SIGTERM before they are handed back.
    #[arg(long, env = "FERRY_SHUTDOWN_GRACE_SECS", default_value_t = 10)]
    pub shutdown_grace_secs: u64,
    /// Task storage (Redis is required).
    #[command(flatten)]
    pub store: StoreArgs,
    /// Logging.
    #[command(flatten)]
    pub log: LogArgs,
}

/// Parse the command line and run it with the server built from `builder`.
pub fn run(builder: ServerBuilder) -> ExitCode {
    run_cli(builder, Cli::parse())
}

/// Run an already parsed command line.
pub fn run_cli(builder: ServerBuilder, cli: Cli) -> ExitCode {
    // Servers and workers log their lifecycle and errors (per-task lines are debug);
    // client commands stay quiet unless asked (RUST_LOG).
    let role_log = match &cli.command {
        Command::Serve(args) => Some(&args.log),
        Command::Worker(args) => Some(&args.log),
        _ => None,
    };
    let filter = match role_log {
        // `--log-level`, else RUST_LOG (clap reads it for these roles), else info.
        Some(log) => log.filter.as_deref().unwrap_or("info").into(),
        None => tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())) // no colour codes in log files
        .with_env_filter(filter)
        .try_init()
        .ok();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ferry: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve(builder, *args).await,
            Command::Worker(args) => worker(builder, args).await,
            Command::Call(args) => remote::call(args).await,
            Command::Tools(target) => remote::tools(target).await,
            Command::Prompts(target) => remote::prompts(target).await,
            Command::Resources(target) => remote::resources(target).await,
            Command::Read(args) => remote::read(args).await,
            Command::Tasks(cmd) => remote::tasks(cmd).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferry: {e}");
            ExitCode::FAILURE
        }
    }
}

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Connect to Redis, retrying with backoff while it is unreachable.
async fn connect(store: &StoreArgs, url: &str) -> Result<RedisBackend, Error> {
    let config = RedisConfig::new(url)
        .prefix(store.prefix.clone())
        .limits(store.limits())
        .redelivery_timeout(Duration::from_millis(store.redelivery_timeout_ms));
    let mut backoff = Duration::from_millis(200);
    let mut attempts = 0;
    loop {
        match RedisBackend::connect(config.clone()).await {
            Ok(b) => return Ok(b),
            Err(e) if attempts < 10 => {
                attempts += 1;
                tracing::warn!(error = %e, url, "cannot reach Redis yet; retrying in {:?}", backoff);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(format!("cannot reach Redis at {url}: {e}").into()),
        }
    }
}

/// The `requestState` secret given on the command line, if any.
fn request_state_secret(args: &ServeArgs) -> Result<Option<Vec<u8>>, Error> {
    let secret = match (&args.request_state_secret, &args.request_state_secret_file) {
        (Some(s), _) => s.as_bytes().to_vec(),
        (None, Some(path)) => std::fs::read(path)
            .map_err(|e| format!("cannot read --request-state-secret-file {}: {e}", path.display()))?,
        (None, None) => return Ok(None),
    };
    if secret.len() < 32 {
        return Err(format!("the request-state secret has {} bytes; it needs at least 32", secret.len()).into());
    }
    Ok(Some(secret))
}

async fn serve(builder: ServerBuilder, args: ServeArgs) -> Result<(), Error> {
    let concurrency = args.store.concurrency;
    let secret = request_state_secret(&args)?;
    let mut builder = builder.configure(|c| {
        c.worker_concurrency = concurrency;
        c.local_worker = !args.no_local_worker;
        c.min_ttl_ms = args.min_ttl_ms;
        c.accept_missing_routing_headers = args.accept_missing_routing_headers;
        if secret.is_some() {
            c.request_state_secret = secret;
        }
        args.sessions.apply(c);
        c.parse_limits = args.limits.parse();
    });
    let store = match &args.store.redis {
        Some(url) => {
            builder = builder.backend(Arc::new(connect(&args.store, url).await?));
            format!("Redis at {url} (prefix '{}')", args.store.prefix)
        }
        None => {
            let config = MemoryConfig { limits: args.store.limits(), ..MemoryConfig::default() };
            builder = builder.default_backend(|| Arc::new(MemoryBackend::new(config)));
            "the embedded engine".to_string()
        }
    };
    if !args.auth_tokens.is_empty() {
        builder = builder.authenticate(bearer_tokens(&args.auth_tokens)?);
    }
    let server = builder.build()?;
    if args.stdio {
        server.serve_stdio().await?;
        return Ok(());
    }
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    // The bound address (port 0 picks a free one), for people and for scripts.
    eprintln!("ferry: MCP at http://{}/mcp, tasks on {store}", listener.local_addr()?);
    let check_host = listener.local_addr()?.ip().is_loopback();
    let options = HttpOptions { check_host, limits: args.limits.connection(), ..HttpOptions::default() };
    tokio::select! {
        r = server.serve_listener_with(listener, options) => r?,
        _ = shutdown_signal() => eprintln!("ferry: shutting down"),
    }
    Ok(())
}

/// An authenticator accepting the given `SUBJECT=TOKEN` bearer tokens.
fn bearer_tokens(
    pairs: &[String],
) -> Result<impl Fn(&ferry_server::HeaderMap) -> Option<String> + Send + Sync + 'static, Error> {
    let mut tokens = Vec::new();
    for pair in pairs {
        match pair.split_once('=') {
            Some((subject, token)) if !subject.is_empty() && !token.is_empty() => {
                tokens.push((subject.to_string(), token.as_bytes().to_vec()));
            }
            _ => return Err(format!("--auth-token wants SUBJECT=TOKEN, got '{pair}'").into()),
        }
    }
    Ok(move |headers: &ferry_server::HeaderMap| {
        let given = headers.get("authorization")?.to_str().ok()?.strip_prefix("Bearer ")?.trim().as_bytes();
        // Compare every token in full, so timing tells nothing about which or how much matched.
        tokens.iter().fold(
            None,
            |found, (subject, token)| {
                if constant_time_eq(given, token) {
                    Some(subject.clone())
                } else {
                    found
                }
            },
        )
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn worker(builder: ServerBuilder, args: WorkerArgs) -> Result<(), Error> {
    let url = args.store.redis.clone().ok_or("worker needs --redis (or FERRY_REDIS_URL)")?;
    let backend = Arc::new(connect(&args.store, &url).await?);
    let server = builder.backend(backend.clone()).configure(|c| c.local_worker = false).build()?;
    let redelivery = Duration::from_millis(args.store.redelivery_timeout_ms);
    let mut config = WorkerConfig {
        concurrency: args.store.concurrency,
        // Heartbeat well within the redelivery timeout so long jobs are not stolen.
        heartbeat: (redelivery / 3).max(Duration::from_millis(50)),
        shutdown_grace: Duration::from_secs(args.shutdown_grace_secs),
        ..WorkerConfig::default()
    };
    if let Some(name) = args.name {
        config.name = name;
    }
    eprintln!(
        "ferry: worker '{}' running tasks from Redis at {url} (prefix '{}', concurrency {})",
        config.name, args.store.prefix, config.concurrency
    );
    let handle = Worker::new(backend, server.executor(), config).start();
    shutdown_signal().await;
    eprintln!("ferry: stopping: no new jobs; running jobs may finish for {}s", args.shutdown_grace_secs);
    handle.shutdown().await;
    Ok(())
}

/// SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = term.recv() => {},
            _ = tokio::signal::ctrl_c() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
