//! The three loops the benchmark compares: the exactly-once runtime running `copy`, a bare
//! transactional copy loop, and an at-least-once copy loop.

use super::super::CommandError;
use super::Variant;
use crate::config::Config;
use crate::events::Codec;
use crate::processors::testing::copy::{self, Copy};
use crate::runtime::eos::{self, Deps};
use crate::runtime::health::Health;
use crate::runtime::kafka;
use crate::store::writer::StoreWriter;
use crate::topology::{CleanupPolicy, ProcessorSpec, TopicSpec, Topology};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub(super) async fn join(task: Loop) -> Result<(), CommandError> {
    match task.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(CommandError::Failed(e)),
        Err(e) => Err(CommandError::Failed(format!(
            "benchmark loop panicked: {e}"
        ))),
    }
}

/// A running loop: its task ends when it stops.
pub(super) type Loop = tokio::task::JoinHandle<Result<(), String>>;

/// Starts `variant` copying `(input, output)` in consumer group `group` until `stop`.
pub(super) fn start(
    variant: Variant,
    config: &Config,
    runtime: &crate::runtime::config::RuntimeConfig,
    (input, output): (&str, &str),
    group: &str,
    stop: CancellationToken,
    (writer, codec): (&Arc<StoreWriter>, &Arc<Codec>),
) -> Loop {
    let (kafka, runtime, input, output, group) = (
        config.kafka.clone(),
        runtime.clone(),
        input.to_owned(),
        output.to_owned(),
        group.to_owned(),
    );
    match variant {
        Variant::EosRuntime => {
            let dlq = format!("{input}.dlq");
            let topology = bench_topology(config, &input, &output, &dlq, &group);
            let deps = Deps {
                kafka,
                runtime,
                topology: Arc::new(topology),
                codec: codec.clone(),
                writer: writer.clone(),
                health: Health::new(),
                shutdown: stop,
            };
            tokio::spawn(async move {
                eos::run(Arc::new(Copy::new(&output)), deps)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            })
        }
        Variant::BareTxn => {
            tokio::spawn(bare_loop(kafka, runtime, input, output, group, stop, true))
        }
        Variant::AtLeastOnce => {
            tokio::spawn(bare_loop(kafka, runtime, input, output, group, stop, false))
        }
    }
}

/// A topology with just the benchmark's `copy` processor and its topics.
fn bench_topology(config: &Config, input: &str, output: &str, dlq: &str, group: &str) -> Topology {
    let topic = |name: &str, dead_letter: Option<&str>| TopicSpec {
        name: name.to_owned(),
        doc: "benchmark".into(),
        partitions: 1,
        key: "payment_id".into(),
        key_as: None,
        value_schema: "io.paystream.payments.PaymentCommand".into(),
        cleanup_policy: CleanupPolicy::Delete,
        retention_ms: 3_600_000,
        dead_letter: dead_letter.map(str::to_owned),
    };
    Topology {
        dir: config.topology.dir.clone(),
        deployment: config.deployment.clone(),
        topics: vec![
            topic(input, Some(dlq)),
            topic(output, None),
            topic(dlq, None),
        ],
        processors: vec![ProcessorSpec {
            name: copy::NAME.into(),
            doc: "benchmark".into(),
            consumer_group: group.to_owned(),
            inputs: vec![input.to_owned()],
            outputs: [("out".to_owned(), output.to_owned())].into(),
            changelog: None,
        }],
        sources: vec![],
        keyspace: crate::topology::KeyspaceSpec {
            uses_lwt: false,
            durable_writes: true,
        },
        migrations: vec![],
    }
}

/// The floor: the same batching with nothing but rdkafka calls. `transactional = false` is the
/// at-least-once loop (deliver, then commit offsets). Over 70 lines on purpose: the baseline reads as
/// the one plain loop it is, beside the runtime it is measured against.
async fn bare_loop(
    kafka_config: crate::runtime::config::KafkaConfig,
    rt: crate::runtime::config::RuntimeConfig,
    input: String,
    output: String,
    group: String,
    stop: CancellationToken,
    transactional: bool,
) -> Result<(), String> {
    let consumer: Arc<StreamConsumer> = Arc::new(
        kafka::read_committed_consumer(&kafka_config, &group)
            .create()
            .map_err(|e| e.to_string())?,
    );
    consumer.subscribe(&[&input]).map_err(|e| e.to_string())?;
    let timeout = Duration::from_millis(rt.kafka_call_timeout_ms);
    let producer: FutureProducer = if transactional {
        let p: FutureProducer =
            kafka::transactional_producer(&kafka_config, &format!("{group}-bare"))
                .create()
                .map_err(|e| e.to_string())?;
        crate::runtime::eos::init_transactions(&p, &rt).await?;
        p
    } else {
        kafka::producer(&kafka_config)
            .create()
            .map_err(|e| e.to_string())?
    };
    while !stop.is_cancelled() {
        let mut batch: Vec<OwnedMessage> = Vec::new();
        tokio::select! {
            _ = stop.cancelled() => break,
            r = consumer.recv() => batch.push(r.map_err(|e| e.to_string())?.detach()),
        }
        let deadline = tokio::time::Instant::now() + Duration::from_millis(rt.batch_linger_ms);
        while batch.len() < rt.batch_records_max {
            match tokio::time::timeout_at(deadline, consumer.recv()).await {
                Ok(r) => batch.push(r.map_err(|e| e.to_string())?.detach()),
                Err(_) => break,
            }
        }
        if transactional {
            producer.begin_transaction().map_err(|e| e.to_string())?;
        }
        let mut deliveries = Vec::with_capacity(batch.len());
        let mut offsets: BTreeMap<i32, i64> = BTreeMap::new();
        for m in &batch {
            offsets.insert(m.partition(), m.offset() + 1);
            let mut r = FutureRecord::to(&output).payload(m.payload().unwrap_or_default());
            if let Some(k) = m.key() {
                r = r.key(k);
            }
            deliveries.push(producer.send_result(r).map_err(|(e, _)| e.to_string())?);
        }
        for d in deliveries {
            d.await
                .map_err(|e| e.to_string())?
                .map_err(|(e, _)| e.to_string())?;
        }
        let mut tpl = TopicPartitionList::new();
        for (p, o) in &offsets {
            tpl.add_partition_offset(&input, *p, Offset::Offset(*o))
                .map_err(|e| e.to_string())?;
        }
        if transactional {
            let metadata = consumer.group_metadata().ok_or("no group metadata")?;
            let p = producer.clone();
            tokio::task::spawn_blocking(move || {
                p.send_offsets_to_transaction(&tpl, &metadata, timeout)?;
                p.commit_transaction(timeout)
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        } else {
            consumer
                .commit(&tpl, CommitMode::Async)
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}
