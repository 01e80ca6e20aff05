//! One payment of the load: created over the API, then followed to its final state (or to pending
//! with a reason) through its events or by polling, with a manual capture when its kind asks for one.

use super::follow::{Follower, Seen};
use super::{
    body_for, is_final, kind_of, Mix, Settled, MIX, POLL_INTERVAL_MS, POLL_INTERVAL_MS_MAX,
};
use crate::commands::api_client::ApiClient;
use crate::metrics as m;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Tries of one creation while the API answers 5xx or cannot be reached.
const CREATE_TRIES_MAX: u32 = 8;
const CREATE_BACKOFF_MS_MAX: u64 = 8_000;

/// Creates a payment as a careful merchant does: a 5xx or a lost connection is retried with the same
/// `Idempotency-Key` (the bridge says the request may still have taken effect), with capped backoff
/// and a bounded number of tries; a 4xx is final. The payment's id, or `None` when refused.
async fn create(c: &ApiClient, idem: &str, body: &Value, kind: &str) -> Option<String> {
    let mut backoff_ms = 250u64;
    for attempt in 1..=CREATE_TRIES_MAX {
        match c.post("/v1/payment_intents", idem, body).await {
            Ok((202, answer)) => return answer["id"].as_str().map(str::to_owned),
            Ok((status, answer)) if status < 500 => {
                tracing::warn!(status, %answer, kind, "payment refused");
                return None;
            }
            Ok((status, answer)) => {
                tracing::debug!(status, %answer, attempt, "creation not acknowledged; retrying");
            }
            Err(e) => tracing::debug!(error = %e, attempt, "creation failed; retrying"),
        }
        metrics::counter!(m::LOADGEN_CREATE_RETRIES).increment(1);
        tokio::time::sleep(Duration::from_millis(backoff_ms)).await;
        backoff_ms = backoff_ms.saturating_mul(2).min(CREATE_BACKOFF_MS_MAX);
    }
    tracing::warn!(
        kind,
        idem,
        tries = CREATE_TRIES_MAX,
        "payment refused: no acknowledgement"
    );
    None
}

/// Creates one payment and follows it; `None` when the API refused it.
pub(super) async fn one(
    c: &ApiClient,
    run_id: &str,
    i: u32,
    settle: Duration,
    mix: Mix,
    follower: Option<&Follower>,
) -> Option<Settled> {
    let mut k = kind_of(i);
    if mix == Mix::NoTimeouts && k.reference.contains("timeout") {
        k = MIX[0];
    }
    let started = Instant::now();
    let id = create(c, &format!("{run_id}-{i}"), &body_for(&k, i), k.name).await?;
    let mut source = match follower {
        Some(f) => Source::Events(f.watch(&id)),
        None => Source::Poll(POLL_INTERVAL_MS),
    };
    let mut captured = false;
    let settled = loop {
        let (status, reason) = source.next(c, &id, started, settle).await;
        if status == "requires_capture" && k.manual_capture && !captured {
            let _ = c
                .post(
                    &format!("/v1/payment_intents/{id}/capture"),
                    &format!("{run_id}-{i}-capture"),
                    &json!({"amount": k.amount_minor / 2}),
                )
                .await;
            captured = true;
        }
        let held_for_review = status == "processing" && reason.as_deref() == Some("FRAUD_REVIEW");
        if is_final(&status) || held_for_review || started.elapsed() >= settle {
            if is_final(&status) {
                metrics::counter!(m::LOADGEN_PAYMENTS, "status" => status.clone()).increment(1);
                metrics::histogram!(m::LOADGEN_LATENCY).record(started.elapsed());
            }
            break Settled {
                kind: k.name,
                payment_id: id.clone(),
                status,
                reason_code: reason,
                latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            };
        }
    };
    if let Some(f) = follower {
        f.forget(&id);
    }
    Some(settled)
}

/// Where a payment's state comes from.
enum Source {
    /// Polling the API, at this interval (backing off).
    Poll(u64),
    Events(tokio::sync::watch::Receiver<Option<Seen>>),
}

impl Source {
    /// The payment's next state (`accepted` while nothing is known): the next poll, or the next
    /// event, or what is known when the settle time runs out.
    async fn next(
        &mut self,
        c: &ApiClient,
        id: &str,
        started: Instant,
        settle: Duration,
    ) -> (String, Option<String>) {
        match self {
            Source::Poll(poll_ms) => {
                if started.elapsed() > Duration::from_millis(POLL_INTERVAL_MS) {
                    tokio::time::sleep(Duration::from_millis(*poll_ms)).await;
                    *poll_ms = poll_ms
                        .saturating_add(*poll_ms / 2)
                        .min(POLL_INTERVAL_MS_MAX);
                }
                let state = c
                    .get(&format!("/v1/payment_intents/{id}"))
                    .await
                    .unwrap_or(Value::Null);
                (
                    state["status"].as_str().unwrap_or("accepted").to_owned(),
                    state["reason_code"].as_str().map(str::to_owned),
                )
            }
            Source::Events(rx) => {
                let left = settle.saturating_sub(started.elapsed());
                let _ = tokio::time::timeout(left, rx.changed()).await;
                match rx.borrow_and_update().as_ref() {
                    Some(seen) => (seen.status.clone(), seen.reason_code.clone()),
                    None => ("accepted".into(), None),
                }
            }
        }
    }
}
