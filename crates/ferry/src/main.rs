//! `ferry`: the command line of the Ferry MCP framework, serving the demo server.

fn main() -> std::process::ExitCode {
    ferry::run(demo::builder())
}
