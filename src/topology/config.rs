//! Where the topology's files are.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TopologyConfig {
    /// Directory holding `topics.toml`, `processors.toml`, `keyspace.toml` and `migrations/`.
    pub dir: PathBuf,
}

impl Default for TopologyConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("topology"),
        }
    }
}
