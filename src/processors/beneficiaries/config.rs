//! The beneficiaries processor's configuration.

use crate::domain::problem::Checks;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BeneficiariesConfig {
    /// The connector that verifies accounts (a penny drop, a VPA lookup).
    pub connector: String,
    /// How long a verification counts.
    pub verification_ttl_ms: u64,
    /// The lowest name-match score (0 to 100) that verifies; below, the result is NAME_MISMATCH.
    pub name_match_min: i32,
    /// The penny drop's amount, in minor units.
    pub penny_drop_minor: i64,
}

impl Default for BeneficiariesConfig {
    fn default() -> Self {
        Self {
            connector: "transferly".into(),
            verification_ttl_ms: 30 * 24 * 3_600_000,
            name_match_min: 70,
            penny_drop_minor: 100,
        }
    }
}

impl BeneficiariesConfig {
    pub fn validate(&self, connector_defined: impl Fn(&str) -> bool, c: &mut Checks<'_>) {
        c.check(
            connector_defined(&self.connector),
            "connector",
            format!("'{}' is not in connectors.providers", self.connector),
            "name a configured connector of kind transferly",
        );
        c.check(
            self.verification_ttl_ms >= 1_000,
            "verification_ttl_ms",
            format!("{} ms is too short", self.verification_ttl_ms),
            "use 2592000000 (30 days)",
        );
        c.within(self.name_match_min, 0..=100, "name_match_min", "use 70");
        c.within(
            self.penny_drop_minor,
            1..=10_000,
            "penny_drop_minor",
            "use 100 (one rupee)",
        );
    }
}
