//! Kafka client settings, in one place, so every producer and consumer is configured alike.

use super::config::{GroupMembership, KafkaConfig};
use rdkafka::ClientConfig;

/// An idempotent producer (no transactions): ordered, deduplicated per partition, bounded in memory.
pub fn producer(kafka: &KafkaConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &kafka.bootstrap_servers)
        .set("client.id", &kafka.client_id)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("request.timeout.ms", kafka.request_timeout_ms.to_string())
        .set("compression.type", "zstd")
        // The Java client's partitioner: a key lands on the same partition whichever client wrote
        // it, so inputs from upstream Java producers are co-partitioned with paystream's own topics.
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "5")
        // Bounded memory: at most 64 MiB or 100 000 records waiting to be sent.
        .set("queue.buffering.max.kbytes", "65536")
        .set("queue.buffering.max.messages", "100000");
    c
}

/// [`producer`] made transactional. `transactional_id` must be stable per instance: a restarted
/// instance with the same id fences its previous incarnation.
pub fn transactional_producer(kafka: &KafkaConfig, transactional_id: &str) -> ClientConfig {
    let mut c = producer(kafka);
    c.set("transactional.id", transactional_id).set(
        "transaction.timeout.ms",
        kafka.transaction_timeout_ms.to_string(),
    );
    c
}

/// The consumer of an exactly-once processor instance: read_committed, librdkafka statistics for the
/// lag gauge, and with static membership (KIP-345) the stable `member_id` as `group.instance.id`.
pub fn processor_consumer(
    kafka: &KafkaConfig,
    group_id: &str,
    member_id: &str,
    membership: GroupMembership,
) -> ClientConfig {
    let mut c = read_committed_consumer(kafka, group_id);
    c.set("statistics.interval.ms", "5000");
    if membership == GroupMembership::Static {
        c.set("group.instance.id", member_id);
    }
    c
}

/// A consumer that sees only committed records and never commits offsets by itself.
pub fn read_committed_consumer(kafka: &KafkaConfig, group_id: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &kafka.bootstrap_servers)
        .set("client.id", &kafka.client_id)
        .set("group.id", group_id)
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set("session.timeout.ms", "10000")
        // Bounded memory: at most 16 MiB prefetched per consumer (plus one fetch: a compressed fetch
        // response is queued whole once decompressed)…
        .set("queued.max.messages.kbytes", "16384")
        // …and once the queue is below it again, fetching resumes at once, not after librdkafka's
        // default second: a consumer that keeps up must never wait on its own prefetch.
        .set("fetch.queue.backoff.ms", "5");
    c
}

/// The context of a consumer that reads partitions to their end (`enable.partition.eof`): librdkafka
/// also reports each end as a global error, which the default context logs at error level although
/// it is the expected outcome. Every other error is logged as before.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadsToEnd;

impl rdkafka::client::ClientContext for ReadsToEnd {
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        if matches!(error, rdkafka::error::KafkaError::PartitionEOF(_))
            || error.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::PartitionEOF)
        {
            tracing::debug!(%reason, "end of partition");
        } else {
            tracing::error!(%error, %reason, "librdkafka error");
        }
    }
}

impl rdkafka::consumer::ConsumerContext for ReadsToEnd {}
