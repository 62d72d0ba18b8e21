//! The long-running roles: `serve` (answer MCP requests) and `worker` (run task jobs from Redis).

use crate::telemetry::say;
use crate::{Error, LimitArgs, SessionArgs, UsageError};
use clap::Args as ClapArgs;
use ferry_redis::{RedisBackend, RedisConfig};
use ferry_server::engine::{BackendError, MemoryBackend, MemoryConfig, TaskLimits, Worker, WorkerConfig};
use ferry_server::metrics::Probes;
use ferry_server::transport::HttpOptions;
use ferry_server::ServerBuilder;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where tasks live.
#[derive(ClapArgs, Debug, Clone)]
pub struct StoreArgs {
    /// Redis URL (redis://HOST:PORT, or a Redis Cluster: redis+cluster://HOST:PORT,HOST:PORT,...);
    /// without it tasks live in this process's memory.
    #[arg(long, env = "FERRY_REDIS_URL")]
    pub redis: Option<String>,
    /// Partitions of the task keys in Redis (1-32; on a Redis Cluster, one per master spreads
    /// the work over the shards). Every process of a deployment must use the same number.
    #[arg(long, env = "FERRY_REDIS_PARTITIONS", default_value_t = 1)]
    pub partitions: usize,
    /// Seconds to keep trying, with backoff, to reach Redis at start-up before giving up (0: try once).
    #[arg(long, env = "FERRY_REDIS_WAIT_SECS", default_value_t = 30)]
    pub redis_wait_secs: u64,
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
    /// Log line format on stderr: text, or json (one object per line with the fields of
    /// the request or task span it happened in).
    #[arg(long = "log-format", value_name = "FORMAT", env = "FERRY_LOG_FORMAT", value_enum, default_value_t)]
    pub format: crate::LogFormat,
}

/// `--quick-answer-ms` by default: the server's own default window, in ms.
fn default_quick_answer_ms() -> u64 {
    u64::try_from(ferry_server::DEFAULT_QUICK_ANSWER.as_millis()).unwrap_or(u64::MAX)
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
    /// Tell clients to poll tasks every N ms, instead of the adaptive interval (a fifth
    /// of each tool's recent run time, within 10 ms .. 5 s; see `ferry_server::pace`).
    #[arg(long, env = "FERRY_POLL_INTERVAL_MS", value_name = "N")]
    pub poll_interval_ms: Option<u64>,
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
    /// Form B quick answers: a 2026-07-28 call to a task-optional tool waits up to this many
    /// ms for its task to end and then answers with the result itself (default 2; 0: off,
    /// every such call answers with its task).
    #[arg(long, env = "FERRY_QUICK_ANSWER_MS", default_value_t = default_quick_answer_ms(), value_name = "MS")]
    pub quick_answer_ms: u64,
    /// Do not record metrics nor serve them at /metrics (Prometheus text; on by default).
    /// /healthz and /readyz are served either way.
    #[arg(long, env = "FERRY_NO_METRICS")]
    pub no_metrics: bool,
    /// OAuth: accept access tokens of an identity provider.
    #[command(flatten)]
    pub oauth: crate::OAuthArgs,
    /// Bounds for untrusted clients.
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Task storage.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Bounds of HTTP sessions and streams.
    #[command(flatten)]
    pub sessions: SessionArgs,
    /// The admin API (operators: status, every task, cancel).
    #[command(flatten)]
    pub admin: crate::ops::AdminArgs,
    /// Logging.
    #[command(flatten)]
    pub log: LogArgs,
    /// Serve the live dashboard at /dashboard on the admin listener (--admin-addr, else
    /// 127.0.0.1:8766). Without --admin-token, a token for cancelling is made for this run
    /// and printed in the dashboard's URL.
    #[arg(long, env = "FERRY_DASHBOARD")]
    pub dashboard: bool,
    /// Dashboard bounds.
    #[command(flatten)]
    pub dashboard_limits: crate::DashboardArgs,
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
    /// Serve /metrics (Prometheus text), /healthz and /readyz on this address
    /// (e.g. 0.0.0.0:9464); without it the worker records no metrics.
    #[arg(long, env = "FERRY_METRICS_ADDR", value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Milliseconds between heartbeats of running jobs and reports of this worker (`ferry status`
    /// shows a worker as lapsed after three missed reports); below --redelivery-timeout-ms
    /// [default: a third of --redelivery-timeout-ms].
    #[arg(long, env = "FERRY_HEARTBEAT_MS", value_name = "MS")]
    pub heartbeat_ms: Option<u64>,
    /// Task storage (Redis is required).
    #[command(flatten)]
    pub store: StoreArgs,
    /// Logging.
    #[command(flatten)]
    pub log: LogArgs,
}

/// Connect to Redis. A URL that cannot be one fails at once (a usage error); an unreachable
/// Redis is retried with backoff for `--redis-wait-secs`, saying so.
pub(crate) async fn connect(store: &StoreArgs, url: &str) -> Result<RedisBackend, Error> {
    if let Err(e) = ferry_redis::check_url(url) {
        return Err(UsageError(format!(
            "--redis {e}; write it as redis://HOST:PORT, rediss://HOST:PORT, unix:///PATH \
             or redis+cluster://HOST:PORT,HOST:PORT,..."
        ))
        .into());
    }
    let config = RedisConfig::new(url)
        .partitions(store.partitions)
        .prefix(store.prefix.clone())
        .limits(store.limits())
        .redelivery_timeout(Duration::from_millis(store.redelivery_timeout_ms));
    let wait = Duration::from_secs(store.redis_wait_secs);
    let deadline = Instant::now() + wait;
    let mut backoff = Duration::from_millis(200);
    loop {
        let e = match RedisBackend::connect(config.clone()).await {
            Ok(b) => return Ok(b),
            Err(e @ BackendError::Unavailable(_)) => e,
            // Reached, but refused (another number of partitions, say): trying again will not help.
            Err(e) => return Err(format!("Redis at {url}: {e}").into()),
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "gave up on Redis at {url}: still unreachable after {}s (--redis-wait-secs): {e}",
                wait.as_secs()
            )
            .into());
        }
        let pause = backoff.min(left);
        tracing::warn!(
            "Redis at {url} is unreachable ({e}); trying again in {pause:?}, giving up {:.1}s from now (--redis-wait-secs)",
            left.as_secs_f64()
        );
        tokio::time::sleep(pause).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
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

/// Run `serve`.
pub(crate) async fn serve(builder: ServerBuilder, args: ServeArgs) -> Result<(), Error> {
    let concurrency = args.store.concurrency;
    let secret = request_state_secret(&args)?;
    let mut builder = builder.configure(|c| {
        c.worker_concurrency = concurrency;
        c.local_worker = !args.no_local_worker;
        c.min_ttl_ms = args.min_ttl_ms;
        c.accept_missing_routing_headers = args.accept_missing_routing_headers;
        c.quick_answer = std::time::Duration::from_millis(args.quick_answer_ms);
        if let Some(ms) = args.poll_interval_ms {
            c.poll_interval = ferry_server::PollInterval::Fixed(ms);
        }
        if secret.is_some() {
            c.request_state_secret = secret;
        }
        args.sessions.apply(c);
        c.parse_limits = args.limits.parse();
    });
    let store = match &args.store.redis {
        Some(url) => {
            // Sessions live in Redis too, so any front end serves any session.
            let backend = connect(&args.store, url).await?;
            builder = builder.session_store(Arc::new(backend.sessions())).backend(Arc::new(backend));
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
    if let Some(resource) = args.oauth.resource()? {
        builder = builder.protect(resource);
    }
    let server = builder.build()?;
    let dashboard = args.dashboard.then_some(&args.dashboard_limits);
    let admin = args.admin.start(server.backend(), dashboard).await?;
    let admin = async move {
        match admin {
            Some(serving) => serving.await.map_err(|e| format!("the admin listener failed: {e}")),
            None => std::future::pending().await,
        }
    };
    if args.stdio {
        tokio::select! {
            r = server.serve_stdio() => r?,
            r = admin => r?,
        }
        return Ok(());
    }
    let listener = tokio::net::TcpListener::bind(args.addr).await.map_err(|e| bind_error(args.addr, e))?;
    // The bound address (port 0 picks a free one), for people and for scripts.
    say("INFO", &format!("MCP at http://{}/mcp, tasks on {store}", listener.local_addr()?));
    let check_host = listener.local_addr()?.ip().is_loopback();
    let options = HttpOptions {
        check_host,
        limits: args.limits.connection(),
        metrics: !args.no_metrics,
        ..HttpOptions::default()
    };
    tokio::select! {
        r = server.serve_listener_with(listener, options) => r?,
        r = admin => r?,
        _ = shutdown_signal() => {
            server.probes().set_draining();
            say("INFO", "shutting down");
        }
    }
    Ok(())
}

/// Why `serve` cannot listen, naming the address (and what to do when it is taken).
pub(crate) fn bind_error(addr: SocketAddr, e: std::io::Error) -> Error {
    let hint = match e.kind() {
        std::io::ErrorKind::AddrInUse => {
            "; another process listens there: stop it, or pick another address (port 0 picks a free one)"
        }
        _ => "",
    };
    format!("cannot listen on {addr}: {e}{hint}").into()
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
            _ => return Err(UsageError(format!("--auth-token wants SUBJECT=TOKEN, got '{pair}'")).into()),
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

/// Run `worker`.
pub(crate) async fn worker(builder: ServerBuilder, args: WorkerArgs) -> Result<(), Error> {
    let url = args.store.redis.clone().ok_or_else(|| UsageError("worker needs --redis (or FERRY_REDIS_URL)".into()))?;
    let backend = Arc::new(connect(&args.store, &url).await?);
    let server = builder.backend(backend.clone()).configure(|c| c.local_worker = false).build()?;
    let redelivery = Duration::from_millis(args.store.redelivery_timeout_ms);
    // Heartbeat well within the redelivery timeout so long jobs are not stolen.
    let heartbeat = match args.heartbeat_ms {
        Some(ms) if ms == 0 || ms >= args.store.redelivery_timeout_ms => {
            return Err(UsageError(format!(
                "--heartbeat-ms {ms} must be above 0 and below --redelivery-timeout-ms ({}), or running jobs \
                 would be handed to other workers",
                args.store.redelivery_timeout_ms
            ))
            .into())
        }
        Some(ms) => Duration::from_millis(ms),
        None => (redelivery / 3).max(Duration::from_millis(50)),
    };
    let mut config = WorkerConfig {
        concurrency: args.store.concurrency,
        heartbeat,
        shutdown_grace: Duration::from_secs(args.shutdown_grace_secs),
        ..WorkerConfig::default()
    };
    if let Some(name) = args.name {
        config.name = name;
    }
    say(
        "INFO",
        &format!(
            "worker '{}' running tasks from Redis at {url} (prefix '{}', concurrency {})",
            config.name, args.store.prefix, config.concurrency
        ),
    );
    let probes = match args.metrics_addr {
        Some(addr) => Some(serve_probes(addr, backend.clone()).await?),
        None => None,
    };
    let handle = Worker::new(backend, server.executor(), config).start();
    shutdown_signal().await;
    if let Some(p) = &probes {
        p.set_draining();
    }
    say("INFO", &format!("stopping: no new jobs; running jobs may finish for {}s", args.shutdown_grace_secs));
    handle.shutdown().await;
    Ok(())
}

/// Serve `/metrics`, `/healthz` and `/readyz` of a worker on `addr`, in the background.
async fn serve_probes(addr: SocketAddr, backend: Arc<RedisBackend>) -> Result<Probes, Error> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| bind_error(addr, e))?;
    let probes = Probes::new(backend).with_metrics()?;
    say("INFO", &format!("metrics at http://{}/metrics", listener.local_addr()?));
    let serving = probes.clone();
    tokio::spawn(async move {
        if let Err(e) = serving.serve(listener).await {
            tracing::error!(error = %e, "the metrics listener stopped");
        }
    });
    Ok(probes)
}

/// SIGTERM or Ctrl-C.
pub(crate) async fn shutdown_signal() {
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
