//! Operator commands: `ferry status` and `ferry admin tasks ...`, reading a deployment's
//! Redis directly (`--redis URL --prefix P`) or a server's admin listener
//! (`--admin-url http://HOST:PORT --admin-token T`); and the admin listener of
//! `ferry serve` (`--admin-addr`).
//!
//! These see every owner's tasks: they are for the people running the deployment, not
//! for MCP callers (whose `ferry tasks` shows only their own, through MCP).

mod format;
mod listener;
mod source;
mod status;
mod tasks;

pub use listener::{admin_token, AdminArgs};
pub use source::{Cancelled, Source, SourceArgs};
pub use status::{status, StatusArgs};
pub use tasks::{admin, AdminCommand, ListArgs, Statuses, TaskArgs, TasksCommand};
