//! The Redis backend passes the same `Backend` contract suite as the in-memory one.

mod common;

ferry_tasks::backend_contract_tests!(common::backend().await);
