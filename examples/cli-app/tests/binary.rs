//! The example binary keeps its own name, version, about text and flags, runs the ferry
//! roles from an async `main`, and leaves ferry's demo server out of its dependencies.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const APP: &str = env!("CARGO_BIN_EXE_cli-app");

fn run(args: &[&str]) -> std::process::Output {
    Command::new(APP).args(args).env_remove("CLI_APP_GREETING").output().expect("cli-app runs")
}

#[test]
fn version_and_help_are_the_binarys_own() {
    let out = run(&["--version"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "cli-app 2.3.4");
    let help = String::from_utf8_lossy(&run(&["--help"]).stdout).to_string();
    assert!(help.starts_with("A server binary with the ferry command line"), "{help}");
    assert!(help.contains("Usage: cli-app [OPTIONS] <COMMAND>") && help.contains("--greeting"), "{help}");
    assert!(help.contains("serve") && help.contains("worker") && help.contains("call"), "{help}");
}

#[test]
fn serves_from_an_async_main_with_its_own_flag() {
    let mut server = Command::new(APP)
        .args(["serve", "--greeting", "Ahoy", "--addr", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("cli-app serve");
    let mut lines = BufReader::new(server.stderr.take().expect("stderr")).lines().map_while(Result::ok);
    let url = lines
        .find_map(|l| l.split("MCP at ").nth(1).and_then(|r| r.split(',').next()).map(str::to_string))
        .expect("serving");
    std::thread::spawn(move || lines.for_each(drop)); // keep its stderr open
    let out = run(&["call", &url, "greet", "name=Ada"]);
    let _ = server.kill();
    let _ = server.wait();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Ahoy, Ada!");
}

#[test]
fn the_demo_server_is_not_a_dependency() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["tree", "-p", "cli-app", "--edges", "normal", "--prefix", "none", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(out.status.success(), "{out:?}");
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(tree.lines().any(|l| l.starts_with("ferry v")), "{tree}");
    assert!(!tree.lines().any(|l| l.starts_with("demo v")), "{tree}");
}
