//! The exactly-once consume-transform-produce loop (`eos`) with its dead letters and keyed state
//! (`state`: changelog topics and their local copies), and the process
//! lifecycle every long-running command shares: service start and stop, shutdown on SIGTERM/SIGINT,
//! readiness and the ops endpoints (`/metrics`, `/healthz`, `/readyz`), logging and Kafka client
//! settings.

pub mod admin;
pub mod config;
pub mod dead_letter;
pub mod deployment;
pub mod eos;
pub mod health;
pub mod kafka;
pub mod logging;
pub mod ops;
pub mod partitioner;
pub mod service;
pub mod shutdown;
pub mod state;
