//! The HTTP side: the merchant REST API and the provider webhook receiver. Imports point one way:
//! `router` takes the handlers, the handlers take the plumbing, the plumbing takes nothing of theirs.
//!
//! - `router`: every route and the body limit.
//! - Handlers: `intents` (create and act on payment intents), `reads` (an intent, its events),
//!   `refunds`, `beneficiaries`, `payouts` (payouts and the balance), `payout_batches` (bulk
//!   payouts), `decisions` (approve, reject, cancel: refunds and payouts alike), `webhooks` (signed
//!   provider webhooks).
//! - Plumbing: `shared` (the [`shared::Bridge`]: configuration, API keys, provider secrets, its
//!   tables and topics in one place each, the producer), `request` (API key and role, the
//!   Idempotency-Key's form, content type, JSON, card numbers), `replay` with `idempotency` (each
//!   request run once per Idempotency-Key), `validation` (pure request checks), `errors` (the refusal
//!   shape every route answers with), `config`.
//!
//! Webhook signatures are the connectors' (`connectors::webhook_signature`); the operations endpoints
//! every service serves are the runtime's (`runtime::ops`).

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
pub mod request;
pub mod router;
pub mod shared;
pub mod validation;
pub mod webhooks;
