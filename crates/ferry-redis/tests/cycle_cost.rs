//! What one task's life costs Redis, counted with `MONITOR` on a private `redis-server`
//! (so nothing else is counted): round trips (commands a client sent) and calls inside
//! Lua scripts, per task, for the backend calls of a task round trip: submit, claim (in
//! batches, as workers do), the worker's read of the record, completion, and the
//! caller's read of the result. The bounds are a guard: a change that adds a command
//! per task fails here (raise them only knowingly, with the reason, and update
//! BENCHMARKS.md). `--nocapture` prints the counts per command.

use ferry_redis::{RedisBackend, RedisConfig};
use ferry_tasks::testkit::task;
use ferry_tasks::{Backend, Outcome};
use futures::future::join_all;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::time::Duration;

/// Most round trips per task. Measured 1.15 with each step of 10 tasks at once (group
/// commit: the first of a step goes alone, the other 9 in one call): submit 0.2, complete
/// 0.2, the two reads 0.2 (`MGET`), a claim round per 10 jobs 0.2 (`XREADGROUP`, `MGET` and
/// `HSET`), the promote script now and then. Before group commit, one task after the other:
/// 4.43 (before issue 11's step 2(b): 5.4).
const MAX_ROUND_TRIPS: f64 = 1.3;
/// Most calls inside Lua per task. Measured 8.08: per task only its record's write
/// (`SET`), its job (`XADD`) and its owner's index (`ZADD`; `PEXPIRETIME`/`PERSIST` when
/// the owner had none running), the rest per call. Before group commit 22.4 (before
/// issue 11's step 3 the bench's `MONITOR` pass counted 46).
const MAX_LUA_CALLS: f64 = 8.5;

const TASKS: usize = 300;
const BATCH: usize = 10;
const MARKER: &str = "cycle-cost-end";

/// Calls seen by `MONITOR`: `(from Lua, command) -> calls`.
type Counts = BTreeMap<(bool, String), u64>;

/// Watch `url`'s server with `MONITOR` until `MARKER` is echoed; the reader, and a signal that it started.
fn monitor(url: &str) -> (std::thread::JoinHandle<Counts>, std::sync::mpsc::Receiver<()>) {
    let addr = url.trim_start_matches("redis://").split('/').next().expect("host:port").to_string();
    let mut stream = std::net::TcpStream::connect(addr).expect("connect for MONITOR");
    stream.write_all(b"MONITOR\r\n").expect("send MONITOR");
    let (ready_tx, ready) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut counts = BTreeMap::new();
        for line in BufReader::new(stream).lines() {
            let line = line.expect("MONITOR line");
            if line == "+OK" {
                let _ = ready_tx.send(());
                continue;
            }
            if line.contains(MARKER) {
                break;
            }
            // `+1764600000.123456 [0 127.0.0.1:5555] "EVALSHA" ...`, `[0 lua] "GET" ...`
            let (Some(open), Some(close)) = (line.find('['), line.find("] \"")) else { continue };
            let lua = line[open..close].ends_with(" lua");
            let command = line[close + 3..].split('"').next().unwrap_or_default().to_ascii_lowercase();
            *counts.entry((lua, command)).or_insert(0) += 1;
        }
        counts
    });
    (reader, ready)
}

#[tokio::test]
async fn a_task_round_trip_costs_few_redis_commands() {
    let url = ferry_redis::testing::private_redis_url();
    let backend = RedisBackend::connect(RedisConfig::new(&url).prefix("cost")).await.expect("connect");
    let (reader, ready) = monitor(&url);
    ready.recv_timeout(Duration::from_secs(5)).expect("MONITOR started");
    for batch in 0..TASKS / BATCH {
        // Each step of the 10 tasks at once, as concurrent callers and a worker's jobs do:
        // the first goes alone, the rest together (group commit).
        let tasks: Vec<_> = (0..BATCH).map(|i| task(&format!("session:s{}", (batch * BATCH + i) % 7))).collect();
        let ids: Vec<String> = tasks.iter().map(|(rec, _)| rec.id.clone()).collect();
        for submitted in join_all(tasks.into_iter().map(|(rec, job)| backend.submit(rec, job))).await {
            submitted.expect("submit");
        }
        let claimed = backend.claim_batch("w", BATCH, Duration::from_secs(1)).await.expect("claim");
        assert_eq!(claimed.len(), BATCH);
        for read in join_all(ids.iter().map(|id| backend.get(id))).await {
            assert!(read.expect("worker reads").is_some());
        }
        let done = Outcome::result(&serde_json::json!({"ok": 1}), false).expect("outcome");
        for rec in join_all(ids.iter().map(|id| backend.complete(id, done.clone()))).await {
            assert_eq!(rec.expect("complete").expect("record").status, ferry_tasks::TaskStatus::Completed);
        }
        for read in join_all(ids.iter().map(|id| backend.get(id))).await {
            assert!(read.expect("result").is_some_and(|r| r.outcome.is_some()));
        }
    }
    let mut conn = redis::Client::open(url.as_str()).expect("url").get_multiplexed_async_connection().await.expect("c");
    let _: String = redis::cmd("ECHO").arg(MARKER).query_async(&mut conn).await.expect("echo");
    let counts = reader.join().expect("MONITOR reader");
    let per_task = |lua: bool| counts.iter().filter(|((l, _), _)| *l == lua).map(|(_, n)| *n).sum::<u64>() as f64;
    let (round_trips, lua_calls) = (per_task(false) / TASKS as f64, per_task(true) / TASKS as f64);
    for ((lua, command), n) in &counts {
        println!("{} {command}: {:.2} per task", if *lua { "lua" } else { "client" }, *n as f64 / TASKS as f64);
    }
    println!("per task: {round_trips:.2} round trips, {lua_calls:.2} calls inside Lua");
    assert!(round_trips <= MAX_ROUND_TRIPS, "{round_trips:.2} round trips per task (at most {MAX_ROUND_TRIPS})");
    assert!(lua_calls <= MAX_LUA_CALLS, "{lua_calls:.2} calls inside Lua per task (at most {MAX_LUA_CALLS})");
}
