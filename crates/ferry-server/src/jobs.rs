//! Durable background work a handler starts: jobs.
//!
//! A job is a function registered with [`ServerBuilder::job`](crate::ServerBuilder::job),
//! written like a tool ([`ToolDef`](crate::ToolDef) or `#[tool]`) but never listed to clients nor
//! callable by them. A handler (or any code holding the [`Server`](crate::Server))
//! enqueues it with arguments: [`Context::jobs`](crate::Context::jobs) →
//! [`Jobs::enqueue`]. It then runs on the task engine like a task: on any worker of
//! the deployment (a `ferry worker` on Redis included), at least once (a worker that
//! dies hands it to another), with the definition's retries, timeout and concurrency,
//! optionally after a delay, and at most once at a time per idempotency key. Unlike
//! `tokio::spawn`, nothing is lost when the process that enqueued it stops.
//!
//! ```
//! use ferry_server::{Args, Context, Server, ToolDef, ToolError};
//! use std::time::Duration;
//!
//! #[derive(serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
//! struct Receipt { order: u64 }
//!
//! let server = Server::builder("shop", "1")
//!     .job(ToolDef::new("send_receipt").retries(3).handler(|Args(r): Args<Receipt>| async move {
//!         format!("sent receipt for order {}", r.order) // mail it here
//!     }))
//!     .tool(ToolDef::new("buy").handler(|cx: Context| async move {
//!         let id = cx.jobs().enqueue("send_receipt", Receipt { order: 7 })
//!             .delay(Duration::from_secs(60))
//!             .key("receipt-7") // enqueued twice, runs once
//!             .await
//!             .map_err(|e| ToolError::new(e.to_string()))?;
//!         Ok::<_, ToolError>(format!("bought; receipt job {id}"))
//!     }))
//!     .build()
//!     .unwrap();
//! ```

use crate::server::Shared;
use ferry_protocol::time_fmt::now_ms;
use ferry_tasks::{BackendError, Job, TaskRecord};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// The job kind of the task engine (next to `tools/call`, `prompts/get`, `resources/read`).
pub(crate) const JOB_KIND: &str = "jobs/run";

/// Who owns jobs in the task store: no client can see them.
pub(crate) const JOB_OWNER: &str = "server:jobs";

/// Why a job could not be enqueued.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// No job of that name was registered with `ServerBuilder::job`.
    #[error("no job named '{0}' is registered (ServerBuilder::job)")]
    Unknown(String),
    /// The arguments do not serialize to a JSON object.
    #[error("the arguments of job '{name}' must serialize to a JSON object: {reason}")]
    Arguments {
        /// The job.
        name: String,
        /// What went wrong.
        reason: String,
    },
    /// The task store refused it (full, quota of the server's jobs, unreachable).
    #[error("the task store refused job '{name}': {source}")]
    Store {
        /// The job.
        name: String,
        /// The store's error.
        source: BackendError,
    },
}

/// Enqueue and look up jobs; from [`Context::jobs`](crate::Context::jobs) or
/// [`Server::jobs`](crate::Server::jobs).
#[derive(Clone)]
pub struct Jobs {
    pub(crate) shared: Arc<Shared>,
}

impl Jobs {
    /// Start enqueuing the job `name` with `arguments` (a struct or map, serialized);
    /// set options on the result and `.await` it for the job id.
    pub fn enqueue(&self, name: &str, arguments: impl Serialize) -> Enqueue {
        let arguments = serde_json::to_value(arguments).map_err(|e| e.to_string());
        Enqueue { jobs: self.clone(), name: name.to_string(), arguments, delay: None, key: None }
    }

    /// A job's record (status, outcome) while the store keeps it (its TTL after it ends).
    pub async fn get(&self, id: &str) -> Result<Option<TaskRecord>, BackendError> {
        Ok(self.shared.backend.get(id).await?.filter(|r| r.owner == JOB_OWNER))
    }
}

/// A job about to be enqueued: `.delay(..)`, `.key(..)`, then `.await` it.
#[must_use = "a job is enqueued only when awaited"]
pub struct Enqueue {
    jobs: Jobs,
    name: String,
    arguments: Result<Value, String>,
    delay: Option<Duration>,
    key: Option<String>,
}

impl Enqueue {
    /// Start no earlier than `delay` from now.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// Idempotency key: while a job enqueued under the same key (and name) is kept by
    /// the store (queued, running, or ended within its TTL), enqueuing again returns its
    /// id instead of adding another. Atomic on both engines, across processes.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    async fn send(self) -> Result<String, JobError> {
        let shared = &self.jobs.shared;
        let name = self.name;
        if shared.components().job(&name).is_none() {
            return Err(JobError::Unknown(name));
        }
        let arguments = match self.arguments {
            Ok(v @ Value::Object(_)) => v,
            Ok(other) => return Err(JobError::Arguments { name, reason: format!("got {other}") }),
            Err(reason) => return Err(JobError::Arguments { name, reason }),
        };
        let now = now_ms();
        let mut rec = TaskRecord::new(JOB_OWNER.to_string(), JOB_KIND, &name, now);
        rec.id = shared.backend.new_task_id(JOB_OWNER); // the backend may place tasks by id
        if let Some(key) = &self.key {
            // The same key (for the same job) names the same task: the store refuses the second.
            let digest = Sha256::digest(format!("{name}\n{key}").as_bytes());
            rec.id = format!("job-{}", digest.iter().take(16).map(|b| format!("{b:02x}")).collect::<String>());
        }
        rec.ttl_ms = Some(shared.config.default_ttl_ms);
        let not_before = self.delay.filter(|d| !d.is_zero()).map(|d| now + d.as_millis() as u64);
        if let Some(at) = not_before {
            rec.status_message = Some(format!("scheduled to start at {}", ferry_protocol::time_fmt::rfc3339(at)));
        }
        let job = Job {
            task_id: rec.id.clone(),
            kind: JOB_KIND.into(),
            name: name.clone(),
            arguments,
            context: json!({}),
            attempt: 1,
            not_before,
            trace: ferry_tasks::trace::current(),
        };
        match shared.backend.submit(rec.clone(), job).await {
            Ok(()) => {
                ferry_tasks::metrics::task_created(&crate::metrics::component_label(
                    &shared.components(),
                    JOB_KIND,
                    &name,
                ));
                tracing::debug!(job_id = %rec.id, job = %name, "job enqueued");
                Ok(rec.id)
            }
            Err(BackendError::Duplicate(id)) if self.key.is_some() => Ok(id),
            Err(source) => Err(JobError::Store { name, source }),
        }
    }
}

impl IntoFuture for Enqueue {
    type Output = Result<String, JobError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}
