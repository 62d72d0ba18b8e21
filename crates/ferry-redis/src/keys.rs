//! Key names under a deployment's prefix.

/// The names of a deployment's keys (see the layout in the crate docs).
pub(crate) struct Keys {
    pub(crate) prefix: String,
    pub(crate) jobs: String,
    pub(crate) group: String,
    pub(crate) inflight: String,
    pub(crate) delayed: String,
    pub(crate) seq: String,
    pub(crate) live: String,
    pub(crate) events: String,
    pub(crate) notes: String,
    pub(crate) cancels: String,
    pub(crate) all: String,
    pub(crate) input: String,
    pub(crate) workers: String,
    pub(crate) workers_seen: String,
}

impl Keys {
    /// The keys under `prefix`.
    pub(crate) fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_string(),
            jobs: format!("{prefix}:jobs"),
            group: format!("{prefix}:workers"),
            inflight: format!("{prefix}:inflight"),
            delayed: format!("{prefix}:delayed"),
            seq: format!("{prefix}:seq"),
            live: format!("{prefix}:live"),
            events: format!("{prefix}:events"),
            notes: format!("{prefix}:notes"),
            cancels: format!("{prefix}:cancel"),
            all: format!("{prefix}:all"),
            input: format!("{prefix}:input"),
            workers: format!("{prefix}:worker-reports"),
            workers_seen: format!("{prefix}:worker-reports:seen"),
        }
    }

    /// A task's record.
    pub(crate) fn task(&self, id: &str) -> String {
        format!("{}:task:{id}", self.prefix)
    }
    /// An owner's index of tasks.
    pub(crate) fn owner(&self, owner: &str) -> String {
        format!("{}:owner:{owner}", self.prefix)
    }
    /// Ended tasks kept, of one outcome.
    pub(crate) fn kept(&self, status: &str) -> String {
        format!("{}:kept:{status}", self.prefix)
    }
    /// A shared HTTP session (a hash).
    pub(crate) fn session(&self, id: &str) -> String {
        format!("{}:session:{id}", self.prefix)
    }
    /// The sessions a client holds (a sorted set by expiry).
    pub(crate) fn session_client(&self, client: &str) -> String {
        format!("{}:session-client:{client}", self.prefix)
    }
    /// Tasks of one outcome that ended in `second` (epoch seconds).
    pub(crate) fn done(&self, status: &str, second: u64) -> String {
        format!("{}:done:{status}:{second}", self.prefix)
    }
}
