//! `ferry` as a library: an [`App`] with its own name, version, about text and flags, and
//! an entry point for code already inside a Tokio runtime.

use ferry::{App, Cli, Command};
use ferry_server::{Server, ToolDef};
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
struct Flags {
    /// Where the data lives.
    #[arg(long, global = true, default_value = "/tmp")]
    data_dir: String,
}

const APP: App = App::new("my-server").version("9.9.9").about("My server, with tasks.");

#[test]
fn an_app_keeps_its_name_version_about_and_flags() {
    let e = APP.try_parse_from::<Flags, _, _>(["my-server", "--version"]).unwrap_err();
    assert_eq!(e.render().to_string().trim(), "my-server 9.9.9");
    let help = APP.try_parse_from::<Flags, _, _>(["my-server", "--help"]).unwrap_err().render().to_string();
    assert!(help.starts_with("My server, with tasks.") && help.contains("--data-dir"), "{help}");
    let cli: Cli<Flags> = APP.try_parse_from(["my-server", "tools", "http://x/mcp", "--data-dir", "/srv"]).unwrap();
    assert_eq!(cli.flags.data_dir, "/srv");
    assert!(matches!(cli.command, Command::Tools(_)));
    let e = APP.try_parse_from::<Flags, _, _>(["my-server", "--nope"]).unwrap_err();
    assert_eq!(e.exit_code(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_inside_a_tokio_runtime() {
    let builder = || Server::builder("lib", "1").tool(ToolDef::new("hello").handler(|| async { "hi" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let server = builder().build().unwrap();
    tokio::spawn(async move { server.serve_listener(listener).await });

    let cli: Cli = App::new("lib").try_parse_from(["lib", "call", &url, "hello"]).unwrap();
    assert_eq!(ferry::run_cli_async(builder(), cli).await, ExitCode::SUCCESS);
    // The blocking entry point refuses (with a message) instead of panicking in a runtime.
    let cli: Cli = App::new("lib").try_parse_from(["lib", "call", &url, "hello"]).unwrap();
    assert_eq!(ferry::run_cli(builder(), cli), ExitCode::FAILURE);
}
