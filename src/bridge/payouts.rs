//! Payouts over REST.
//!
//! - `POST /v1/payouts` (`beneficiary_id`, `amount`, `currency`, `mode` IMPS/NEFT/RTGS/UPI,
//!   `purpose`, `reference`, `narration`; `Idempotency-Key`): one `PayoutRequest` on
//!   `payouts.requests`, answered `202 Accepted`. The payout processor checks the beneficiary's
//!   verification; the merchant's balance (one writer per merchant) reserves the amount.
//! - `POST /v1/payouts/{id}/approve|reject` (an `approver` key, never the creating one), `/cancel`.
//! - `GET /v1/payouts/{id}`, `GET /v1/balance`.
//!
//! Batches (`POST /v1/payout_batches`) are in `payout_batches`.

use super::config::Role;
use super::decisions::{decision, not_the_creator, reason, Decision};
use super::errors::{err, invalid, ok_json, store_unavailable, ApiError};
use super::idempotency;
use super::replay::{run_once, Keyed};
use super::request::{authorized, caller, parse_json};
use super::shared::{Bridge, Caller};
use super::validation;
use crate::domain::clock::now_millis;
use crate::events::payout::{
    PayoutAction, PayoutDecision, PayoutDecisionAction, PayoutPurpose, PayoutRail, PayoutRequest,
    PayoutStatus,
};
use crate::events::{from_symbol, symbol, TimestampMillis};
use crate::store::payouts::PayoutRow;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayoutIn {
    pub beneficiary_id: String,
    pub amount: i64,
    pub currency: String,
    pub mode: String,
    pub purpose: String,
    pub reference: Option<String>,
    pub narration: Option<String>,
}

fn rail(mode: &str) -> Result<PayoutRail, ApiError> {
    match mode.to_ascii_uppercase().as_str() {
        "IMPS" => Ok(PayoutRail::Imps),
        "NEFT" => Ok(PayoutRail::Neft),
        "RTGS" => Ok(PayoutRail::Rtgs),
        "UPI" => Ok(PayoutRail::Upi),
        _ => Err(invalid("mode_invalid", "mode", "IMPS, NEFT, RTGS or UPI")),
    }
}

fn purpose(p: &str) -> Result<PayoutPurpose, ApiError> {
    from_symbol::<PayoutPurpose>(&p.to_ascii_uppercase()).ok_or_else(|| {
        invalid(
            "purpose_invalid",
            "purpose",
            "vendor, salary, partner_commission, refund, cashback, settlement or other",
        )
    })
}

fn text_ok(field: &str, v: Option<&String>, len_max: usize) -> Result<(), ApiError> {
    match v {
        Some(t) if t.len() > len_max || t.chars().any(char::is_control) => Err(invalid(
            "text_invalid",
            field,
            format!("at most {len_max} printable characters"),
        )),
        _ => Ok(()),
    }
}

/// A payout request from one item, checked; `payout_id` and `batch_id` given by the caller.
pub fn request_of(
    b: &Bridge,
    who: &Caller,
    input: PayoutIn,
    payout_id: String,
    batch_id: Option<String>,
    key: Option<&str>,
) -> Result<PayoutRequest, ApiError> {
    let currency = validation::amount(input.amount, &input.currency, &b.limits)?;
    crate::domain::ids::validate(&input.beneficiary_id)
        .map_err(|e| invalid("beneficiary_invalid", "beneficiary_id", e.to_string()))?;
    text_ok("reference", input.reference.as_ref(), 40)?;
    text_ok("narration", input.narration.as_ref(), 30)?;
    Ok(PayoutRequest {
        payout_id,
        merchant_id: who.merchant_id.to_string(),
        batch_id,
        beneficiary_id: input.beneficiary_id,
        purpose: purpose(&input.purpose)?,
        amount_minor: input.amount,
        currency: currency.code().to_owned(),
        rail: rail(&input.mode)?,
        idempotency_key: key.map(str::to_owned),
        requested_at: TimestampMillis(now_millis()),
        action: PayoutAction::Create,
        requested_by: who.key_id.clone(),
        reference: input.reference,
        narration: input.narration,
        note: None,
    })
}

pub(super) fn payout_id(who: &Caller, key: Option<&str>, suffix: &str) -> String {
    match key {
        Some(k) => format!(
            "po_{}",
            idempotency::derived_id(&["payout", who.merchant_id.as_str(), k, suffix])
        ),
        None => format!("po_{}", uuid::Uuid::now_v7().simple()),
    }
}

fn accepted<A: serde::Serialize>(payout_id: &str, action: &A) -> (StatusCode, Vec<u8>) {
    let body = json!({
        "id": payout_id, "object": "payout",
        "accepted": {"action": symbol(action).to_ascii_lowercase()},
        "status_url": format!("/v1/payouts/{payout_id}"),
    });
    (
        StatusCode::ACCEPTED,
        serde_json::to_vec(&body).unwrap_or_default(),
    )
}

pub async fn create(State(b): State<Arc<Bridge>>, headers: HeaderMap, body: Bytes) -> Response {
    let route = "/v1/payouts";
    let (who, key) = match authorized(&b, &headers, &body, Role::Write) {
        Ok(c) => c,
        Err(e) => return e.respond(route),
    };
    let req = Keyed::post(route, &who.merchant_id, key.as_deref(), route, &body);
    run_once(&b, req, || async {
        let input: PayoutIn = parse_json(&body)?;
        let r = request_of(
            &b,
            &who,
            input,
            payout_id(&who, key.as_deref(), "single"),
            None,
            key.as_deref(),
        )?;
        b.tables
            .payouts
            .claim(&r.payout_id, &r.merchant_id)
            .await
            .map_err(store_unavailable)?;
        b.publish(&b.topics.payouts, &r).await?;
        Ok(accepted(&r.payout_id, &r.action))
    })
    .await
}

/// The caller's payout; another merchant's is indistinguishable from a missing one.
async fn owned(b: &Bridge, who: &Caller, id: &str) -> Result<PayoutRow, ApiError> {
    crate::domain::ids::validate(id)
        .map_err(|_| err(StatusCode::NOT_FOUND, "payout_not_found", "no such payout"))?;
    match b
        .tables
        .payouts
        .payout(id)
        .await
        .map_err(store_unavailable)?
    {
        Some(row) if row.merchant_id.as_deref() == Some(who.merchant_id.as_str()) => Ok(row),
        _ => Err(err(
            StatusCode::NOT_FOUND,
            "payout_not_found",
            "no such payout",
        )),
    }
}

pub async fn decide(
    State(b): State<Arc<Bridge>>,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let route = "/v1/payouts/{id}/{action}";
    let (d, who, key) = match decision(&b, &headers, &body, &action) {
        Ok(x) => x,
        Err(e) => return e.respond(route),
    };
    let req = Keyed::post(
        route,
        &who.merchant_id,
        key.as_deref(),
        &format!("/v1/payouts/{id}/{}", d.name()),
        &body,
    );
    run_once(&b, req, || async {
        let why = reason(&body)?;
        let row = owned(&b, &who, &id).await?;
        if row.beneficiary_id.is_none() || row.amount_minor.is_none() {
            return Err(err(
                StatusCode::CONFLICT,
                "payout_not_ready",
                "the payout has not been applied yet: retry shortly",
            ));
        }
        not_the_creator(d, &who, row.created_by.as_deref())?;
        let action = match d {
            Decision::Approve => PayoutDecisionAction::Approve,
            Decision::Reject => PayoutDecisionAction::Reject,
            Decision::Cancel => PayoutDecisionAction::Cancel,
        };
        // One decision id per (payout, action, Idempotency-Key): a replay of the same request is
        // the same decision; without a key each call is its own, and the machine refuses a second.
        let nonce = key
            .clone()
            .unwrap_or_else(|| uuid::Uuid::now_v7().simple().to_string());
        let decision = PayoutDecision {
            decision_id: format!(
                "dec_{}",
                idempotency::derived_id(&[
                    "payout decision",
                    who.merchant_id.as_str(),
                    &id,
                    d.name(),
                    &nonce
                ])
            ),
            payout_id: id.clone(),
            merchant_id: who.merchant_id.to_string(),
            action,
            decided_by: who.key_id.clone(),
            note: why,
            idempotency_key: key.clone(),
            decided_at: TimestampMillis(now_millis()),
        };
        b.publish(&b.topics.payout_decisions, &decision).await?;
        Ok(accepted(&decision.payout_id, &decision.action))
    })
    .await
}

pub(super) fn status_name(s: Option<&str>) -> &'static str {
    s.and_then(from_symbol::<PayoutStatus>)
        .map_or("accepted", PayoutStatus::api_name)
}

pub async fn read(
    State(b): State<Arc<Bridge>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let who = caller(&b, &headers)?;
        let r = owned(&b, &who, &id).await?;
        Ok::<_, ApiError>(json!({
            "id": r.payout_id, "object": "payout", "status": status_name(r.status.as_deref()),
            "amount": r.amount_minor, "currency": r.currency, "mode": r.rail,
            "beneficiary_id": r.beneficiary_id, "batch_id": r.batch_id, "utr": r.utr,
            "reason_code": r.reason_code, "created_by": r.created_by, "decided_by": r.decided_by,
            "sequence": r.sequence,
        }))
    }
    .await;
    ok_json("/v1/payouts/{id}", result)
}

pub async fn balance(State(b): State<Arc<Bridge>>, headers: HeaderMap) -> Response {
    let result = async {
        let who = caller(&b, &headers)?;
        let rows = b.tables.payouts.balances(who.merchant_id.as_str()).await.map_err(store_unavailable)?;
        let data: Vec<Value> = rows
            .iter()
            .map(|r| json!({"currency": r.currency, "available": r.available_minor, "reserved": r.reserved_minor, "queued": r.queued_minor, "updated_at_ms": r.updated_at_ms}))
            .collect();
        Ok::<_, ApiError>(json!({"object": "balance", "merchant": who.merchant_id.as_str(), "data": data}))
    }
    .await;
    ok_json("/v1/balance", result)
}
