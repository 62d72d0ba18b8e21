//! Settings of the Redis backend.

use ferry_tasks::TaskLimits;
use std::time::Duration;

/// Settings of the [`RedisBackend`].
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// Redis URL, e.g. `redis://127.0.0.1:6379/0`, or a Redis Cluster's:
    /// `redis+cluster://host:port,host:port,...` (see [`check_url`](crate::check_url)).
    pub url: String,
    /// Key prefix; deployments sharing a Redis must use different prefixes.
    pub prefix: String,
    /// A claimed job not heartbeated for this long is handed to another worker.
    pub redelivery_timeout: Duration,
    /// Capacity of the local event channel.
    pub event_capacity: usize,
    /// A worker (consumer) idle this long with no pending jobs is taken to be gone and is
    /// removed from the consumer group (a live one is re-added by its next read).
    pub stale_consumer_after: Duration,
    /// Bounds on unfinished tasks per owner and in total, and on one task's size
    /// (the retention bounds are the memory engine's; here Redis's TTLs and its
    /// `maxmemory-policy` govern ended tasks).
    pub limits: TaskLimits,
    /// How many partitions the deployment's keys are split into (1..=[`MAX_PARTITIONS`](crate::partitions::MAX_PARTITIONS);
    /// see [`partitions`](crate::partitions) in the crate docs), or `None` to take the
    /// number the deployment stored (1 when none is): for read-only tools.
    pub partitions: Option<usize>,
}

impl RedisConfig {
    /// Settings for `url` with prefix `ferry` and a 30 s redelivery timeout.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            prefix: "ferry".into(),
            redelivery_timeout: Duration::from_secs(30),
            event_capacity: 4096,
            stale_consumer_after: Duration::from_secs(600),
            limits: TaskLimits::default(),
            partitions: Some(1),
        }
    }
    /// Use another key prefix.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }
    /// Remove workers idle this long with no pending jobs from the consumer group.
    pub fn stale_consumer_after(mut self, after: Duration) -> Self {
        self.stale_consumer_after = after;
        self
    }
    /// Use other task limits.
    pub fn limits(mut self, limits: TaskLimits) -> Self {
        self.limits = limits;
        self
    }
    /// Split the keys into `n` partitions (default 1; every process of a deployment must
    /// use the same number: the first stores it, [`connect`](crate::RedisBackend::connect)
    /// refuses another). More than [`MAX_PARTITIONS`](crate::partitions::MAX_PARTITIONS) is refused too.
    pub fn partitions(mut self, n: usize) -> Self {
        self.partitions = Some(n);
        self
    }
    /// Use the number of partitions the deployment stored (for tools that only read).
    pub fn stored_partitions(mut self) -> Self {
        self.partitions = None;
        self
    }
    /// Use another redelivery timeout.
    pub fn redelivery_timeout(mut self, t: Duration) -> Self {
        self.redelivery_timeout = t;
        self
    }
}
