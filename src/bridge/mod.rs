//! The HTTP side: the REST API (`api` with its shared request checks, `intents` for payment intents,
//! `replay` running each request once per Idempotency-Key) and the provider webhook receiver
//! (`webhooks`), with their pure parts (`validation`, `idempotency`, `webhook_signature`) and the
//! refusal shape every route answers with (`errors`). The operations endpoints every service serves
//! are the runtime's (`runtime::ops`).

pub mod api;
pub mod config;
pub mod errors;
pub mod idempotency;
pub mod intents;
pub mod replay;
pub mod validation;
pub mod webhooks;
