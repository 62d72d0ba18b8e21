//! Submitting a task: one try, through the lane's group commit ([`crate::batch`]).

use crate::batch::Flush;
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

/// Submissions of one lane (today: the deployment's keys), in one script call.
#[async_trait]
impl Flush<String, SubmitItem, Vec<i64>> for RedisBackend {
    async fn flush(&self, _lane: &String, items: &[SubmitItem]) -> Result<Vec<Vec<i64>>, BackendError> {
        let k = &self.inner.keys;
        let limits = &self.inner.config.limits;
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
        let k = &self.inner.keys;
        let limits = &self.inner.config.limits;
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
        let reply = self.inner.submits.run(self, k.prefix.clone(), item).await?;
        match reply.as_slice() {
            [1] => Ok(()),
            [0] => Err(BackendError::Duplicate(record.id)),
            [-1, own_n, own_b, all_n, all_b] => {
                let usage = |n: i64, b: i64| Usage { live: n.max(0) as usize, bytes: b.max(0) as usize };
                limits.admit(usage(*own_n, *own_b), usage(*all_n, *all_b), record.argument_bytes)?;
                Err(BackendError::Full("the limits changed while the task was submitted; try again".into()))
            }
            other => Err(BackendError::Corrupt(format!("unexpected submit reply {other:?}"))),
        }
    }
}
