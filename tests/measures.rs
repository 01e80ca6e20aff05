//! Metrics count committed effects: a processor's measures are recorded by the runtime only after
//! the transaction that carries them commits. With half of all transactions aborted before their
//! commit, the counter still equals the number of committed outputs, input for input.
//!
//! Alone in its test binary: it installs the process's metrics recorder.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the report

mod common;

use common::eos;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::MetricKind;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const MEASURED: &str = "paystream_test_measured_total";

fn counted(snapshotter: &metrics_util::debugging::Snapshotter) -> u64 {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| key.kind() == MetricKind::Counter && key.key().name() == MEASURED)
        .map(|(.., value)| match value {
            DebugValue::Counter(n) => n,
            other => panic!("a counter, not {other:?}"),
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn measures_of_aborted_transactions_are_never_counted() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();

    let mut setup = eos::setup(1).await;
    setup.config.runtime.faults.abort_permille = 500;
    setup.config.runtime.batch_records_max = 5;
    setup.config.runtime.batch_failures_max = 100;
    let inputs = 60;
    eos::produce(&setup, &eos::encoded(&setup, &eos::commands(inputs, 5))).await;
    let stop = CancellationToken::new();
    let processor = eos::CopyTo {
        topic: setup.output.clone(),
        measure: Some(MEASURED),
    };
    let task = eos::spawn_processor(&setup, processor, "0", stop.clone()).await;
    let outputs = eos::read_committed(
        &setup.config,
        &setup.output,
        inputs,
        Duration::from_secs(120),
        Duration::from_secs(2),
    )
    .await;
    stop.cancel();
    let stats = task.await.unwrap().unwrap();

    assert_eq!(outputs.len(), inputs, "every input copied exactly once");
    assert!(
        stats.transactions_aborted > 0,
        "the test needs aborted transactions: {stats:?}"
    );
    assert_eq!(
        counted(&snapshotter),
        u64::try_from(inputs).unwrap(),
        "the counter counts committed effects only ({} transactions aborted)",
        stats.transactions_aborted
    );
    common::drop_keyspace(&setup.config).await;
}
