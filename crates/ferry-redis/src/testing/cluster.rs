//! A private Redis Cluster for tests: `redis-server --cluster-enabled yes` processes on free
//! ports in a temporary directory, joined by `redis-cli --cluster create`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A local Redis Cluster of this test process; every node is killed (and its directory
/// removed) when it is dropped, or when the test process exits.
pub struct Cluster {
    dir: PathBuf,
    /// How many masters serve the slots.
    masters: usize,
    /// Each node's port and process.
    nodes: Vec<(u16, Child)>,
}

/// A port that is free, with its cluster bus port (+10 000) free too.
fn free_port() -> Result<u16, String> {
    for _ in 0..200 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| format!("no free port: {e}"))?;
        if port < 55_000 && std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return Ok(port);
        }
    }
    Err("no free port pair for a cluster node".into())
}

fn redis_cli(args: &[String]) -> Result<String, String> {
    let out = Command::new("redis-cli")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run redis-cli (apt-get install redis-tools): {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("redis-cli {args:?}: {}", String::from_utf8_lossy(&out.stderr)))
    }
}

impl Cluster {
    /// Start `masters` masters with `replicas` replicas each and wait until the cluster
    /// serves every slot. Panics with the reason when it cannot.
    pub fn start(masters: usize, replicas: usize) -> Cluster {
        Self::try_start(masters, replicas).unwrap_or_else(|why| {
            panic!("cannot start a local Redis Cluster (needs redis-server and redis-cli 7): {why}")
        })
    }

    fn try_start(masters: usize, replicas: usize) -> Result<Cluster, String> {
        let dir =
            std::env::temp_dir().join(format!("ferry-cluster-{}-{}", std::process::id(), ferry_tasks::new_task_id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut cluster = Cluster { dir, masters, nodes: Vec::new() };
        for _ in 0..masters * (1 + replicas) {
            let port = free_port()?;
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--cluster-enabled", "yes"])
                .args(["--cluster-config-file", &format!("nodes-{port}.conf"), "--cluster-node-timeout", "1000"])
                .args(["--save", "", "--appendonly", "no"])
                .current_dir(&cluster.dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("cannot run redis-server: {e}"))?;
            cluster.nodes.push((port, child));
        }
        cluster.watchdog();
        for port in cluster.ports() {
            cluster.wait_for(port, "PING", |answer| answer.contains("PONG"))?;
        }
        let mut args: Vec<String> = vec!["--cluster".into(), "create".into()];
        args.extend(cluster.ports().iter().map(|p| format!("127.0.0.1:{p}")));
        args.extend(["--cluster-replicas".into(), replicas.to_string(), "--cluster-yes".into()]);
        redis_cli(&args)?;
        for port in cluster.ports() {
            cluster.wait_for(port, "CLUSTER INFO", |info| info.contains("cluster_state:ok"))?;
            // A replica that has not synced yet would not take over from its master.
            cluster.wait_for(port, "INFO replication", |info| {
                info.contains("role:master") || info.contains("master_link_status:up")
            })?;
        }
        Ok(cluster)
    }

    /// Kill every node when this process ends without dropping the cluster (a test that
    /// was killed, say).
    fn watchdog(&self) {
        let pids: Vec<String> = self.nodes.iter().map(|(_, c)| c.id().to_string()).collect();
        let script = format!(
            "while kill -0 {} 2>/dev/null; do sleep 1; done; kill -9 {} 2>/dev/null; rm -rf '{}'",
            std::process::id(),
            pids.join(" "),
            self.dir.display()
        );
        let _ = Command::new("sh").arg("-c").arg(script).stdout(Stdio::null()).stderr(Stdio::null()).spawn();
    }

    /// Wait (up to 30 s) until `command` on the node at `port` answers as `ok` says.
    fn wait_for(&self, port: u16, command: &str, ok: impl Fn(&str) -> bool) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut args = vec!["-p".to_string(), port.to_string()];
        args.extend(command.split(' ').map(str::to_string));
        loop {
            let answer = redis_cli(&args).unwrap_or_default();
            if ok(&answer) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("node {port} did not answer {command} as expected: {answer}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The nodes' ports, masters and replicas.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|(p, _)| *p).collect()
    }

    /// The URL naming every node: `redis+cluster://127.0.0.1:P1,127.0.0.1:P2,...`.
    pub fn url(&self) -> String {
        let nodes: Vec<String> = self.ports().iter().map(|p| format!("127.0.0.1:{p}")).collect();
        format!("redis+cluster://{}", nodes.join(","))
    }

    /// The ports of the nodes that are masters serving slots now (as the node at `ask` sees it).
    pub fn masters(&self, ask: u16) -> Vec<u16> {
        let nodes = redis_cli(&["-p".into(), ask.to_string(), "CLUSTER".into(), "NODES".into()]).unwrap_or_default();
        nodes
            .lines()
            .filter(|l| l.contains("master") && !l.contains("fail") && l.split(' ').count() > 8)
            .filter_map(|l| l.split(' ').nth(1)?.split(['@', ':']).nth(1)?.parse().ok())
            .collect()
    }

    /// SIGKILL the node at `port`.
    pub fn kill(&mut self, port: u16) {
        if let Some((_, child)) = self.nodes.iter_mut().find(|(p, _)| *p == port) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Wait (up to 30 s) until, as the node at `ask` sees it, `dead` is no master any more
    /// (a replica took over its slots) and the cluster serves every slot.
    pub fn wait_failover(&self, ask: u16, dead: u16) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.masters(ask).contains(&dead) || self.masters(ask).len() < self.masters {
            if Instant::now() > deadline {
                return Err(format!("no replica took over from {dead}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.wait_for(ask, "CLUSTER INFO", |info| info.contains("cluster_state:ok"))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for (_, child) in &mut self.nodes {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
