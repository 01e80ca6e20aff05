//! What each CLI subcommand does. `main.rs` parses arguments and calls one of these.

pub mod api_client;
pub mod bench;
pub mod drain;
pub mod flow;
pub mod ledger;
pub mod loadgen;
pub mod money_out;
pub mod pan_scan;
pub mod payouts;
pub mod process;
pub mod schema;
pub mod smoke;
pub mod topology;
pub mod verify;

use crate::events::{CodecError, SchemaError};
use crate::runtime::admin::ApplyError;
use crate::store::StoreError;
use crate::topology::TopologyError;

/// A command's failure, rendered for an operator: each variant names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("{} schema problem(s):\n  {}", .0.len(), join(.0))]
    Schemas(Vec<SchemaError>),
    #[error("{} topology problem(s):\n  {}", .0.len(), join(.0))]
    Topology(Vec<TopologyError>),
    #[error("{0}")]
    Apply(#[from] ApplyError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Codec(#[from] CodecError),
    #[error("kafka: {0}")]
    Kafka(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Failed(String),
}

fn join<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n  ")
}

impl From<rdkafka::error::KafkaError> for CommandError {
    fn from(e: rdkafka::error::KafkaError) -> Self {
        CommandError::Kafka(e.to_string())
    }
}

/// The codec every command uses: the bundled schemas, framed through the configured schema registry,
/// or single-object encoded without one.
pub async fn codec(config: &crate::config::Config) -> Result<crate::events::Codec, CommandError> {
    let catalog = crate::events::Catalog::bundled().map_err(CommandError::Schemas)?;
    let registry = config
        .schema_registry
        .as_ref()
        .map(|r| (r.url.as_str(), r.timeout_ms));
    Ok(crate::events::Codec::for_registry(registry, catalog).await?)
}
