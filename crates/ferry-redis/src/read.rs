//! Reading records: the `GET`s that arrive while one is out go together as one `MGET`
//! (group commit, [`crate::batch`]).

use crate::batch::Flush;
use crate::{decode, unavailable, RedisBackend};
use async_trait::async_trait;
use ferry_tasks::{BackendError, TaskRecord};

/// Record keys of one lane (a partition: one slot), read with one `MGET`.
#[async_trait]
impl Flush<usize, String, Option<String>> for RedisBackend {
    async fn flush(&self, _lane: &usize, keys: &[String]) -> Result<Vec<Option<String>>, BackendError> {
        redis::cmd("MGET").arg(keys).query_async(&mut self.conn()).await.map_err(unavailable)
    }
}

impl RedisBackend {
    /// A task's record, as stored now.
    pub(crate) async fn get_once(&self, task_id: &str) -> Result<Option<TaskRecord>, BackendError> {
        let p = self.inner.parts.of_task(task_id);
        let raw = self.inner.reads.run(self, p, self.inner.parts.keys(p).task(task_id)).await?;
        raw.as_deref().map(decode).transpose()
    }
}
