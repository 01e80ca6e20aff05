//! The balances processor's configuration.

use crate::domain::problem::Checks;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BalancesConfig {
    /// Payouts one merchant may have waiting for funds; beyond, a payout that does not fit is refused.
    pub queue_max: usize,
}

impl Default for BalancesConfig {
    fn default() -> Self {
        Self { queue_max: 1_000 }
    }
}

impl BalancesConfig {
    pub fn validate(&self, c: &mut Checks<'_>) {
        c.within(
            self.queue_max,
            0..=100_000,
            "queue_max",
            "use 1000: the queue is kept in the merchant's state",
        );
    }
}
