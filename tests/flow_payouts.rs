//! Money out end to end on the real stack (Kafka, Cassandra, the sandbox's Transferly over HTTP):
//! beneficiaries verified by penny drop or VPA lookup (valid, invalid account, name mismatch, VPA not
//! found, an edit that voids the verification), payouts in every sandbox scenario (processed, failed
//! with account closed or bank down, pending then processed by webhook, processed then reversed,
//! timeout), approvals, a bulk batch with a bad row, and the concurrency proof: concurrent payouts
//! whose sum exceeds the balance never overdraw it. After each, the ledger balances, nothing stays
//! reserved and the balance equals the ledger's payable account.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the report

mod common;

use common::flow::{self, KEY};
use common::money::{assert_books, bank, beneficiary, fund, payout, poll, post, settled, FINAL};
use paystream::bridge::config::DEMO_APPROVER_KEY;
use paystream::events::balance::{FundingDecision, FundingOutcome};
use paystream::events::payout::PayoutEvent;
use serde_json::json;
use std::collections::BTreeMap;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verifications_payout_scenarios_approvals_and_a_batch() {
    let f = flow::start_named("payouts", 0, None, |c| {
        c.payouts
            .approval_thresholds_minor
            .insert("m_demo".into(), 40_000);
    })
    .await;
    let funded = fund(&f, 3, 100_000).await;

    // Verifications.
    let ok = beneficiary(&f, "Asha Rao", bank("501000123401"), true).await;
    let v = f.get_path(&format!("/v1/beneficiaries/{ok}")).await;
    assert_eq!(
        (
            v["verification"]["status"].as_str(),
            v["account"]["masked"].as_str()
        ),
        (Some("verified"), Some("XXXX3401 HDFC0001234")),
        "{v}"
    );
    assert!(
        !v.to_string().contains("501000123401"),
        "the number is never shown: {v}"
    );
    let invalid = beneficiary(&f, "Ravi", bank("501000999901"), true).await;
    let v = f.get_path(&format!("/v1/beneficiaries/{invalid}")).await;
    assert_eq!(
        (
            v["verification"]["status"].as_str(),
            v["verification"]["reason_code"].as_str()
        ),
        (Some("invalid"), Some("INVALID_ACCOUNT")),
        "{v}"
    );
    let mismatch = beneficiary(&f, "Mismatch Person", bank("501000123402"), true).await;
    assert_eq!(
        f.get_path(&format!("/v1/beneficiaries/{mismatch}")).await["verification"]["status"],
        "name_mismatch"
    );
    let no_vpa = beneficiary(&f, "Nobody", json!({"vpa": "notfound@okbank"}), true).await;
    assert_eq!(
        f.get_path(&format!("/v1/beneficiaries/{no_vpa}")).await["verification"]["reason_code"],
        "VPA_NOT_FOUND"
    );
    let vpa = beneficiary(&f, "Asha Rao", json!({"vpa": "asha.rao@okbank"}), true).await;
    let unverified = beneficiary(&f, "New Vendor", bank("501000123403"), false).await;
    let edited = beneficiary(&f, "Asha Rao", bank("501000123404"), true).await;
    post(
        &f,
        &format!("/v1/beneficiaries/{edited}"),
        bank("501000123405"),
    )
    .await;
    poll(
        &f,
        &format!("/v1/beneficiaries/{edited}"),
        "the edit",
        |v| v["account"]["masked"] == "XXXX3405 HDFC0001234",
    )
    .await;

    // Payouts: every scenario, and the refusals.
    let scenario = |n: &'static str| {
        let f = &f;
        async move { beneficiary(f, "Asha Rao", bank(n), true).await }
    };
    let mut expect: Vec<(String, &str, Option<&str>)> = Vec::new();
    for (number, status, reason) in [
        ("501000123401", "processed", None),
        ("501000222201", "failed", Some("ACCOUNT_CLOSED")),
        ("501000333301", "failed", Some("INVALID_IFSC")),
        ("501000444401", "failed", Some("BENEFICIARY_BANK_DOWN")),
        ("501000555501", "processed", None),
        ("501000666601", "reversed", Some("REVERSED_BY_BANK")),
        ("501000777701", "processed", None),
    ] {
        let ben = if number == "501000123401" {
            ok.clone()
        } else {
            scenario(number).await
        };
        expect.push((payout(&f, &ben, 1_000, "IMPS").await, status, reason));
    }
    expect.push((payout(&f, &vpa, 1_000, "UPI").await, "processed", None));
    expect.push((
        payout(&f, &invalid, 1_000, "IMPS").await,
        "rejected",
        Some("INVALID_BENEFICIARY"),
    ));
    expect.push((
        payout(&f, &mismatch, 1_000, "IMPS").await,
        "rejected",
        Some("BENEFICIARY_NAME_MISMATCH"),
    ));
    expect.push((
        payout(&f, &unverified, 1_000, "NEFT").await,
        "rejected",
        Some("BENEFICIARY_NOT_VERIFIED"),
    ));
    expect.push((
        payout(&f, &edited, 1_000, "NEFT").await,
        "rejected",
        Some("BENEFICIARY_NOT_VERIFIED"),
    ));
    expect.push((
        payout(&f, &ok, 1_000, "UPI").await,
        "rejected",
        Some("RAIL_NOT_FOR_ACCOUNT"),
    ));
    for (id, status, reason) in &expect {
        // A processed transfer may still come back from the bank: wait for the reversal itself.
        let v = if *status == "reversed" {
            poll(&f, &format!("/v1/payouts/{id}"), "reversed", |v| {
                v["status"] == "reversed"
            })
            .await
        } else {
            settled(&f, id).await
        };
        assert_eq!(
            (v["status"].as_str(), v["reason_code"].as_str()),
            (Some(*status), *reason),
            "{v}"
        );
        if *status == "processed" {
            assert!(
                v["utr"].as_str().is_some_and(|u| u.starts_with("UTR")),
                "a processed payout has its UTR: {v}"
            );
        }
    }

    // Approvals: from 40 000 a payout waits for another key.
    let big = payout(&f, &ok, 50_000, "NEFT").await;
    poll(&f, &format!("/v1/payouts/{big}"), "pending_approval", |v| {
        v["status"] == "pending_approval"
    })
    .await;
    let (status, body) = f
        .post(
            &format!("/v1/payouts/{big}/approve"),
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
            &format!("/v1/payouts/{big}/approve"),
            Some(DEMO_APPROVER_KEY),
            None,
            &json!({}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(settled(&f, &big).await["status"], "processed");
    let rejected = payout(&f, &ok, 45_000, "NEFT").await;
    poll(
        &f,
        &format!("/v1/payouts/{rejected}"),
        "pending_approval",
        |v| v["status"] == "pending_approval",
    )
    .await;
    let (status, body) = f
        .post(
            &format!("/v1/payouts/{rejected}/reject"),
            Some(DEMO_APPROVER_KEY),
            None,
            &json!({"reason": "no invoice"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        settled(&f, &rejected).await["reason_code"],
        "REJECTED_BY_APPROVER"
    );

    // A batch: one bad row never sinks the others.
    let item = |ben: &str, mode: &str| json!({"beneficiary_id": ben, "amount": 700, "currency": "INR", "mode": mode, "purpose": "salary"});
    let batch = post(&f, "/v1/payout_batches", json!({"items": [item(&ok, "IMPS"), item(&vpa, "UPI"), item(&ok, "CHEQUE"), item(&invalid, "IMPS")]})).await;
    assert_eq!(batch["refused"][0]["index"], 2, "{batch}");
    assert_eq!(batch["refused"][0]["error"]["field"], "mode", "{batch}");
    let id = batch["id"].as_str().unwrap();
    let v = poll(
        &f,
        &format!("/v1/payout_batches/{id}"),
        "every item final",
        |v| {
            v["payouts"].as_array().is_some_and(|p| {
                p.len() == 3
                    && p.iter()
                        .all(|x| FINAL.contains(&x["status"].as_str().unwrap_or("")))
            })
        },
    )
    .await;
    assert_eq!(
        (
            v["counts"]["processed"].as_u64(),
            v["counts"]["rejected"].as_u64()
        ),
        (Some(2), Some(1)),
        "{v}"
    );

    // The trails, the books, the balance.
    let events: Vec<PayoutEvent> = f.read("payouts.events", 30).await;
    let decision = events
        .iter()
        .find(|e| {
            e.payout_id == rejected && e.status == paystream::events::payout::PayoutStatus::Rejected
        })
        .unwrap();
    assert_eq!(
        (decision.reason.as_deref(), decision.actor.is_some()),
        (Some("no invoice"), true),
        "who and why: {decision:?}"
    );
    let mut by: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for e in &events {
        by.entry(&e.payout_id).or_default().push(e.sequence);
    }
    for (id, seqs) in by {
        assert_eq!(
            seqs,
            (1..=i64::try_from(seqs.len()).unwrap()).collect::<Vec<_>>(),
            "payout {id}"
        );
    }
    let paid_out = 1_000 * 4 + 50_000 + 1_400; // processed: 4 single, the approved one, two batch items
    assert_eq!(assert_books(&f).await, funded - paid_out);
    f.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_payouts_never_overdraw_the_balance() {
    let f = flow::start_named("payouts_race", 0, None, |c| {
        c.payouts.queue_ttl_ms = 4_000;
    })
    .await;
    let funded = fund(&f, 2, 10_000).await;
    let ben = beneficiary(&f, "Asha Rao", bank("501000123401"), true).await;
    let n = 30;
    let amount = 1_000;
    assert!(n * amount > funded, "the payouts must overdraw: {funded}");
    let sends = (0..n).map(|_| payout(&f, &ben, amount, "IMPS"));
    let ids: Vec<String> = futures::future::join_all(sends).await;
    let mut processed = 0;
    let mut expired = 0;
    for id in &ids {
        let v = settled(&f, id).await;
        match (v["status"].as_str(), v["reason_code"].as_str()) {
            (Some("processed"), _) => processed += 1,
            (Some("failed"), Some("QUEUE_EXPIRED")) => expired += 1,
            other => panic!("payout {id}: {other:?} {v}"),
        }
    }
    assert_eq!(
        processed,
        funded / amount,
        "every payout that fits is paid, no more"
    );
    assert_eq!(processed + expired, n);
    // Every reserve the balance granted left it at zero or above.
    let decisions: Vec<FundingDecision> =
        f.read("payouts.funding", usize::try_from(n).unwrap()).await;
    for d in &decisions {
        if d.outcome == FundingOutcome::Reserved {
            assert!(d.available_minor >= 0, "{d:?}");
        }
    }
    assert_eq!(assert_books(&f).await, funded - processed * amount);
    f.stop().await;
}
