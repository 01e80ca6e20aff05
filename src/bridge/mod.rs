//! The HTTP side: the REST API (`api` with its shared request checks, `intents` for payment intent
//! commands, `reads` for their state and trail, `replay` running each request once per
//! Idempotency-Key) and the provider webhook receiver (`webhooks`), with their pure parts
//! (`validation`, `idempotency`) and the refusal shape every route answers with (`errors`). Webhook
//! signatures are the connectors' (`connectors::webhook_signature`); the operations endpoints every
//! service serves are the runtime's (`runtime::ops`).

pub mod api;
pub mod beneficiaries;
pub mod config;
pub mod decisions;
pub mod errors;
pub mod idempotency;
pub mod intents;
pub mod payout_batches;
pub mod payouts;
pub mod reads;
pub mod refunds;
pub mod replay;
pub mod validation;
pub mod webhooks;
