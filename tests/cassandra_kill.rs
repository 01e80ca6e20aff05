//! The database killed (`kill -9`) while merchants create and confirm payments over REST, then
//! started again: every key ends as exactly one succeeded payment with a trail of 1..n events, and the
//! ledger balances with every capture posted, whole. A write the database acknowledged must survive
//! the kill: the local stack syncs its commit log before it acknowledges (`commitlog_sync: group`).
//!
//! Alone in its test binary: it stops the shared database, so nothing else may run beside it (cargo
//! runs test binaries one after another).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the report

mod common;

use common::chaos::{self, DATABASE};
use common::flow::*;
use std::sync::Arc;
use std::time::Duration;

const PAYMENTS: usize = 160;
const WORKERS: usize = 4;
const PAUSE_MS: u64 = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn database_killed_mid_flow_every_payment_settles_and_the_ledger_balances() {
    let f = Arc::new(
        start_configured(0, None, |c| {
            // The database is away for as long as it takes to start again: keep retrying.
            c.runtime.batch_failures_max = 1_000;
        })
        .await,
    );
    let run = common::unique("ck");
    let keys: Vec<String> = (0..PAYMENTS).map(|i| format!("{run}-{i}")).collect();

    // The database dies two seconds in, with payments at every step, and comes back as soon as the
    // stack script can start it.
    let chaos = chaos::kill_and_restart(&DATABASE, Duration::from_secs(2));
    let (first, down_for) = chaos::load_during(&f, &keys, WORKERS, PAUSE_MS, chaos).await;
    let refused = first.values().filter(|(s, _)| *s != 202).count();
    println!("database down {down_for:?}; {refused} of {PAYMENTS} first requests refused");
    assert!(
        refused > 0,
        "the kill landed while requests came in: {first:?}"
    );
    assert!(refused < PAYMENTS, "requests before the kill succeeded");

    chaos::retry_refused(&f, &keys, &first).await;
    chaos::assert_one_succeeded_payment_per_key(&f, &keys).await;
    // Every payment succeeded with its full amount captured: the receivables must hold all of it.
    let captured: i64 = (0..PAYMENTS)
        .map(|i| 1_000 + i64::try_from(i).unwrap())
        .sum();
    assert_ledger_holds_captures(&f.config, captured).await;
    let f = Arc::try_unwrap(f).ok().expect("workers are done");
    f.stop().await;
}
