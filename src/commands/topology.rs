//! `paystream topology check | apply | graph`.

use super::CommandError;
use crate::config::Config;
use crate::events::Catalog;
use crate::runtime::admin::{apply_topics, TopicAction};
use crate::store::migrate::{self, MigrationAction};
use crate::store::Store;
use crate::topology::{graph, Topology};
use std::fmt::Write as _;

/// Loads and validates the topology against the bundled schemas.
pub fn load_checked(config: &Config) -> Result<(Topology, std::sync::Arc<Catalog>), CommandError> {
    let catalog = Catalog::bundled().map_err(CommandError::Schemas)?;
    let topology =
        Topology::load(&config.topology.dir, &config.deployment).map_err(CommandError::Topology)?;
    topology.check(&catalog).map_err(CommandError::Topology)?;
    Ok((topology, catalog))
}

pub fn check(config: &Config) -> Result<String, CommandError> {
    let (t, _) = load_checked(config)?;
    Ok(format!(
        "topology OK: {} topics, {} processors, {} sources, {} migrations ({})",
        t.topics.len(),
        t.processors.len(),
        t.sources.len(),
        t.migrations.len(),
        t.dir.display()
    ))
}

pub fn graph(config: &Config) -> Result<String, CommandError> {
    let (t, _) = load_checked(config)?;
    Ok(graph::mermaid(&t))
}

/// What `apply` did, for the summary.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ApplyReport {
    pub topics_created: usize,
    pub topics_unchanged: usize,
    pub topics_grown: usize,
    pub migrations_applied: usize,
    pub migrations_already: usize,
    /// The deployment's identity, bound in the keyspace and on its identity topic.
    pub deployment_id: String,
}

impl ApplyReport {
    pub fn render(&self, keyspace: &str) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            "topics: {} created, {} unchanged, {} grown; keyspace {keyspace}: {} migrations applied, {} already applied; deployment id {}",
            self.topics_created, self.topics_unchanged, self.topics_grown, self.migrations_applied, self.migrations_already, self.deployment_id
        );
        s
    }
}

/// Creates topics and applies migrations; safe to run any number of times.
pub async fn apply(config: &Config) -> Result<ApplyReport, CommandError> {
    let (topology, _) = load_checked(config)?;
    let mut report = ApplyReport::default();
    for (topic, action) in apply_topics(&topology, &config.kafka).await? {
        let outcome = match action {
            TopicAction::Created => {
                report.topics_created += 1;
                "created"
            }
            TopicAction::Unchanged => {
                report.topics_unchanged += 1;
                "unchanged"
            }
            TopicAction::PartitionsAdded { from, to } => {
                report.topics_grown += 1;
                tracing::info!(topic, from, to, "partitions added");
                "changed"
            }
        };
        metrics::counter!(crate::metrics::TOPOLOGY_APPLIED, "kind" => "topic", "outcome" => outcome).increment(1);
    }
    let session = Store::connect(&config.store).await?;
    for (m, action) in migrate::apply(
        &session,
        &config.store,
        &topology.keyspace,
        &topology.migrations,
    )
    .await?
    {
        let outcome = match action {
            MigrationAction::Applied => {
                report.migrations_applied += 1;
                tracing::info!(version = m.version, name = %m.name, "migration applied");
                "created"
            }
            MigrationAction::AlreadyApplied => {
                report.migrations_already += 1;
                "unchanged"
            }
        };
        metrics::counter!(crate::metrics::TOPOLOGY_APPLIED, "kind" => "migration", "outcome" => outcome).increment(1);
    }
    let store = Store::open(&config.store).await?;
    let codec = super::codec(config).await?;
    report.deployment_id =
        crate::runtime::deployment::bind(&config.kafka, &topology, &store, &codec)
            .await
            .map_err(CommandError::Failed)?;
    Ok(report)
}
