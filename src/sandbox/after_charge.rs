//! What the sandbox does after a charge: refunds (`POST /acme/v1/refunds`, `POST /bolt/refunds`,
//! and their status), captures and voids of an authorization (`.../capture`, `.../void`).
//!
//! Scenarios are picked by the charge's instrument, like the charge's own: `refund_pending` (pending,
//! then a success webhook), `refund_fail` (the refund fails), `refund_timeout` (no answer in time; it
//! succeeds and a webhook says so), else success; `capture_fail` declines the capture. Each call is
//! idempotent by its key, and refunds never take more than the charge's amount.

use super::server::{bad_request, Charge, Object, Provider, Sandbox};
use super::views::render;
use super::webhooks;
use super::ChargeState;
use crate::connectors::{acme, bolt};
use crate::events::provider::DeclineClass;
use crate::metrics as m;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Instrument words that choose what happens after the charge, not the charge itself.
pub(super) const SCENARIO_WORDS: [&str; 4] = [
    "refund_pending",
    "refund_fail",
    "refund_timeout",
    "capture_fail",
];

pub(super) fn router() -> Router<Arc<Sandbox>> {
    Router::new()
        .route("/acme/v1/refunds", post(acme_refund))
        .route("/acme/v1/refunds/{reference}", get(acme_refund_status))
        .route("/acme/v1/charges/{charge}/{action}", post(acme_settle))
        .route("/bolt/refunds", post(bolt_refund))
        .route("/bolt/refunds/{reference}", get(bolt_refund_status))
        .route("/bolt/transactions/{charge}/{action}", post(bolt_settle))
}

/// What happens to one refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RefundScenario {
    Success,
    PendingThenSuccess,
    Failure,
    Timeout,
}

impl RefundScenario {
    fn of(source: &str) -> Self {
        let s = source.to_ascii_lowercase();
        if s.contains("refund_pending") {
            Self::PendingThenSuccess
        } else if s.contains("refund_fail") {
            Self::Failure
        } else if s.contains("refund_timeout") {
            Self::Timeout
        } else {
            Self::Success
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Success => "refund_success",
            Self::PendingThenSuccess => "refund_pending",
            Self::Failure => "refund_fail",
            Self::Timeout => "refund_timeout",
        }
    }
}

/// A refund, parsed from either provider's shape.
struct RefundIn {
    key: String,
    /// The charge's id or our reference of it.
    charge: String,
    reference: String,
    payment_id: String,
    amount_minor: i64,
}

async fn refund(s: Arc<Sandbox>, p: Provider, input: RefundIn) -> Response {
    tokio::time::sleep(Duration::from_millis(s.config.latency_ms)).await;
    if let Some(r) = s.lookup(p, &input.key) {
        return render(p, &r, r.state);
    }
    let Some(charge) = s
        .find_by_reference(p, &input.charge)
        .filter(|c| c.object == Object::Charge)
    else {
        return (StatusCode::NOT_FOUND, "{\"error\":\"no such charge\"}").into_response();
    };
    let scenario = RefundScenario::of(&charge.source);
    metrics::counter!(m::SANDBOX_CALLS, "provider" => p.name(), "scenario" => scenario.label())
        .increment(1);
    let over = !take(&s, p, &charge, input.amount_minor);
    let (answer, settled, hooks): (Option<ChargeState>, ChargeState, Vec<(u64, ChargeState)>) =
        match scenario {
            _ if over => {
                let d = ChargeState::Declined(DeclineClass::Other);
                (Some(d), d, vec![])
            }
            RefundScenario::Success => {
                (Some(ChargeState::Succeeded), ChargeState::Succeeded, vec![])
            }
            RefundScenario::PendingThenSuccess => (
                Some(ChargeState::Pending),
                ChargeState::Succeeded,
                vec![(1, ChargeState::Succeeded)],
            ),
            RefundScenario::Failure => (Some(ChargeState::Failed), ChargeState::Failed, vec![]),
            RefundScenario::Timeout => (
                None,
                ChargeState::Succeeded,
                vec![(20, ChargeState::Succeeded)],
            ),
        };
    if matches!(settled, ChargeState::Failed) {
        give_back(&s, p, &charge, input.amount_minor);
    }
    let r = Charge {
        object: Object::Refund,
        source: charge.source.clone(),
        id: s.next_id(match p {
            Provider::Acme => "re",
            Provider::Bolt => "brf",
        }),
        reference: input.reference,
        payment_id: input.payment_id,
        amount_minor: input.amount_minor,
        currency: charge.currency.clone(),
        state: settled,
    };
    s.remember(p, &input.key, r.clone());
    webhooks::schedule(&s, p, &r, &hooks);
    match answer {
        Some(state) => render(p, &r, state),
        None => {
            tokio::time::sleep(Duration::from_millis(s.config.timeout_scenario_ms)).await;
            render(p, &r, ChargeState::Pending)
        }
    }
}

/// Takes `amount` from what the charge has left to refund; false when it has not that much left.
fn take(s: &Sandbox, p: Provider, charge: &Charge, amount: i64) -> bool {
    let Ok(mut refunded) = s.refunded.lock() else {
        return false;
    };
    let taken = refunded.entry((p, charge.id.clone())).or_insert(0);
    match taken.checked_add(amount) {
        Some(t) if amount > 0 && t <= charge.amount_minor => {
            *taken = t;
            true
        }
        _ => false,
    }
}

fn give_back(s: &Sandbox, p: Provider, charge: &Charge, amount: i64) {
    if let Ok(mut refunded) = s.refunded.lock() {
        if let Some(t) = refunded.get_mut(&(p, charge.id.clone())) {
            *t = t.saturating_sub(amount);
        }
    }
}

/// A capture or void of an authorization: succeeds, unless the instrument says `capture_fail`.
async fn settle(
    s: Arc<Sandbox>,
    p: Provider,
    charge: String,
    action: String,
    key: String,
) -> Response {
    tokio::time::sleep(Duration::from_millis(s.config.latency_ms)).await;
    if !matches!(action.as_str(), "capture" | "void") {
        return (StatusCode::NOT_FOUND, "{\"error\":\"no such action\"}").into_response();
    }
    if let Some(done) = s.lookup(p, &key) {
        return render(p, &done, done.state);
    }
    let Some(c) = s
        .find_by_reference(p, &charge)
        .filter(|c| c.object == Object::Charge)
    else {
        return (StatusCode::NOT_FOUND, "{\"error\":\"no such charge\"}").into_response();
    };
    let declined = action == "capture" && c.source.to_ascii_lowercase().contains("capture_fail");
    let state = if declined {
        ChargeState::Declined(DeclineClass::Other)
    } else {
        ChargeState::Succeeded
    };
    metrics::counter!(m::SANDBOX_CALLS, "provider" => p.name(), "scenario" => if declined { "capture_fail" } else { "settled" }).increment(1);
    let done = Charge { state, ..c };
    // Remembered under the call's key only: the charge itself stays findable by its reference.
    s.remember_call(p, &key, done.clone());
    render(p, &done, state)
}

fn idempotency_key(headers: &HeaderMap) -> Option<String> {
    headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn acme_refund(State(s): State<Arc<Sandbox>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(key) = idempotency_key(&headers) else {
        return bad_request("Idempotency-Key header is required");
    };
    let Ok(req) = serde_json::from_slice::<acme::RefundRequest>(&body) else {
        return bad_request("body is not a refund request");
    };
    if req.amount <= 0 {
        return bad_request("amount must be positive");
    }
    let input = RefundIn {
        key,
        charge: req.charge,
        reference: req.reference,
        payment_id: req.payment_id,
        amount_minor: req.amount,
    };
    refund(s, Provider::Acme, input).await
}

async fn bolt_refund(
    State(s): State<Arc<Sandbox>>,
    axum::Form(form): axum::Form<HashMap<String, String>>,
) -> Response {
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    let key = field("idem_key");
    if key.is_empty() {
        return bad_request("idem_key is required");
    }
    let Ok(amount) = bolt::from_decimal(&field("amount"), &field("currency")) else {
        return bad_request("amount is not a decimal amount of the currency");
    };
    let input = RefundIn {
        key,
        charge: field("txn"),
        reference: field("merchant_ref"),
        payment_id: field("order"),
        amount_minor: amount,
    };
    refund(s, Provider::Bolt, input).await
}

async fn refund_status(s: &Sandbox, p: Provider, reference: &str) -> Response {
    match s
        .find_by_reference(p, reference)
        .filter(|r| r.object == Object::Refund)
    {
        Some(r) => render(p, &r, r.state),
        None => (StatusCode::NOT_FOUND, "{\"error\":\"no such refund\"}").into_response(),
    }
}

async fn acme_refund_status(
    State(s): State<Arc<Sandbox>>,
    Path(reference): Path<String>,
) -> Response {
    refund_status(&s, Provider::Acme, &reference).await
}

async fn bolt_refund_status(
    State(s): State<Arc<Sandbox>>,
    Path(reference): Path<String>,
) -> Response {
    refund_status(&s, Provider::Bolt, &reference).await
}

async fn acme_settle(
    State(s): State<Arc<Sandbox>>,
    Path((charge, action)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(key) = idempotency_key(&headers) else {
        return bad_request("Idempotency-Key header is required");
    };
    settle(s, Provider::Acme, charge, action, key).await
}

async fn bolt_settle(
    State(s): State<Arc<Sandbox>>,
    Path((charge, action)): Path<(String, String)>,
    axum::Form(form): axum::Form<HashMap<String, String>>,
) -> Response {
    let key = form.get("idem_key").cloned().unwrap_or_default();
    if key.is_empty() {
        return bad_request("idem_key is required");
    }
    settle(s, Provider::Bolt, charge, action, key).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instrument_words_pick_refund_scenarios_without_changing_the_charge() {
        let cases = [
            (
                "tok_visa",
                RefundScenario::Success,
                super::super::Scenario::Success,
            ),
            (
                "tok_refund_pending",
                RefundScenario::PendingThenSuccess,
                super::super::Scenario::Success,
            ),
            (
                "tok_refund_fail",
                RefundScenario::Failure,
                super::super::Scenario::Success,
            ),
            (
                "tok_refund_timeout",
                RefundScenario::Timeout,
                super::super::Scenario::Success,
            ),
        ];
        for (source, refund, charge) in cases {
            assert_eq!(RefundScenario::of(source), refund, "{source}");
            assert_eq!(
                super::super::Scenario::of(source, "acme"),
                charge,
                "{source}"
            );
        }
    }
}
