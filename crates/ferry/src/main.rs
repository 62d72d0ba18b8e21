//! `ferry`: the command line of the Ferry MCP framework.

use clap::{Parser, Subcommand};
use std::net::SocketAddr;

#[derive(Parser)]
#[command(name = "ferry", version, about = "Ferry: MCP servers with durable background tasks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the demo server on the embedded task engine.
    Serve {
        /// Address for Streamable HTTP (the endpoint is /mcp).
        #[arg(long, env = "FERRY_ADDR", default_value = "127.0.0.1:8765")]
        addr: SocketAddr,
        /// Serve on stdin/stdout instead of HTTP.
        #[arg(long)]
        stdio: bool,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let result = match cli.command {
        Command::Serve { addr, stdio } => {
            let server = demo::server();
            if stdio {
                server.serve_stdio().await
            } else {
                eprintln!("ferry: demo server at http://{addr}/mcp (embedded task engine)");
                server.serve_http(addr).await
            }
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferry: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
