//! Refunds, captures and voids end to end on the real stack (Kafka, Cassandra, the sandbox over HTTP):
//! every refund scenario of the sandbox, approvals by a second key, captures and voids through the
//! provider, and the concurrency proof: 50 concurrent refunds of one payment over REST and 50 over
//! Kafka never take more than was captured. After each, the refunds' trails are 1..n, the ledger
//! balances and no reserve is left behind.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the report

mod common;

use common::flow::{self, card, Flow, KEY};
use paystream::bridge::config::DEMO_APPROVER_KEY;
use paystream::events::refund::{RefundAction, RefundEvent, RefundRequest, RefundStatus};
use paystream::events::{Catalog, Codec, TimestampMillis};
use rdkafka::producer::FutureRecord;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

async fn refund(f: &Flow, key: &str, body: Value) -> (u16, Value) {
    f.post(
        "/v1/refunds",
        Some(key),
        Some(&common::unique("idem")),
        &body,
    )
    .await
}

async fn refund_id(f: &Flow, payment: &str, amount: Option<i64>) -> String {
    let mut body = json!({"payment_intent": payment, "reason": "requested_by_customer", "metadata": {"order": "o_1"}});
    if let Some(a) = amount {
        body["amount"] = json!(a);
    }
    let (status, body) = refund(f, KEY, body).await;
    assert_eq!(status, 202, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

/// Polls `GET /v1/refunds/{id}` until `done` holds.
async fn wait_refund(f: &Flow, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let v = f.get_path(&format!("/v1/refunds/{id}")).await;
        if done(&v) {
            return v;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "refund {id} stuck: {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn settled(f: &Flow, id: &str) -> Value {
    wait_refund(f, id, |v| {
        ["succeeded", "failed", "rejected", "canceled"]
            .contains(&v["status"].as_str().unwrap_or(""))
    })
    .await
}

/// Every refund's events carry sequences 1..n in topic order; returns them by refund.
fn assert_refund_trails(events: &[RefundEvent]) -> BTreeMap<String, Vec<RefundEvent>> {
    let mut by: BTreeMap<String, Vec<RefundEvent>> = BTreeMap::new();
    for e in events {
        by.entry(e.refund_id.clone()).or_default().push(e.clone());
        assert!(
            e.payment_refunded_minor <= e.payment_captured_minor,
            "{e:?}"
        );
    }
    for (id, es) in &by {
        let seqs: Vec<i64> = es.iter().map(|e| e.sequence).collect();
        let want: Vec<i64> = (1..=i64::try_from(es.len()).unwrap()).collect();
        assert_eq!(
            seqs, want,
            "refund {id}: an event is duplicated, missing or out of order"
        );
    }
    by
}

/// The ledger balances and nothing stays reserved once every refund is final.
async fn assert_books(f: &Flow) -> paystream::store::ledger::AuditReport {
    let report = flow::assert_ledger_balanced(&f.config).await;
    let reserved: i64 = report
        .balances
        .iter()
        .filter(|((account, _), _)| account.ends_with(":reserved"))
        .map(|(_, b)| *b)
        .sum();
    assert_eq!(
        reserved,
        0,
        "no reserve outlives its refund:\n{}",
        report.render()
    );
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refund_scenarios_approvals_captures_and_voids() {
    let f = flow::start_named("refunds", 0, None, |c| {
        c.payments
            .refund_approval_thresholds_minor
            .insert("m_demo".into(), 8_000);
    })
    .await;
    let paid = |token: &'static str| {
        let f = &f;
        async move {
            let id = f.create(card(token), 10_000, false).await;
            f.wait_status(&id, "succeeded").await;
            id
        }
    };
    // Success, then everything left (no amount).
    let p1 = paid("tok_visa").await;
    let r1 = refund_id(&f, &p1, Some(2_500)).await;
    let v = settled(&f, &r1).await;
    assert_eq!(
        (v["status"].as_str(), v["amount"].as_i64()),
        (Some("succeeded"), Some(2_500)),
        "{v}"
    );
    assert_eq!(v["metadata"]["order"], "o_1", "{v}");
    let rest = refund_id(&f, &p1, None).await;
    let v = settled(&f, &rest).await;
    assert_eq!(
        (v["status"].as_str(), v["amount"].as_i64()),
        (Some("succeeded"), Some(7_500)),
        "{v}"
    );
    let none_left = refund_id(&f, &p1, Some(1)).await;
    let v = settled(&f, &none_left).await;
    assert_eq!(
        (v["status"].as_str(), v["reason_code"].as_str()),
        (Some("failed"), Some("AMOUNT_EXCEEDS_REFUNDABLE")),
        "{v}"
    );
    let list = f
        .get_path(&format!("/v1/payment_intents/{p1}/refunds"))
        .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 3, "{list}");

    // Pending, then the provider's webhook; a failure; a timeout settled by the status check.
    let pending = refund_id(&f, &paid("tok_refund_pending").await, Some(1_000)).await;
    let fails = refund_id(&f, &paid("tok_refund_fail").await, Some(1_000)).await;
    let slow = refund_id(&f, &paid("tok_refund_timeout").await, Some(1_000)).await;
    wait_refund(&f, &pending, |v| {
        v["status"] == "pending" || v["status"] == "succeeded"
    })
    .await;
    assert_eq!(settled(&f, &pending).await["status"], "succeeded");
    let v = settled(&f, &fails).await;
    assert_eq!(
        (v["status"].as_str(), v["reason_code"].as_str()),
        (Some("failed"), Some("PROVIDER_DECLINED")),
        "{v}"
    );
    assert_eq!(settled(&f, &slow).await["status"], "succeeded");

    // Approvals: from 8 000 a refund waits for an approver key other than its creator's.
    let p2 = paid("tok_visa").await;
    let big = refund_id(&f, &p2, Some(9_000)).await;
    let v = wait_refund(&f, &big, |v| v["status"] == "requires_approval").await;
    assert!(v["created_by"].as_str().unwrap().starts_with("key_"), "{v}");
    let over = refund_id(&f, &p2, Some(1_500)).await;
    assert_eq!(
        settled(&f, &over).await["reason_code"],
        "AMOUNT_EXCEEDS_REFUNDABLE",
        "the waiting refund holds its amount"
    );
    let (status, body) = f
        .post(
            &format!("/v1/refunds/{big}/approve"),
            Some(KEY),
            None,
            &json!({}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("role_required")),
        "{body}"
    );
    let (status, body) = f
        .post(
            &format!("/v1/refunds/{big}/approve"),
            Some(DEMO_APPROVER_KEY),
            None,
            &json!({"reason": "checked the order"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let v = settled(&f, &big).await;
    assert_eq!(v["status"], "succeeded", "{v}");
    assert!(
        v["decided_by"]
            .as_str()
            .is_some_and(|d| d != v["created_by"].as_str().unwrap()),
        "{v}"
    );
    let p3 = paid("tok_visa").await;
    let rejected = refund_id(&f, &p3, Some(9_000)).await;
    wait_refund(&f, &rejected, |v| v["status"] == "requires_approval").await;
    let (status, _) = f
        .post(
            &format!("/v1/refunds/{rejected}/reject"),
            Some(DEMO_APPROVER_KEY),
            None,
            &json!({}),
        )
        .await;
    assert_eq!(status, 202);
    assert_eq!(settled(&f, &rejected).await["status"], "rejected");
    let canceled = refund_id(&f, &p3, Some(8_500)).await;
    wait_refund(&f, &canceled, |v| v["status"] == "requires_approval").await;
    let (status, _) = f
        .post(
            &format!("/v1/refunds/{canceled}/cancel"),
            Some(KEY),
            None,
            &json!({}),
        )
        .await;
    assert_eq!(status, 202);
    assert_eq!(settled(&f, &canceled).await["status"], "canceled");

    // Captures and voids go to the provider.
    let manual = f.create(card("tok_visa"), 3_000, true).await;
    f.wait_status(&manual, "requires_capture").await;
    let (status, _) = f
        .post(
            &format!("/v1/payment_intents/{manual}/capture"),
            Some(KEY),
            Some(&common::unique("idem")),
            &json!({"amount": 2_000}),
        )
        .await;
    assert_eq!(status, 202);
    let v = f.wait_status(&manual, "succeeded").await;
    assert_eq!(v["amount_captured"], 2_000, "{v}");
    let refused = f.create(card("tok_capture_fail"), 3_000, true).await;
    f.wait_status(&refused, "requires_capture").await;
    f.post(
        &format!("/v1/payment_intents/{refused}/capture"),
        Some(KEY),
        Some(&common::unique("idem")),
        &json!({}),
    )
    .await;
    let v = f
        .wait(&refused, "CAPTURE_FAILED", |v| {
            v["reason_code"] == "CAPTURE_FAILED"
        })
        .await;
    assert_eq!(v["status"], "requires_capture", "{v}");
    f.post(
        &format!("/v1/payment_intents/{refused}/cancel"),
        Some(KEY),
        Some(&common::unique("idem")),
        &json!({}),
    )
    .await;
    f.wait_status(&refused, "canceled").await;

    let events: Vec<RefundEvent> = f.read("refunds.events", 20).await;
    let by = assert_refund_trails(&events);
    assert!(by[&big]
        .iter()
        .any(|e| e.status == RefundStatus::PendingApproval));
    let approval = by[&big]
        .iter()
        .find(|e| e.previous_status == Some(RefundStatus::PendingApproval))
        .unwrap();
    assert_eq!(
        (approval.reason.as_deref(), approval.actor.is_some()),
        (Some("checked the order"), true),
        "every decision says who and why: {approval:?}"
    );
    let report = assert_books(&f).await;
    // Receivables: what providers owe is what was captured less what was refunded.
    let receivable: i64 = report
        .balances
        .iter()
        .filter(|((a, _), _)| a.starts_with("provider:") && a.ends_with(":receivable"))
        .map(|(_, b)| *b)
        .sum();
    let captured = 6 * 10_000 + 2_000;
    let refunded = 2_500 + 7_500 + 1_000 + 1_000 + 9_000;
    assert_eq!(receivable, captured - refunded, "{}", report.render());
    f.stop().await;
}

/// 50 refund requests of one payment at once, each of 150 to 640: together far above the capture.
fn amounts() -> Vec<i64> {
    (0..50).map(|i| 150 + (i * 37) % 491).collect()
}

/// The refunds of `payment` once all are final: (succeeded total, failed count).
async fn outcome(f: &Flow, ids: &[String]) -> (i64, usize) {
    let mut refunded = 0;
    let mut failed = 0;
    for id in ids {
        let v = settled(f, id).await;
        match v["status"].as_str() {
            Some("succeeded") => refunded += v["amount"].as_i64().unwrap(),
            Some("failed") => {
                assert_eq!(v["reason_code"], "AMOUNT_EXCEEDS_REFUNDABLE", "{v}");
                failed += 1;
            }
            other => panic!("refund {id} ended {other:?}: {v}"),
        }
    }
    (refunded, failed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_refunds_over_rest_and_kafka_never_exceed_the_capture() {
    let f = flow::start_named("refunds50", 0, None, |_| {}).await;
    let captured = 10_000;
    let over_rest = f.create(card("tok_visa"), captured, false).await;
    let over_kafka = f.create(card("tok_visa"), captured, false).await;
    f.wait_status(&over_rest, "succeeded").await;
    f.wait_status(&over_kafka, "succeeded").await;
    let asked: i64 = amounts().iter().sum();
    assert!(asked > captured, "the requests must overdraw: {asked}");

    let sends = amounts().into_iter().map(|a| {
        let f = &f;
        let p = over_rest.clone();
        async move {
            let (status, body) = refund(f, KEY, json!({"payment_intent": p, "amount": a})).await;
            assert_eq!(status, 202, "{body}");
            body["id"].as_str().unwrap().to_owned()
        }
    });
    let rest_ids: Vec<String> = futures::future::join_all(sends).await;

    let codec = Codec::single_object(Catalog::bundled().unwrap());
    let producer = common::eos::producer(&f.config);
    let topic = f.topic("refunds.requests");
    let kafka_ids: Vec<String> = (0..50)
        .map(|i| format!("re_kafka_{i}_{}", common::unique("k")))
        .collect();
    let records: Vec<(RefundRequest, Vec<u8>)> = kafka_ids
        .iter()
        .zip(amounts())
        .map(|(id, a)| {
            let r = RefundRequest {
                refund_id: id.clone(),
                payment_id: over_kafka.clone(),
                merchant_id: "m_demo".into(),
                amount_minor: Some(a),
                currency: "INR".into(),
                reason: None,
                requested_by: "upstream_refunds".into(),
                idempotency_key: None,
                requested_at: TimestampMillis(0),
                action: RefundAction::Create,
                metadata: BTreeMap::new(),
            };
            let bytes = codec.encode_sync(&r).unwrap();
            (r, bytes)
        })
        .collect();
    let deliveries = records.iter().map(|(r, bytes)| {
        producer
            .send_result(FutureRecord::to(&topic).key(&r.payment_id).payload(bytes))
            .map_err(|(e, _)| e)
            .unwrap()
    });
    for d in futures::future::join_all(deliveries).await {
        d.unwrap().map_err(|(e, _)| e).unwrap();
    }
    // The Kafka refunds are readable over REST once the views have them (their owner comes from the
    // first event).
    let (rest_total, rest_failed) = outcome(&f, &rest_ids).await;
    let (kafka_total, kafka_failed) = outcome(&f, &kafka_ids).await;
    for (name, total, failed) in [
        ("REST", rest_total, rest_failed),
        ("Kafka", kafka_total, kafka_failed),
    ] {
        assert!(
            total <= captured,
            "{name}: refunded {total} of a capture of {captured}"
        );
        assert!(
            failed > 0,
            "{name}: the requests overdraw, so some must fail"
        );
        assert!(
            captured - total < 640,
            "{name}: refunds stop only when the next one cannot fit ({total})"
        );
    }
    // One event per refund, and a second for each that succeeded (pending, then succeeded).
    let succeeded = 100 - rest_failed - kafka_failed;
    let events: Vec<RefundEvent> = f.read("refunds.events", 100 + succeeded).await;
    assert_eq!(events.len(), 100 + succeeded, "no refund event twice");
    let by = assert_refund_trails(&events);
    assert_eq!(by.len(), 100, "every request has its trail");
    // Each payment's refunds were decided one at a time: the running total never passes the capture.
    for e in &events {
        assert!(e.payment_refunded_minor <= captured, "{e:?}");
    }
    let report = assert_books(&f).await;
    let receivable: i64 = report
        .balances
        .iter()
        .filter(|((a, _), _)| a.starts_with("provider:") && a.ends_with(":receivable"))
        .map(|(_, b)| *b)
        .sum();
    assert_eq!(
        receivable,
        2 * captured - rest_total - kafka_total,
        "{}",
        report.render()
    );
    f.stop().await;
}
