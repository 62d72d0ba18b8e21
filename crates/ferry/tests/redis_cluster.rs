//! A deployment on a Redis Cluster (private, started by the test): `ferry serve --redis
//! redis+cluster://... --partitions 3 --no-local-worker` and two `ferry worker` processes.
//! Every task a client was told was accepted ends, every partition gets work, and a master
//! killed (SIGKILL) while tasks are submitted and worked, its replica promoted, loses none.

use ferry_client::{Client, ClientOptions, Mode, TaskStatus};
use ferry_redis::testing::Cluster;
use serde_json::json;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod support;
use support::{serve, Proc, Served, FERRY};

/// A server and two workers on `cluster`, with 3 partitions.
struct Deployment {
    server: Served,
    _workers: Vec<Proc>,
    prefix: String,
}

fn deploy(cluster: &Cluster) -> Deployment {
    let prefix = format!("ferry-cluster-{}", std::process::id());
    let url = cluster.url();
    let common = ["--redis", &url, "--prefix", &prefix, "--partitions", "3", "--redelivery-timeout-ms", "2000"];
    // Every call becomes a task (no quick answers), so each partition's sequence counts them.
    let mut serve_args = vec!["--no-local-worker", "--quick-answer-ms", "0"];
    serve_args.extend(common);
    let server = serve(&serve_args);
    let workers = (0..2)
        .map(|n| {
            let child = Command::new(FERRY)
                .args(["worker", "--name", &format!("w{n}"), "--concurrency", "16"])
                .args(common)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("ferry worker");
            Proc(child)
        })
        .collect();
    Deployment { server, _workers: workers, prefix }
}

async fn connect(url: &str, mode: Mode) -> Client {
    let options = ClientOptions::default().client_info("cluster", "1").mode(mode);
    Client::connect_http(url, options).await.expect("a client session")
}

/// Clients of both eras (sessions: one owner each; stateless: anonymous, random partitions).
async fn clients(url: &str, n: usize) -> Vec<Client> {
    let modes = (0..n).map(|i| if i % 2 == 0 { Mode::Handshake } else { Mode::Modern });
    futures::future::join_all(modes.map(|m| connect(url, m))).await
}

/// Wait until the task `id` of `client` completes, reading its state again after errors
/// (a failover makes some reads fail for a moment).
async fn completes(client: &Client, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(90);
    let task = client.task::<serde_json::Value>(id);
    loop {
        let last = task.get().await;
        match &last {
            Ok(info) if info.status == TaskStatus::Completed => return,
            Ok(info) if info.status.is_terminal() => panic!("task {id} ended {:?}", info.status),
            _ => {}
        }
        assert!(Instant::now() < deadline, "task {id} never completed; last read: {last:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How many tasks each partition's sequence counted (`P:{t}:seq`), over every master.
fn per_partition(cluster: &Cluster, prefix: &str) -> Vec<u64> {
    let mut counts = Vec::new();
    for port in cluster.masters(cluster.ports()[0]) {
        let mut conn = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap().get_connection().unwrap();
        let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}:{{*}}:seq")).query(&mut conn).unwrap();
        for key in keys {
            counts.push(redis::cmd("GET").arg(&key).query(&mut conn).unwrap());
        }
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_and_two_workers_on_a_three_master_cluster_finish_every_task() {
    let cluster = Cluster::start(3, 0);
    let d = deploy(&cluster);
    let clients = clients(&d.server.url, 6).await;
    let runs = clients.iter().enumerate().map(|(c, client)| async move {
        let mut ids = Vec::new();
        for i in 0..50 {
            let task = client.call_tool_task("add", json!({"a": c, "b": i})).await.expect("accepted");
            ids.push(task.id().expect("a task").to_string());
        }
        for id in &ids {
            completes(client, id).await;
        }
        ids.len()
    });
    let done: usize = futures::future::join_all(runs).await.into_iter().sum();
    assert_eq!(done, 300);
    let counts = per_partition(&cluster, &d.prefix);
    assert_eq!(counts.len(), 3, "three partitions on three masters: {counts:?}");
    assert!(counts.iter().all(|n| *n > 0), "every partition received work: {counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_master_killed_and_its_replica_promoted_loses_no_accepted_task() {
    let mut cluster = Cluster::start(3, 1);
    let d = deploy(&cluster);
    let clients = Arc::new(clients(&d.server.url, 4).await);
    let stop = Arc::new(AtomicBool::new(false));
    // Each client submits tasks until told to stop; the accepted ones are remembered.
    let submitters: Vec<_> = (0..clients.len())
        .map(|c| {
            let (clients, stop) = (clients.clone(), stop.clone());
            tokio::spawn(async move {
                let mut accepted = Vec::new();
                let mut refused = 0;
                while !stop.load(Ordering::Relaxed) {
                    match clients[c].call_tool_task("sleep", json!({"ms": 20})).await {
                        // A stateless call may be answered at once (quick answers): then it is done.
                        Ok(task) => accepted.extend(task.id().map(str::to_string)),
                        Err(_) => refused += 1, // not accepted: the client was told so
                    }
                }
                (accepted, refused)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let victim = cluster.masters(cluster.ports()[0])[0];
    cluster.kill(victim);
    let ask = *cluster.ports().iter().find(|p| **p != victim).expect("another node");
    cluster.wait_failover(ask, victim).expect("a replica takes over");
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for (c, submitter) in submitters.into_iter().enumerate() {
        let (accepted, refused) = submitter.await.expect("submitter");
        eprintln!("client {c}: {} accepted, {refused} refused during the failover", accepted.len());
        for id in &accepted {
            completes(&clients[c], id).await;
        }
        total += accepted.len();
    }
    assert!(total > 0);
}
