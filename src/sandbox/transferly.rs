//! The sandbox's payout provider, Transferly, at `/transferly/v2/...`: transfers (idempotent by
//! `request_ref`), their status, account verifications, and signed webhooks to the bridge.
//!
//! Scenarios are chosen by the account, like test cards:
//! - transfers, by account number (or VPA): `2222` fails ACCOUNT_CLOSED, `3333` INVALID_IFSC,
//!   `4444` BENEFICIARY_BANK_DOWN; `5555` is accepted, then processed by webhook; `6666` is processed,
//!   then reversed by webhook; `7777` does not answer in time (then processed by webhook); a VPA with
//!   `pending` is accepted, then processed; anything else is processed at once, with a UTR.
//! - verifications: `9999` INVALID_ACCOUNT, `8888` ACCOUNT_CLOSED, an IFSC starting `ZZZZ`
//!   INVALID_IFSC, a VPA with `notfound` VPA_NOT_FOUND, a name with `mismatch` a low name-match score;
//!   anything else valid, with the name upper-cased as the bank's.

use super::server::{bad_request, Sandbox};
use crate::connectors::bolt::from_decimal;
use crate::connectors::transferly::{
    Destination, Failure, Transfer, TransferAnswer, TransferRequest, Verification,
    VerificationAnswer, VerificationRequest, Webhook,
};
use crate::domain::clock::now_millis;
use crate::metrics as m;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;
use std::time::Duration;
use tracing::{debug, warn};

pub(super) fn router() -> Router<Arc<Sandbox>> {
    Router::new()
        .route("/transferly/v2/transfers", post(transfer))
        .route("/transferly/v2/transfers/{request_ref}", get(status))
        .route("/transferly/v2/verifications", post(verify))
}

/// What happens to one transfer: the answer now, and the webhooks after (delay multiplier, status).
struct Plan {
    answer: Option<&'static str>,
    settled: &'static str,
    failure: Option<&'static str>,
    webhooks: Vec<(u64, &'static str)>,
}

fn plan(d: &Destination) -> (&'static str, Plan) {
    let who = d
        .account_number
        .clone()
        .or_else(|| d.vpa.clone())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let fail = |code| Plan {
        answer: Some("FAILED"),
        settled: "FAILED",
        failure: Some(code),
        webhooks: vec![],
    };
    let table: [(&str, &str, Plan); 7] = [
        ("2222", "account_closed", fail("ACCOUNT_CLOSED")),
        ("3333", "invalid_ifsc", fail("INVALID_IFSC")),
        ("4444", "bank_down", fail("BENEFICIARY_BANK_DOWN")),
        (
            "5555",
            "pending_processed",
            Plan {
                answer: Some("ACCEPTED"),
                settled: "SUCCESS",
                failure: None,
                webhooks: vec![(1, "SUCCESS")],
            },
        ),
        (
            "6666",
            "processed_reversed",
            Plan {
                answer: Some("SUCCESS"),
                settled: "REVERSED",
                failure: None,
                webhooks: vec![(2, "REVERSED")],
            },
        ),
        (
            "7777",
            "timeout",
            Plan {
                answer: None,
                settled: "SUCCESS",
                failure: None,
                webhooks: vec![(20, "SUCCESS")],
            },
        ),
        (
            "pending",
            "pending_processed",
            Plan {
                answer: Some("ACCEPTED"),
                settled: "SUCCESS",
                failure: None,
                webhooks: vec![(1, "SUCCESS")],
            },
        ),
    ];
    for (word, label, p) in table {
        if who.contains(word) {
            return (label, p);
        }
    }
    (
        "processed",
        Plan {
            answer: Some("SUCCESS"),
            settled: "SUCCESS",
            failure: None,
            webhooks: vec![],
        },
    )
}

fn render(t: &Transfer, status: &str) -> Response {
    let mut shown = t.clone();
    shown.status = status.to_owned();
    if status != "SUCCESS" && status != "REVERSED" {
        shown.utr = None;
    }
    if status != "FAILED" {
        shown.failure = None;
    }
    match serde_json::to_vec(&TransferAnswer { transfer: shown }) {
        Ok(b) => (StatusCode::OK, [("content-type", "application/json")], b).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn transfer(State(s): State<Arc<Sandbox>>, body: Bytes) -> Response {
    tokio::time::sleep(Duration::from_millis(s.config.latency_ms)).await;
    let Ok(req) = serde_json::from_slice::<TransferRequest>(&body) else {
        return bad_request("body is not a transfer request");
    };
    if from_decimal(&req.amount, &req.currency).map_or(true, |a| a <= 0) {
        return bad_request("amount must be a positive decimal amount of the currency");
    }
    // A repeated request_ref gets the transfer as it is now: nothing is paid twice.
    if let Some(t) = s.transfer(&req.request_ref) {
        return render(&t, &t.status.clone());
    }
    let (label, p) = plan(&req.beneficiary);
    metrics::counter!(m::SANDBOX_CALLS, "provider" => "transferly", "scenario" => label)
        .increment(1);
    let t = Transfer {
        id: s.next_id("tr"),
        request_ref: req.request_ref.clone(),
        status: p.settled.to_owned(),
        utr: Some(format!("UTR{}", now_millis())),
        amount: Some(req.amount.clone()),
        failure: p.failure.map(|code| Failure {
            code: code.into(),
            message: None,
        }),
    };
    s.remember_transfer(t.clone());
    for (mult, status) in p.webhooks {
        tokio::spawn(send_webhook(s.clone(), t.clone(), status, mult));
    }
    match p.answer {
        Some(status) => render(&t, status),
        None => {
            tokio::time::sleep(Duration::from_millis(s.config.timeout_scenario_ms)).await;
            render(&t, "ACCEPTED")
        }
    }
}

async fn status(State(s): State<Arc<Sandbox>>, Path(request_ref): Path<String>) -> Response {
    match s.transfer(&request_ref) {
        // The status a check sees is the one webhooks have delivered so far.
        Some(t) => render(&t, &t.status.clone()),
        None => (StatusCode::NOT_FOUND, "{\"error\":\"no such transfer\"}").into_response(),
    }
}

async fn verify(State(s): State<Arc<Sandbox>>, body: Bytes) -> Response {
    tokio::time::sleep(Duration::from_millis(s.config.latency_ms)).await;
    let Ok(req) = serde_json::from_slice::<VerificationRequest>(&body) else {
        return bad_request("body is not a verification request");
    };
    let d = &req.beneficiary;
    let number = d.account_number.clone().unwrap_or_default();
    let vpa = d.vpa.clone().unwrap_or_default().to_ascii_lowercase();
    let ifsc = d.ifsc.clone().unwrap_or_default();
    let name = req.name.clone().unwrap_or_default();
    let invalid = if number.contains("9999") {
        Some("INVALID_ACCOUNT")
    } else if number.contains("8888") {
        Some("ACCOUNT_CLOSED")
    } else if ifsc.starts_with("ZZZZ") {
        Some("INVALID_IFSC")
    } else if vpa.contains("notfound") {
        Some("VPA_NOT_FOUND")
    } else {
        None
    };
    let score = if name.to_ascii_lowercase().contains("mismatch") {
        40
    } else {
        95
    };
    let label = invalid.map_or(if score < 70 { "name_mismatch" } else { "valid" }, |r| r);
    metrics::counter!(m::SANDBOX_CALLS, "provider" => "transferly", "scenario" => label.to_ascii_lowercase()).increment(1);
    let v = Verification {
        id: format!("ver_{}", req.request_ref),
        account_status: if invalid.is_some() {
            "INVALID"
        } else {
            "VALID"
        }
        .into(),
        registered_name: invalid.is_none().then(|| name.to_ascii_uppercase()),
        name_match_score: invalid.is_none().then_some(score),
        reason: invalid.map(str::to_owned),
    };
    match serde_json::to_vec(&VerificationAnswer { verification: v }) {
        Ok(b) => (StatusCode::OK, [("content-type", "application/json")], b).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// Sends one signed webhook after its delay, retried a bounded number of times; the transfer's
/// status is updated as the webhook says.
async fn send_webhook(s: Arc<Sandbox>, t: Transfer, status: &'static str, mult: u64) {
    tokio::time::sleep(Duration::from_millis(
        s.config.webhook_delay_ms.saturating_mul(mult),
    ))
    .await;
    let mut now = t.clone();
    now.status = status.to_owned();
    s.remember_transfer(now.clone());
    let event_id = format!("evt_{}_{}", t.id, status.to_ascii_lowercase());
    let event = match status {
        "SUCCESS" => "transfer.processed",
        "REVERSED" => "transfer.reversed",
        _ => "transfer.failed",
    };
    let hook = Webhook {
        event_id: event_id.clone(),
        event: event.into(),
        created_at_ms: now_millis(),
        transfer: now,
    };
    let Ok(body) = serde_json::to_vec(&hook) else {
        return;
    };
    let Some(secret) = s.secrets.get("transferly") else {
        return;
    };
    let url = format!("{}/transferly", s.config.webhook_url);
    for attempt in 1..=super::server::WEBHOOK_ATTEMPTS_MAX {
        let ts = now_millis() / 1_000;
        let sent = s
            .http
            .post(&url)
            .header("content-type", "application/json")
            .header("webhook-id", &event_id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", secret.sign(&event_id, ts, &body))
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => return,
            Ok(r) if r.status().is_client_error() => {
                warn!(%event_id, status = r.status().as_u16(), "transferly webhook refused");
                return;
            }
            _ => {
                debug!(%event_id, attempt, "transferly webhook delivery failed; retrying");
                tokio::time::sleep(Duration::from_millis(
                    200u64.saturating_mul(u64::from(attempt)),
                ))
                .await;
            }
        }
    }
}
