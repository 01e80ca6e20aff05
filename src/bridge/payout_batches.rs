//! Bulk payouts over REST.
//!
//! - `POST /v1/payout_batches` (`items`, at most [`BATCH_ITEMS_MAX`]): each valid item is its own
//!   payout under the batch's id; an invalid item is refused with its index and reason and never
//!   sinks the others.
//! - `GET /v1/payout_batches/{id}`: counts per status, each item's status and reason, and the rows
//!   refused at intake.

use super::config::Role;
use super::errors::{err, invalid, ok_json, store_unavailable, ApiError};
use super::idempotency;
use super::payouts::{payout_id, request_of, status_name, PayoutIn};
use super::replay::{run_once, Keyed};
use super::request::{authorized, caller, parse_json};
use super::shared::{Bridge, Caller};
use crate::domain::clock::now_millis;
use crate::events::payout::PayoutRequest;
use crate::store::payouts::BATCH_ITEMS_MAX;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Payouts of a batch published at once.
const BATCH_PUBLISH_CONCURRENCY: usize = 64;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchIn {
    items: Vec<Value>,
}

pub async fn create(State(b): State<Arc<Bridge>>, headers: HeaderMap, body: Bytes) -> Response {
    let route = "/v1/payout_batches";
    let (who, key) = match authorized(&b, &headers, &body, Role::Write) {
        Ok(c) => c,
        Err(e) => return e.respond(route),
    };
    let req = Keyed::post(route, &who.merchant_id, key.as_deref(), route, &body);
    run_once(&b, req, || async {
        let input: BatchIn = parse_json(&body)?;
        if input.items.is_empty() || input.items.len() > BATCH_ITEMS_MAX {
            return Err(invalid("batch_size", "items", format!("1 to {BATCH_ITEMS_MAX} items")));
        }
        let batch_id = match key.as_deref() {
            Some(k) => format!("batch_{}", idempotency::derived_id(&["batch", who.merchant_id.as_str(), k])),
            None => format!("batch_{}", uuid::Uuid::now_v7().simple()),
        };
        let (requests, refused) = batch_requests(&b, &who, &batch_id, input.items, key.as_deref());
        let refused_json = serde_json::to_string(&refused).unwrap_or_else(|_| "[]".into());
        let items = i32::try_from(requests.len() + refused.len()).unwrap_or(i32::MAX);
        b.tables.payouts.put_batch(&batch_id, who.merchant_id.as_str(), items, &refused_json, now_millis()).await.map_err(store_unavailable)?;
        publish_all(&b, &requests).await?;
        let body = json!({
            "id": batch_id, "object": "payout_batch", "items": items,
            "accepted": requests.iter().map(|r| json!({"index": r.0, "payout_id": r.1.payout_id})).collect::<Vec<_>>(),
            "refused": refused,
            "status_url": format!("/v1/payout_batches/{batch_id}"),
        });
        Ok((StatusCode::ACCEPTED, serde_json::to_vec(&body).unwrap_or_default()))
    })
    .await
}

/// Each item on its own: a valid one becomes a payout request, an invalid one a refusal with its
/// index and reason.
fn batch_requests(
    b: &Bridge,
    who: &Caller,
    batch_id: &str,
    items: Vec<Value>,
    key: Option<&str>,
) -> (Vec<(usize, PayoutRequest)>, Vec<Value>) {
    let mut ok = Vec::new();
    let mut refused = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let parsed = serde_json::from_value::<PayoutIn>(item)
            .map_err(|e| invalid("item_invalid", "items", e.to_string()))
            .and_then(|p| {
                let id = match key {
                    Some(_) => format!(
                        "po_{}",
                        idempotency::derived_id(&["batch_item", batch_id, &i.to_string()])
                    ),
                    None => payout_id(who, None, ""),
                };
                request_of(b, who, p, id, Some(batch_id.to_owned()), key)
            });
        match parsed {
            Ok(r) => ok.push((i, r)),
            Err(e) => refused.push(json!({"index": i, "error": {"code": e.code, "field": e.field, "message": e.message}})),
        }
    }
    (ok, refused)
}

async fn publish_all(b: &Bridge, requests: &[(usize, PayoutRequest)]) -> Result<(), ApiError> {
    for chunk in requests.chunks(BATCH_PUBLISH_CONCURRENCY) {
        let claims = chunk
            .iter()
            .map(|(_, r)| b.tables.payouts.claim(&r.payout_id, &r.merchant_id));
        for c in futures::future::join_all(claims).await {
            c.map_err(store_unavailable)?;
        }
        let sends = chunk.iter().map(|(_, r)| b.publish(&b.topics.payouts, r));
        for s in futures::future::join_all(sends).await {
            s?;
        }
    }
    Ok(())
}

pub async fn read(
    State(b): State<Arc<Bridge>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let who = caller(&b, &headers)?;
        crate::domain::ids::validate(&id).map_err(|_| err(StatusCode::NOT_FOUND, "batch_not_found", "no such batch"))?;
        let Some((merchant, items, refused)) = b.tables.payouts.batch(&id).await.map_err(store_unavailable)?.filter(|(m, _, _)| who.merchant_id.as_str() == m) else {
            return Err(err(StatusCode::NOT_FOUND, "batch_not_found", "no such batch"));
        };
        let rows = b.tables.payouts.batch_items(&id).await.map_err(store_unavailable)?;
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        let data: Vec<Value> = rows
            .iter()
            .map(|r| {
                let status = status_name(r.status.as_deref());
                *counts.entry(status).or_insert(0) += 1;
                json!({"payout_id": r.payout_id, "status": status, "amount": r.amount_minor, "reason_code": r.reason_code})
            })
            .collect();
        let refused: Value = serde_json::from_str(&refused).unwrap_or_else(|_| json!([]));
        Ok::<_, ApiError>(json!({
            "id": id, "object": "payout_batch", "merchant": merchant, "items": items,
            "counts": counts, "refused": refused, "payouts": data,
        }))
    }
    .await;
    ok_json("/v1/payout_batches/{id}", result)
}
