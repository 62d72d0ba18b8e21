//! Submitting a task: one try, through the lane's group commit ([`crate::batch`]).

use crate::batch::Flush;
use crate::partitions::{limits_for, owner_limits_whole};
use crate::{encode, indexed, unavailable, RedisBackend};
use async_trait::async_trait;
use ferry_tasks::{BackendError, Job, TaskRecord, Usage};

/// One submission, as the submit script takes it (see [`crate::scripts::submit`]).
pub(crate) struct SubmitItem {
    key: String,
    owner_index: String,
    record: String,
    id: String,
    job: String,
    account: String,
    /// The owner when the task goes into its owner's index, else empty.
    owner: String,
    bytes: usize,
}

/// The lane of a submission: its partition, and whether the per-client limits apply whole
/// there ([`owner_limits_whole`]), so the tasks of one call share their limits.
pub(crate) type SubmitLane = (usize, bool);

/// Submissions of one lane, in one script call.
#[async_trait]
impl Flush<SubmitLane, SubmitItem, Vec<i64>> for RedisBackend {
    async fn flush(&self, lane: &SubmitLane, items: &[SubmitItem]) -> Result<Vec<Vec<i64>>, BackendError> {
        let parts = &self.inner.parts;
        let k = parts.keys(lane.0);
        let limits = &limits_for(&self.inner.config.limits, parts.len(), lane.1);
        let mut invocation = self.inner.submit.prepare_invoke();
        invocation.key(&k.jobs).key(&k.seq).key(&k.live).key(&k.all);
        invocation.arg(k.task("")).arg(limits.max_live).arg(limits.max_live_per_owner);
        invocation.arg(limits.max_live_bytes).arg(limits.max_live_bytes_per_owner).arg(limits.max_argument_bytes);
        invocation.arg(&k.events);
        for i in items {
            invocation.key(&i.key).key(&i.owner_index);
            invocation.arg(&i.record).arg(&i.id).arg(&i.job).arg(&i.account).arg(&i.owner).arg(i.bytes);
        }
        invocation.invoke_async(&mut self.conn()).await.map_err(unavailable)
    }
}

impl RedisBackend {
    /// Submit once: admitted, a duplicate, or refused by a limit (worded as the memory engine does).
    pub(crate) async fn submit_once(&self, mut record: TaskRecord, job: &Job) -> Result<(), BackendError> {
        let parts = &self.inner.parts;
        let lane = (parts.of_task(&record.id), owner_limits_whole(&record));
        let k = parts.keys(lane.0);
        let job = encode(job)?;
        record.argument_bytes = job.len();
        let item = SubmitItem {
            key: k.task(&record.id),
            owner_index: k.owner(&record.owner),
            record: encode(&record)?,
            id: record.id.clone(),
            job,
            account: record.account().to_string(),
            owner: if indexed(&record) { record.owner.clone() } else { String::new() },
            bytes: record.argument_bytes,
        };
        let reply = self.inner.submits.run(self, lane, item).await?;
        match reply.as_slice() {
            [1] => Ok(()),
            [0] => Err(BackendError::Duplicate(record.id)),
            [-1, own_n, own_b, all_n, all_b] => {
                // The limits the script applied (this partition's), to word the refusal.
                let limits = limits_for(&self.inner.config.limits, parts.len(), lane.1);
                let usage = |n: i64, b: i64| Usage { live: n.max(0) as usize, bytes: b.max(0) as usize };
                limits.admit(usage(*own_n, *own_b), usage(*all_n, *all_b), record.argument_bytes)?;
                Err(BackendError::Full("the limits changed while the task was submitted; try again".into()))
            }
            other => Err(BackendError::Corrupt(format!("unexpected submit reply {other:?}"))),
        }
    }
}
