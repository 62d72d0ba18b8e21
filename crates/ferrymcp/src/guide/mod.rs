//! The guide: Ferry from a first server to a deployment, one page a step.
//!
//! Every example on these pages is compiled by `cargo test` (those that need a
//! running server or Redis are only compiled). Read them in order the first time:
//!
//! 1. [`_01_first_server`]: tools, prompts and resources from plain functions; serving them.
//! 2. [`_02_injection`]: what a handler can take besides the caller's arguments.
//! 3. [`_03_tasks`]: call now, fetch later; cancellation, retries, input while running, jobs.
//! 4. [`_04_redis`]: one binary, two roles: front ends and workers sharing Redis.
//! 5. [`_05_client`]: calling servers, and following tasks, from Rust.
//! 6. [`_06_testing`]: testing your server through the protocol.
//! 7. [`_07_limits`]: what a caller can make the server hold, and the bounds on it.

pub mod _01_first_server {
    #![doc = include_str!("01_first_server.md")]
}
pub mod _02_injection {
    #![doc = include_str!("02_injection.md")]
}
pub mod _03_tasks {
    #![doc = include_str!("03_tasks.md")]
}
pub mod _04_redis {
    #![doc = include_str!("04_redis.md")]
}
pub mod _05_client {
    #![doc = include_str!("05_client.md")]
}
pub mod _06_testing {
    #![doc = include_str!("06_testing.md")]
}
pub mod _07_limits {
    #![doc = include_str!("07_limits.md")]
}
