//! Exactly-once of money out under SIGKILL: the balances processor (the one writer of every merchant's
//! balance) or the payout processor runs as its own process and is killed -9 three times while
//! concurrent payouts flow, each time inside an open transaction (proven from its log), then
//! restarted. Afterwards every payout is final, exactly the payouts that fit were paid, every funding
//! decision exists once, every payout's events are 1..n with none twice, no reserve left the balance
//! below zero, the ledger balances and the balance equals the ledger.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the report

mod common;

use common::flow;
use common::kill::{kill_inside_transaction, log_lines, spawn_process, wait_progress};
use common::money::{assert_books, bank, beneficiary, fund, payout, settled};
use paystream::events::balance::{FundingDecision, FundingOutcome};
use paystream::events::payout::PayoutEvent;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn balances_killed_mid_transaction_never_overdraw_lose_or_duplicate() {
    killed_under_payouts("balances").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn payouts_killed_mid_transaction_never_pay_twice_or_lose_a_payout() {
    killed_under_payouts("payouts").await;
}

/// Runs `victim` as its own process, kills it inside a transaction after each wave of payouts, and
/// checks the outcome.
async fn killed_under_payouts(victim: &str) {
    let queue_ttl_ms = 8_000;
    let f = flow::start_named(&format!("mo_{victim}"), 0, Some(victim), |c| {
        c.payouts.queue_ttl_ms = queue_ttl_ms;
    })
    .await;
    let ttl = queue_ttl_ms.to_string();
    let envs = [("PAYSTREAM__PAYOUTS__QUEUE_TTL_MS", ttl.as_str())];
    let log = f.dir.path().join(format!("{victim}.log"));
    let mut child = spawn_process(&f, victim, &log, &envs);
    let funded = fund(&f, 2, 10_000).await;
    let ben = beneficiary(&f, "Asha Rao", bank("501000123401"), true).await;
    let (waves, per_wave, amount) = (3, 10, 1_000);
    assert!(
        waves * per_wave * amount > funded,
        "the payouts must overdraw: {funded}"
    );
    let mut ids = Vec::new();
    let mut from = 0;
    for _ in 0..waves {
        let sends = (0..per_wave).map(|_| payout(&f, &ben, amount, "IMPS"));
        ids.extend(futures::future::join_all(sends).await);
        kill_inside_transaction(&mut child, &log, from).await;
        from = log_lines(&log);
        child = spawn_process(&f, victim, &log, &envs);
        wait_progress(&log, from).await;
    }
    let mut processed = 0;
    for id in &ids {
        let v = settled(&f, id).await;
        match (v["status"].as_str(), v["reason_code"].as_str()) {
            (Some("processed"), _) => processed += 1,
            (Some("failed"), Some("QUEUE_EXPIRED" | "INSUFFICIENT_BALANCE")) => {}
            other => panic!("payout {id}: {other:?} {v}"),
        }
    }
    assert_eq!(
        processed,
        funded / amount,
        "every payout that fits is paid, no more"
    );
    // One decision per reserve granted or refused, none twice, none below zero.
    let n = usize::try_from(waves * per_wave).unwrap();
    let decisions: Vec<FundingDecision> = f.read("payouts.funding", n).await;
    let ids_seen: BTreeSet<&str> = decisions.iter().map(|d| d.decision_id.as_str()).collect();
    assert_eq!(
        ids_seen.len(),
        decisions.len(),
        "a funding decision was written twice"
    );
    let reserved: Vec<&FundingDecision> = decisions
        .iter()
        .filter(|d| d.outcome == FundingOutcome::Reserved)
        .collect();
    assert_eq!(i64::try_from(reserved.len()).unwrap(), processed);
    assert!(
        reserved.iter().all(|d| d.available_minor >= 0),
        "{reserved:?}"
    );
    // Every payout's trail is 1..n in topic order: none lost, none twice.
    let events: Vec<PayoutEvent> = f.read("payouts.events", n * 3).await;
    let mut trails: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for e in &events {
        trails.entry(&e.payout_id).or_default().push(e.sequence);
    }
    assert_eq!(trails.len(), n, "every payout has its trail");
    for (id, seqs) in trails {
        let want: Vec<i64> = (1..=i64::try_from(seqs.len()).unwrap()).collect();
        assert_eq!(seqs, want, "payout {id}");
    }
    assert_eq!(assert_books(&f).await, funded - processed * amount);
    common::eos::signal(&child, "-TERM");
    let status = common::eos::wait_exit(&mut child, Duration::from_secs(30)).await;
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    f.stop().await;
}
