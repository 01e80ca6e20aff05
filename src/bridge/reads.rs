//! `GET /v1/payment_intents/{id}` and `/{id}/events`: the latest state and the audit trail, only to
//! the merchant that owns the intent (ownership is written from the committed CREATE, whatever
//! entered it: REST or Kafka). Another merchant's intent is indistinguishable from a missing one.

use super::errors::{err, ok_json, store_unavailable, ApiError};
use super::request::merchant;
use super::shared::Bridge;
use crate::domain::ids::{MerchantId, PaymentId};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::json;
use std::sync::Arc;

fn not_found() -> ApiError {
    err(
        StatusCode::NOT_FOUND,
        "payment_not_found",
        "no such payment intent",
    )
}

/// The intent exists and belongs to `merchant_id`; another merchant's is indistinguishable from a
/// missing one.
pub(super) async fn owned(
    b: &Bridge,
    id: &PaymentId,
    merchant_id: &MerchantId,
) -> Result<(), ApiError> {
    match b.tables.bridge.owner(id.as_str()).await {
        Ok(Some(owner)) if merchant_id == owner.as_str() => Ok(()),
        Ok(_) => Err(not_found()),
        Err(e) => Err(store_unavailable(e)),
    }
}

/// The caller's API key names the merchant that owns the intent.
async fn owned_by_caller(b: &Bridge, headers: &HeaderMap, id: &str) -> Result<PaymentId, ApiError> {
    let merchant_id = merchant(b, headers)?;
    let id = payment_id_of(id)?;
    owned(b, &id, &merchant_id).await?;
    Ok(id)
}

/// The payment id a path names; one that cannot be an id names no intent.
pub(super) fn payment_id_of(raw: &str) -> Result<PaymentId, ApiError> {
    PaymentId::parse(raw).map_err(|_| not_found())
}

pub async fn read(
    State(b): State<Arc<Bridge>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        owned_by_caller(&b, &headers, &id).await?;
        let row = b.tables.payments.get(&id).await.map_err(store_unavailable)?;
        Ok::<_, ApiError>(match row {
            Some(r) => json!({
                "id": r.payment_id, "object": "payment_intent", "status": r.status.to_ascii_lowercase(),
                "amount": r.amount_minor, "amount_captured": r.amount_captured_minor, "currency": r.currency,
                "connector": r.connector, "reason_code": r.reason_code, "sequence": r.sequence,
            }),
            // Accepted but not applied yet: the payment processor has not seen the CREATE.
            None => json!({"id": id, "object": "payment_intent", "status": "accepted"}),
        })
    }
    .await;
    ok_json("/v1/payment_intents/{id}", result)
}

/// The audit trail: every transition, in sequence order.
pub async fn events(
    State(b): State<Arc<Bridge>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        owned_by_caller(&b, &headers, &id).await?;
        let rows = b
            .tables
            .payments
            .events(&id)
            .await
            .map_err(store_unavailable)?;
        let data: Vec<_> = rows
            .iter()
            .map(|e| {
                json!({
                    "sequence": e.sequence, "event_id": e.event_id,
                    "status": e.status.to_ascii_lowercase(), "attempt_id": e.attempt_id,
                    "attempt_status": e.attempt_status.as_deref().map(str::to_ascii_lowercase),
                    "amount": e.amount_minor, "amount_captured": e.amount_captured_minor,
                    "currency": e.currency, "connector": e.connector,
                    "reason_code": e.reason_code, "occurred_at_ms": e.occurred_at_ms,
                })
            })
            .collect();
        Ok::<_, ApiError>(json!({"object": "list", "payment_intent": id, "data": data}))
    }
    .await;
    ok_json("/v1/payment_intents/{id}/events", result)
}
