//! The HTTP side: the REST API and the provider webhook receiver (`api`), with its pure parts
//! (`validation`, `idempotency`, `webhook_signature`), and the operations endpoints every service
//! serves (`ops`).

pub mod api;
pub mod idempotency;
pub mod ops;
pub mod validation;
pub mod webhook_signature;
