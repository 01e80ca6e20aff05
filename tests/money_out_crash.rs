//! Exactly-once of money out under SIGKILL: the balances processor, the one writer of every merchant's
//! balance, runs as its own process and is killed -9 three times while concurrent payouts ask it for
//! funds, each time inside an open transaction (proven from its log), then restarted. Afterwards every
//! payout is final, exactly the payouts that fit were paid, every funding decision exists once, no
//! reserve left the balance below zero, the ledger balances and the balance equals the ledger.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the report

mod common;

use common::flow;
use common::kill::{kill_inside_transaction, log_lines, spawn_process, wait_progress};
use common::money::{assert_books, bank, beneficiary, fund, payout, settled};
use paystream::events::balance::{FundingDecision, FundingOutcome};
use std::collections::BTreeSet;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn balances_killed_mid_transaction_never_overdraw_lose_or_duplicate() {
    let f = flow::start_named("mo-crash", 0, Some("balances"), |c| {
        c.payouts.queue_ttl_ms = 8_000;
    })
    .await;
    let log = f.dir.path().join("balances.log");
    let mut child = spawn_process(&f, "balances", &log);
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
        child = spawn_process(&f, "balances", &log);
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
