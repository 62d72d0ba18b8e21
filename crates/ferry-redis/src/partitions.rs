//! Partitions: the keys of a deployment split into N groups, each under one hash tag, so
//! that on a Redis Cluster every script and multi-key command stays in one slot and the
//! partitions spread over the shards.
//!
//! * Layouts. One partition on one Redis server (no cluster) is the original layout,
//!   byte for byte (`P:jobs`, `P:task:{id}`, ...): an upgrade finds everything where it
//!   was. Otherwise (a cluster, or more than one partition) partition `p`'s keys are
//!   `P:{t}:jobs`, `P:{t}:task:{id}`, ... with its hash tag `{t}` chosen so that the
//!   partitions' slots are spread evenly over the 16 384 slots (`t` is `p`, or `p.k` for
//!   the first `k` whose slot falls in the `p`-th of N equal slot ranges): with a cluster
//!   made by `redis-cli --cluster create` (equal slot ranges per master), N = masters puts
//!   one partition on each.
//! * What is in a partition: its job stream and consumer group, in-flight hash, delayed
//!   retries, live counters, sequence, operator index, input set, kept/done counters, the
//!   owner indexes of the owners it holds and the records of its tasks. Shared by the
//!   deployment, in partition 0: worker reports and sessions (both keys of a session
//!   script carry partition 0's tag). Pub/sub channels are not keys: `P:events`,
//!   `P:cancel`, `P:notes` as always.
//! * Which partition: a task of a listed owner (a session or a subject) goes to the
//!   partition of its owner (a stable hash), so per-owner quotas stay exact and
//!   `tasks/list` reads one partition; an anonymous task to a random one. The partition
//!   is the first character of the task id (Crockford base32: `0` = partition 0 ...), so
//!   an id alone finds its record. With one partition ids are as before.
//! * The number of partitions is stored (`P:partitions`) by the first process of a
//!   deployment; a process started with another number is refused.

use crate::conn::Conn;
use crate::keys::Keys;
use crate::{unavailable, RedisConfig};
use ferry_tasks::{BackendError, TaskLimits, TaskRecord};
use std::sync::Arc;

/// Most partitions (one id character names the partition).
pub const MAX_PARTITIONS: usize = 32;

/// Slots of a Redis Cluster.
const SLOTS: u32 = 16_384;

/// The characters of task ids (Crockford base32, as `ferry_tasks::new_task_id`).
const CROCKFORD: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// The key groups of a deployment.
pub(crate) struct Partitions {
    parts: Vec<Arc<Keys>>,
}

impl Partitions {
    /// `n` partitions (1..=[`MAX_PARTITIONS`]) under `prefix`; `tagged` for hash-tagged
    /// keys (always when there is more than one partition).
    pub(crate) fn new(prefix: &str, n: usize, tagged: bool) -> Self {
        let n = n.clamp(1, MAX_PARTITIONS);
        if n == 1 && !tagged {
            return Self { parts: vec![Arc::new(Keys::new(prefix))] };
        }
        let plain = Keys::new(prefix);
        let parts = (0..n)
            .map(|p| {
                let keys = Keys::new(&format!("{prefix}:{{{}}}", tag(p, n)));
                // Channels are not keys: every partition publishes on the deployment's own.
                Arc::new(Keys {
                    events: plain.events.clone(),
                    notes: plain.notes.clone(),
                    cancels: plain.cancels.clone(),
                    ..keys
                })
            })
            .collect();
        Self { parts }
    }

    /// How many there are.
    pub(crate) fn len(&self) -> usize {
        self.parts.len()
    }

    /// The keys of partition `p`.
    pub(crate) fn keys(&self, p: usize) -> &Arc<Keys> {
        &self.parts[p % self.parts.len()]
    }

    /// Every partition's keys, in order.
    pub(crate) fn all(&self) -> impl Iterator<Item = &Arc<Keys>> {
        self.parts.iter()
    }

    /// The partition of a task, from its id.
    pub(crate) fn of_task(&self, id: &str) -> usize {
        if self.parts.len() == 1 {
            return 0;
        }
        let first = id.bytes().next().map(|c| c.to_ascii_lowercase());
        first.and_then(|c| CROCKFORD.iter().position(|&x| x == c)).unwrap_or(0) % self.parts.len()
    }

    /// The partition of a listed owner's tasks.
    pub(crate) fn of_owner(&self, owner: &str) -> usize {
        (fnv1a(owner.as_bytes()) % self.parts.len() as u64) as usize
    }

    /// A new task id for `owner`: its partition (the owner's, or a random one for
    /// `anonymous`) in the first character.
    pub(crate) fn new_task_id(&self, owner: &str) -> String {
        let fresh = ferry_tasks::new_task_id();
        if self.parts.len() == 1 {
            return fresh;
        }
        let p = if owner == ferry_tasks::ANONYMOUS_OWNER {
            (fnv1a(fresh.as_bytes()) % self.parts.len() as u64) as usize
        } else {
            self.of_owner(owner)
        };
        // The other 25 characters carry 125 random bits.
        format!("{}{}", CROCKFORD[p] as char, &fresh[1..])
    }
}

/// The limits one partition enforces for `record` (admission is counted per partition):
/// the total ones split evenly (`max / N`, at least 1); the per-client ones whole when
/// the task counts against its owner (its owner's tasks are all in this partition), else
/// split too (an address's tasks, stateless or of several sessions, spread over them).
pub(crate) fn limits_for(limits: &TaskLimits, n: usize, record: &TaskRecord) -> TaskLimits {
    if n == 1 {
        return limits.clone();
    }
    let split = |max: usize| (max / n).max(1);
    let mut part =
        TaskLimits { max_live: split(limits.max_live), max_live_bytes: split(limits.max_live_bytes), ..limits.clone() };
    if record.account() != record.owner || record.owner == ferry_tasks::ANONYMOUS_OWNER {
        part.max_live_per_owner = split(limits.max_live_per_owner);
        part.max_live_bytes_per_owner = split(limits.max_live_bytes_per_owner);
    }
    part
}

/// The number of partitions of the deployment: the configured one, stored in
/// `P:partitions` by the first process (`SET NX`); a process configured otherwise is
/// refused ([`BackendError::Corrupt`], not worth retrying). Without a configured number,
/// the stored one (1 when none is stored).
pub(crate) async fn agree(conn: &mut Conn, config: &RedisConfig) -> Result<usize, BackendError> {
    let key = format!("{}:partitions", config.prefix);
    let stored: Option<usize> = match config.partitions {
        Some(n) if !(1..=MAX_PARTITIONS).contains(&n) => {
            return Err(BackendError::Corrupt(format!(
                "{n} partitions asked for; a deployment has 1 to {MAX_PARTITIONS}"
            )))
        }
        Some(n) => {
            let (stored,): (Option<usize>,) = redis::pipe()
                .cmd("SET")
                .arg(&key)
                .arg(n)
                .arg("NX")
                .ignore()
                .cmd("GET")
                .arg(&key)
                .query_async(conn)
                .await
                .map_err(unavailable)?;
            stored
        }
        None => redis::cmd("GET").arg(&key).query_async(conn).await.map_err(unavailable)?,
    };
    match (config.partitions, stored) {
        (Some(n), Some(s)) if n != s => Err(BackendError::Corrupt(format!(
            "this deployment (prefix '{}') has {s} partitions (stored in {key}), this process was started with \
             {n}: start every process of a deployment with the same --partitions / FERRY_REDIS_PARTITIONS",
            config.prefix
        ))),
        (Some(n), _) => Ok(n),
        (None, s) => Ok(s.unwrap_or(1).clamp(1, MAX_PARTITIONS)),
    }
}

/// The hash tag of partition `p` of `n`: the first of `p`, `p.1`, `p.2`, ... whose slot
/// lies in the `p`-th of `n` equal slot ranges.
fn tag(p: usize, n: usize) -> String {
    let (low, high) = (p as u32 * SLOTS / n as u32, (p as u32 + 1) * SLOTS / n as u32);
    (0u32..)
        .map(|k| if k == 0 { p.to_string() } else { format!("{p}.{k}") })
        .find(|t| (low..high).contains(&(crc16(t.as_bytes()) as u32 % SLOTS)))
        .unwrap_or_else(|| p.to_string())
}

/// CRC-16/XMODEM, the hash of Redis Cluster's key slots.
fn crc16(bytes: &[u8]) -> u16 {
    bytes.iter().fold(0u16, |mut crc, &b| {
        crc ^= (b as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
        }
        crc
    })
}

/// FNV-1a, a hash that is the same in every process and version.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_is_redis_clusters() {
        // Known slots (CLUSTER KEYSLOT): "foo" -> 12182, "123456789" -> CRC 0x31C3.
        assert_eq!(crc16(b"foo") as u32 % SLOTS, 12182);
        assert_eq!(crc16(b"123456789"), 0x31c3);
    }

    #[test]
    fn one_untagged_partition_is_the_original_layout() {
        let parts = Partitions::new("P", 1, false);
        let k = parts.keys(0);
        assert_eq!((k.jobs.as_str(), k.task("x").as_str(), k.events.as_str()), ("P:jobs", "P:task:x", "P:events"));
        let id = parts.new_task_id("session:s");
        assert_eq!((id.len(), parts.of_task(&id)), (26, 0));
    }

    #[test]
    fn partitions_spread_over_the_slots_and_ids_find_them() {
        let parts = Partitions::new("P", 3, true);
        for p in 0..3 {
            let k = parts.keys(p);
            let tag = k.jobs.split(['{', '}']).nth(1).unwrap_or_default().to_string();
            let slot = crc16(tag.as_bytes()) as u32 % SLOTS;
            assert!((p as u32 * SLOTS / 3..(p as u32 + 1) * SLOTS / 3).contains(&slot), "{tag} in slot {slot}");
            assert_eq!(k.events, "P:events");
            assert!(k.task("x").starts_with(&format!("P:{{{tag}}}:")));
        }
        let owner = "session:abc";
        for _ in 0..20 {
            assert_eq!(parts.of_task(&parts.new_task_id(owner)), parts.of_owner(owner));
        }
        let seen: std::collections::BTreeSet<usize> =
            (0..200).map(|_| parts.of_task(&parts.new_task_id(ferry_tasks::ANONYMOUS_OWNER))).collect();
        assert_eq!(seen.len(), 3, "anonymous tasks go to every partition");
    }
}
