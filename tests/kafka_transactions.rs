//! Kafka transactions on the real broker: what a read_committed consumer sees, and Avro over the wire.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the report

mod common;

use paystream::events::{Catalog, Codec, PaymentCommand};
use paystream::runtime::kafka;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::ClientConfig;
use std::time::Duration;

const T: Duration = Duration::from_secs(10);

async fn send_batch(p: &FutureProducer, topic: &str, prefix: &str, n: usize) {
    for i in 0..n {
        let value = format!("{prefix}-{i}");
        p.send(FutureRecord::to(topic).key("k").payload(&value), T)
            .await
            .expect("delivered");
    }
}

/// Every value readable from `topic` partition 0 with the given isolation level, from the start.
async fn read_all(
    config: &paystream::config::Config,
    topic: &str,
    isolation: &str,
    expect_at_least: usize,
) -> Vec<String> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &config.kafka.bootstrap_servers)
        .set("group.id", common::unique("it-reader"))
        .set("isolation.level", isolation)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    // Read until quiet for 2 s after the minimum arrived, so extra (wrong) records would be seen too.
    loop {
        let wait = if out.len() >= expect_at_least {
            Duration::from_secs(2)
        } else {
            deadline - tokio::time::Instant::now()
        };
        match tokio::time::timeout(wait, consumer.recv()).await {
            Ok(Ok(m)) => {
                out.push(String::from_utf8(m.payload().expect("payload").to_vec()).expect("utf8"))
            }
            Ok(Err(e)) => panic!("consume: {e}"),
            Err(_) => break,
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_committed_sees_committed_transactions_only() {
    let config = common::config();
    let topic = common::unique("it-txn");
    common::create_topic(&config, &topic, 1).await;
    let producer: FutureProducer =
        kafka::transactional_producer(&config.kafka, &common::unique("it-txn-producer"))
            .create()
            .expect("producer");
    let p = producer.clone();
    tokio::task::spawn_blocking(move || p.init_transactions(T))
        .await
        .unwrap()
        .expect("init");

    producer.begin_transaction().expect("begin");
    send_batch(&producer, &topic, "committed-a", 10).await;
    producer.commit_transaction(T).expect("commit");

    producer.begin_transaction().expect("begin");
    send_batch(&producer, &topic, "aborted", 5).await;
    producer.abort_transaction(T).expect("abort");

    producer.begin_transaction().expect("begin");
    send_batch(&producer, &topic, "committed-b", 3).await;
    producer.commit_transaction(T).expect("commit");

    let committed = read_all(&config, &topic, "read_committed", 13).await;
    let want: Vec<String> = (0..10)
        .map(|i| format!("committed-a-{i}"))
        .chain((0..3).map(|i| format!("committed-b-{i}")))
        .collect();
    assert_eq!(
        committed, want,
        "read_committed must see both committed batches, in order, and nothing aborted"
    );

    // The aborted records are really in the log: an uncommitted reader sees them. This is what the
    // librdkafka mock cluster cannot show.
    let uncommitted = read_all(&config, &topic, "read_uncommitted", 18).await;
    assert_eq!(
        uncommitted
            .iter()
            .filter(|v| v.starts_with("aborted-"))
            .count(),
        5,
        "{uncommitted:?}"
    );
    assert_eq!(uncommitted.len(), 18);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avro_event_round_trips_through_a_topic() {
    let config = common::config();
    let topic = common::unique("it-avro");
    common::create_topic(&config, &topic, 3).await;
    let codec = Codec::single_object(Catalog::bundled().expect("catalog"));
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &config.kafka.bootstrap_servers)
        .create()
        .expect("producer");
    let sent: Vec<PaymentCommand> = (0..20)
        .map(|i| paystream::events::demo::demo_command("it", i, 1_700_000_000_000))
        .collect();
    for c in &sent {
        let bytes = codec.encode(c).await.expect("encode");
        producer
            .send(
                FutureRecord::to(&topic).key(&c.payment_id).payload(&bytes),
                T,
            )
            .await
            .expect("delivered");
    }
    let consumer: StreamConsumer =
        kafka::read_committed_consumer(&config.kafka, &common::unique("it-avro-reader"))
            .create()
            .expect("consumer");
    consumer.subscribe(&[&topic]).expect("subscribe");
    let mut got = Vec::new();
    while got.len() < sent.len() {
        let m = tokio::time::timeout(Duration::from_secs(20), consumer.recv())
            .await
            .expect("records within 20 s")
            .expect("consume");
        assert_eq!(
            m.key(),
            m.payload()
                .map(|p| codec
                    .decode_sync::<PaymentCommand>(p)
                    .expect("decode")
                    .payment_id
                    .into_bytes())
                .as_deref()
        );
        got.push(
            codec
                .decode::<PaymentCommand>(m.payload().expect("payload"))
                .await
                .expect("decode"),
        );
    }
    got.sort_by(|a, b| a.command_id.cmp(&b.command_id));
    let mut want = sent.clone();
    want.sort_by(|a, b| a.command_id.cmp(&b.command_id));
    assert_eq!(got, want);
}
