//! A commit whose outcome is unknown: the broker is frozen (`SIGSTOP`) while a transaction of
//! `paystream process probe` is open, so its commit times out without the broker saying whether it
//! happened. The runtime must not retry blindly: it recreates the producer (whose
//! `init_transactions` settles the open transaction), rewinds to the committed offsets, and the
//! outputs are still exactly once (docs/exactly-once.md, "Failure handling").
//!
//! Alone in its test binary: it freezes the shared broker, so nothing else may run beside it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the report

mod common;

use common::eos;
use std::path::Path;
use std::time::{Duration, Instant};

const STALL_MS: u64 = 1_500;
const CALL_TIMEOUT_MS: u64 = 2_000;

fn signal_broker(sig: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let pid = std::fs::read_to_string(root.join(".stack/run/kafka.pid")).expect("kafka pid file");
    let status = std::process::Command::new("kill")
        .args([sig, pid.trim()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {sig} {pid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_with_an_unknown_outcome_recreates_the_producer_and_loses_nothing() {
    let setup = eos::setup(1).await;
    let commands = eos::commands(300, 30);
    eos::produce(&setup, &eos::encoded(&setup, &commands)).await;
    let stall = STALL_MS.to_string();
    let timeout = CALL_TIMEOUT_MS.to_string();
    let env = [
        (
            "PAYSTREAM__RUNTIME__FAULTS__STALL_BEFORE_COMMIT_MS",
            stall.as_str(),
        ),
        (
            "PAYSTREAM__RUNTIME__KAFKA_CALL_TIMEOUT_MS",
            timeout.as_str(),
        ),
        ("PAYSTREAM__RUNTIME__BATCH_RECORDS_MAX", "50"),
    ];
    let mut child = eos::spawn_binary(&setup, "0", &env);

    // Freeze the broker while a transaction is open: its commit is sent to a broker that answers
    // nothing until after the call's timeout.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !eos::log_of(&setup, "0").contains("injected stall: transaction open before commit") {
        assert!(
            Instant::now() < deadline,
            "no transaction opened within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    signal_broker("-STOP");
    tokio::time::sleep(Duration::from_millis(STALL_MS + CALL_TIMEOUT_MS + 1_500)).await;
    signal_broker("-CONT");

    let outputs = eos::read_committed(
        &setup.config,
        &setup.output,
        commands.len(),
        Duration::from_secs(180),
        Duration::from_secs(3),
    )
    .await;
    eos::signal(&child, "-TERM");
    let status = eos::wait_exit(&mut child, Duration::from_secs(30)).await;
    let log = eos::log_of(&setup, "0");
    assert!(status.success(), "{status:?}\n{log}");
    assert!(
        log.contains("transaction outcome unknown; recreating the producer"),
        "the frozen commit's outcome was treated as unknown:\n{log}"
    );
    eos::assert_exactly_once(&setup.codec, &outputs, &commands);
    eos::assert_store_rows(&setup.config, &commands).await;
    common::drop_keyspace(&setup.config).await;
}
