//! `ferry`: the command line of the Ferry MCP framework, serving the demo server.

/// With the `jemalloc` feature (default): memory freed after a load goes back to the system.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    ferry::run(demo::builder())
}
