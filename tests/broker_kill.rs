//! The broker killed (`kill -9`) while merchants create and confirm payments over REST, then started
//! again: every request the bridge could not finish is retried with its Idempotency-Key, and each key
//! ends as exactly one payment, in the state its request asked for, with a trail of 1..n events.
//!
//! Alone in its test binary: it stops the shared broker, so nothing else may run beside it (cargo runs
//! test binaries one after another).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the report

mod common;

use common::chaos::{self, BROKER};
use common::flow::*;
use std::sync::Arc;
use std::time::Duration;

const PAYMENTS: usize = 160;
const WORKERS: usize = 4;
const PAUSE_MS: u64 = 150;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn broker_killed_during_requests_each_key_is_exactly_one_payment() {
    let f = Arc::new(
        start_configured(0, None, |c| {
            c.bridge.produce_timeout_ms = 2_000;
            c.runtime.batch_failures_max = 1_000;
        })
        .await,
    );
    let run = common::unique("bk");
    let keys: Vec<String> = (0..PAYMENTS).map(|i| format!("{run}-{i}")).collect();

    // The broker dies a second in and comes back as soon as the stack script can start it.
    let chaos = chaos::kill_and_restart(&BROKER, Duration::from_secs(1));
    let (first, down_for) = chaos::load_during(&f, &keys, WORKERS, PAUSE_MS, chaos).await;
    let refused = first.values().filter(|(s, _)| *s != 202).count();
    let unknown = first
        .values()
        .filter(|(s, c)| *s == 503 && c == "outcome_unknown")
        .count();
    println!("broker down {down_for:?}; {refused} of {PAYMENTS} first requests refused ({unknown} outcome_unknown)");
    assert!(
        unknown > 0,
        "the kill landed while requests were publishing: {first:?}"
    );
    assert!(refused < PAYMENTS, "requests before the kill succeeded");

    chaos::retry_refused(&f, &keys, &first).await;
    chaos::assert_one_succeeded_payment_per_key(&f, &keys).await;
    let f = Arc::try_unwrap(f).ok().expect("workers are done");
    f.stop().await;
}
