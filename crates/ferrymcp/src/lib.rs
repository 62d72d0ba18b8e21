//! # ferrymcp
//!
//! One dependency for all of Ferry: MCP servers and clients whose tools can run
//! as durable background tasks — call now, fetch the result later — on an
//! embedded engine or on Redis with separate worker processes.
//!
//! | module | crate | feature |
//! |---|---|---|
//! | [`server`] (also re-exported at the root) | `ferry-server` | `server` (default) |
//! | [`client`] | `ferry-client` | `client` |
//! | [`redis`] | `ferry-redis` | `redis` |
//! | [`cli`]: one binary with `serve`/`worker` roles and client commands | `ferry` (without its demo) | `cli` |
//! | [`engine`] | `ferry-tasks` | always |
//! | [`protocol`] | `ferry-protocol` | always |
//!
//! New here? The [`guide`] walks from a first server to a deployment on Redis
//! (built with `--all-features`, which docs.rs uses).
//!
//! ```
//! use ferrymcp::{Args, Server, TaskSupport, ToolDef};
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct Add {
//!     a: i64,
//!     b: i64,
//! }
//!
//! let server = Server::builder("calc", "1.0.0")
//!     .tool(
//!         ToolDef::new("add")
//!             .description("Add two integers")
//!             .task_support(TaskSupport::Optional)
//!             .handler(|Args(x): Args<Add>| async move { x.a + x.b }),
//!     )
//!     .build()
//!     .unwrap();
//! ```

#[cfg(all(feature = "server", feature = "client", feature = "redis"))]
pub mod guide;

pub use ferry_protocol as protocol;
pub use ferry_tasks as engine;

#[cfg(feature = "server")]
pub use ferry_server as server;
#[cfg(feature = "server")]
pub use ferry_server::*;

#[cfg(feature = "client")]
pub use ferry_client as client;

#[cfg(feature = "redis")]
pub use ferry_redis as redis;

/// The `ferry` command line for your own binary: `serve` and `worker` roles plus the client
/// commands. `cli::run(builder)` in a plain `main`, `cli::run_async(builder).await` in
/// `#[tokio::main]`; [`cli::App`] (or `cli::app!()`) keeps your binary's name, version and
/// about text and adds your own flags (see `examples/cli-app`).
#[cfg(feature = "cli")]
pub use ferry as cli;

/// A client talking to `server` in this process, through an in-memory pipe: no port, no
/// subprocess (features `server` and `client`). The server serves the pipe as one stdio
/// session; everything else is as over the wire, so it is the quickest way to test a
/// server through the protocol.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use ferrymcp::client::ClientOptions;
/// use ferrymcp::{Server, ToolDef};
///
/// let server = Server::builder("t", "1").tool(ToolDef::new("hi").handler(|| async { "hello" })).build().unwrap();
/// let client = ferrymcp::connect_in_process(&server, ClientOptions::default()).await.unwrap();
/// let r = client.call_tool("hi", serde_json::json!({})).await.unwrap();
/// assert_eq!(r.content[0].as_text(), Some("hello"));
/// # }
/// ```
#[cfg(all(feature = "server", feature = "client"))]
pub async fn connect_in_process(
    server: &ferry_server::Server,
    options: ferry_client::ClientOptions,
) -> Result<ferry_client::Client, ferry_client::ClientError> {
    let (ours, theirs) = tokio::io::duplex(1 << 20);
    let (server_reader, server_writer) = tokio::io::split(theirs);
    let server = server.clone();
    // The session ends when the client drops its end of the pipe.
    tokio::spawn(async move { server.serve_io(server_reader, server_writer).await });
    let (reader, writer) = tokio::io::split(ours);
    ferry_client::Client::connect_io(reader, writer, options).await
}
