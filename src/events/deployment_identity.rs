//! `io.paystream.runtime.DeploymentIdentity` (schemas/deployment_identity.avsc): which deployment a
//! set of topics belongs to.

use super::{impl_event, TimestampMillis};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentIdentity {
    pub deployment_id: String,
    pub name: String,
    pub keyspace: String,
    pub created_at: TimestampMillis,
}
impl_event!(
    DeploymentIdentity,
    "io.paystream.runtime.DeploymentIdentity",
    name
);
