//! Waiting until a set of processors has processed everything committed on their inputs, so a run
//! audits (and a benchmark counts) its own work, not a backlog the next run would inherit.
//!
//! A consumer group's lag cannot say it: on a transactional topic the committed offset stops short of
//! the commit markers after the last record. So a partition counts as drained when reading it
//! read_committed from the group's committed offset reaches the end without a record.

use super::process::topology_from;
use super::CommandError;
use crate::config::Config;
use crate::runtime::kafka;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};
use std::time::{Duration, Instant};

/// Between two checks; one check reads every input partition once, which takes a few hundred ms.
pub const POLL_MS: u64 = 500;
const CALL_TIMEOUT_MS: u64 = 10_000;

/// Waits until every input partition of `processors` is drained, or `limit` passes; returns how long
/// it took, or the first partition still behind.
pub async fn wait_drained(
    config: &Config,
    processors: &[&str],
    limit: Duration,
) -> Result<Duration, CommandError> {
    let topology = topology_from(&config.topology.dir, &config.deployment)?;
    let started = Instant::now();
    loop {
        let mut behind = None;
        for name in processors {
            let Some(spec) = topology.processor(name) else {
                continue;
            };
            let (kafka, group, inputs) = (
                config.kafka.clone(),
                spec.consumer_group.clone(),
                spec.inputs.clone(),
            );
            let found = tokio::task::spawn_blocking(move || first_behind(&kafka, &group, &inputs))
                .await
                .map_err(|e| CommandError::Failed(e.to_string()))?
                .map_err(|e| CommandError::Kafka(e.to_string()))?;
            if let Some(b) = found {
                behind = Some(format!("{name}: {b}"));
                break;
            }
        }
        match behind {
            None => return Ok(started.elapsed()),
            Some(b) if started.elapsed() >= limit => {
                return Err(CommandError::Failed(format!(
                    "not drained after {} ms: {b}",
                    limit.as_millis()
                )))
            }
            Some(_) => tokio::time::sleep(Duration::from_millis(POLL_MS)).await,
        }
    }
}

/// The first input partition with a committed record beyond `group`'s offset.
fn first_behind(
    kafka: &crate::runtime::config::KafkaConfig,
    group: &str,
    inputs: &[String],
) -> Result<Option<String>, KafkaError> {
    let timeout = Duration::from_millis(CALL_TIMEOUT_MS);
    let mut c = kafka::read_committed_consumer(kafka, group);
    c.set("enable.partition.eof", "true");
    let consumer: BaseConsumer<kafka::ReadsToEnd> = c.create_with_context(kafka::ReadsToEnd)?;
    let mut tpl = TopicPartitionList::new();
    for topic in inputs {
        let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
        for t in metadata.topics() {
            for p in t.partitions() {
                tpl.add_partition(topic, p.id());
            }
        }
    }
    let committed = consumer.committed_offsets(tpl, timeout)?;
    let mut start = TopicPartitionList::new();
    for e in committed.elements() {
        let offset = match e.offset() {
            Offset::Offset(o) => Offset::Offset(o),
            _ => Offset::Beginning,
        };
        start.add_partition_offset(e.topic(), e.partition(), offset)?;
    }
    let mut open = start.count();
    consumer.assign(&start)?;
    let deadline = Instant::now() + timeout;
    while open > 0 && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Ok(m)) => {
                use rdkafka::message::Message;
                return Ok(Some(format!(
                    "{}/{} has offset {}",
                    m.topic(),
                    m.partition(),
                    m.offset()
                )));
            }
            Some(Err(KafkaError::PartitionEOF(_))) => open -= 1,
            Some(Err(e)) => return Err(e),
        }
    }
    Ok((open > 0).then(|| format!("{open} partition(s) did not answer")))
}
