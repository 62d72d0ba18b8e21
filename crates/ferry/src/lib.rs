//! The `ferry` command line as a library: give your own server binary the same
//! `serve` and `worker` subcommands (plus the client commands `call`, `tools`,
//! `prompt`, `tasks` ..., which work against any MCP server).
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
//!
//! Inside an async `main` (`#[tokio::main]`) use [`run_async`]. To keep your binary's
//! name, version and about text ([`app!`] reads them from your `Cargo.toml`) and add
//! flags of your own, parse with an [`App`] and run the parsed [`Cli`]:
//!
//! ```no_run
//! #[derive(clap::Args, Debug)]
//! struct MyFlags {
//!     /// Where the data lives.
//!     #[arg(long, global = true, default_value = "/var/lib/my-server")]
//!     data_dir: String,
//! }
//!
//! #[tokio::main]
//! async fn main() -> std::process::ExitCode {
//!     let cli: ferry::Cli<MyFlags> = ferry::app!().parse();
//!     let builder = ferry_server::Server::builder("my-server", "1.0.0")
//!         .state(cli.flags.data_dir.clone());
//!     ferry::run_cli_async(builder, cli).await
//! }
//! ```
//!
//! ## Logs and traces
//!
//! `serve` and `worker` log on stderr: `--log-level` (or `RUST_LOG`) filters, and
//! `--log-format json` (or `FERRY_LOG_FORMAT=json`) writes one JSON object per line,
//! with the fields of the request or task span each event happened in.
//!
//! Traces are exported over OTLP (HTTP/protobuf) when the standard
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set:
//!
//! ```text
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318 my-server serve  --redis redis://cache:6379 --no-local-worker
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318 my-server worker --redis redis://cache:6379
//! ```
//!
//! Each MCP request has a span (`tools/call my_tool`, kind server, attributes of the
//! OpenTelemetry MCP conventions), and each task run in a worker one more
//! (`execute_tool my_tool`, kind consumer, with `ferry.task.id`, `ferry.task.attempt`,
//! `ferry.task.outcome`), a child of the request that created the task although it
//! runs in another process: the request's W3C trace context travels in the job. A
//! client's own `traceparent`, in `params._meta` (the MCP convention, which wins) or
//! in the HTTP header, makes the request span its child. `OTEL_SERVICE_NAME`
//! (default `<server name>-serve` / `-worker`), `OTEL_RESOURCE_ATTRIBUTES`,
//! `OTEL_TRACES_SAMPLER`/`_ARG` and `OTEL_BSP_*` apply as in every OpenTelemetry SDK;
//! spans still buffered are exported when the process stops (SIGTERM, Ctrl-C).
//! Without an endpoint, or with `OTEL_SDK_DISABLED=true`, there is no exporter and
//! no trace context is added to jobs.
//!
//! Exit status: 0 on success, 2 for a usage error (a bad flag or argument, a
//! `--redis` URL that cannot be one), 1 for any other failure, 130 after Ctrl-C
//! cancelled a followed task.

mod limits;
mod login;
mod oauth;
pub mod ops;
pub mod remote;
mod roles;
mod telemetry;

pub use limits::{LimitArgs, SessionArgs};
pub use login::{LoginArgs, LogoutArgs};
pub use oauth::OAuthArgs;
pub use roles::{LogArgs, ServeArgs, StoreArgs, WorkerArgs};
pub use telemetry::LogFormat;
/// Errors of a command: any error, [`UsageError`] for the exit status 2.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

use clap::{Args as ClapArgs, CommandFactory, FromArgMatches, Parser, Subcommand};
use ferry_server::ServerBuilder;
use std::process::ExitCode;

/// The command line: your own flags (`X`, none by default) and a subcommand.
#[derive(Parser, Debug)]
#[command(name = "ferry", version, about = "Ferry: MCP servers with durable background tasks")]
pub struct Cli<X: ClapArgs = NoFlags> {
    /// Flags of the program embedding this command line (see [`App`]).
    #[command(flatten)]
    pub flags: X,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// No flags of your own: the default of [`Cli`].
#[derive(ClapArgs, Debug, Clone, Copy, Default)]
pub struct NoFlags {}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve MCP over Streamable HTTP (or stdio).
    #[command(after_long_help = telemetry::TRACES_HELP)]
    Serve(Box<ServeArgs>),
    /// Run task handlers for jobs queued in Redis.
    #[command(after_long_help = telemetry::TRACES_HELP)]
    Worker(WorkerArgs),
    /// Call a tool on an MCP server (`--task --wait` to follow a background task).
    Call(remote::CallArgs),
    /// List a server's tools.
    Tools(remote::Target),
    /// List a server's prompts.
    Prompts(remote::Target),
    /// Render a prompt (`prompt get TARGET NAME key=value ...`).
    #[command(subcommand)]
    Prompt(remote::PromptCommand),
    /// List a server's resources and resource templates.
    Resources(remote::Target),
    /// Read a resource and print its contents.
    Read(remote::ReadArgs),
    /// Inspect tasks on a server.
    #[command(subcommand)]
    Tasks(remote::TasksCommand),
    /// A deployment's queue, workers, throughput and tasks (operators: reads Redis or a server's
    /// admin listener).
    Status(ops::StatusArgs),
    /// Operator commands over every owner's tasks (`admin tasks list|show|cancel`).
    #[command(subcommand)]
    Admin(ops::AdminCommand),
    /// Sign in to a server that is an OAuth protected resource; later commands use the tokens.
    Login(LoginArgs),
    /// Forget (and revoke, where the authorization server offers it) the tokens of `ferry login`.
    Logout(LogoutArgs),
}

/// How your binary presents itself: its name, version and about text in `--help`
/// and `--version`, instead of ferry's. [`app!`] fills them from your `Cargo.toml`.
#[derive(Debug, Clone, Copy)]
pub struct App {
    name: &'static str,
    version: Option<&'static str>,
    about: Option<&'static str>,
}

/// An [`App`] named, versioned and described as the calling crate's `Cargo.toml` says
/// (`CARGO_PKG_NAME`, `CARGO_PKG_VERSION`, `CARGO_PKG_DESCRIPTION`).
#[macro_export]
macro_rules! app {
    () => {
        $crate::App::new(env!("CARGO_PKG_NAME")).version(env!("CARGO_PKG_VERSION")).about(env!("CARGO_PKG_DESCRIPTION"))
    };
}

impl App {
    /// A program called `name` (no version, ferry's about text until set).
    pub const fn new(name: &'static str) -> Self {
        Self { name, version: None, about: None }
    }

    /// The version `--version` prints.
    pub const fn version(mut self, version: &'static str) -> Self {
        self.version = Some(version);
        self
    }

    /// The text at the top of `--help` (an empty one keeps ferry's).
    pub const fn about(mut self, about: &'static str) -> Self {
        self.about = if about.is_empty() { None } else { Some(about) };
        self
    }

    /// The clap command, with your flags `X` (for completions or man pages).
    pub fn command<X: ClapArgs>(&self) -> clap::Command {
        let mut command = Cli::<X>::command().name(self.name).bin_name(self.name).version(self.version);
        if let Some(about) = self.about {
            command = command.about(about);
        }
        command
    }

    /// Parse the process's arguments; on a usage error, `--help` or `--version`, print and exit.
    pub fn parse<X: ClapArgs>(&self) -> Cli<X> {
        self.try_parse_from(std::env::args_os()).unwrap_or_else(|e| e.exit())
    }

    /// Parse `args` (the first is the program's name).
    pub fn try_parse_from<X, I, T>(&self, args: I) -> Result<Cli<X>, clap::Error>
    where
        X: ClapArgs,
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let mut command = self.command::<X>();
        let matches = command.try_get_matches_from_mut(args)?;
        Cli::<X>::from_arg_matches(&matches).map_err(|e| e.format(&mut command))
    }
}

/// Parse the command line and run it with the server built from `builder`, on a
/// runtime of its own (inside `#[tokio::main]`, use [`run_async`]).
pub fn run(builder: ServerBuilder) -> ExitCode {
    run_cli(builder, Cli::<NoFlags>::parse())
}

/// [`run`] for an async `main`: runs on the caller's Tokio runtime.
pub async fn run_async(builder: ServerBuilder) -> ExitCode {
    run_cli_async(builder, Cli::<NoFlags>::parse()).await
}

/// Run an already parsed command line on a runtime of its own. Called inside a Tokio
/// runtime it refuses (a runtime cannot start inside another): use [`run_cli_async`].
pub fn run_cli<X: ClapArgs>(builder: ServerBuilder, cli: Cli<X>) -> ExitCode {
    if tokio::runtime::Handle::try_current().is_ok() {
        eprintln!(
            "ferry: ferry::run was called inside a Tokio runtime (#[tokio::main]?), which cannot start another; \
             call `ferry::run_async(builder).await` (or `run_cli_async`) there"
        );
        return ExitCode::FAILURE;
    }
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(run_cli_async(builder, cli)),
        Err(e) => {
            eprintln!("ferry: cannot start the runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Run an already parsed command line on the caller's Tokio runtime.
pub async fn run_cli_async<X: ClapArgs>(builder: ServerBuilder, cli: Cli<X>) -> ExitCode {
    let telemetry = match telemetry::init(&cli.command, builder.info()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("ferry: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Serve(args) => roles::serve(builder, *args).await,
        Command::Worker(args) => roles::worker(builder, args).await,
        Command::Call(args) => remote::bounded(args.target.timeout, remote::call(args)).await,
        Command::Tools(target) => remote::bounded(target.timeout, remote::tools(target)).await,
        Command::Prompts(target) => remote::bounded(target.timeout, remote::prompts(target)).await,
        Command::Prompt(cmd) => remote::bounded(cmd.target().timeout, remote::prompt(cmd)).await,
        Command::Resources(target) => remote::bounded(target.timeout, remote::resources(target)).await,
        Command::Read(args) => remote::bounded(args.target.timeout, remote::read(args)).await,
        Command::Tasks(cmd) => remote::bounded(cmd.target().timeout, remote::tasks(cmd)).await,
        Command::Status(args) => ops::status(args).await,
        Command::Admin(cmd) => ops::admin(cmd).await,
        Command::Login(args) => login::login(args).await,
        Command::Logout(args) => login::logout(args).await,
    };
    telemetry.shutdown().await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            telemetry::say("ERROR", &e.to_string());
            if e.is::<UsageError>() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// A mistake in what the command line asked for (a bad argument, flag or URL): the command exits with status 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);
