//! The payout processor's configuration.

use crate::domain::problem::Checks;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PayoutsConfig {
    /// The connector that sends payouts.
    pub connector: String,
    /// Merchant id → the amount (minor units) from which a payout waits in `pending_approval` for an
    /// approver key other than its creator.
    pub approval_thresholds_minor: BTreeMap<String, i64>,
    /// How long an accepted payout may wait in the queue for funds.
    pub queue_ttl_ms: u64,
    /// Delays of the status checks of a payout whose outcome is unknown or pending; past the last
    /// (waited as long again), it stays processing with `STATUS_UNRESOLVED` for an operator.
    pub status_check_ladder_ms: Vec<u64>,
    /// Largest IMPS transfer and smallest RTGS transfer, in paise (NPCI and RBI limits).
    pub imps_max_minor: i64,
    pub rtgs_min_minor: i64,
}

impl Default for PayoutsConfig {
    fn default() -> Self {
        Self {
            connector: "transferly".into(),
            approval_thresholds_minor: BTreeMap::new(),
            queue_ttl_ms: 24 * 3_600_000,
            status_check_ladder_ms: vec![300_000, 3_600_000, 86_400_000],
            imps_max_minor: 50_000_000,
            rtgs_min_minor: 20_000_000,
        }
    }
}

impl PayoutsConfig {
    pub fn validate(&self, connector_defined: impl Fn(&str) -> bool, c: &mut Checks<'_>) {
        c.check(
            connector_defined(&self.connector),
            "connector",
            format!("'{}' is not in connectors.providers", self.connector),
            "name a configured connector of kind transferly",
        );
        c.check(
            (1..=10).contains(&self.status_check_ladder_ms.len())
                && self.status_check_ladder_ms.iter().all(|d| *d >= 100),
            "status_check_ladder_ms",
            format!(
                "needs 1 to 10 delays of at least 100 ms, has {:?}",
                self.status_check_ladder_ms
            ),
            "use [300000, 3600000, 86400000]",
        );
        c.check(
            self.queue_ttl_ms >= 100,
            "queue_ttl_ms",
            format!("{} ms is too short", self.queue_ttl_ms),
            "use 86400000 (a day)",
        );
        for (merchant, t) in &self.approval_thresholds_minor {
            c.check(
                *t > 0,
                "approval_thresholds_minor",
                format!("merchant '{merchant}' has threshold {t}"),
                "give a positive amount in minor units, or remove the merchant",
            );
        }
    }
}
