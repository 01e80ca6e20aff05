//! The HTTP side: the operations endpoints every service serves (and, later, the REST API and the
//! provider webhook receiver).

pub mod ops;
pub mod webhook_signature;
