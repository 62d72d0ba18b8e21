//! What a backend may hold, and how it is shared between callers.

use crate::backend::BackendError;
use crate::record::Outcome;
use ferry_protocol::ErrorObject;
use serde::Serialize;

/// Bounds on what the task store holds, per owner and in total; both engines apply them.
///
/// *Live* tasks (working or waiting for input) are never dropped: they count
/// against `max_live*` and `max_live_bytes*` (their arguments), and a submission
/// past a bound is refused ([`BackendError::Quota`] for one owner's share,
/// [`BackendError::Full`] for the whole store). *Ended* tasks are kept for their
/// TTL, but within `max_retained*` (count and result bytes): to make room the
/// oldest ended task of the owner holding the most is dropped first, so ended
/// tasks never cause a refusal and one busy owner cannot push out the results of
/// the others. (On Redis, ended tasks expire by TTL and Redis's own
/// `maxmemory-policy volatile-ttl` drops them early under memory pressure.)
///
/// The owner a task counts against is [`TaskRecord::account`](crate::TaskRecord::account):
/// the auth subject, else the session, else the client address of a stateless caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskLimits {
    /// Most live tasks in total. Default 10,000.
    pub max_live: usize,
    /// Most live tasks of one owner. Default 1,000.
    pub max_live_per_owner: usize,
    /// Most bytes of arguments held by live tasks in total. Default 256 MiB.
    pub max_live_bytes: usize,
    /// Most bytes of arguments held by one owner's live tasks. Default 64 MiB.
    pub max_live_bytes_per_owner: usize,
    /// Largest arguments of one task, bytes (JSON). Default 4 MiB.
    pub max_argument_bytes: usize,
    /// Largest result of one task, bytes (JSON); a larger one fails the task. Default 4 MiB.
    pub max_result_bytes: usize,
    /// Most jobs of one owner running at once (memory engine), so that one owner's long
    /// tasks leave workers for the others; raise it on a single-tenant server. Default 32.
    pub max_running_per_owner: usize,
    /// Most ended tasks kept (memory engine). Default 10,000.
    pub max_retained: usize,
    /// Most bytes of results kept by ended tasks (memory engine). Default 256 MiB.
    pub max_retained_bytes: usize,
    /// Most ended tasks kept for one owner (memory engine). Default 1,000.
    pub max_retained_per_owner: usize,
}

const MIB: usize = 1024 * 1024;

impl Default for TaskLimits {
    fn default() -> Self {
        Self {
            max_live: 10_000,
            max_live_per_owner: 1_000,
            max_live_bytes: 256 * MIB,
            max_live_bytes_per_owner: 64 * MIB,
            max_argument_bytes: 4 * MIB,
            max_result_bytes: 4 * MIB,
            max_running_per_owner: 32,
            max_retained: 10_000,
            max_retained_bytes: 256 * MIB,
            max_retained_per_owner: 1_000,
        }
    }
}

/// What a store holds, from its own accounting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreUsage {
    /// Unfinished tasks.
    pub live: usize,
    /// Bytes of their arguments.
    pub live_bytes: usize,
    /// Ended tasks kept for their TTL.
    pub ended: usize,
    /// Bytes of their results.
    pub ended_bytes: usize,
    /// Owners holding any task.
    pub owners: usize,
}

/// What is held by unfinished tasks: how many, and their argument bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Unfinished tasks.
    pub live: usize,
    /// Bytes of their arguments (JSON).
    pub bytes: usize,
}

impl TaskLimits {
    /// Whether one more live task of `bytes` argument bytes fits, given what the owner
    /// and everyone hold; the refusal says which bound and what to do.
    /// Each refusal is counted in `ferry_limit_refusals_total` (see [`crate::metrics::Limit`]).
    pub fn admit(&self, owner: Usage, total: Usage, bytes: usize) -> Result<(), BackendError> {
        let verdict = self.fits(owner, total, bytes);
        if let Err(e) = &verdict {
            use crate::metrics::{refused, Limit};
            match e {
                BackendError::TooLarge(_) => refused(Limit::TaskSize),
                BackendError::Quota(_) => refused(Limit::TasksPerClient),
                _ => refused(Limit::Tasks),
            }
        }
        verdict
    }

    fn fits(&self, owner: Usage, total: Usage, bytes: usize) -> Result<(), BackendError> {
        if bytes > self.max_argument_bytes {
            return Err(BackendError::TooLarge(format!(
                "the task's arguments take {bytes} bytes; at most {} are accepted",
                self.max_argument_bytes
            )));
        }
        if owner.live >= self.max_live_per_owner {
            return Err(BackendError::Quota(format!(
                "you have {} unfinished tasks, the most one client may have; wait for some to finish or cancel some",
                owner.live
            )));
        }
        if owner.bytes + bytes > self.max_live_bytes_per_owner {
            return Err(BackendError::Quota(format!(
                "your unfinished tasks hold {} bytes of arguments and this one {bytes}; one client may hold at most {}",
                owner.bytes, self.max_live_bytes_per_owner
            )));
        }
        if total.live >= self.max_live || total.bytes + bytes > self.max_live_bytes {
            return Err(BackendError::Full(format!(
                "the server holds {} unfinished tasks ({} bytes of arguments), its limit; try again later",
                total.live, total.bytes
            )));
        }
        Ok(())
    }
}

impl TaskLimits {
    /// The outcome to store: a result larger than `max_result_bytes` becomes an error
    /// saying so (the task fails visibly instead of holding it). Returns its size too.
    pub fn bound_outcome(&self, outcome: Outcome) -> (Outcome, usize) {
        let size = match &outcome {
            Outcome::Result { value, .. } => value.get().len(),
            Outcome::Error { error } => json_size(error),
        };
        if size <= self.max_result_bytes {
            return (outcome, size);
        }
        crate::metrics::refused(crate::metrics::Limit::TaskResultSize);
        let error = ErrorObject::internal(format!(
            "The result was {size} bytes, more than the {} a task may keep",
            self.max_result_bytes
        ));
        let size = json_size(&error);
        (Outcome::error(error), size)
    }
}

/// The size of a value as JSON, without building the text.
pub(crate) fn json_size<T: Serialize + ?Sized>(value: &T) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    match serde_json::to_writer(&mut count, value) {
        Ok(()) => count.0,
        Err(_) => usize::MAX,
    }
}
