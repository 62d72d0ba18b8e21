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
