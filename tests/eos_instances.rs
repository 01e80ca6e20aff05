//! Exactly-once across instances, with real processes running `tally` (the probe with keyed state in
//! a changelog topic): a zombie with the same transactional id is fenced and its changelog writes
//! never show, and adding then removing an instance mid-stream moves each partition's state with it,
//! losing and duplicating nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the report

mod common;

use common::eos;
use std::time::Duration;

async fn wait_for_log(setup: &eos::Setup, instance: &str, needle: &str, limit: Duration) {
    let start = std::time::Instant::now();
    while !eos::log_of(setup, instance).contains(needle) {
        assert!(
            start.elapsed() < limit,
            "instance {instance} never logged '{needle}':\n{}",
            eos::log_of(setup, instance)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `records_in` from an instance's "processor stopped" log line.
fn records_in(setup: &eos::Setup, instance: &str) -> u64 {
    eos::log_of(setup, instance)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["message"] == "processor stopped")
        .map(|v| v["records_in"].as_u64().unwrap())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zombie_with_the_same_transactional_id_is_fenced() {
    let setup = eos::setup_stateful(3).await;
    let commands = eos::commands(10_000, 100);
    let (first, second) = commands.split_at(5_000);
    eos::produce(&setup, &eos::encoded(&setup, first)).await;
    // Small transactions keep the first instance busy long enough to be caught mid-stream.
    let slow = [("PAYSTREAM__RUNTIME__BATCH_RECORDS_MAX", "20")];
    let mut old = eos::spawn_binary(&setup, "0", &slow);
    wait_for_log(&setup, "0", "partitions assigned", Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Same instance id: a second process with the same transactional.id and group.instance.id.
    let log_path = setup.dir.path().join(format!("{}-0.log", setup.processor));
    let old_log_len = std::fs::metadata(&log_path).unwrap().len();
    let mut new = eos::spawn_binary(&setup, "0", &[]);
    // More input after the second process started: the first one cannot have finished everything
    // already and sit idle, never touching the coordinator that would fence it.
    eos::produce(&setup, &eos::encoded(&setup, second)).await;
    let started = std::time::Instant::now();
    while old.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the zombie is still running after 60 s:\n{}",
            eos::log_of(&setup, "0")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = eos::wait_exit(&mut old, Duration::from_secs(1)).await;
    assert!(
        !status.success(),
        "the zombie must stop with an error, got {status:?}"
    );
    let log = eos::log_of(&setup, "0");
    assert!(
        log[..usize::try_from(old_log_len).unwrap()].contains("processing"),
        "{log}"
    );
    assert!(
        log.contains("fenced"),
        "the zombie's exit must say it was fenced:\n{log}"
    );

    let outputs = eos::read_committed(
        &setup.config,
        &setup.output,
        10_000,
        Duration::from_secs(120),
        Duration::from_secs(3),
    )
    .await;
    eos::signal(&new, "-TERM");
    assert!(eos::wait_exit(&mut new, Duration::from_secs(30))
        .await
        .success());
    eos::assert_exactly_once(&setup.codec, &outputs, &commands);
    eos::assert_store_rows(&setup.config, &commands).await;
    common::drop_keyspace(&setup.config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_and_removing_an_instance_mid_stream_stays_exactly_once() {
    let setup = eos::setup_stateful(6).await;
    let commands = eos::commands(20_000, 200);
    eos::produce(&setup, &eos::encoded(&setup, &commands)).await;
    let paced = [("PAYSTREAM__RUNTIME__BATCH_RECORDS_MAX", "50")];
    let mut first = eos::spawn_binary(&setup, "0", &paced);
    wait_for_log(&setup, "0", "partitions assigned", Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let mut second = eos::spawn_binary(&setup, "1", &paced);
    wait_for_log(&setup, "1", "partitions assigned", Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Remove the first instance mid-stream; its partitions move to the second.
    eos::signal(&first, "-TERM");
    assert!(
        eos::wait_exit(&mut first, Duration::from_secs(30))
            .await
            .success(),
        "{}",
        eos::log_of(&setup, "0")
    );

    let outputs = eos::read_committed(
        &setup.config,
        &setup.output,
        20_000,
        Duration::from_secs(180),
        Duration::from_secs(3),
    )
    .await;
    eos::signal(&second, "-TERM");
    assert!(
        eos::wait_exit(&mut second, Duration::from_secs(30))
            .await
            .success(),
        "{}",
        eos::log_of(&setup, "1")
    );
    eos::assert_exactly_once(&setup.codec, &outputs, &commands);
    eos::assert_store_rows(&setup.config, &commands).await;
    let (a, b) = (records_in(&setup, "0"), records_in(&setup, "1"));
    assert!(
        a > 0 && b > 0,
        "both instances must have processed records: {a} and {b}"
    );
    assert!(
        a + b >= 20_000,
        "every input was read at least once: {a} + {b}"
    );
    assert!(
        eos::log_of(&setup, "1").contains("partitions revoked")
            || eos::log_of(&setup, "0").contains("partitions revoked")
    );
    common::drop_keyspace(&setup.config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cleanly_stopped_instance_keeps_its_state_and_catches_up() {
    let setup = eos::setup_stateful(3).await;
    let commands = eos::commands(6_000, 100);
    let (first, second) = commands.split_at(3_000);
    eos::produce(&setup, &eos::encoded(&setup, first)).await;
    let mut one = eos::spawn_binary(&setup, "0", &[]);
    let outputs = eos::read_committed(
        &setup.config,
        &setup.output,
        3_000,
        Duration::from_secs(120),
        Duration::from_secs(3),
    )
    .await;
    assert_eq!(outputs.len(), 3_000);
    eos::signal(&one, "-TERM");
    assert!(eos::wait_exit(&mut one, Duration::from_secs(30))
        .await
        .success());

    // The second half arrives while it is stopped: its copy is behind the changelog only where the
    // stop left it, and each payment's next sequence must follow its first 30.
    eos::produce(&setup, &eos::encoded(&setup, second)).await;
    let log_before = eos::log_of(&setup, "0").len();
    let mut again = eos::spawn_binary(&setup, "0", &[]);
    let outputs = eos::read_committed(
        &setup.config,
        &setup.output,
        6_000,
        Duration::from_secs(120),
        Duration::from_secs(3),
    )
    .await;
    eos::signal(&again, "-TERM");
    assert!(eos::wait_exit(&mut again, Duration::from_secs(30))
        .await
        .success());
    let restart = eos::log_of(&setup, "0")[log_before..].to_owned();
    assert!(
        restart.contains("local state kept from a clean shutdown"),
        "the restarted instance must reuse its checkpointed copy:\n{restart}"
    );
    assert!(
        !restart.contains("restoring state"),
        "nothing was written to the changelog while it was stopped: there is nothing to restore:\n{restart}"
    );
    eos::assert_exactly_once(&setup.codec, &outputs, &commands);
    common::drop_keyspace(&setup.config).await;
}
