//! `conformance-server [--addr 127.0.0.1:8766]`: the conformance fixtures over
//! Streamable HTTP at `http://<addr>/mcp`.

use std::net::SocketAddr;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())) // no colour codes in log files
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr: SocketAddr = args
        .iter()
        .position(|a| a == "--addr")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.parse())
        .transpose()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("bad --addr: {e}")))?
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8766)));
    let server = conformance_server::server()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    eprintln!("ferry conformance fixtures: MCP over Streamable HTTP at http://{addr}/mcp");
    server.serve_http(addr).await
}
