//! The exactly-once runtime in-process, on the real broker and Cassandra: poison in the middle of a
//! partition, and a full replay that must leave the store identical.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the report

mod common;

use common::eos;
use paystream::events::dead_letter::DeadLetterKind;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_pill_mid_partition_is_dead_lettered_and_the_rest_processed() {
    let setup = eos::setup(1).await;
    let commands = eos::commands(200, 10);
    let mut records = eos::encoded(&setup, &commands[..100]);
    // Undecodable bytes, then a decodable but invalid command, in the middle of the only partition.
    records.push(("pay_0".into(), b"not avro at all".to_vec()));
    let mut invalid = commands[0].clone();
    invalid.command_id = "cmd_invalid".into();
    invalid.amount_minor = Some(-5);
    records.push((
        invalid.payment_id.clone(),
        setup.codec.encode_sync(&invalid).unwrap(),
    ));
    records.extend(eos::encoded(&setup, &commands[100..]));
    eos::produce(&setup, &records).await;

    let stop = CancellationToken::new();
    let task = eos::spawn_in_process(&setup, "0", stop.clone()).await;
    let outputs = eos::read_committed(
        &setup.config,
        &setup.output,
        200,
        Duration::from_secs(60),
        Duration::from_secs(2),
    )
    .await;
    let letters = eos::read_committed(
        &setup.config,
        &setup.dlq,
        2,
        Duration::from_secs(20),
        Duration::from_secs(1),
    )
    .await;
    stop.cancel();
    let stats = task.await.unwrap().unwrap();

    eos::assert_exactly_once(&setup.codec, &outputs, &commands);
    let letters = eos::dead_letters(&setup.codec, &letters);
    assert_eq!(letters.len(), 2, "{letters:#?}");
    assert_eq!(letters[0].error_kind, DeadLetterKind::Undecodable);
    assert_eq!(
        letters[0].value.as_deref(),
        Some(&b"not avro at all"[..]),
        "original bytes kept"
    );
    assert_eq!(
        (
            letters[0].source_topic.as_str(),
            letters[0].source_partition,
            letters[0].source_offset
        ),
        (setup.input.as_str(), 0, 100)
    );
    assert!(
        letters[0].error_message.contains("unknown framing"),
        "{}",
        letters[0].error_message
    );
    assert_eq!(letters[1].error_kind, DeadLetterKind::Unprocessable);
    assert_eq!(letters[1].source_offset, 101);
    assert!(
        letters[1].error_message.contains("not positive"),
        "{}",
        letters[1].error_message
    );
    assert_eq!(letters[1].key.as_deref(), Some(&b"pay_0"[..]));
    assert_eq!(letters[0].processor, "probe");
    assert_eq!(stats.dead_lettered, 2);
    assert_eq!(stats.records_in, 202);
    eos::assert_store_rows(&setup.config, &commands).await;
    common::drop_keyspace(&setup.config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_every_event_leaves_the_store_identical() {
    let mut setup = eos::setup(3).await;
    let commands = eos::commands(600, 20);
    eos::produce(&setup, &eos::encoded(&setup, &commands)).await;

    let stop = CancellationToken::new();
    let task = eos::spawn_in_process(&setup, "0", stop.clone()).await;
    let outputs = eos::read_committed(
        &setup.config,
        &setup.output,
        600,
        Duration::from_secs(60),
        Duration::from_secs(2),
    )
    .await;
    stop.cancel();
    task.await.unwrap().unwrap();
    eos::assert_exactly_once(&setup.codec, &outputs, &commands);
    let before = snapshot(&setup).await;
    assert_eq!(before.len(), 600);

    // A second consumer group reprocesses everything from the start: the same store writes again.
    eos::switch_group(&mut setup, "replay");
    let stop = CancellationToken::new();
    let task = eos::spawn_in_process(&setup, "replay", stop.clone()).await;
    let outputs = eos::read_committed(
        &setup.config,
        &setup.output,
        1_200,
        Duration::from_secs(60),
        Duration::from_secs(2),
    )
    .await;
    stop.cancel();
    let stats = task.await.unwrap().unwrap();
    assert_eq!(stats.records_in, 600, "the replay read every input again");
    assert_eq!(
        outputs.len(),
        1_200,
        "the replay's outputs are a second, separate copy"
    );
    let after = snapshot(&setup).await;
    assert_eq!(
        before, after,
        "replaying the same events must leave identical rows"
    );
    common::drop_keyspace(&setup.config).await;
}

/// Every payment_events row, sorted.
async fn snapshot(setup: &eos::Setup) -> Vec<(String, i64, String, String, i64, String, String)> {
    let store = paystream::store::Store::open(&setup.config.store)
        .await
        .unwrap();
    let rows = store
        .session()
        .query_unpaged(format!("SELECT payment_id, sequence, event_id, status, amount_minor, currency, cause_id FROM {}", store.table("payment_events")), ())
        .await
        .unwrap()
        .into_rows_result()
        .unwrap();
    let mut out: Vec<_> = rows
        .rows::<(String, i64, String, String, i64, String, String)>()
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    out.sort();
    out
}
