//! Upstream producers that partition differently from paystream, on the real stack. A Kafka client
//! in Go, Python, Node or C defaults to librdkafka's `consistent_random` (CRC32) partitioner, not the
//! Java client's murmur2 that paystream's producers use, so most of its keys land on another
//! partition than their state. Payment commands, refund requests and payout requests produced that
//! way (and with the Java partitioner) must all settle: each misplaced record is moved once, in the
//! transaction that commits its offset, to the partition its key belongs to, and applied there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the report

mod common;

use common::flow::{self, assert_trail, Flow};
use common::money::{assert_books, bank, beneficiary, poll};
use paystream::events::payment_command::{PaymentCommandKind, PaymentMethod, PaymentMethodType};
use paystream::events::payment_event::PaymentEvent;
use paystream::events::payout::{PayoutAction, PayoutPurpose, PayoutRail, PayoutRequest};
use paystream::events::refund::{RefundAction, RefundRequest};
use paystream::events::{Catalog, Codec, Event, PaymentCommand, TimestampMillis};
use paystream::runtime::eos::REROUTED_FROM_HEADER;
use paystream::runtime::partitioner::partition_of;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const PAYMENTS_LIBRDKAFKA: usize = 14;
const PAYMENTS_JAVA: usize = 4;
const PAYOUTS: usize = 6;

/// An upstream producer: librdkafka's own default partitioner (`None`), or the one named.
fn upstream(f: &Flow, partitioner: Option<&str>) -> FutureProducer {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &f.config.kafka.bootstrap_servers)
        .set("enable.idempotence", "true");
    if let Some(p) = partitioner {
        c.set("partitioner", p);
    }
    c.create().unwrap()
}

/// Produces `event` keyed as the docs say; returns whether it landed off its key's partition.
async fn produce<E: Event>(p: &FutureProducer, topic: &str, partitions: i32, event: &E) -> bool {
    let codec = Codec::single_object(Catalog::bundled().unwrap());
    let bytes = codec.encode_sync(event).unwrap();
    let delivery = p
        .send(
            FutureRecord::to(topic).key(event.key()).payload(&bytes),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)
        .unwrap();
    delivery.partition != partition_of(event.key().as_bytes(), partitions)
}

fn create(payment_id: &str) -> PaymentCommand {
    PaymentCommand {
        command_id: format!("cmd_{}", uuid::Uuid::new_v4().simple()),
        payment_id: payment_id.into(),
        merchant_id: "m_demo".into(),
        kind: PaymentCommandKind::Create,
        amount_minor: Some(20_000),
        currency: Some("INR".into()),
        capture_method: None,
        payment_method: Some(PaymentMethod {
            card_token: Some("tok_visa_success".into()),
            ..PaymentMethod::of(PaymentMethodType::Card)
        }),
        customer_id: Some(common::unique("cus")),
        customer_ip: None,
        customer_country: Some("IN".into()),
        idempotency_key: None,
        metadata: BTreeMap::new(),
        issued_at: TimestampMillis(paystream::domain::clock::now_millis()),
        confirm: true,
    }
}

fn refund(refund_id: &str, payment_id: &str) -> RefundRequest {
    RefundRequest {
        refund_id: refund_id.into(),
        payment_id: payment_id.into(),
        merchant_id: "m_demo".into(),
        amount_minor: Some(5_000),
        currency: "INR".into(),
        reason: None,
        requested_by: "upstream_refunds".into(),
        idempotency_key: None,
        requested_at: TimestampMillis(paystream::domain::clock::now_millis()),
        action: RefundAction::Create,
        metadata: BTreeMap::new(),
    }
}

fn payout(payout_id: &str, beneficiary_id: &str) -> PayoutRequest {
    PayoutRequest {
        payout_id: payout_id.into(),
        merchant_id: "m_demo".into(),
        batch_id: None,
        beneficiary_id: beneficiary_id.into(),
        purpose: PayoutPurpose::Vendor,
        amount_minor: 1_000,
        currency: "INR".into(),
        rail: PayoutRail::Imps,
        idempotency_key: None,
        requested_at: TimestampMillis(paystream::domain::clock::now_millis()),
        action: PayoutAction::Create,
        requested_by: "upstream_payouts".into(),
        reference: None,
        narration: None,
        note: None,
    }
}

/// The partition count `topics.toml` gives `topic`.
fn partitions(f: &Flow, topic: &str) -> i32 {
    let t =
        paystream::commands::process::topology_from(&f.config.topology.dir, &f.config.deployment)
            .unwrap();
    t.topic(&f.topic(topic)).unwrap().partitions
}

/// How many committed records of `topic` carry the moved-from header.
fn moved_copies(f: &Flow, topic: &str) -> usize {
    let mut c = paystream::runtime::kafka::read_committed_consumer(
        &f.config.kafka,
        &common::unique("moved"),
    );
    c.set("enable.partition.eof", "true");
    let consumer: BaseConsumer = c.create().unwrap();
    let name = f.topic(topic);
    let mut tpl = rdkafka::TopicPartitionList::new();
    let n = partitions(f, topic);
    for p in 0..n {
        tpl.add_partition_offset(&name, p, rdkafka::Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let (mut open, mut moved) = (n, 0);
    let started = Instant::now();
    while open > 0 && started.elapsed() < Duration::from_secs(60) {
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => {
                let tagged = m
                    .headers()
                    .is_some_and(|h| h.iter().any(|h| h.key == REROUTED_FROM_HEADER));
                if tagged {
                    // Moved exactly where its key belongs.
                    let key = m.key().unwrap();
                    assert_eq!(m.partition(), partition_of(key, n), "{topic}");
                    moved += 1;
                }
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => open -= 1,
            Some(Err(e)) => panic!("{e}"),
            None => {}
        }
    }
    assert_eq!(open, 0, "{topic} not read to its end");
    moved
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn commands_refunds_and_payouts_from_any_partitioner_all_settle() {
    let f = flow::start(0).await;
    let librdkafka = upstream(&f, None);
    let java = upstream(&f, Some("murmur2_random"));

    // Payments created upstream (CREATE with confirm), most by librdkafka's default partitioner.
    let commands = f.topic("payments.commands");
    let n = partitions(&f, "payments.commands");
    let mut ids = Vec::new();
    let mut misplaced_commands = 0;
    for i in 0..PAYMENTS_LIBRDKAFKA + PAYMENTS_JAVA {
        let id = format!("pay_up_{i}_{}", common::unique("p"));
        let p = if i < PAYMENTS_LIBRDKAFKA {
            &librdkafka
        } else {
            &java
        };
        if produce(p, &commands, n, &create(&id)).await {
            assert!(
                i < PAYMENTS_LIBRDKAFKA,
                "the Java partitioner is paystream's"
            );
            misplaced_commands += 1;
        }
        ids.push(id);
    }
    assert!(
        misplaced_commands >= 3,
        "too few commands off their partition ({misplaced_commands}) to prove anything"
    );
    for id in &ids {
        f.wait_status(id, "succeeded").await;
    }

    // A refund of each, every one by librdkafka's default partitioner.
    let refunds = f.topic("refunds.requests");
    let mut misplaced_refunds = 0;
    let mut refund_ids = Vec::new();
    for id in &ids {
        let refund_id = format!("re_up_{}", common::unique("r"));
        if produce(&librdkafka, &refunds, n, &refund(&refund_id, id)).await {
            misplaced_refunds += 1;
        }
        refund_ids.push(refund_id);
    }
    assert!(misplaced_refunds >= 3, "{misplaced_refunds}");
    for r in &refund_ids {
        let v = poll(&f, &format!("/v1/refunds/{r}"), "succeeded", |v| {
            v["status"] == "succeeded"
        })
        .await;
        assert_eq!(v["amount"], 5_000, "{v}");
    }

    // Payouts to a verified beneficiary, paid from those captures.
    let ben = beneficiary(&f, "Asha Rao", bank("501000123401"), true).await;
    let payouts = f.topic("payouts.requests");
    let np = partitions(&f, "payouts.requests");
    let mut misplaced_payouts = 0;
    let mut payout_ids = Vec::new();
    for _ in 0..PAYOUTS {
        let id = format!("pout_up_{}", common::unique("o"));
        if produce(&librdkafka, &payouts, np, &payout(&id, &ben)).await {
            misplaced_payouts += 1;
        }
        payout_ids.push(id);
    }
    assert!(misplaced_payouts >= 1, "{misplaced_payouts}");
    for id in &payout_ids {
        let v = poll(&f, &format!("/v1/payouts/{id}"), "processed", |v| {
            v["status"] == "processed"
        })
        .await;
        assert_eq!(v["amount"], 1_000, "{v}");
    }

    // Every misplaced record was moved exactly once, to its key's partition.
    assert_eq!(moved_copies(&f, "payments.commands"), misplaced_commands);
    assert_eq!(moved_copies(&f, "refunds.requests"), misplaced_refunds);
    assert_eq!(moved_copies(&f, "payouts.requests"), misplaced_payouts);
    // Each payment's events 1..n, once each; nothing dead-lettered; the books agree.
    let events: Vec<PaymentEvent> = f.read("payments.events", ids.len() * 4).await;
    let by = assert_trail(&events);
    for id in &ids {
        assert!(by.contains_key(id), "{id} has no events");
    }
    let letters: Vec<paystream::events::DeadLetter> = f.read("payments.commands.dlq", 0).await;
    assert!(letters.is_empty(), "{letters:?}");
    assert_books(&f).await;
    f.stop().await;
}
