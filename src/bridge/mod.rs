//! The HTTP side: the operations endpoints every service serves (and, later, the REST API and the
//! provider webhook receiver).

pub mod idempotency;
pub mod ops;
pub mod validation;
pub mod webhook_signature;
