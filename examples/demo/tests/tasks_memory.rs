//! The task-protocol suites (Form A, Form B, input_required, limits, pacing) on the embedded engine.
//! `tasks_redis.rs` runs the very same suites on Redis.

mod common;

/// The backend these suites run on.
const BACKEND: common::Backend = common::Backend::Memory;

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
