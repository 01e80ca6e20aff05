//! Process lifecycle shared by every long-running command: clock, shutdown on SIGTERM/SIGINT,
//! readiness, and logging. (The exactly-once consume-transform-produce loop joins it here.)

pub mod clock;
pub mod dead_letter;
pub mod eos;
pub mod health;
pub mod kafka;
pub mod logging;
pub mod service;
pub mod shutdown;
