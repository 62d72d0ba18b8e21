//! The task-protocol suites (Form A, Form B, input_required, limits, pacing) on the Redis backend (a Redis found on 127.0.0.1:6379 or started for the run).
//! `tasks_memory.rs` runs the very same suites on the embedded engine.

mod common;

/// The backend these suites run on.
const BACKEND: common::Backend = common::Backend::Redis;

#[path = "suites/form_a.rs"]
mod form_a;
#[path = "suites/form_b.rs"]
mod form_b;
#[path = "suites/input_required.rs"]
mod input_required;
#[path = "suites/jobs.rs"]
mod jobs;
#[path = "suites/limits.rs"]
mod limits;
#[path = "suites/pacing.rs"]
mod pacing;
