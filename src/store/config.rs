//! The store's configuration: contact points, flavor, replication and timeouts (the keyspace is the
//! deployment's name).

use crate::domain::problem::Checks;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreFlavor {
    /// Apache Cassandra: the local stack.
    Cassandra,
    /// ScyllaDB: docker-compose and production. Keyspaces get `tablets = {'enabled': false}` for LWT.
    Scylla,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    pub contact_points: Vec<String>,
    /// Named by `deployment.name` (`Config::load` sets it), never by a field of its own: a keyspace
    /// set apart from the topics would let two deployments share one's state and the other's ledger.
    #[serde(skip)]
    pub keyspace: String,
    pub flavor: StoreFlavor,
    pub replication_factor: u16,
    pub request_timeout_ms: u64,
    pub connect_timeout_ms: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            contact_points: vec!["127.0.0.1:9042".into()],
            keyspace: "paystream".into(),
            flavor: StoreFlavor::Cassandra,
            replication_factor: 1,
            request_timeout_ms: 5_000,
            connect_timeout_ms: 10_000,
        }
    }
}

impl StoreConfig {
    pub fn validate(&self, c: &mut Checks<'_>) {
        c.check(
            !self.contact_points.is_empty()
                && self
                    .contact_points
                    .iter()
                    .all(|p| p.rsplit_once(':').is_some()),
            "contact_points",
            format!(
                "{:?} is not a non-empty list of host:port",
                self.contact_points
            ),
            "set it to e.g. [\"127.0.0.1:9042\"]",
        );
        c.within(
            self.replication_factor,
            1..=5,
            "replication_factor",
            "use 1 for a single node, 3 in production",
        );
        c.within(
            self.request_timeout_ms,
            100..=120_000,
            "request_timeout_ms",
            "use a value such as 5000",
        );
        c.within(
            self.connect_timeout_ms,
            100..=120_000,
            "connect_timeout_ms",
            "use a value such as 10000",
        );
    }
}

impl fmt::Display for StoreFlavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StoreFlavor::Cassandra => "cassandra",
            StoreFlavor::Scylla => "scylla",
        })
    }
}
