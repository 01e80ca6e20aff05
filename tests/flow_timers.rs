//! The payment processor's timers end to end, on the real stack with delays in seconds: an intent
//! nobody confirms expires; an authorization nobody captures expires, is voided and its ledger hold
//! released; a fraud review nobody decides follows the merchant's default; an attempt the provider
//! never settles climbs the status-check ladder (one request per rung, seen by the sandbox) and ends
//! `STATUS_UNRESOLVED`. Every trail is 1..n and the ledger balances.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the report

mod common;

use common::flow::{self, card, KEY};
use paystream::events::provider::{ProviderOperation, ProviderRequest};
use paystream::events::PaymentEvent;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timers_expire_intents_release_holds_time_out_reviews_and_give_up_on_silent_providers() {
    let f = flow::start_configured(0, None, |c| {
        c.payments.confirmation_expiry_ms = 1_500;
        c.payments.capture_expiry_ms = 2_000;
        c.payments.fraud_review_timeout_ms = 1_500;
        c.payments.status_check_ladder_ms = vec![400, 400, 400];
    })
    .await;

    // Never confirmed.
    let (status, body) = f
        .post(
            "/v1/payment_intents",
            Some(KEY),
            Some(&common::unique("idem")),
            &json!({"amount": 1_000, "currency": "INR", "confirm": false, "payment_method": card("tok_visa_success")}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let unconfirmed = body["id"].as_str().unwrap().to_owned();
    // Authorized, never captured.
    let held = f.create(card("tok_visa_success"), 2_500, true).await;
    // Held for review (amount above the review threshold), never decided.
    let review = f.create(card("tok_visa_success"), 6_000_000, false).await;
    // Pending at the provider for ever.
    let stuck = f.create(card("tok_stuck"), 700, false).await;

    let authorized = f.wait_status(&held, "requires_capture").await;
    assert_eq!(authorized["amount_captured"], 0, "{authorized}");

    let v = f.wait_status(&unconfirmed, "expired").await;
    assert_eq!(v["reason_code"], "TIMED_OUT", "{v}");
    let v = f.wait_status(&held, "expired").await;
    assert_eq!(v["reason_code"], "AUTHORIZATION_EXPIRED", "{v}");
    let v = f.wait_status(&review, "failed").await;
    assert_eq!(v["reason_code"], "FRAUD_REVIEW_TIMEOUT", "{v}");
    let v = f
        .wait(&stuck, "STATUS_UNRESOLVED", |v| {
            v["reason_code"] == "STATUS_UNRESOLVED"
        })
        .await;
    assert_eq!(v["status"], "processing", "pending for an operator: {v}");

    let ids = [&unconfirmed, &held, &review, &stuck];
    let events: Vec<PaymentEvent> = f
        .read::<PaymentEvent>("payments.events", 16)
        .await
        .into_iter()
        .filter(|e| ids.contains(&&e.payment_id))
        .collect();
    let by = flow::assert_trail(&events);
    let last = |id: &str| by[id].last().unwrap().clone();
    assert_eq!(
        last(&held).attempt_status,
        Some(paystream::events::payment_event::AttemptStatus::Voided)
    );
    // The stuck attempt got one status check per rung, and no more after it was unresolved.
    let requests: Vec<ProviderRequest> = f
        .read::<ProviderRequest>("providers.requests", 5)
        .await
        .into_iter()
        .filter(|r| r.payment_id == stuck && r.operation == ProviderOperation::Status)
        .collect();
    let mut ids: Vec<String> = requests.iter().map(|r| r.request_id.clone()).collect();
    ids.sort();
    let attempt = last(&stuck).attempt_id.unwrap();
    assert_eq!(
        ids,
        (1..=3)
            .map(|n| format!("{attempt}_status{n}"))
            .collect::<Vec<_>>(),
        "one status check per rung of the ladder"
    );

    // The expired authorization's hold is released: nothing stays on hold, and the ledger balances.
    let report = flow::assert_ledger_balanced(&f.config).await;
    let on_hold: i64 = report
        .balances
        .iter()
        .filter(|((account, _), _)| account.starts_with("holds:"))
        .map(|(_, b)| b.abs())
        .sum();
    assert_eq!(on_hold, 0, "{}", report.render());
    assert!(
        report.postings > 0,
        "the hold and its release were posted: {}",
        report.render()
    );
    common::drop_keyspace(&f.config).await;
    f.stop().await;
}
