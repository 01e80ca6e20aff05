//! A deployment's identity, bound on both sides: the keyspace's `deployment_identity` row and the
//! record on the deployment's `deployment.identity` topic carry the same id. Keyed state lives in
//! Kafka (changelogs) and the ledger and views in the store; a processor that read one deployment's
//! changelogs next to another deployment's store (two deployments of one name on a shared cluster, a
//! keyspace dropped while its topics stayed, Kafka reset under a kept keyspace) would merge them
//! silently. [`bind`] runs before anything starts and refuses with both sides named.
//!
//! The first `topology apply` (or first start) mints the id: claimed in the keyspace (conditional
//! insert, state `binding`), written to the topic, then marked `bound`. A crash between the steps is
//! finished by the next run; only a `bound` keyspace whose topic lost the id is refused.

use super::config::KafkaConfig;
use super::kafka;
use crate::domain::clock::now_millis;
use crate::events::{Codec, DeploymentIdentity, Event, TimestampMillis};
use crate::store::deployment::{Binding, DeploymentTable, StoredIdentity};
use crate::store::Store;
use crate::topology::Topology;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use std::time::{Duration, Instant};

/// The identity topic as `topics.toml` names it.
pub const IDENTITY_TOPIC: &str = "deployment.identity";
const READ_TIMEOUT_MS: u64 = 30_000;
const CALL_TIMEOUT_MS: u64 = 10_000;

/// Binds (first run) or checks the deployment's identity; returns its id.
pub async fn bind(
    kafka_config: &KafkaConfig,
    topology: &Topology,
    store: &Store,
    codec: &Codec,
) -> Result<String, String> {
    let name = topology.deployment.name.clone();
    let topic = topology.topic_name(IDENTITY_TOPIC);
    let table = DeploymentTable::new(store);
    let stored = table.read(&name).await.map_err(|e| e.to_string())?;
    let on_topic = read_identity(kafka_config, &topic, codec).await?;
    let sides = Sides {
        name: &name,
        topic: &topic,
        keyspace: store.keyspace(),
    };
    match (stored, on_topic) {
        (None, None) => {
            let candidate = uuid::Uuid::now_v7().to_string();
            let row = table
                .claim(&name, &candidate, now_millis())
                .await
                .map_err(|e| e.to_string())?;
            finish(kafka_config, codec, &table, &sides, &row).await
        }
        (Some(row), None) if row.binding == Binding::Binding => {
            finish(kafka_config, codec, &table, &sides, &row).await
        }
        (Some(row), Some(k)) if k.deployment_id == row.deployment_id => {
            if row.binding == Binding::Binding {
                table
                    .mark_bound(&name, &row.deployment_id)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok(row.deployment_id)
        }
        (Some(row), None) => Err(sides.topic_lost(&row)),
        (None, Some(k)) => Err(sides.store_never_saw(&k)),
        (Some(row), Some(k)) => Err(sides.different(&row, &k)),
    }
}

/// The two places an identity lives, for the messages.
struct Sides<'a> {
    name: &'a str,
    topic: &'a str,
    keyspace: &'a str,
}

impl Sides<'_> {
    fn topic_lost(&self, row: &StoredIdentity) -> String {
        format!(
            "keyspace '{}' belongs to deployment '{}' (id {}), whose topics held that id in '{}', but the topic holds no identity now: Kafka was reset or these are another cluster's topics, and its changelogs no longer hold the state this keyspace's ledger and views were built with. Fix: point kafka.bootstrap_servers at the deployment's own cluster, or drop keyspace '{}' as well to start the deployment afresh (scripts/stack reset does both)",
            self.keyspace, self.name, row.deployment_id, self.topic, self.keyspace
        )
    }

    fn store_never_saw(&self, k: &DeploymentIdentity) -> String {
        format!(
            "topic '{}' says these topics belong to deployment '{}' (id {}, bound to keyspace '{}'), but keyspace '{}' has never seen that deployment: starting would merge its changelogs (balances, payments, payouts) with a store that holds none of its ledger. Fix: point store.contact_points at the deployment's own Cassandra, or give this deployment a name of its own (deployment.name), or delete the topics with the keyspace to start afresh",
            self.topic, k.name, k.deployment_id, k.keyspace, self.keyspace
        )
    }

    fn different(&self, row: &StoredIdentity, k: &DeploymentIdentity) -> String {
        format!(
            "keyspace '{}' belongs to deployment id {} but topic '{}' to deployment id {} (keyspace '{}'): two deployments named '{}' share this Kafka or this Cassandra. Fix: give each its own deployment.name",
            self.keyspace, row.deployment_id, self.topic, k.deployment_id, k.keyspace, self.name
        )
    }
}

/// Writes the claimed id to the topic and marks the keyspace bound.
async fn finish(
    kafka_config: &KafkaConfig,
    codec: &Codec,
    table: &DeploymentTable,
    sides: &Sides<'_>,
    row: &StoredIdentity,
) -> Result<String, String> {
    let identity = DeploymentIdentity {
        deployment_id: row.deployment_id.clone(),
        name: sides.name.to_owned(),
        keyspace: sides.keyspace.to_owned(),
        created_at: TimestampMillis(row.created_at_ms),
    };
    let payload = codec
        .encode(&identity)
        .await
        .map_err(|e| format!("encode the deployment identity: {e}"))?;
    let producer: FutureProducer = kafka::producer(kafka_config)
        .create()
        .map_err(|e| format!("identity producer: {e}"))?;
    producer
        .send(
            FutureRecord::to(sides.topic)
                .key(identity.key())
                .payload(&payload),
            Duration::from_millis(CALL_TIMEOUT_MS),
        )
        .await
        .map_err(|(e, _)| format!("write the deployment identity to '{}': {e}", sides.topic))?;
    table
        .mark_bound(sides.name, &row.deployment_id)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(deployment = %sides.name, deployment_id = %row.deployment_id, keyspace = %sides.keyspace, "deployment identity bound");
    Ok(row.deployment_id.clone())
}

/// The last identity on `topic` (one partition), or none when it is empty.
async fn read_identity(
    kafka_config: &KafkaConfig,
    topic: &str,
    codec: &Codec,
) -> Result<Option<DeploymentIdentity>, String> {
    let (kafka_config, t) = (kafka_config.clone(), topic.to_owned());
    let payload = tokio::task::spawn_blocking(move || last_record(&kafka_config, &t))
        .await
        .map_err(|e| format!("identity read: {e}"))??;
    match payload {
        None => Ok(None),
        Some(bytes) => codec
            .decode(&bytes)
            .await
            .map(Some)
            .map_err(|e| format!("topic '{topic}' holds no deployment identity: {e}")),
    }
}

fn last_record(kafka_config: &KafkaConfig, topic: &str) -> Result<Option<Vec<u8>>, String> {
    let kafka_error = |e: KafkaError| format!("read '{topic}': {e}");
    let mut c = kafka::read_committed_consumer(kafka_config, "paystream-identity-reader");
    c.set("enable.partition.eof", "true");
    let consumer: BaseConsumer<kafka::ReadsToEnd> = c
        .create_with_context(kafka::ReadsToEnd)
        .map_err(kafka_error)?;
    let timeout = Duration::from_millis(CALL_TIMEOUT_MS);
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(kafka_error)?;
    let exists = metadata
        .topics()
        .iter()
        .any(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty());
    if !exists {
        return Err(format!(
            "topic '{topic}' does not exist. Fix: run `paystream topology apply`"
        ));
    }
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .map_err(kafka_error)?;
    consumer.assign(&tpl).map_err(kafka_error)?;
    let started = Instant::now();
    let mut last = None;
    loop {
        if started.elapsed() > Duration::from_millis(READ_TIMEOUT_MS) {
            return Err(format!(
                "topic '{topic}' not read to its end in {READ_TIMEOUT_MS} ms"
            ));
        }
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => last = m.payload().map(<[u8]>::to_vec).or(last),
            Some(Err(KafkaError::PartitionEOF(_))) => return Ok(last),
            Some(Err(e)) => return Err(kafka_error(e)),
            None => {}
        }
    }
}
