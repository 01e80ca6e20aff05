//! Creates the declared topics through Kafka's admin API. Idempotent: existing topics are left alone
//! unless they have fewer partitions than declared (partitions are added) or different configs (the
//! declared cleanup policy and retention are set). Shrinking is refused: Kafka cannot do it.

use super::config::KafkaConfig;
use crate::topology::{TopicSpec, Topology};
use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, NewPartitions, NewTopic, ResourceSpecifier,
    TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientConfig;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicAction {
    Created,
    Unchanged,
    PartitionsAdded { from: usize, to: usize },
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("kafka admin client: {0}")]
    Client(#[from] KafkaError),
    #[error("topic '{topic}': {problem}")]
    Topic { topic: String, problem: String },
}

pub fn admin_client(kafka: &KafkaConfig) -> Result<AdminClient<DefaultClientContext>, ApplyError> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", &kafka.bootstrap_servers)
        .set("client.id", format!("{}-admin", kafka.client_id))
        .set("socket.timeout.ms", kafka.request_timeout_ms.to_string())
        .create()?)
}

/// Applies every topic; returns what was done to each, in declaration order.
pub async fn apply_topics(
    topology: &Topology,
    kafka: &KafkaConfig,
) -> Result<Vec<(String, TopicAction)>, ApplyError> {
    let admin = admin_client(kafka)?;
    let timeout = Duration::from_millis(kafka.request_timeout_ms);
    let opts = AdminOptions::new()
        .request_timeout(Some(timeout))
        .operation_timeout(Some(timeout));
    // Topics whose partition n holds the keys of a stateful processor's changelog partition n.
    let mut keyed: BTreeMap<&str, &str> = BTreeMap::new();
    for p in topology.processors.iter().filter(|p| p.changelog.is_some()) {
        for t in p.inputs.iter().chain(p.changelog.iter()) {
            keyed.insert(t, &p.name);
        }
    }
    let mut actions = Vec::with_capacity(topology.topics.len());
    for spec in &topology.topics {
        let topic = Apply {
            spec,
            replication_factor: kafka.topic_replication_factor,
            keyed_by: keyed.get(spec.name.as_str()).copied(),
        };
        let action = apply_one(&admin, &opts, &topic, timeout).await?;
        actions.push((spec.name.clone(), action));
    }
    Ok(actions)
}

/// One topic to apply.
struct Apply<'a> {
    spec: &'a TopicSpec,
    replication_factor: i32,
    /// The stateful processor whose keyed state this topic is co-partitioned with.
    keyed_by: Option<&'a str>,
}

async fn apply_one(
    admin: &AdminClient<DefaultClientContext>,
    opts: &AdminOptions,
    topic: &Apply<'_>,
    timeout: Duration,
) -> Result<TopicAction, ApplyError> {
    let (spec, replication_factor) = (topic.spec, topic.replication_factor);
    let retention = spec.retention_ms.to_string();
    let topic_err = |problem: String| ApplyError::Topic {
        topic: spec.name.clone(),
        problem,
    };
    let new = NewTopic::new(
        &spec.name,
        spec.partitions,
        TopicReplication::Fixed(replication_factor),
    )
    .set("cleanup.policy", spec.cleanup_policy.as_kafka())
    .set("retention.ms", &retention);
    let results = admin.create_topics([&new], opts).await?;
    match results.into_iter().next() {
        Some(Ok(_)) => return Ok(TopicAction::Created),
        Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) => {}
        Some(Err((_, code))) => return Err(topic_err(format!("create failed: {code}"))),
        None => return Err(topic_err("create returned no result".into())),
    }
    let existing = partition_count(admin, &spec.name, timeout)
        .await?
        .ok_or_else(|| topic_err("exists but its metadata did not settle".into()))?;
    let declared = usize::try_from(spec.partitions)
        .map_err(|_| topic_err("negative partition count".into()))?;
    let mut action = TopicAction::Unchanged;
    if existing > declared {
        return Err(topic_err(format!(
            "has {existing} partitions but {declared} are declared; Kafka cannot remove partitions. Fix: declare partitions = {existing} in topics.toml"
        )));
    }
    if let (true, Some(p)) = (existing < declared, topic.keyed_by) {
        return Err(topic_err(format!(
            "has {existing} partitions and is co-partitioned with the keyed state of processor '{p}': adding partitions would move keys away from their state. Fix: keep partitions = {existing} in topics.toml (re-partitioning keyed state is not supported)"
        )));
    }
    if existing < declared {
        let grow = NewPartitions::new(&spec.name, declared);
        for r in admin.create_partitions([&grow], opts).await? {
            r.map_err(|(_, code)| topic_err(format!("adding partitions failed: {code}")))?;
        }
        action = TopicAction::PartitionsAdded {
            from: existing,
            to: declared,
        };
    }
    let alter = AlterConfig::new(ResourceSpecifier::Topic(&spec.name))
        .set("cleanup.policy", spec.cleanup_policy.as_kafka())
        .set("retention.ms", &retention);
    for r in admin.alter_configs([&alter], opts).await? {
        r.map_err(|(_, code)| topic_err(format!("setting configs failed: {code}")))?;
    }
    Ok(action)
}

/// Metadata reads taken before the broker's view of a topic settles.
const METADATA_SETTLE_TRIES_MAX: u32 = 50;
const METADATA_SETTLE_BACKOFF_MS: u64 = 100;

/// The topic's partition count once its metadata has settled. A topic another process has just
/// created can show up with an error (leader not available) and no or not yet all partitions; read
/// again, boundedly, rather than mistake it for a topic that needs partitions added.
async fn partition_count(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
    timeout: Duration,
) -> Result<Option<usize>, ApplyError> {
    for _ in 0..METADATA_SETTLE_TRIES_MAX {
        let metadata = admin.inner().fetch_metadata(Some(topic), timeout)?;
        let settled = metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .filter(|t| t.error().is_none() && !t.partitions().is_empty())
            .filter(|t| {
                t.partitions()
                    .iter()
                    .all(|p| p.error().is_none() && p.leader() >= 0)
            })
            .map(|t| t.partitions().len());
        if settled.is_some() {
            return Ok(settled);
        }
        tokio::time::sleep(Duration::from_millis(METADATA_SETTLE_BACKOFF_MS)).await;
    }
    Ok(None)
}
