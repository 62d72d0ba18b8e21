//! The dashboard in a real browser: headless Chromium driven over WebDriver (chromedriver).
//!
//! Starts `ferry serve --dashboard` (the demo server, embedded engine) on free ports,
//! runs tasks through `ferry_client`, and checks that the page lists them, follows
//! their progress and status without a reload, and cancels one with the admin token.
//! Leaves a screenshot at `target/dashboard.png`.
//!
//! Needs the Debian packages `chromium` and `chromium-driver` (`.ci/run` installs them).
//! Without them the test fails in CI (`CI` set) and says loudly that it skipped elsewhere.

use fantoccini::elements::Element;
use fantoccini::{Client as Browser, ClientBuilder, Locator};
use ferry_client::{CallToolResult, Client, ClientOptions, TaskHandle, TaskStatus};
use serde_json::{json, Value};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::{free_port, serve, Proc, Served};

const TOKEN: &str = "dashboard-test-admin-token";
const DEADLINE: Duration = Duration::from_secs(60);

/// The browser's programs, or `None` (after a loud note) when they are missing outside CI.
fn browser_programs() -> Option<(String, String)> {
    // The full path: chromedriver wants one for the browser binary.
    fn find(names: &[&str]) -> Option<String> {
        let path = std::env::var_os("PATH")?;
        names.iter().find_map(|name| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
                .map(|p| p.display().to_string())
        })
    }
    let chromium = std::env::var("FERRY_TEST_CHROMIUM").ok().or_else(|| find(&["chromium", "chromium-browser"]));
    let driver = std::env::var("FERRY_TEST_CHROMEDRIVER").ok().or_else(|| find(&["chromedriver"]));
    match (chromium, driver) {
        (Some(c), Some(d)) => Some((c, d)),
        _ => {
            let why = "the dashboard browser test needs Chromium and chromedriver \
                       (apt-get install chromium chromium-driver)";
            if std::env::var_os("CI").is_some() {
                panic!("{why}");
            }
            eprintln!("\n!!!!!!!! SKIPPED: {why} !!!!!!!!\n");
            None
        }
    }
}

/// `ferry serve --dashboard` on free ports, the dashboard on `admin_ip`: (process, MCP URL,
/// dashboard base URL on 127.0.0.1).
fn start_server(admin_ip: &str) -> (Served, String, String) {
    let admin_addr = format!("{admin_ip}:0");
    // Every call becomes a task the page can show (no quick answers).
    let served = serve(&["--dashboard", "--admin-addr", &admin_addr, "--admin-token", TOKEN, "--quick-answer-ms", "0"]);
    let dash = served.after_marker("dashboard at ");
    let dash = dash.trim_end_matches("/dashboard").replace("0.0.0.0", "127.0.0.1");
    let mcp = served.url.clone();
    (served, mcp, dash)
}

/// chromedriver on a free port, once it accepts connections.
fn start_driver(program: &str) -> (Proc, String) {
    let port = free_port();
    let child = Command::new(program)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let proc = Proc(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not listen on port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    (proc, format!("http://127.0.0.1:{port}"))
}

async fn open_browser(driver: &str, chromium: &str) -> Browser {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1680,1250", "--hide-scrollbars", "--force-device-scale-factor=1"]
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector).capabilities(caps).connect(driver).await.expect("a WebDriver session")
}

/// Wait until `check` gives `Some`, polling; panics with `what` after the deadline.
async fn until<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The row of a task, if the table shows it.
async fn row(browser: &Browser, id: &str) -> Option<Element> {
    browser.find(Locator::Css(&format!("#task-rows tr[data-id='{id}']"))).await.ok()
}

/// A row's status (`data-status`) and progress label.
async fn row_state(browser: &Browser, id: &str) -> Option<(String, String)> {
    let tr = row(browser, id).await?;
    let status = tr.attr("data-status").await.ok()??;
    let pct = tr.find(Locator::Css(".pct")).await.ok()?.text().await.ok()?;
    Some((status, pct))
}

/// Type the admin token into the page's token dialog (once it shows) and save it.
async fn enter_token(browser: &Browser) {
    let input = until("the token dialog", || async {
        let input = browser.find(Locator::Id("token-input")).await.ok()?;
        input.is_displayed().await.ok()?.then_some(input)
    })
    .await;
    input.send_keys(TOKEN).await.expect("typing the token");
    browser.find(Locator::Id("token-save")).await.unwrap().click().await.expect("Save is clicked");
}

/// The live indicator says the event stream is open.
async fn until_live(browser: &Browser) {
    until("the event stream is live", || async {
        let class = browser.find(Locator::Id("conn")).await.ok()?.attr("class").await.ok()??;
        class.contains("conn-live").then_some(())
    })
    .await;
}

async fn task(client: &Client, tool: &str, args: Value) -> TaskHandle<CallToolResult> {
    client.call_tool_task(tool, args).await.expect("the task starts")
}

fn screenshot_path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| {
        // target/<profile>/deps/<this test>
        let exe = std::env::current_exe().expect("the test's path");
        exe.ancestors().nth(3).map(PathBuf::from).expect("the target dir")
    });
    target.join("dashboard.png")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_tasks_live_and_cancels_one() {
    let Some((chromium, driver_program)) = browser_programs() else { return };
    let (server, mcp, dash) = start_server("127.0.0.1");
    // A second deployment whose admin listener is not on loopback: reading needs the token too.
    let (protected_server, protected_mcp, protected_dash) = start_server("0.0.0.0");
    let (_driver, driver) = start_driver(&driver_program);
    let browser = open_browser(&driver, &chromium).await;
    let b = browser.clone();
    let result = tokio::spawn(async move {
        scenario(&b, &mcp, &dash).await;
        protected(&b, &protected_mcp, &protected_dash).await;
    })
    .await;
    let _ = browser.close().await;
    // A panic was caught so that the browser is closed and the logs shown.
    if let Err(e) = result {
        eprintln!("server log:\n{}", server.logged().join("\n"));
        eprintln!("protected server log:\n{}", protected_server.logged().join("\n"));
        std::panic::resume_unwind(e.into_panic());
    }
}

/// A dashboard whose reads need the token: it says so, asks for it, then goes live.
async fn protected(browser: &Browser, mcp: &str, dash: &str) {
    browser.goto(&format!("{dash}/dashboard")).await.expect("the protected dashboard loads");
    let banner = until("the page to say it needs the token", || async {
        let banner = browser.find(Locator::Id("banner")).await.ok()?;
        banner.is_displayed().await.ok()?.then_some(banner)
    })
    .await;
    assert!(banner.text().await.unwrap().contains("needs the admin token to read"));
    browser.find(Locator::Id("banner-action")).await.unwrap().click().await.expect("the banner's button");
    enter_token(browser).await;
    until_live(browser).await;
    let client = Client::connect_http(mcp, ClientOptions::default()).await.expect("the client connects");
    let quick = task(&client, "add", json!({"a": 1, "b": 2})).await;
    let id = quick.id().expect("a task id").to_string();
    until("the task on the protected page", || async {
        (row_state(browser, &id).await?.0 == "completed").then_some(())
    })
    .await;
    assert!(!browser.find(Locator::Id("banner")).await.unwrap().is_displayed().await.unwrap());
}

async fn scenario(browser: &Browser, mcp: &str, dash: &str) {
    // The page's own security headers.
    let page = reqwest::get(format!("{dash}/dashboard")).await.expect("the page");
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    assert_eq!(page.headers()["referrer-policy"], "no-referrer");

    browser.goto(&format!("{dash}/dashboard")).await.expect("the dashboard loads");
    // Marks this page load: still there at the end means nothing reloaded the page.
    browser.execute("window.__ferryLoad = 'first';", vec![]).await.expect("script runs");
    until_live(browser).await;

    let client = Client::connect_http(mcp, ClientOptions::default()).await.expect("the client connects");
    // A task that finishes soon after reporting progress, one to cancel, one whose tool fails.
    let steady = task(&client, "progress", json!({"steps": 8, "delay_ms": 600})).await;
    let long = task(&client, "progress", json!({"steps": 500, "delay_ms": 400})).await;
    let failing = task(&client, "fail", json!({"message": "the disk is full"})).await;
    let steady_id = steady.id().expect("a task id").to_string();
    let long_id = long.id().expect("a task id").to_string();
    let failing_id = failing.id().expect("a task id").to_string();

    // The table shows them, and the progress of a running task moves.
    let (status, first_pct) = until("the steady task's row", || row_state(browser, &steady_id)).await;
    assert!(status == "working" || status == "completed", "{status}");
    // A tool's error result completes its task; the page marks it as an error.
    until("the failing task shows its tool error", || async {
        let tr = row(browser, &failing_id).await?;
        let pill = tr.find(Locator::Css(".pill")).await.ok()?.text().await.ok()?;
        (tr.attr("data-status").await.ok()?? == "completed" && pill == "Tool error").then_some(())
    })
    .await;
    let (_, moved) = until("progress to move", || async {
        let (status, pct) = row_state(browser, &long_id).await?;
        (status == "working" && !pct.is_empty() && pct != "0%").then_some(((), pct))
    })
    .await;
    until("progress to move further", || async {
        let (_, pct) = row_state(browser, &long_id).await?;
        (pct != moved).then_some(())
    })
    .await;
    // working -> completed, without a reload.
    until("the steady task to complete on the page", || async {
        let (status, pct) = row_state(browser, &steady_id).await?;
        (status == "completed" && pct == "100%").then_some(())
    })
    .await;
    let _ = first_pct;

    // Filter by status: only the long task still works.
    browser.find(Locator::Css("#filters button[data-status='working']")).await.expect("a chip").click().await.unwrap();
    until("the status filter", || async {
        let rows = browser.find_all(Locator::Css("#task-rows tr")).await.ok()?;
        let only = rows.len() == 1 && rows[0].attr("data-id").await.ok()?.as_deref() == Some(long_id.as_str());
        only.then_some(())
    })
    .await;
    browser.find(Locator::Css("#filters button[data-status='']")).await.unwrap().click().await.unwrap();
    until("all tasks again", || row(browser, &steady_id)).await;

    // Search narrows by text in the id, tool or message.
    let search = browser.find(Locator::Id("search")).await.expect("the search box");
    search.send_keys(&long_id[..12]).await.expect("typing");
    until("the search", || async {
        let rows = browser.find_all(Locator::Css("#task-rows tr")).await.ok()?;
        (rows.len() == 1).then_some(())
    })
    .await;
    search.clear().await.expect("clearing");
    search.send_keys(" ").await.expect("typing");
    until("all tasks after the search", || row(browser, &steady_id)).await;

    // More work, so that the screenshot shows a busy engine.
    let mut more = Vec::new();
    for (steps, delay) in [(40, 500), (30, 700), (60, 300)] {
        more.push(task(&client, "progress", json!({"steps": steps, "delay_ms": delay})).await);
    }
    more.push(task(&client, "sleep", json!({"ms": 30_000})).await);
    more.push(task(&client, "add", json!({"a": 2, "b": 3})).await);
    let busy = more[0].id().expect("a task id").to_string();
    until("the new tasks to show progress", || async {
        let (_, pct) = row_state(browser, &busy).await?;
        (!pct.is_empty() && pct != "0%").then_some(())
    })
    .await;
    until("the stats to count them running", || async {
        let running = browser.find(Locator::Id("m-running")).await.ok()?.text().await.ok()?;
        (running.parse::<u32>().ok()? >= 3).then_some(())
    })
    .await;

    // The detail panel of the long task, with its arguments.
    row(browser, &long_id).await.expect("its row").click().await.expect("a click");
    until("the detail panel", || async {
        let args = browser.find(Locator::Id("d-args")).await.ok()?.text().await.ok()?;
        (args.contains("\"steps\": 500")).then_some(())
    })
    .await;
    let title = browser.find(Locator::Id("d-id")).await.unwrap().text().await.unwrap();
    assert_eq!(title, long_id);

    // A screenshot for the record, with a running task's detail open.
    let png = browser.screenshot().await.expect("a screenshot");
    let path = screenshot_path();
    std::fs::write(&path, png).expect("the screenshot is saved");
    eprintln!("dashboard screenshot: {}", path.display());

    // Cancel from the page: it asks for the admin token, then cancels.
    browser.find(Locator::Id("d-cancel")).await.unwrap().click().await.expect("Cancel is clicked");
    enter_token(browser).await;
    until("the task to be cancelled in the store", || async {
        (long.get().await.ok()?.status == TaskStatus::Cancelled).then_some(())
    })
    .await;
    until("the page to show it cancelled", || async {
        (row_state(browser, &long_id).await?.0 == "cancelled").then_some(())
    })
    .await;
    let stored = browser.execute("return sessionStorage.getItem('ferry.adminToken');", vec![]).await.unwrap();
    assert_eq!(stored, json!(TOKEN), "the token is kept for the tab");

    // A wrong token is refused by the server.
    let refused = reqwest::Client::new()
        .post(format!("{dash}/admin/api/tasks/{steady_id}/cancel"))
        .bearer_auth("not-the-token")
        .send()
        .await
        .expect("an answer");
    assert_eq!(refused.status(), 401);

    let load = browser.execute("return window.__ferryLoad;", vec![]).await.unwrap();
    assert_eq!(load, json!("first"), "the page was never reloaded");
}
