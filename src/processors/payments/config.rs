//! The payment processor's configuration: routing rules, cascading and circuit breakers.

use crate::domain::problem::Checks;
use crate::events::payment_command::PaymentMethodType;
use crate::processors::routing::Rule;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PaymentsConfig {
    /// Routing rules: the matching rule with the highest priority picks the connectors.
    pub routing: Vec<Rule>,
    /// Connectors one payment may try in all (the first attempt included).
    pub cascade_max: usize,
    /// Outcomes per connector the circuit breaker looks at.
    pub breaker_window: usize,
    /// Failures (errors, timeouts; not declines) in a row that open a connector's breaker.
    pub breaker_failures_to_open: u32,
    pub breaker_open_ms: i64,
}

impl Default for PaymentsConfig {
    fn default() -> Self {
        let rule = |id: &str, methods: Vec<PaymentMethodType>, connectors: &[(&str, u32)]| Rule {
            id: id.into(),
            methods,
            currencies: vec![],
            amount_min_minor: None,
            amount_max_minor: None,
            merchants: vec![],
            priority: 10,
            connectors: connectors
                .iter()
                .map(|(c, w)| ((*c).to_owned(), *w))
                .collect(),
        };
        Self {
            routing: vec![
                rule(
                    "cards",
                    vec![PaymentMethodType::Card],
                    &[("acme", 70), ("bolt", 30)],
                ),
                rule(
                    "upi",
                    vec![PaymentMethodType::Upi],
                    &[("bolt", 100), ("acme", 0)],
                ),
                rule(
                    "bank-and-wallet",
                    vec![PaymentMethodType::NetBanking, PaymentMethodType::Wallet],
                    &[("acme", 100), ("bolt", 0)],
                ),
            ],
            cascade_max: 2,
            breaker_window: 20,
            breaker_failures_to_open: 5,
            breaker_open_ms: 30_000,
        }
    }
}

/// What the payment processor is built from: its section, and the names of the configured
/// connectors, whose health routing reads.
#[derive(Debug, Clone)]
pub struct PaymentsSetup {
    pub payments: PaymentsConfig,
    pub connectors: Vec<String>,
}

impl PaymentsConfig {
    /// `connector_defined` says whether a connector of that name is configured.
    pub fn validate(&self, connector_defined: impl Fn(&str) -> bool, c: &mut Checks<'_>) {
        c.within(
            self.cascade_max,
            1..=5,
            "cascade_max",
            "use 2 or 3: every extra connector adds latency to a failing payment",
        );
        c.check(
            (1..=1_000).contains(&self.breaker_window) && self.breaker_failures_to_open >= 1,
            "breaker_window",
            "the window must be 1..=1000 and breaker_failures_to_open at least 1".into(),
            "use breaker_window = 20, breaker_failures_to_open = 5",
        );
        for r in &self.routing {
            for (name, _) in &r.connectors {
                c.check(
                    connector_defined(name),
                    "routing",
                    format!("rule '{}' names connector '{name}', which connectors.providers does not define", r.id),
                    "add the connector to [[connectors.providers]] or remove it from the rule",
                );
            }
            c.check(
                r.connectors.iter().any(|(_, w)| *w > 0),
                "routing",
                format!("rule '{}' has no connector with a weight above 0", r.id),
                "give at least one connector a positive weight",
            );
        }
    }
}
