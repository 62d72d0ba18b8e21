//! `cargo run -p quickstart` serves the quickstart server over Streamable HTTP
//! at http://127.0.0.1:8767/mcp; `--stdio` serves it on stdin/stdout.

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let server = quickstart::server();
    if std::env::args().any(|a| a == "--stdio") {
        return server.serve_stdio().await;
    }
    eprintln!("quickstart: MCP over Streamable HTTP at http://127.0.0.1:8767/mcp");
    server.serve_http(([127, 0, 0, 1], 8767).into()).await
}
