//! Runs a request at most once per (merchant, Idempotency-Key) and replays its answer afterwards: the
//! I/O around the pure decision of [`super::idempotency`].

use super::errors::{err, respond, store_unavailable, ApiError, Effect};
use super::idempotency::{self, Decision, Stored};
use super::shared::Bridge;
use crate::domain::clock::now_millis;
use crate::domain::ids::MerchantId;
use crate::metrics as m;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tracing::warn;

/// An in-flight idempotency claim older than this belongs to a request that died.
const IDEMPOTENCY_LOCK_TIMEOUT_MS: i64 = 30_000;

/// A request as the key names it.
pub struct Keyed<'a> {
    pub route: &'static str,
    pub merchant_id: &'a MerchantId,
    pub key: Option<&'a str>,
    /// [`idempotency::request_hash`] of method, path and body.
    pub request_sha256: String,
}

impl<'a> Keyed<'a> {
    /// A POST to `path` (the route with its ids) with `body`, by `merchant_id` with `key`.
    pub fn post(
        route: &'static str,
        merchant_id: &'a MerchantId,
        key: Option<&'a str>,
        path: &str,
        body: &[u8],
    ) -> Self {
        Self {
            route,
            merchant_id,
            key,
            request_sha256: idempotency::request_hash("POST", path, body),
        }
    }
}

type Answer = Result<(StatusCode, Vec<u8>), ApiError>;

pub async fn run_once<F, Fut>(b: &Bridge, req: Keyed<'_>, f: F) -> Response
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Answer>,
{
    let route = req.route;
    let Some(key) = req.key else {
        return answer(route, f().await);
    };
    let now = now_millis();
    let stored = match b
        .tables
        .bridge
        .idempotency(req.merchant_id.as_str(), key)
        .await
    {
        Ok(s) => s,
        Err(e) => return store_unavailable(e).respond(route),
    };
    match idempotency::decide(
        stored.as_ref(),
        &req.request_sha256,
        now,
        IDEMPOTENCY_LOCK_TIMEOUT_MS,
    ) {
        Decision::Replay { status, response } => return replayed(route, status, response),
        Decision::InFlight => {
            return err(StatusCode::CONFLICT, "idempotency_key_in_use", "a request with this Idempotency-Key is still being processed: retry after it finishes").respond(route);
        }
        Decision::RequestMismatch => {
            return err(StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused", "this Idempotency-Key was already used for a different request (another method, path or body): use a new key for a new request").respond(route);
        }
        Decision::Proceed => {}
    }
    match claim(b, &req, key, stored.as_ref(), now).await {
        Ok(true) => {}
        Ok(false) => {
            return err(StatusCode::CONFLICT, "idempotency_key_in_use", "a concurrent request claimed this Idempotency-Key first: retry to get its response").respond(route);
        }
        Err(e) => return e.respond(route),
    }
    let result = f().await;
    settle(b, req.merchant_id.as_str(), key, &result).await;
    answer(route, result)
}

async fn claim(
    b: &Bridge,
    req: &Keyed<'_>,
    key: &str,
    stored: Option<&Stored>,
    now: i64,
) -> Result<bool, ApiError> {
    let (merchant, hash) = (req.merchant_id.as_str(), req.request_sha256.as_str());
    let claimed = match stored {
        None => b.tables.bridge.claim(merchant, key, hash, now).await,
        Some(Stored::InFlight { started_ms, .. } | Stored::Unknown { started_ms, .. }) => {
            b.tables
                .bridge
                .take_over(merchant, key, hash, now, *started_ms)
                .await
        }
        Some(Stored::Completed { .. }) => {
            // Aged out of the retention window: a new request under the old key.
            match b.tables.bridge.release(merchant, key).await {
                Ok(()) => b.tables.bridge.claim(merchant, key, hash, now).await,
                Err(e) => Err(e),
            }
        }
    };
    claimed.map_err(store_unavailable)
}

/// Records how the request ended: its answer to replay, a kept claim when its outcome is unknown, or
/// a released key when it failed before doing anything.
async fn settle(b: &Bridge, merchant: &str, key: &str, result: &Answer) {
    let outcome = match result {
        Err(e) if e.effect == Effect::Unknown => b.tables.bridge.mark_unknown(merchant, key).await,
        Err(e) if e.status.is_server_error() => b.tables.bridge.release(merchant, key).await,
        Ok((status, body)) => {
            b.tables
                .bridge
                .complete(merchant, key, status.as_u16(), body, now_millis())
                .await
        }
        Err(e) => {
            b.tables
                .bridge
                .complete(merchant, key, e.status.as_u16(), &e.body(), now_millis())
                .await
        }
    };
    if let Err(e) = outcome {
        warn!(error = %e, "idempotency record not updated; the claim expires after the lock timeout");
    }
}

fn answer(route: &'static str, result: Answer) -> Response {
    match result {
        Ok((status, body)) => respond(route, status, body),
        Err(e) => e.respond(route),
    }
}

fn replayed(route: &'static str, status: u16, response: Vec<u8>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    metrics::counter!(m::BRIDGE_REQUESTS, "route" => route, "status" => "replayed").increment(1);
    (
        status,
        [
            ("content-type", "application/json"),
            ("idempotent-replayed", "true"),
        ],
        response,
    )
        .into_response()
}
