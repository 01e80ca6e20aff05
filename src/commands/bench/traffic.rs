//! The benchmark's traffic: topics, a paced producer stamping each record with its send time, and a
//! read_committed reader that counts and times the copies.

use super::super::CommandError;
use super::{KEYS, PHASE_DEADLINE_S};
use crate::config::Config;
use crate::runtime::kafka;
use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub(crate) async fn create_topics(
    config: &Config,
    names: &[String],
    partitions: i32,
) -> Result<(), CommandError> {
    let admin = crate::runtime::admin::admin_client(&config.kafka)?;
    let topics: Vec<NewTopic> = names
        .iter()
        .map(|n| {
            NewTopic::new(
                n,
                partitions,
                TopicReplication::Fixed(config.kafka.topic_replication_factor),
            )
        })
        .collect();
    for r in admin
        .create_topics(topics.iter(), &AdminOptions::new())
        .await
        .map_err(|e| CommandError::Kafka(e.to_string()))?
    {
        r.map_err(|(t, e)| CommandError::Kafka(format!("create {t}: {e}")))?;
    }
    Ok(())
}

pub(super) fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| u64::try_from(d.as_micros()).ok())
        .unwrap_or(0)
}

/// Produces `n` records; the first 8 bytes of each value are its send time in µs. `rate` paces it.
pub(super) async fn produce_paced(
    config: &Config,
    topic: &str,
    n: usize,
    len: usize,
    rate: Option<u32>,
) -> Result<(), CommandError> {
    let producer: FutureProducer = kafka::producer(&config.kafka).create()?;
    let mut pending = Vec::with_capacity(n.min(100_000));
    let started = Instant::now();
    for i in 0..n {
        if let Some(r) = rate {
            let due = Duration::from_micros(
                u64::try_from(i).unwrap_or(0).saturating_mul(1_000_000) / u64::from(r.max(1)),
            );
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
        let mut value = now_us().to_be_bytes().to_vec();
        value.extend_from_slice(&realistic_bytes(i, len.saturating_sub(8)));
        let key = format!("key_{}", i % KEYS);
        pending.push(
            producer
                .send_result(FutureRecord::to(topic).key(&key).payload(&value))
                .map_err(|(e, _)| CommandError::Kafka(e.to_string()))?,
        );
        if pending.len() >= 10_000 {
            for d in pending.drain(..) {
                d.await
                    .map_err(|e| CommandError::Failed(e.to_string()))?
                    .map_err(|(e, _)| CommandError::Kafka(e.to_string()))?;
            }
        }
    }
    for d in pending {
        d.await
            .map_err(|e| CommandError::Failed(e.to_string()))?
            .map_err(|(e, _)| CommandError::Kafka(e.to_string()))?;
    }
    Ok(())
}

/// `len` bytes, different for each `i`, that compress about as well as a payment's JSON (digests
/// written one letter a–p per nibble: 2:1), not the 100:1 of repeated bytes, which would make the
/// broker's fetches unrealistically dense once decompressed. Letters, not hex: digit runs in hex
/// pass the Luhn check often enough for `pan-scan` to report benchmark topics.
pub(super) fn realistic_bytes(i: usize, len: usize) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let mut out = Vec::with_capacity(len + 64);
    let mut block = Sha256::digest(i.to_be_bytes());
    while out.len() < len {
        for b in block.iter() {
            out.push(b'a' + (b >> 4));
            out.push(b'a' + (b & 0x0f));
        }
        block = Sha256::digest(block);
    }
    out.truncate(len);
    out
}

pub(super) struct Seen {
    pub(super) count: usize,
    pub(super) latencies_us: Vec<i64>,
}

/// Reads `topic` with read_committed until `n` records arrived.
/// Partitions are assigned, not subscribed, so no group join delays the first records.
/// With `latency_from_us`, records the age of every record sent at or after that time.
pub(super) async fn read_until(
    config: &Config,
    topic: &str,
    partitions: i32,
    n: usize,
    latency_from_us: Option<u64>,
) -> Result<Seen, CommandError> {
    let consumer: StreamConsumer =
        kafka::read_committed_consumer(&config.kafka, &format!("{topic}-reader-{}", now_us()))
            .create()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let mut seen = Seen {
        count: 0,
        latencies_us: Vec::with_capacity(if latency_from_us.is_some() { n } else { 0 }),
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(PHASE_DEADLINE_S);
    while seen.count < n {
        let m = tokio::time::timeout_at(deadline, consumer.recv())
            .await
            .map_err(|_| {
                CommandError::Failed(format!(
                    "only {} of {n} records on {topic} within {PHASE_DEADLINE_S} s",
                    seen.count
                ))
            })??;
        seen.count += 1;
        if let Some(from) = latency_from_us {
            let sent = m
                .payload()
                .and_then(|p| p.get(..8))
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            if sent >= from {
                seen.latencies_us
                    .push(i64::try_from(now_us().saturating_sub(sent)).unwrap_or(i64::MAX));
            }
        }
    }
    Ok(seen)
}
