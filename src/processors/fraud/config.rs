//! The fraud processor's configuration: rules, velocity windows and what to do when state is unreadable.

use super::{FailureMode, Rules, Velocity};
use crate::domain::problem::Checks;
use crate::domain::MinorUnits;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FraudConfig {
    pub rules: Rules,
    /// The velocity window.
    pub velocity_window_ms: i64,
    /// Members of one velocity set read per payment: counts saturate here.
    pub velocity_read_max: i32,
    /// When scoring state cannot be read: `open` allows, `closed` blocks.
    pub failure_mode: FailureMode,
    /// Per-merchant override of `failure_mode`.
    pub merchant_failure_mode: BTreeMap<String, FailureMode>,
}

impl Default for FraudConfig {
    fn default() -> Self {
        Self {
            rules: Rules {
                amount_thresholds: [
                    ("INR", 5_000_000, 20_000_000),
                    ("USD", 500_000, 2_000_000),
                    ("EUR", 500_000, 2_000_000),
                ]
                .into_iter()
                .map(|(c, review, block)| {
                    (
                        c.to_owned(),
                        (MinorUnits::new(review), MinorUnits::new(block)),
                    )
                })
                .collect(),
                velocity_limit: Velocity {
                    customer: 20,
                    card: 10,
                    vpa: 10,
                    ip: 50,
                },
                velocity_score: 300,
                country_mismatch_score: 250,
                blocked_cards: BTreeSet::from(["tok_blocked".to_owned()]),
                blocked_vpas: BTreeSet::from(["fraudster@upi".to_owned()]),
                blocked_ips: BTreeSet::new(),
                blocked_customers: BTreeSet::from(["cus_blocked".to_owned()]),
                shadow: BTreeSet::new(),
                review_at: 400,
                block_at: 800,
            },
            velocity_window_ms: 3_600_000,
            velocity_read_max: 500,
            failure_mode: FailureMode::Open,
            merchant_failure_mode: BTreeMap::new(),
        }
    }
}

impl FraudConfig {
    pub fn validate(&self, c: &mut Checks<'_>) {
        c.check(
            self.velocity_window_ms >= 1_000 && (1..=10_000).contains(&self.velocity_read_max),
            "velocity_window_ms",
            "the window must be at least 1000 ms and velocity_read_max within 1..=10000".into(),
            "use velocity_window_ms = 3600000, velocity_read_max = 500",
        );
        c.check(
            0 < self.rules.review_at && self.rules.review_at <= self.rules.block_at,
            "rules.review_at",
            format!(
                "review_at {} must be positive and at most block_at {}",
                self.rules.review_at, self.rules.block_at
            ),
            "use review_at = 400, block_at = 800",
        );
    }
}
