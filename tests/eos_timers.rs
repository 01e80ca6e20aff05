//! Durable timers on the real stack: `tally` sets a "chime" timer per command (due 2 to 12 s after the
//! command was issued) and emits one more event when it fires. Two instances share the partitions;
//! one is killed with SIGKILL while timers are pending and started again (two rebalances, a restore).
//! Afterwards every payment has exactly its command's event and its chime's, in sequence order (a
//! timer lost, fired twice or fired from a stale state would break that), and no chime fired before
//! it was due.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the report

mod common;

use common::eos;
use paystream::events::PaymentEvent;
use paystream::processors::testing::probe::tally::CHIME_AFTER_KEY;
use std::collections::BTreeMap;
use std::time::Duration;

const PAYMENTS: usize = 600;

async fn wait_for_log(setup: &eos::Setup, instance: &str, needle: &str) {
    let start = std::time::Instant::now();
    while !eos::log_of(setup, instance).contains(needle) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "instance {instance} never logged '{needle}':\n{}",
            eos::log_of(setup, instance)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timer_fires_exactly_once_across_sigkill_and_rebalances() {
    let setup = eos::setup_stateful(4).await;
    let issued_at = paystream::domain::clock::now_millis() + 3_000;
    let mut commands = eos::commands(PAYMENTS, PAYMENTS);
    let mut due = BTreeMap::new();
    for (i, c) in commands.iter_mut().enumerate() {
        let after_ms = 2_000 + i64::try_from(i % 50).unwrap() * 200;
        c.issued_at = paystream::events::TimestampMillis(issued_at);
        c.metadata
            .insert(CHIME_AFTER_KEY.into(), after_ms.to_string());
        due.insert(c.payment_id.clone(), issued_at + after_ms);
    }
    let mut a = eos::spawn_binary(&setup, "0", &[]);
    let mut b = eos::spawn_binary(&setup, "1", &[]);
    wait_for_log(&setup, "0", "partitions assigned").await;
    wait_for_log(&setup, "1", "partitions assigned").await;
    eos::produce(&setup, &eos::encoded(&setup, &commands)).await;

    // Mid-window: some chimes have fired, most are pending, in both instances' state.
    tokio::time::sleep(Duration::from_secs(6)).await;
    eos::signal(&a, "-KILL");
    eos::wait_exit(&mut a, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut again = eos::spawn_binary(&setup, "0", &[]);

    let outputs = eos::read_committed(
        &setup.config,
        &setup.output,
        2 * PAYMENTS,
        Duration::from_secs(120),
        Duration::from_secs(5),
    )
    .await;
    for child in [&again, &b] {
        eos::signal(child, "-TERM");
    }
    let (log_a, log_b) = (eos::log_of(&setup, "0"), eos::log_of(&setup, "1"));
    assert!(
        eos::wait_exit(&mut again, Duration::from_secs(30))
            .await
            .success(),
        "{log_a}"
    );
    assert!(
        eos::wait_exit(&mut b, Duration::from_secs(30))
            .await
            .success(),
        "{log_b}"
    );

    let events: Vec<PaymentEvent> = outputs
        .iter()
        .map(|p| setup.codec.decode_sync(p).unwrap())
        .collect();
    let mut by: BTreeMap<&str, Vec<&PaymentEvent>> = BTreeMap::new();
    for e in &events {
        by.entry(e.payment_id.as_str()).or_default().push(e);
    }
    assert_eq!(by.len(), PAYMENTS, "every payment has events");
    for (id, es) in &by {
        let trail: Vec<(i64, bool)> = es
            .iter()
            .map(|e| (e.sequence, e.event_id.ends_with(":chime")))
            .collect();
        assert_eq!(
            trail,
            vec![(1, false), (2, true)],
            "payment {id}: the command's event, then its chime, each once"
        );
        assert!(
            es[1].occurred_at.0 >= due[*id],
            "payment {id}: the chime fired at {} before it was due at {}",
            es[1].occurred_at.0,
            due[*id]
        );
    }
    assert_eq!(events.len(), 2 * PAYMENTS);
    let fired_after_restart = log_a.matches("restoring state").count();
    assert!(
        fired_after_restart > 0,
        "the restarted instance restored state:\n{log_a}"
    );
    common::drop_keyspace(&setup.config).await;
}
