//! The payment flow end to end on the real stack: REST intake through the bridge, the payments, fraud,
//! connector and ledger processors, the sandbox PSP and its signed webhooks. Each test runs the whole
//! pipeline in-process on a private topology (prefixed topics and groups) and keyspace, drives the
//! domain reference's sandbox scenarios, and checks final states, the audit trail and the ledger.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the report

mod common;

use common::flow::*;
use common::kill::{kill_inside_transaction, log_lines, spawn_process, wait_progress};
use paystream::events::payment_event::PaymentEvent;
use paystream::events::transition_rejected::TransitionRejected;
use paystream::events::RoutingDecision;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sandbox_scenarios_reach_their_final_states_and_the_ledger_balances() {
    let f = start(0).await;

    // Every scenario at once: the flow is asynchronous, so waiting in parallel keeps the test short.
    let success = f.create(card("tok_visa_success_1"), 10_000, false).await;
    let upi_ok = f.create(upi("success.1@upi"), 20_000, false).await;
    let nsf = f
        .create(card("tok_insufficient_funds_1"), 10_000, false)
        .await;
    let invalid = f.create(card("tok_invalid_card_1"), 10_000, false).await;
    let pending_ok = f.create(upi("pending_success.1@upi"), 30_000, false).await;
    let pending_ko = f.create(upi("pending_failure.1@upi"), 30_000, false).await;
    let timeout = f.create(card("tok_timeout_1"), 10_000, false).await;
    let server_error = f.create(card("tok_server_error_1"), 10_000, false).await;
    let dup_hook = f
        .create(card("tok_duplicate_webhook_1"), 10_000, false)
        .await;
    let out_of_order = f.create(card("tok_out_of_order_1"), 10_000, false).await;
    // Wallets route to acme first (bolt is the weight-0 fallback): acme_down makes acme decline
    // retryably, so the attempt must cascade to bolt.
    let failover = f
        .create(
            json!({"type": "wallet", "wallet": "acme_down_1"}),
            10_000,
            false,
        )
        .await;
    let blocked = f.create(card("tok_blocked"), 10_000, false).await;
    let review = f.create(card("tok_visa_success_2"), 6_000_000, false).await;
    let partial = f.create(card("tok_visa_success_3"), 50_000, true).await;
    let do_not_honor = f.create(card("tok_do_not_honor_1"), 10_000, false).await;
    let fraudulent = f.create(card("tok_fraudulent_1"), 10_000, false).await;
    let expired = f.create(card("tok_expired_card_1"), 10_000, false).await;
    // Retryable at every connector: the cascade runs out.
    let exhausted = f
        .create(card("tok_issuer_unavailable_1"), 10_000, false)
        .await;
    let late = f.create(card("tok_late_webhook_1"), 10_000, false).await;
    let net_banking = f
        .create(
            json!({"type": "net_banking", "bank_code": "HDFC"}),
            15_000,
            false,
        )
        .await;

    f.wait_status(&success, "succeeded").await;
    f.wait_status(&upi_ok, "succeeded").await;
    let v = f.wait_status(&nsf, "failed").await;
    assert_eq!(v["reason_code"], "INSUFFICIENT_FUNDS", "{v}");
    let v = f.wait_status(&invalid, "failed").await;
    assert_eq!(v["reason_code"], "INVALID_PAYMENT_METHOD", "{v}");
    f.wait_status(&pending_ok, "succeeded").await;
    f.wait_status(&pending_ko, "failed").await;
    f.wait_status(&timeout, "succeeded").await;
    f.wait_status(&server_error, "succeeded").await;
    f.wait_status(&dup_hook, "succeeded").await;
    for (id, reason) in [
        (&do_not_honor, "DO_NOT_HONOR"),
        (&fraudulent, "RISK_DECLINE"),
        (&expired, "EXPIRED"),
        (&exhausted, "ROUTING_EXHAUSTED"),
    ] {
        let v = f.wait_status(id, "failed").await;
        assert_eq!(v["reason_code"], reason, "{v}");
    }
    f.wait_status(&late, "succeeded").await;
    f.wait_status(&net_banking, "succeeded").await;
    f.wait_status(&out_of_order, "succeeded").await;
    let v = f.wait_status(&failover, "succeeded").await;
    assert_eq!(
        v["connector"], "bolt",
        "failover must land on the second connector: {v}"
    );
    let v = f.wait_status(&blocked, "failed").await;
    assert_eq!(v["reason_code"], "FRAUD_BLOCKED", "{v}");
    let v = f
        .wait(&review, "fraud review", |v| {
            v["reason_code"] == "FRAUD_REVIEW"
        })
        .await;
    assert_eq!(
        v["status"], "processing",
        "a review holds the payment pending with a reason: {v}"
    );

    // Partial capture: authorize, capture 20 000 of 50 000, the rest is released.
    f.wait_status(&partial, "requires_capture").await;
    let (status, body) = f
        .post(
            &format!("/v1/payment_intents/{partial}/capture"),
            Some(KEY),
            Some(&common::unique("cap")),
            &json!({"amount": 20_000}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let v = f.wait_status(&partial, "succeeded").await;
    assert_eq!(
        (v["amount_captured"].as_i64(), v["reason_code"].as_str()),
        (Some(20_000), Some("PARTIAL_CAPTURE")),
        "{v}"
    );
    // A second capture is refused by the state machine, and changes nothing.
    let (status, _) = f
        .post(
            &format!("/v1/payment_intents/{partial}/capture"),
            Some(KEY),
            Some(&common::unique("cap")),
            &json!({"amount": 1_000}),
        )
        .await;
    assert_eq!(status, 202);

    // The audit trail: each payment's exact transitions, each exactly once.
    let pending = "PROCESSING/PENDING/AWAITING_PROVIDER?";
    let captured = "SUCCEEDED/CAPTURED/-";
    let expected: BTreeMap<String, Vec<&str>> = [
        (&success, confirmed(&[captured])),
        (&upi_ok, confirmed(&[captured])),
        (&nsf, confirmed(&["FAILED/DECLINED/INSUFFICIENT_FUNDS"])),
        (
            &invalid,
            confirmed(&["FAILED/DECLINED/INVALID_PAYMENT_METHOD"]),
        ),
        (&pending_ok, confirmed(&[pending, captured])),
        (
            &pending_ko,
            confirmed(&[pending, "FAILED/FAILED/PROVIDER_ERROR"]),
        ),
        (
            &timeout,
            confirmed(&["PROCESSING/UNKNOWN/OUTCOME_UNKNOWN", captured]),
        ),
        (
            &server_error,
            confirmed(&["PROCESSING/UNKNOWN/OUTCOME_UNKNOWN", captured]),
        ),
        (&dup_hook, confirmed(&[pending, captured])),
        (&out_of_order, confirmed(&[pending, captured])),
        (
            &failover,
            confirmed(&[
                "PROCESSING/DECLINED/ISSUER_UNAVAILABLE",
                "PROCESSING/STARTED/-",
                captured,
            ]),
        ),
        (
            &blocked,
            vec![
                "REQUIRES_CONFIRMATION/-/-",
                "PROCESSING/-/-",
                "FAILED/-/FRAUD_BLOCKED",
            ],
        ),
        (
            &review,
            vec![
                "REQUIRES_CONFIRMATION/-/-",
                "PROCESSING/-/-",
                "PROCESSING/-/FRAUD_REVIEW",
            ],
        ),
        (
            &partial,
            confirmed(&[
                "REQUIRES_CAPTURE/AUTHORIZED/-",
                "REQUIRES_CAPTURE/CAPTURE_PENDING/CAPTURE_REQUESTED",
                "SUCCEEDED/CAPTURED/PARTIAL_CAPTURE",
            ]),
        ),
        (&do_not_honor, confirmed(&["FAILED/DECLINED/DO_NOT_HONOR"])),
        (&fraudulent, confirmed(&["FAILED/DECLINED/RISK_DECLINE"])),
        (&expired, confirmed(&["FAILED/DECLINED/EXPIRED"])),
        (
            &exhausted,
            confirmed(&[
                "PROCESSING/DECLINED/ISSUER_UNAVAILABLE",
                "PROCESSING/STARTED/-",
                "PROCESSING/DECLINED/ISSUER_UNAVAILABLE",
                "FAILED/DECLINED/ROUTING_EXHAUSTED",
            ]),
        ),
        (&late, confirmed(&[captured])),
        (&net_banking, confirmed(&[captured])),
    ]
    .into_iter()
    .map(|(id, p)| (id.clone(), p))
    .collect();
    let events: Vec<PaymentEvent> = f.read("payments.events", required_events(&expected)).await;
    assert_trails(&events, &expected);
    let trail = assert_trail(&events);
    let failover_connectors: Vec<Option<String>> = trail[&failover]
        .iter()
        .map(|e| e.connector.clone())
        .collect();
    assert!(
        failover_connectors.contains(&Some("acme".into()))
            && failover_connectors.contains(&Some("bolt".into())),
        "{failover_connectors:?}"
    );
    // A non-retryable decline never cascades: one routing decision only.
    let decisions: Vec<RoutingDecision> = f.read("routing.decisions", 12).await;
    assert_eq!(decisions.iter().filter(|d| d.payment_id == nsf).count(), 1);
    assert_eq!(
        decisions
            .iter()
            .filter(|d| d.payment_id == failover)
            .count(),
        2
    );
    // Unknown outcomes (timeout, 5xx) got one status check each, which settled them.
    let requests: Vec<paystream::events::ProviderRequest> = f.read("providers.requests", 15).await;
    for id in [&timeout, &server_error] {
        let checks = requests
            .iter()
            .filter(|r| {
                &r.payment_id == id
                    && r.operation == paystream::events::provider::ProviderOperation::Status
            })
            .count();
        let mine: Vec<_> = requests.iter().filter(|r| &r.payment_id == id).collect();
        let trail_of: Vec<_> = events
            .iter()
            .filter(|e| &e.payment_id == id)
            .map(|e| {
                (
                    e.sequence,
                    e.status,
                    e.attempt_status,
                    e.reason_code.clone(),
                )
            })
            .collect();
        assert_eq!(
            checks, 1,
            "{id}: one status check; requests {mine:?}; events {trail_of:?}"
        );
    }
    // Late and duplicate signals are rejected with a reason, never applied.
    let rejections: Vec<TransitionRejected> = f.read("payments.rejections", 2).await;
    let codes_of = |id: &str| {
        rejections
            .iter()
            .filter(|r| r.payment_id == id)
            .map(|r| r.reason_code.clone())
            .collect::<Vec<_>>()
    };
    assert!(
        codes_of(&out_of_order).contains(&"LATE_SIGNAL".to_owned()),
        "{rejections:?}"
    );
    assert!(
        codes_of(&partial).contains(&"DUPLICATE_SIGNAL".to_owned()),
        "{rejections:?}"
    );
    // The late webhook repeats a success already applied: rejected, never applied twice.
    assert!(!codes_of(&late).is_empty(), "{rejections:?}");

    // The ledger: balanced, with the partial capture's hold released, and what the providers owe
    // exactly what was captured.
    let succeeded = [
        &success,
        &upi_ok,
        &pending_ok,
        &timeout,
        &server_error,
        &dup_hook,
        &out_of_order,
        &failover,
        &partial,
        &late,
        &net_banking,
    ];
    let captured = captured_total(&f, &succeeded).await;
    assert_eq!(
        captured, 155_000,
        "captured amounts as the scenarios were sent"
    );
    assert_ledger_holds_captures(&f.config, captured).await;
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn intake_refuses_bad_requests_precisely_and_idempotency_keys_hold() {
    let f = start(0).await;
    let body = json!({"amount": 12_345, "currency": "INR", "payment_method": card("tok_visa_success_9"), "confirm": true});

    // Same key, same body: the same response (and one payment).
    let (s1, b1) = f
        .post("/v1/payment_intents", Some(KEY), Some("order-42"), &body)
        .await;
    let (s2, b2) = f
        .post("/v1/payment_intents", Some(KEY), Some("order-42"), &body)
        .await;
    assert_eq!((s1, s2), (202, 202));
    assert_eq!(b1, b2, "a replay answers with the first response");
    // Same key, different body: 422.
    let (s3, b3) = f
        .post(
            "/v1/payment_intents",
            Some(KEY),
            Some("order-42"),
            &json!({"amount": 1, "currency": "INR"}),
        )
        .await;
    assert_eq!(
        (s3, b3["error"]["code"].as_str()),
        (422, Some("idempotency_key_reused")),
        "{b3}"
    );
    let id = b1["id"].as_str().unwrap().to_owned();
    f.wait_status(&id, "succeeded").await;

    // Precise 4xx for bad input.
    type Case<'a> = (Option<&'a str>, Value, u16, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (None, body.clone(), 401, "api_key_missing"),
        (Some("sk_wrong"), body.clone(), 401, "api_key_invalid"),
        (
            Some(KEY),
            json!({"amount": 0, "currency": "INR"}),
            422,
            "amount_out_of_range",
        ),
        (
            Some(KEY),
            json!({"amount": 100, "currency": "XYZ"}),
            422,
            "currency_invalid",
        ),
        (
            Some(KEY),
            json!({"amount": 100, "currency": "INR", "payment_method": {"type": "card", "number": "4111111111111111"}}),
            422,
            "raw_card_number",
        ),
        (
            Some(KEY),
            json!({"amount": 100, "currency": "INR", "payment_method": {"type": "card", "card_token": "4111 1111 1111 1111"}}),
            422,
            "raw_card_number",
        ),
        (
            Some(KEY),
            json!({"amount": 100, "currency": "INR", "payment_method": {"type": "upi", "vpa": "not-a-vpa"}}),
            422,
            "vpa_invalid",
        ),
        (
            Some(KEY),
            json!({"amount": 100, "currency": "INR", "surprise": true}),
            400,
            "body_invalid",
        ),
    ];
    for (key, body, status, code) in cases {
        let (s, b) = f.post("/v1/payment_intents", key, None, &body).await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (status, Some(code)),
            "{body} -> {b}"
        );
    }
    // Another merchant's (or no) payment: 404, indistinguishable.
    let (s, b) = f
        .post(
            "/v1/payment_intents/pay_nope/capture",
            Some(KEY),
            None,
            &json!({}),
        )
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (404, Some("payment_not_found"))
    );

    // Webhooks: a bad signature, a stale timestamp and an unknown provider are refused; a redelivery
    // of a verified id is acknowledged as a duplicate and not published again.
    let secret = paystream::connectors::webhook_signature::WebhookSecret::parse(
        paystream::connectors::config::DEMO_ACME_SECRET,
    )
    .unwrap();
    let hook = json!({"id": "evt_test_1", "type": "charge.succeeded", "created": 1, "data": {"id": "ch_1", "status": "succeeded", "reference": format!("{id}_att1"), "payment_id": id}});
    let raw = serde_json::to_vec(&hook).unwrap();
    let send = |ts: i64, sig: String| {
        f.http
            .post(format!("{}/webhooks/acme", f.base))
            .header("webhook-id", "evt_test_1")
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", sig)
            .body(raw.clone())
            .send()
    };
    let now = paystream::domain::clock::now_millis() / 1_000;
    assert_eq!(send(now, "v1,AAAA".into()).await.unwrap().status(), 401);
    assert_eq!(
        send(now - 301, secret.sign("evt_test_1", now - 301, &raw))
            .await
            .unwrap()
            .status(),
        401
    );
    let first: Value = send(now, secret.sign("evt_test_1", now, &raw))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let again: Value = send(now, secret.sign("evt_test_1", now, &raw))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (first["duplicate"].as_bool(), again["duplicate"].as_bool()),
        (None, Some(true))
    );
    let unknown = f
        .http
        .post(format!("{}/webhooks/nobody", f.base))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    // The verified webhook reached the state machine, which found the payment already succeeded.
    // Exactly once: the redelivery was not published again, so one copy reached the state machine.
    let rejections: Vec<TransitionRejected> = f.read("payments.rejections", 1).await;
    let duplicates = rejections
        .iter()
        .filter(|r| r.payment_id == id && r.reason_code == "DUPLICATE_SIGNAL")
        .count();
    assert_eq!(duplicates, 1, "{rejections:?}");
    let hooks: Vec<paystream::events::ProviderWebhook> = f.read("providers.webhooks", 1).await;
    let copies = hooks
        .iter()
        .filter(|h| h.webhook_id == "evt_test_1")
        .count();
    assert_eq!(
        copies, 1,
        "a redelivery is acknowledged, never published again"
    );
    assert_ledger_balanced(&f.config).await;
    f.stop().await;
}

/// Exactly-once under failure: a third of all transactions (every processor) abort after their store
/// writes and their changelog records, just before commit, so inputs are replayed. State committed
/// with the outputs must make that invisible: no duplicate or missing event, each payment's events
/// in sequence order on the topic, the same final states, a balanced ledger.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aborted_transactions_change_nothing() {
    let f = start(333).await;
    let mut ids = Vec::new();
    for i in 0..12 {
        let (token, manual) = match i % 4 {
            0 => (format!("tok_visa_success_{i}"), false),
            1 => (format!("tok_insufficient_funds_{i}"), false),
            2 => (format!("tok_acme_down_{i}"), false),
            _ => (format!("tok_visa_success_{i}"), true),
        };
        ids.push((f.create(card(&token), 10_000 + i, manual).await, i % 4));
    }
    for (id, kind) in &ids {
        match kind {
            1 => {
                f.wait_status(id, "failed").await;
            }
            3 => {
                f.wait_status(id, "requires_capture").await;
                let (s, _) = f
                    .post(
                        &format!("/v1/payment_intents/{id}/capture"),
                        Some(KEY),
                        Some(&common::unique("cap")),
                        &json!({}),
                    )
                    .await;
                assert_eq!(s, 202);
                f.wait_status(id, "succeeded").await;
            }
            _ => {
                f.wait_status(id, "succeeded").await;
            }
        }
    }
    let captured = "SUCCEEDED/CAPTURED/-";
    // Where each card was routed first decides its trail: at least 4 events per payment, 5 for a
    // manual capture, tell it.
    let first_events: Vec<PaymentEvent> = f.read("payments.events", 3 * (4 + 4 + 4 + 5)).await;
    let expected: BTreeMap<String, Vec<&str>> = ids
        .iter()
        .map(|(id, kind)| {
            let pattern = match kind {
                1 => confirmed(&["FAILED/DECLINED/INSUFFICIENT_FUNDS"]),
                // Cards are split between the connectors: acme declines (and the attempt
                // cascades to bolt), bolt succeeds at once.
                2 if first_connector(&first_events, id) == Some("acme") => confirmed(&[
                    "PROCESSING/DECLINED/ISSUER_UNAVAILABLE",
                    "PROCESSING/STARTED/-",
                    captured,
                ]),
                0 | 2 => confirmed(&[captured]),
                _ => confirmed(&[
                    "REQUIRES_CAPTURE/AUTHORIZED/-",
                    "REQUIRES_CAPTURE/CAPTURE_PENDING/CAPTURE_REQUESTED",
                    captured,
                ]),
            };
            (id.clone(), pattern)
        })
        .collect();
    let events: Vec<PaymentEvent> = f.read("payments.events", required_events(&expected)).await;
    assert_trails(&events, &expected);
    let succeeded: Vec<&String> = ids
        .iter()
        .filter(|(_, k)| *k != 1)
        .map(|(id, _)| id)
        .collect();
    let captured = captured_total(&f, &succeeded).await;
    assert_ledger_holds_captures(&f.config, captured).await;
    let stats = f.stop_with_stats().await;
    let aborted = |name: &str| {
        stats
            .iter()
            .filter(|(n, _)| n.starts_with(name))
            .map(|(_, s)| s.transactions_aborted)
            .sum::<u64>()
    };
    // The faults fired: about a third of all transactions were aborted after their store writes
    // (each one by chance, so one processor may see none in a run), and the results above are
    // still exact.
    let total: u64 = ["payments", "fraud", "connector", "ledger"]
        .iter()
        .map(|n| aborted(n))
        .sum();
    assert!(total > 0, "no transaction was aborted: {stats:?}");
}

/// Exactly-once under SIGKILL: the payment processor runs as its own process and is killed -9 four
/// times while payments flow, each time inside an open transaction (after its store writes, records
/// and offsets were sent, before its commit: proven from its log), then restarted, and each restart
/// must commit before the next kill. Every payment must still reach its exact final trail, and the
/// ledger hold exactly what was captured.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn payment_processor_killed_mid_transaction_loses_and_duplicates_nothing() {
    let f = start_with(0, Some("payments")).await;
    let log = f.dir.path().join("payments.log");
    let mut child = spawn_process(&f, "payments", &log, &[]);
    let mut from = 0;
    let mut kills = 0;
    let mut ids = Vec::new();
    for i in 0..40 {
        let (method, manual) = match i % 4 {
            0 => (card(&format!("tok_visa_success_{i}")), false),
            1 => (card(&format!("tok_insufficient_funds_{i}")), false),
            2 => (upi(&format!("pending_success.{i}@upi")), false),
            _ => (
                json!({"type": "wallet", "wallet": format!("acme_down_{i}")}),
                false,
            ),
        };
        ids.push((f.create(method, 10_000 + i, manual).await, i % 4));
        if i % 10 == 9 {
            kill_inside_transaction(&mut child, &log, from).await;
            kills += 1;
            from = log_lines(&log);
            child = spawn_process(&f, "payments", &log, &[]);
            wait_progress(&log, from).await;
        }
    }
    for (id, kind) in &ids {
        match kind {
            1 => f.wait_status(id, "failed").await,
            _ => f.wait_status(id, "succeeded").await,
        };
    }
    let captured = "SUCCEEDED/CAPTURED/-";
    let expected: BTreeMap<String, Vec<&str>> = ids
        .iter()
        .map(|(id, kind)| {
            let pattern = match kind {
                0 => confirmed(&[captured]),
                1 => confirmed(&["FAILED/DECLINED/INSUFFICIENT_FUNDS"]),
                2 => confirmed(&["PROCESSING/PENDING/AWAITING_PROVIDER?", captured]),
                _ => confirmed(&[
                    "PROCESSING/DECLINED/ISSUER_UNAVAILABLE",
                    "PROCESSING/STARTED/-",
                    captured,
                ]),
            };
            (id.clone(), pattern)
        })
        .collect();
    let events: Vec<PaymentEvent> = f.read("payments.events", required_events(&expected)).await;
    assert_trails(&events, &expected);
    let succeeded: Vec<&String> = ids
        .iter()
        .filter(|(_, k)| *k != 1)
        .map(|(id, _)| id)
        .collect();
    let captured = captured_total(&f, &succeeded).await;
    assert_ledger_holds_captures(&f.config, captured).await;
    assert_eq!(kills, 4, "every kill struck inside an open transaction");
    common::eos::signal(&child, "-TERM");
    let status = common::eos::wait_exit(&mut child, Duration::from_secs(30)).await;
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    f.stop().await;
}
