//! The crash test: 100 000 keyed events through `paystream process tally` (the probe with keyed state
//! in a changelog topic: each output's sequence is the count its state reaches) while it is killed
//! with SIGKILL at random points, half of them while it restores its state, and restarted, with
//! injected transaction aborts and store write failures. Afterwards a read_committed consumer must see
//! exactly one output per input, with per-key sequences 1, 2, 3, … in order (so state was neither lost
//! nor counted twice), and the store must hold exactly the expected rows.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the report

mod common;

use common::eos;
use std::time::{Duration, Instant};

const EVENTS: usize = 100_000;
const KEYS: usize = 1_000;
const KILLS: usize = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_points_loses_and_duplicates_nothing() {
    let setup = eos::setup_stateful(6).await;
    let commands = eos::commands(EVENTS, KEYS);
    eos::produce(&setup, &eos::encoded(&setup, &commands)).await;
    // 100-record transactions: ten times more commits (and fault draws) than the default 500.
    let faults = [
        ("PAYSTREAM__RUNTIME__FAULTS__ABORT_PERMILLE", "30"),
        ("PAYSTREAM__RUNTIME__FAULTS__STORE_ERROR_PERMILLE", "20"),
        ("PAYSTREAM__RUNTIME__BATCH_RECORDS_MAX", "100"),
        // Static membership: a restarted instance gets its partitions back without waiting out the
        // killed one's session. (The other multi-process tests use the default, dynamic.)
        ("PAYSTREAM__RUNTIME__GROUP_MEMBERSHIP", "static"),
        // The runtime's retries are debug lines: counted below to show the store faults fired.
        (
            "PAYSTREAM__SERVICE__LOG_FILTER",
            "info,paystream::runtime::eos=debug",
        ),
    ];

    // Each kill comes once the instance has committed something, then at a random point up to 1.5 s
    // later, while the backlog lasts: a transaction is open most of that time. Every kill must land
    // mid-stream, after progress since the previous one (`committed_at_kills` checks both).
    let seed = u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    let mut rng = seed | 1;
    println!("kill schedule seed {seed}");
    let started = Instant::now();
    let mut committed_at_kills = Vec::new();
    let mut mid_restore = 0;
    for kill in 0..KILLS {
        let log_before = eos::log_of(&setup, "0").len();
        let mut child = eos::spawn_binary(&setup, "0", &faults);
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let during_restore = kill % 2 == 1;
        let before = committed_at_kills.last().copied().unwrap_or(0);
        let deadline = Instant::now() + Duration::from_secs(90);
        let after_ms = if during_restore {
            // Killed while it reads its state back: a restarted instance restores every partition.
            while !eos::log_of(&setup, "0")[log_before..].contains("restoring state") {
                assert!(
                    Instant::now() < deadline,
                    "instance did not restore within 90 s of its start:\n{}",
                    eos::log_of(&setup, "0")
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            rng % 300
        } else {
            // Progress first (the restarted instance committed something), then a random point.
            while eos::committed_inputs(&setup, 6) <= before {
                assert!(
                    Instant::now() < deadline,
                    "instance made no progress within 90 s of its start:\n{}",
                    eos::log_of(&setup, "0")
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            rng % 1_500
        };
        tokio::time::sleep(Duration::from_millis(after_ms)).await;
        assert!(
            child.try_wait().unwrap().is_none(),
            "instance exited by itself before kill {kill}:\n{}",
            eos::log_of(&setup, "0")
        );
        eos::signal(&child, "-KILL");
        eos::wait_exit(&mut child, Duration::from_secs(10)).await;
        let incarnation = eos::log_of(&setup, "0")[log_before..].to_owned();
        // Each partition logs "restoring state" when it starts and "state restored" when done.
        let restoring = incarnation.contains("restoring state")
            && incarnation.matches("state restored").count()
                < incarnation.matches("restoring state").count();
        mid_restore += usize::from(restoring);
        let committed = eos::committed_inputs(&setup, 6);
        if !during_restore {
            committed_at_kills.push(committed);
        }
        println!(
            "kill {} {after_ms} ms after {} ({:?} since start): {committed} inputs committed{}",
            kill + 1,
            if during_restore {
                "its restore began"
            } else {
                "progress"
            },
            started.elapsed(),
            if restoring {
                ", killed mid-restore"
            } else {
                ""
            }
        );
    }
    assert!(
        mid_restore > 0,
        "no kill landed while state was being restored: the test would prove less than it claims"
    );
    let mut last = eos::spawn_binary(&setup, "0", &faults);
    let outputs = eos::read_committed(
        &setup.config,
        &setup.output,
        EVENTS,
        Duration::from_secs(400),
        Duration::from_secs(3),
    )
    .await;
    eos::signal(&last, "-TERM");
    let status = eos::wait_exit(&mut last, Duration::from_secs(30)).await;
    println!(
        "all {} outputs after {:?}",
        outputs.len(),
        started.elapsed()
    );
    assert!(status.success(), "final instance: {status:?}");

    let log = eos::log_of(&setup, "0");
    let aborts = log.matches("aborting transaction").count();
    assert!(
        aborts > 0,
        "fault injection forced no abort: the test would prove less than it claims"
    );
    println!("{aborts} aborted transactions (injected and real)");
    let store_faults = log.matches("store write failed; retrying").count();
    assert!(
        store_faults > 0,
        "no injected store fault fired: the test would prove less than it claims"
    );
    println!("{store_faults} store writes failed and were retried");
    eos::assert_exactly_once(&setup.codec, &outputs, &commands);
    eos::assert_store_rows(&setup.config, &commands).await;
    common::drop_keyspace(&setup.config).await;
}
