//! The sandbox PSP's configuration.

use crate::domain::problem::Checks;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxConfig {
    pub listen: SocketAddr,
    /// Added to every answer.
    pub latency_ms: u64,
    /// Share of calls answered 503 on top of the scenarios.
    pub failure_permille: u16,
    /// Where webhooks go: the bridge's `/webhooks` base.
    pub webhook_url: String,
    /// Delay before an asynchronous webhook.
    pub webhook_delay_ms: u64,
    /// How long the "timeout" scenario sleeps (longer than a connector's `timeout_ms`).
    pub timeout_scenario_ms: u64,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8091)),
            latency_ms: 5,
            failure_permille: 0,
            webhook_url: "http://127.0.0.1:8090/webhooks".into(),
            webhook_delay_ms: 300,
            timeout_scenario_ms: 3_000,
        }
    }
}

impl SandboxConfig {
    pub fn validate(&self, c: &mut Checks<'_>) {
        c.check(
            self.failure_permille <= 1_000,
            "failure_permille",
            format!("{} is above 1000", self.failure_permille),
            "use 0..=1000",
        );
    }
}
