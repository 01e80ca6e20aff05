//! The routes of the REST API and the provider webhook receiver, each to its handler. Every refusal
//! is a 4xx with `{"error": {"code", "field", "message"}}` ([`super::errors`]), the framework's own
//! included.

use super::shared::Bridge;
use super::{beneficiaries, intents, payout_batches, payouts, reads, refunds, webhooks};
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;

pub fn router(b: Arc<Bridge>) -> Router {
    let limit = b.config.body_bytes_max;
    Router::new()
        .route("/v1/payment_intents", post(intents::create))
        .route("/v1/payment_intents/{id}", get(reads::read))
        .route("/v1/payment_intents/{id}/events", get(reads::events))
        .route("/v1/payment_intents/{id}/refunds", get(refunds::list))
        .route("/v1/payment_intents/{id}/{action}", post(intents::act))
        .route("/v1/refunds", post(refunds::create))
        .route("/v1/refunds/{id}", get(refunds::read))
        .route("/v1/refunds/{id}/{action}", post(refunds::decide))
        .route("/v1/beneficiaries", post(beneficiaries::create))
        .route(
            "/v1/beneficiaries/{id}",
            get(beneficiaries::read).post(beneficiaries::update),
        )
        .route("/v1/beneficiaries/{id}/verify", post(beneficiaries::verify))
        .route("/v1/payouts", post(payouts::create))
        .route("/v1/payouts/{id}", get(payouts::read))
        .route("/v1/payouts/{id}/{action}", post(payouts::decide))
        .route("/v1/payout_batches", post(payout_batches::create))
        .route("/v1/payout_batches/{id}", get(payout_batches::read))
        .route("/v1/balance", get(payouts::balance))
        .route("/webhooks/{provider}", post(webhooks::receive))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(b)
        .layer(axum::middleware::map_response(move |r| {
            super::errors::json_refusals(limit, r)
        }))
}
