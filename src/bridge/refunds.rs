//! Refunds over REST.
//!
//! - `POST /v1/refunds` (`payment_intent`, `amount` optional for everything still refundable,
//!   `reason`, `metadata`; `Idempotency-Key`): one `RefundRequest` on `refunds.requests`, answered
//!   `202 Accepted`. The payment processor decides: it checks the refundable amount and reserves it
//!   in one step, so concurrent refunds never exceed the capture.
//! - `POST /v1/refunds/{id}/approve|reject` (a key with the `approver` role, never the creating key)
//!   and `/cancel` (before the provider is called).
//! - `GET /v1/refunds/{id}`, `GET /v1/payment_intents/{id}/refunds`: the refund views.

use super::config::Role;
use super::decisions::{decision, not_the_creator, reason, Decision};
use super::errors::{err, invalid, ok_json, store_unavailable, ApiError};
use super::idempotency;
use super::reads::{owned, payment_id_of};
use super::replay::{run_once, Keyed};
use super::request::{authorized, caller, parse_json};
use super::shared::{Bridge, Caller};
use super::validation;
use crate::domain::clock::now_millis;
use crate::events::refund::REFUND_TEXT_LEN_MAX;
use crate::events::refund::{RefundAction, RefundRequest, RefundStatus};
use crate::events::{from_symbol, symbol, TimestampMillis};
use crate::store::refunds::RefundRow;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateIn {
    payment_intent: String,
    amount: Option<i64>,
    reason: Option<String>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

fn reason_ok(reason: Option<&String>) -> Result<(), ApiError> {
    match reason {
        Some(r) if r.len() > REFUND_TEXT_LEN_MAX || r.chars().any(char::is_control) => {
            Err(invalid(
                "reason_invalid",
                "reason",
                format!("at most {REFUND_TEXT_LEN_MAX} characters, no control characters"),
            ))
        }
        _ => Ok(()),
    }
}

fn accepted(r: &RefundRequest) -> (StatusCode, Vec<u8>) {
    let body = json!({
        "id": r.refund_id,
        "object": "refund",
        "payment_intent": r.payment_id,
        "accepted": {"action": symbol(&r.action).to_ascii_lowercase()},
        "status_url": format!("/v1/refunds/{}", r.refund_id),
    });
    (
        StatusCode::ACCEPTED,
        serde_json::to_vec(&body).unwrap_or_default(),
    )
}

fn request(
    who: &Caller,
    refund_id: String,
    payment_id: String,
    currency: String,
    action: RefundAction,
    key: Option<&str>,
) -> RefundRequest {
    RefundRequest {
        refund_id,
        payment_id,
        merchant_id: who.merchant_id.to_string(),
        amount_minor: None,
        currency,
        reason: None,
        requested_by: who.key_id.clone(),
        idempotency_key: key.map(str::to_owned),
        requested_at: TimestampMillis(now_millis()),
        action,
        metadata: BTreeMap::new(),
    }
}

async fn create_request(
    b: &Bridge,
    who: &Caller,
    input: CreateIn,
    key: Option<&str>,
) -> Result<RefundRequest, ApiError> {
    let payment_id = payment_id_of(&input.payment_intent)
        .map_err(|_| not_found("payment_not_found", "no such payment intent"))?;
    owned(b, &payment_id, &who.merchant_id).await?;
    let payment = b
        .tables
        .payments
        .get(payment_id.as_str())
        .await
        .map_err(store_unavailable)?;
    let Some(payment) = payment else {
        return Err(err(
            StatusCode::CONFLICT,
            "payment_not_ready",
            "the payment intent has not been applied yet: retry shortly",
        ));
    };
    if let Some(a) = input.amount {
        validation::amount(a, &payment.currency, &b.limits)?;
    }
    reason_ok(input.reason.as_ref())?;
    validation::metadata(&input.metadata, &b.limits)?;
    let mut r = request(
        who,
        idempotency::refund_id(&who.merchant_id, key),
        payment_id.to_string(),
        payment.currency,
        RefundAction::Create,
        key,
    );
    r.amount_minor = input.amount;
    r.reason = input.reason;
    r.metadata = input.metadata;
    Ok(r)
}

pub async fn create(State(b): State<Arc<Bridge>>, headers: HeaderMap, body: Bytes) -> Response {
    let route = "/v1/refunds";
    let (who, key) = match authorized(&b, &headers, &body, Role::Write) {
        Ok(c) => c,
        Err(e) => return e.respond(route),
    };
    let req = Keyed::post(route, &who.merchant_id, key.as_deref(), route, &body);
    run_once(&b, req, || async {
        let input: CreateIn = parse_json(&body)?;
        let r = create_request(&b, &who, input, key.as_deref()).await?;
        b.tables
            .refunds
            .set_owner(&r.refund_id, &r.payment_id, &r.merchant_id)
            .await
            .map_err(store_unavailable)?;
        b.publish(&b.topics.refunds, &r).await?;
        Ok(accepted(&r))
    })
    .await
}

fn not_found(code: &'static str, message: &'static str) -> ApiError {
    err(StatusCode::NOT_FOUND, code, message)
}

/// The payment a refund of the caller's merchant belongs to; another merchant's refund is
/// indistinguishable from a missing one.
async fn owned_refund(b: &Bridge, who: &Caller, refund_id: &str) -> Result<String, ApiError> {
    crate::domain::ids::validate(refund_id)
        .map_err(|_| not_found("refund_not_found", "no such refund"))?;
    match b
        .tables
        .refunds
        .owner(refund_id)
        .await
        .map_err(store_unavailable)?
    {
        Some((payment, merchant)) if who.merchant_id.as_str() == merchant => Ok(payment),
        _ => Err(not_found("refund_not_found", "no such refund")),
    }
}

pub async fn decide(
    State(b): State<Arc<Bridge>>,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let route = "/v1/refunds/{id}/{action}";
    let (d, who, key) = match decision(&b, &headers, &body, &action) {
        Ok(x) => x,
        Err(e) => return e.respond(route),
    };
    let req = Keyed::post(
        route,
        &who.merchant_id,
        key.as_deref(),
        &format!("/v1/refunds/{id}/{}", d.name()),
        &body,
    );
    run_once(&b, req, || async {
        let why = reason(&body)?;
        let payment_id = owned_refund(&b, &who, &id).await?;
        let row = b
            .tables
            .refunds
            .get(&payment_id, &id)
            .await
            .map_err(store_unavailable)?;
        not_the_creator(d, &who, row.as_ref().and_then(|r| r.created_by.as_deref()))?;
        let action = match d {
            Decision::Approve => RefundAction::Approve,
            Decision::Reject => RefundAction::Reject,
            Decision::Cancel => RefundAction::Cancel,
        };
        let currency = row.and_then(|r| r.currency).unwrap_or_default();
        let mut r = request(
            &who,
            id.clone(),
            payment_id,
            currency,
            action,
            key.as_deref(),
        );
        r.reason = why;
        b.publish(&b.topics.refunds, &r).await?;
        Ok(accepted(&r))
    })
    .await
}

fn view(r: &RefundRow) -> serde_json::Value {
    let status = r
        .status
        .as_deref()
        .and_then(from_symbol::<RefundStatus>)
        .map_or("accepted", RefundStatus::api_name);
    let metadata: serde_json::Value = r
        .metadata_json
        .as_deref()
        .and_then(|m| serde_json::from_str(m).ok())
        .unwrap_or_else(|| json!({}));
    json!({
        "id": r.refund_id, "object": "refund", "payment_intent": r.payment_id,
        "status": status, "amount": r.amount_minor, "currency": r.currency,
        "reason": r.reason, "reason_code": r.reason_code,
        "created_by": r.created_by, "decided_by": r.decided_by,
        "metadata": metadata, "sequence": r.sequence, "updated_at_ms": r.updated_at.map(|t| t.0),
    })
}

pub async fn read(
    State(b): State<Arc<Bridge>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let who = caller(&b, &headers)?;
        let payment_id = owned_refund(&b, &who, &id).await?;
        let row = b.tables.refunds.get(&payment_id, &id).await.map_err(store_unavailable)?;
        Ok::<_, ApiError>(match row {
            Some(r) => view(&r),
            // Accepted but not applied yet.
            None => json!({"id": id, "object": "refund", "payment_intent": payment_id, "status": "accepted"}),
        })
    }
    .await;
    ok_json("/v1/refunds/{id}", result)
}

pub async fn list(
    State(b): State<Arc<Bridge>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let who = caller(&b, &headers)?;
        let payment_id = payment_id_of(&id)?;
        owned(&b, &payment_id, &who.merchant_id).await?;
        let rows = b
            .tables
            .refunds
            .list(payment_id.as_str())
            .await
            .map_err(store_unavailable)?;
        let data: Vec<_> = rows.iter().map(view).collect();
        Ok::<_, ApiError>(json!({"object": "list", "payment_intent": id, "data": data}))
    }
    .await;
    ok_json("/v1/payment_intents/{id}/refunds", result)
}
