//! A server binary of its own on the `ferrymcp` facade (feature `cli`): the `serve` and
//! `worker` roles and the client commands of `ferry`, under this binary's name, version
//! and about text (`app!()` reads them from this crate's `Cargo.toml`), with a flag of
//! its own, in an async `main`.
//!
//! ```text
//! cli-app --greeting Ahoy serve --addr 127.0.0.1:8770
//! cli-app call http://127.0.0.1:8770/mcp greet name=Ada
//! ```

use ferrymcp::cli::{self, Cli};
use ferrymcp::{tool, Server, State};
use std::process::ExitCode;

/// This binary's own flags, beside ferry's.
#[derive(clap::Args, Debug)]
struct Flags {
    /// The word `greet` greets with (`global`: it may follow the subcommand too).
    #[arg(long, global = true, env = "CLI_APP_GREETING", default_value = "Hello")]
    greeting: String,
}

/// The greeting in use.
struct Greeting {
    word: String,
}

/// Greet someone with this binary's --greeting.
#[tool]
async fn greet(#[arg(description = "Who to greet.")] name: String, greeting: State<Greeting>) -> String {
    format!("{}, {name}!", greeting.word)
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli: Cli<Flags> = cli::app!().parse();
    let builder = Server::builder("cli-app", env!("CARGO_PKG_VERSION"))
        .state(Greeting { word: cli.flags.greeting.clone() })
        .tool(greet_tool());
    cli::run_cli_async(builder, cli).await
}
