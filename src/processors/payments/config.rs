//! The payment processor's configuration: routing rules, cascading and circuit breakers.

use crate::domain::problem::Checks;
use crate::events::payment_command::PaymentMethodType;
use crate::processors::routing::Rule;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    /// Delays of the status checks of an attempt whose outcome is unknown or pending, each after the
    /// one before (the first after the attempt became unknown or pending). After the last check has
    /// waited as long again without a final answer, the payment stays processing with reason
    /// `STATUS_UNRESOLVED` for an operator.
    pub status_check_ladder_ms: Vec<u64>,
    /// How long an intent may wait for a payment method or a confirmation before it expires.
    pub confirmation_expiry_ms: u64,
    /// How long an authorization may wait for its capture before it expires (voided; the hold in
    /// the ledger is released).
    pub capture_expiry_ms: u64,
    /// How long a payment held for a fraud review waits for a decision.
    pub fraud_review_timeout_ms: u64,
    /// What happens to a review that times out, unless the merchant has its own default.
    pub fraud_review_default: ReviewDefault,
    /// Merchant id → its default for reviews that time out.
    pub fraud_review_defaults: BTreeMap<String, ReviewDefault>,
    /// Refunds one payment may have in all (failed ones included): bounds the payment's state.
    pub refunds_per_payment_max: usize,
    /// Merchant id → the refund amount (minor units) from which a refund waits in
    /// `requires_approval` for an approver other than its creator. Merchants not listed need none.
    pub refund_approval_thresholds_minor: BTreeMap<String, i64>,
}

/// What a fraud review that timed out turns into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewDefault {
    /// Proceed: route the payment as if fraud had allowed it.
    Allow,
    /// Decline: the payment fails with `FRAUD_REVIEW_TIMEOUT`.
    Decline,
}

const MINUTE_MS: u64 = 60_000;
const HOUR_MS: u64 = 60 * MINUTE_MS;
const DAY_MS: u64 = 24 * HOUR_MS;
/// Status checks one attempt may get from the ladder.
pub const STATUS_CHECKS_MAX: usize = 10;
/// The most refunds `refunds_per_payment_max` may allow.
pub const REFUNDS_PER_PAYMENT_MAX: usize = 256;
/// The shortest delay any timer of the payment processor may have.
const TIMER_DELAY_MS_MIN: u64 = 100;

impl PaymentsConfig {
    /// Which way a timed-out review of `merchant` goes.
    /// Whether a refund of `amount_minor` by `merchant` needs an approver.
    pub fn refund_needs_approval(&self, merchant: &str, amount_minor: i64) -> bool {
        self.refund_approval_thresholds_minor
            .get(merchant)
            .is_some_and(|t| amount_minor >= *t)
    }

    pub fn review_default(&self, merchant: &str) -> ReviewDefault {
        self.fraud_review_defaults
            .get(merchant)
            .copied()
            .unwrap_or(self.fraud_review_default)
    }
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
            // Kill Bill's janitor ladder.
            status_check_ladder_ms: vec![5 * MINUTE_MS, HOUR_MS, DAY_MS],
            confirmation_expiry_ms: DAY_MS,
            // Card networks hold most authorizations for about seven days.
            capture_expiry_ms: 7 * DAY_MS,
            fraud_review_timeout_ms: DAY_MS,
            fraud_review_default: ReviewDefault::Decline,
            fraud_review_defaults: BTreeMap::new(),
            refunds_per_payment_max: 64,
            refund_approval_thresholds_minor: BTreeMap::new(),
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
        c.check(
            (1..=STATUS_CHECKS_MAX).contains(&self.status_check_ladder_ms.len())
                && self.status_check_ladder_ms.iter().all(|d| *d >= TIMER_DELAY_MS_MIN),
            "status_check_ladder_ms",
            format!("needs 1 to {STATUS_CHECKS_MAX} delays of at least {TIMER_DELAY_MS_MIN} ms, has {:?}", self.status_check_ladder_ms),
            "use [300000, 3600000, 86400000] (5 min, 1 h, 1 day); seconds for a demo",
        );
        for (field, value) in [
            ("confirmation_expiry_ms", self.confirmation_expiry_ms),
            ("capture_expiry_ms", self.capture_expiry_ms),
            ("fraud_review_timeout_ms", self.fraud_review_timeout_ms),
        ] {
            c.check(
                value >= TIMER_DELAY_MS_MIN,
                field,
                format!("{value} ms is below {TIMER_DELAY_MS_MIN} ms"),
                "use hours or days in production, seconds for a demo",
            );
        }
        c.within(
            self.refunds_per_payment_max,
            1..=REFUNDS_PER_PAYMENT_MAX,
            "refunds_per_payment_max",
            "use 64: every refund is kept in the payment's state",
        );
        for (merchant, t) in &self.refund_approval_thresholds_minor {
            c.check(
                *t > 0,
                "refund_approval_thresholds_minor",
                format!("merchant '{merchant}' has threshold {t}, which is not positive"),
                "give a positive amount in minor units, or remove the merchant",
            );
        }
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
