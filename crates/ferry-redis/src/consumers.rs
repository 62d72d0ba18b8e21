//! Forgetting workers that are gone.
//!
//! A consumer-group member stays in Redis after its process died or restarted
//! under a new name. Its pending jobs are redelivered (`XAUTOCLAIM`); once it has
//! none and has been idle past [`RedisConfig::stale_consumer_after`](crate::RedisConfig),
//! it is deleted. A live worker that was merely idle is re-created by its next read.

use crate::keys::Keys;
use crate::{unavailable, RedisBackend};
use ferry_protocol::time_fmt::now_ms;
use ferry_tasks::BackendError;
use std::sync::atomic::Ordering;

/// How often a process looks for stale consumers, at most (ms).
const PRUNE_EVERY_MS: u64 = 60_000;

impl RedisBackend {
    /// Delete the consumers of the work queue that own no pending jobs and have been idle
    /// longer than `stale_consumer_after`; returns their names. Workers call this on their
    /// own about once a minute.
    /// With partitions, each partition's group is looked at (a name may be listed once per
    /// partition it was removed from).
    pub async fn prune_consumers(&self) -> Result<Vec<String>, BackendError> {
        let mut gone = Vec::new();
        for k in self.inner.parts.all() {
            gone.extend(self.prune_consumers_of(k).await?);
        }
        Ok(gone)
    }

    async fn prune_consumers_of(&self, k: &Keys) -> Result<Vec<String>, BackendError> {
        let mut conn = self.conn();
        let reply: redis::Value = redis::cmd("XINFO")
            .arg("CONSUMERS")
            .arg(&k.jobs)
            .arg(&k.group)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let bound = self.inner.config.stale_consumer_after.as_millis() as i64;
        let mut gone = Vec::new();
        for consumer in consumers(reply) {
            if consumer.pending == 0 && consumer.idle_ms > bound {
                let _: i64 = redis::cmd("XGROUP")
                    .arg("DELCONSUMER")
                    .arg(&k.jobs)
                    .arg(&k.group)
                    .arg(&consumer.name)
                    .query_async(&mut conn)
                    .await
                    .map_err(unavailable)?;
                tracing::info!(consumer = %consumer.name, idle_ms = consumer.idle_ms, "removed a stale worker from the queue's consumer group");
                gone.push(consumer.name);
            }
        }
        Ok(gone)
    }

    /// [`prune_consumers`](Self::prune_consumers) if this process has not for a while.
    pub(crate) async fn prune_consumers_now_and_then(&self) {
        let now = now_ms();
        let last = self.inner.last_prune_ms.load(Ordering::Relaxed);
        if now < last + PRUNE_EVERY_MS
            || self.inner.last_prune_ms.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_err()
        {
            return;
        }
        if let Err(e) = self.prune_consumers().await {
            tracing::debug!(error = %e, "could not look for stale consumers");
        }
    }
}

struct Consumer {
    name: String,
    pending: i64,
    idle_ms: i64,
}

/// The consumers of an `XINFO CONSUMERS` reply (RESP2 arrays or RESP3 maps of fields).
fn consumers(reply: redis::Value) -> Vec<Consumer> {
    let redis::Value::Array(items) = reply else { return Vec::new() };
    items
        .into_iter()
        .filter_map(|item| {
            let pairs: Vec<(redis::Value, redis::Value)> = match item {
                redis::Value::Array(flat) => {
                    let mut it = flat.into_iter();
                    std::iter::from_fn(|| Some((it.next()?, it.next()?))).collect()
                }
                redis::Value::Map(map) => map,
                _ => return None,
            };
            let mut c = Consumer { name: String::new(), pending: 0, idle_ms: 0 };
            for (key, value) in pairs {
                match (key, value) {
                    (redis::Value::BulkString(k), redis::Value::BulkString(v)) if k == b"name" => {
                        c.name = String::from_utf8_lossy(&v).into_owned();
                    }
                    (redis::Value::BulkString(k), redis::Value::Int(v)) if k == b"pending" => c.pending = v,
                    (redis::Value::BulkString(k), redis::Value::Int(v)) if k == b"idle" => c.idle_ms = v,
                    _ => {}
                }
            }
            (!c.name.is_empty()).then_some(c)
        })
        .collect()
}
