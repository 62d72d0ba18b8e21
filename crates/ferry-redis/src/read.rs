//! Reading records: the `GET`s that arrive while one is out go together as one `MGET`
//! (group commit, [`crate::batch`]).

use crate::batch::Flush;
use crate::{decode, unavailable, RedisBackend};
use async_trait::async_trait;
use ferry_tasks::{BackendError, TaskRecord};

/// Record keys of one lane (today: the deployment's keys), read with one `MGET`.
#[async_trait]
impl Flush<String, String, Option<String>> for RedisBackend {
    async fn flush(&self, _lane: &String, keys: &[String]) -> Result<Vec<Option<String>>, BackendError> {
        redis::cmd("MGET").arg(keys).query_async(&mut self.conn()).await.map_err(unavailable)
    }
}

impl RedisBackend {
    /// A task's record, as stored now.
    pub(crate) async fn get_once(&self, task_id: &str) -> Result<Option<TaskRecord>, BackendError> {
        let k = &self.inner.keys;
        let raw = self.inner.reads.run(self, k.prefix.clone(), k.task(task_id)).await?;
        raw.as_deref().map(decode).transpose()
    }
}
