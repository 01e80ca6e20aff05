//! The runtime's stops, on the real broker and Cassandra: a processor that writes a topic it did not
//! declare is stopped before anything of its transaction commits, and `batch_failures_max` failed
//! transactions in a row stop a processor instead of retrying for ever (docs/exactly-once.md,
//! "Failure handling").
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the report

mod common;

use common::eos;
use paystream::runtime::eos::RuntimeError;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The processor's task ends by itself within `within`, with a fatal error.
async fn stops_by_itself(
    task: tokio::task::JoinHandle<Result<paystream::runtime::eos::RunStats, RuntimeError>>,
    within: Duration,
) -> String {
    let ended = tokio::time::timeout(within, task)
        .await
        .expect("the processor stopped by itself")
        .unwrap();
    match ended {
        Err(RuntimeError::Fatal { message, .. }) => message,
        other => panic!("a fatal stop, not {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writing_an_undeclared_topic_stops_the_processor_and_commits_nothing() {
    let setup = eos::setup(1).await;
    let elsewhere = format!("{}.elsewhere", setup.output.trim_end_matches(".out"));
    common::create_topic(&setup.config, &elsewhere, 1).await;
    eos::produce(&setup, &eos::encoded(&setup, &eos::commands(5, 5))).await;
    let stop = CancellationToken::new();
    // Copies every command to a topic processors.toml does not give it.
    let rogue = eos::CopyTo {
        topic: elsewhere.clone(),
        measure: None,
    };
    let task = eos::spawn_processor(&setup, rogue, "0", stop.clone()).await;
    let message = stops_by_itself(task, Duration::from_secs(60)).await;
    assert!(
        message.contains(&elsewhere) && message.contains("does not declare"),
        "{message}"
    );
    let written = eos::read_committed(
        &setup.config,
        &elsewhere,
        0,
        Duration::from_secs(3),
        Duration::from_secs(1),
    )
    .await;
    assert!(written.is_empty(), "nothing reached the undeclared topic");
    assert_eq!(
        eos::committed_inputs(&setup, 1),
        0,
        "no input was committed"
    );
    common::drop_keyspace(&setup.config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_failures_max_failed_transactions_in_a_row_stop_the_processor() {
    let mut setup = eos::setup(1).await;
    setup.config.runtime.faults.abort_permille = 1_000;
    setup.config.runtime.batch_failures_max = 3;
    eos::produce(&setup, &eos::encoded(&setup, &eos::commands(10, 5))).await;
    let stop = CancellationToken::new();
    let task = eos::spawn_in_process(&setup, "0", stop.clone()).await;
    let message = stops_by_itself(task, Duration::from_secs(120)).await;
    assert!(
        message.contains("injected fault"),
        "the last error is reported: {message}"
    );
    let outputs = eos::read_committed(
        &setup.config,
        &setup.output,
        0,
        Duration::from_secs(3),
        Duration::from_secs(1),
    )
    .await;
    assert!(
        outputs.is_empty(),
        "every transaction aborted: nothing visible"
    );
    assert_eq!(
        eos::committed_inputs(&setup, 1),
        0,
        "no input was committed"
    );
    common::drop_keyspace(&setup.config).await;
}
