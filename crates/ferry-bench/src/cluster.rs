//! A private local Redis Cluster for `bench perf`'s cluster rows: `masters` `redis-server
//! --cluster-enabled yes` on free ports (client and bus port both chosen free, so the
//! usual "bus = port + 10000" never runs past 65535), joined with `redis-cli --cluster
//! create ... --cluster-yes`, ready once every node reports `cluster_state:ok`. No
//! replicas: the rows measure throughput, not failover. The nodes' config files live
//! in a directory of their own, removed with the cluster.

use crate::client::{free_addr, Error, ServerProcess};
use crate::perf::spawn_pinned;
use crate::perf_redis::cli;
use crate::pin::CpuList;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Fewest masters Redis Cluster accepts (`redis-cli --cluster create` refuses fewer).
pub const MIN_MASTERS: usize = 3;
/// Most masters the bench starts (each is a process on the server CPUs).
pub const MAX_MASTERS: usize = 16;
/// How long the nodes may take to answer, and the cluster to agree, before the bench gives up.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// The nodes of a running private cluster; killed, and their directory removed, when dropped.
pub struct LocalCluster {
    /// One `redis-server` per master.
    pub nodes: Vec<ServerProcess>,
    /// Their client ports, in the order of `nodes`.
    pub ports: Vec<String>,
    dir: PathBuf,
}

fn port_of(addr: &str) -> Result<String, Error> {
    Ok(addr.rsplit(':').next().ok_or("no port")?.to_string())
}

impl LocalCluster {
    /// Start `masters` nodes of `redis_server` pinned to `cpus` and join them into one
    /// cluster covering all 16384 slots. Refuses fewer than [`MIN_MASTERS`] or more than
    /// [`MAX_MASTERS`] masters.
    pub async fn start(redis_server: &Path, masters: usize, cpus: &CpuList) -> Result<Self, Error> {
        if !(MIN_MASTERS..=MAX_MASTERS).contains(&masters) {
            return Err(format!(
                "a local cluster has {MIN_MASTERS}..={MAX_MASTERS} masters, not {masters} (--cluster-masters)"
            )
            .into());
        }
        let dir = std::env::temp_dir().join(format!(
            "ferry-bench-cluster-{}-{}",
            std::process::id(),
            port_of(&free_addr()?)?
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let mut cluster = LocalCluster { nodes: Vec::new(), ports: Vec::new(), dir };
        for _ in 0..masters {
            let (port, bus) = (port_of(&free_addr()?)?, port_of(&free_addr()?)?);
            let config = cluster.dir.join(format!("nodes-{port}.conf"));
            let config = config.to_str().ok_or("the temporary directory's path is not UTF-8")?;
            let args = [
                "--port",
                &port,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--cluster-enabled",
                "yes",
                "--cluster-port",
                &bus,
                "--cluster-config-file",
                config,
                "--cluster-node-timeout",
                "5000",
            ];
            cluster.nodes.push(spawn_pinned(redis_server, &args, cpus)?);
            cluster.ports.push(port);
        }
        for port in &cluster.ports {
            wait(|| Ok(cli(port, &["ping"])?.trim() == "PONG"), &format!("redis-server on port {port}")).await?;
        }
        let hosts: Vec<String> = cluster.ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let out = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&hosts)
            .arg("--cluster-yes")
            .output()
            .map_err(|e| format!("cannot run redis-cli (install redis-tools): {e}"))?;
        if !out.status.success() {
            return Err(format!("redis-cli --cluster create failed: {}", String::from_utf8_lossy(&out.stdout)).into());
        }
        for port in &cluster.ports {
            let ok = || Ok(cli(port, &["cluster", "info"])?.lines().any(|l| l.trim() == "cluster_state:ok"));
            wait(ok, &format!("cluster_state:ok on port {port}")).await?;
        }
        Ok(cluster)
    }

    /// The deployment's `--redis` URL for the cluster: `redis+cluster://h:p,h:p,...`.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self.ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        format!("redis+cluster://{}", hosts.join(","))
    }
}

/// Poll `ready` every 50 ms until it says yes; an error naming `what` after [`READY_WITHIN`].
async fn wait(ready: impl Fn() -> Result<bool, Error>, what: &str) -> Result<(), Error> {
    let started = Instant::now();
    while !ready().unwrap_or(false) {
        if started.elapsed() > READY_WITHIN {
            return Err(format!("{what}: not ready within {} s", READY_WITHIN.as_secs()).into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        self.nodes.clear(); // kill the nodes before removing their files
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_too_few_or_too_many_masters() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let cpus = CpuList::allowed().unwrap();
        for masters in [0, 2, MAX_MASTERS + 1] {
            let e = rt.block_on(LocalCluster::start(Path::new("redis-server"), masters, &cpus)).err().unwrap();
            assert!(e.to_string().contains("--cluster-masters"), "{e}");
        }
    }

    /// Needs `redis-server` and `redis-cli` (as every Redis test of the workspace; CI installs them).
    #[test]
    fn a_private_cluster_serves_every_slot_and_is_gone_when_dropped() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let cpus = CpuList::allowed().unwrap();
        let cluster = rt.block_on(LocalCluster::start(Path::new("redis-server"), 3, &cpus)).unwrap();
        let first = cluster.ports[0].clone();
        let info = cli(&first, &["cluster", "info"]).unwrap();
        assert!(info.contains("cluster_slots_assigned:16384"), "{info}");
        assert!(info.contains("cluster_size:3"), "{info}");
        // Keys of different slots land on different masters: `-c` follows the MOVED answers.
        for key in ["a", "b", "c", "{P:0}x", "{P:1}x", "{P:2}x"] {
            assert_eq!(cli(&first, &["-c", "set", key, "v"]).unwrap().trim(), "OK");
        }
        let keys: u64 = cluster.ports.iter().map(|p| cli(p, &["dbsize"]).unwrap().trim().parse::<u64>().unwrap()).sum();
        assert_eq!(keys, 6);
        assert!(cluster.url().starts_with("redis+cluster://127.0.0.1:"));
        assert_eq!(cluster.url().matches(',').count(), 2);
        let dir = cluster.dir.clone();
        assert!(dir.is_dir());
        drop(cluster);
        assert!(!dir.exists(), "the nodes' directory is removed");
        assert!(cli(&first, &["ping"]).is_err(), "the nodes are stopped");
    }
}
