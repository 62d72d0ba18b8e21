//! Ferry's task engine.
//!
//! A *task* is a request (`tools/call`, `prompts/get`, `resources/read`) that
//! runs in the background: the caller gets an id at once and fetches the result
//! later. This crate knows nothing of the MCP wire: it stores a
//! protocol-neutral [`TaskRecord`] and runs [`Job`]s. The server turns records
//! into Form A or Form B JSON.
//!
//! The pieces:
//! * [`Backend`] — where tasks live and how work is handed out: submit, claim,
//!   heartbeat, update, complete, cancel, get, list, and a stream of
//!   [`TaskEvent`]s. It is shaped so that a shared store (Redis Streams) can
//!   implement it as well as process memory.
//! * [`MemoryBackend`] — the embedded default: zero setup, bounded, with TTLs.
//! * [`Worker`] — claims jobs from any backend, runs them through an
//!   [`Executor`] under a concurrency limit, heartbeats them, enforces timeouts,
//!   retries and cancellation, and records the outcome. The same loop runs
//!   inside a server process and inside a `ferry worker` process.

mod backend;
mod cancels;
pub mod inspect;
mod limits;
mod memory;
pub mod metrics;
mod record;
pub mod sessions;
mod shrink;
pub mod trace;
mod worker;

#[cfg(feature = "testkit")]
pub mod testkit;

pub use backend::{Backend, BackendError, Claimed, Notice, TaskEvent, TaskPage, TaskUpdate};
pub use cancels::CancelReceiver;
pub use inspect::{EngineStats, TaskDetail, TaskFilter, WorkerInfo};
pub use limits::{StoreUsage, TaskLimits, Usage};
pub use memory::{MemoryBackend, MemoryConfig};
pub use record::{new_task_id, Job, Outcome, ProgressState, TaskRecord, ANONYMOUS_OWNER};
pub use sessions::{MemorySessionStore, SessionChange, SessionState, SessionStore};
pub use worker::{Executor, InputError, TaskRuntime, Worker, WorkerConfig, WorkerHandle};

pub use ferry_protocol::TaskStatus;
