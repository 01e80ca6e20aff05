//! Authorization routing: which connector an attempt goes to, and why.
//!
//! Rules match on payment method, currency, amount range and merchant; the matching rule with the
//! highest priority wins. Its connectors split volume by weight: a payment's bucket is a hash of its id,
//! so the same payment always starts at the same connector. Unhealthy connectors (open circuit breaker)
//! and connectors already tried for this payment drop out; the rest follow in weight order as the
//! fallback chain, bounded by the cascade limit. Everything here is pure: health comes in as data.

use crate::domain::MinorUnits;
use crate::events::payment_command::PaymentMethodType;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, VecDeque};

/// The processor whose time sets hold connector health (`connector`).
pub const HEALTH_SET_OWNER: &str = "connector";

/// The time set of one connector's call outcomes.
pub fn health_set(connector: &str) -> String {
    format!("health:{connector}")
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub id: String,
    /// Empty: any.
    pub methods: Vec<PaymentMethodType>,
    /// ISO 4217 codes; empty: any.
    pub currencies: Vec<String>,
    pub amount_min_minor: Option<MinorUnits>,
    pub amount_max_minor: Option<MinorUnits>,
    /// Empty: any merchant.
    pub merchants: Vec<String>,
    /// Higher wins among matching rules.
    pub priority: u32,
    /// (connector, weight): the volume split. Weight 0 makes a connector a fallback only.
    pub connectors: Vec<(String, u32)>,
}

#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub payment_id: &'a str,
    pub merchant_id: &'a str,
    pub method: PaymentMethodType,
    pub currency: &'a str,
    pub amount_minor: MinorUnits,
    /// Connectors this payment already tried (a cascade never goes back to one).
    pub tried: &'a [String],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub connector: Option<String>,
    pub rule: String,
    pub reason: String,
    /// Eligible connectors in preference order; the first is the choice.
    pub candidates: Vec<String>,
    pub cascade_depth: usize,
}

impl Rule {
    fn matches(&self, r: &Request<'_>) -> bool {
        (self.methods.is_empty() || self.methods.contains(&r.method))
            && (self.currencies.is_empty() || self.currencies.iter().any(|c| c == r.currency))
            && self.amount_min_minor.is_none_or(|m| r.amount_minor >= m)
            && self.amount_max_minor.is_none_or(|m| r.amount_minor <= m)
            && (self.merchants.is_empty() || self.merchants.iter().any(|m| m == r.merchant_id))
    }
}

/// A stable bucket in `0..total` for a payment id.
fn bucket(payment_id: &str, total: u64) -> u64 {
    let digest = Sha256::digest(payment_id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) % total.max(1)
}

/// Chooses the connector for the next attempt. `cascade_max` bounds how many connectors one payment may
/// try in all; at the bound, no connector is chosen.
pub fn route(
    rules: &[Rule],
    health: &BTreeMap<String, Breaker>,
    r: &Request<'_>,
    now_ms: i64,
    cascade_max: usize,
) -> Decision {
    let depth = r.tried.len();
    let Some(rule) = rules
        .iter()
        .filter(|x| x.matches(r))
        .max_by_key(|x| (x.priority, std::cmp::Reverse(x.id.clone())))
    else {
        return Decision {
            connector: None,
            rule: "none".into(),
            reason: "no routing rule matches".into(),
            candidates: vec![],
            cascade_depth: depth,
        };
    };
    if depth >= cascade_max {
        return Decision {
            connector: None,
            rule: rule.id.clone(),
            reason: format!("cascade limit reached after {depth} connectors"),
            candidates: vec![],
            cascade_depth: depth,
        };
    }
    let total: u64 = rule.connectors.iter().map(|(_, w)| u64::from(*w)).sum();
    let b = bucket(r.payment_id, total);
    let primary = primary_of(rule, b);
    let (candidates, skipped) = eligible(rule, primary.as_ref(), health, r.tried, now_ms);
    let connector = candidates.first().cloned();
    let mut reason = match (&connector, &primary) {
        (Some(c), Some(p)) if c == p => {
            format!("rule {} split bucket {b} of {total} -> {c}", rule.id)
        }
        (Some(c), _) => format!("rule {} fallback to {c}", rule.id),
        (None, _) => format!("rule {}: no eligible connector", rule.id),
    };
    if !skipped.is_empty() {
        reason.push_str(&format!(" ({})", skipped.join(", ")));
    }
    Decision {
        connector,
        rule: rule.id.clone(),
        reason,
        candidates,
        cascade_depth: depth,
    }
}

/// The connector whose weight range holds the bucket.
fn primary_of(rule: &Rule, bucket: u64) -> Option<String> {
    let mut acc = 0u64;
    for (c, w) in &rule.connectors {
        acc += u64::from(*w);
        if bucket < acc {
            return Some(c.clone());
        }
    }
    None
}

/// The rule's connectors in trying order (the primary first, the others by weight), without those
/// already tried or with an open circuit; and why each left out was.
fn eligible(
    rule: &Rule,
    primary: Option<&String>,
    health: &BTreeMap<String, Breaker>,
    tried: &[String],
    now_ms: i64,
) -> (Vec<String>, Vec<String>) {
    let mut ordered: Vec<&(String, u32)> = rule.connectors.iter().collect();
    ordered.sort_by_key(|(c, w)| (Some(c) != primary, std::cmp::Reverse(*w), c.clone()));
    let mut skipped = Vec::new();
    let candidates = ordered
        .into_iter()
        .filter(|(c, _)| {
            if tried.contains(c) {
                skipped.push(format!("{c} already tried"));
                return false;
            }
            if !health.get(c).is_none_or(|h| h.allows(now_ms)) {
                skipped.push(format!("{c} circuit open"));
                return false;
            }
            true
        })
        .map(|(c, _)| c.clone())
        .collect();
    (candidates, skipped)
}

/// A connector's health: a rolling window of outcomes and a circuit breaker.
///
/// Closed: traffic flows. After `failures_to_open` failures in a row it opens for `open_ms`, then lets
/// one probe through (half-open): a success closes it, a failure opens it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breaker {
    window: VecDeque<bool>,
    window_len: usize,
    failures_in_a_row: u32,
    failures_to_open: u32,
    open_ms: i64,
    state: BreakerState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open { until_ms: i64 },
    HalfOpen,
}

impl Breaker {
    pub fn new(window_len: usize, failures_to_open: u32, open_ms: i64) -> Self {
        Self {
            window: VecDeque::with_capacity(window_len),
            window_len: window_len.max(1),
            failures_in_a_row: 0,
            failures_to_open: failures_to_open.max(1),
            open_ms,
            state: BreakerState::Closed,
        }
    }

    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// Whether an attempt may go to this connector now.
    pub fn allows(&self, now_ms: i64) -> bool {
        match self.state {
            BreakerState::Closed | BreakerState::HalfOpen => true,
            BreakerState::Open { until_ms } => now_ms >= until_ms,
        }
    }

    /// Records one call's outcome. `success` is false for errors and timeouts, not for declines: a
    /// declined card says nothing about the connector's health.
    pub fn record(&mut self, success: bool, now_ms: i64) {
        if self.window.len() == self.window_len {
            self.window.pop_front();
        }
        self.window.push_back(success);
        if let BreakerState::Open { until_ms } = self.state {
            if now_ms >= until_ms {
                self.state = BreakerState::HalfOpen;
            }
        }
        if success {
            self.failures_in_a_row = 0;
            self.state = BreakerState::Closed;
        } else {
            self.failures_in_a_row = self.failures_in_a_row.saturating_add(1);
            if self.state == BreakerState::HalfOpen
                || self.failures_in_a_row >= self.failures_to_open
            {
                self.state = BreakerState::Open {
                    until_ms: now_ms.saturating_add(self.open_ms),
                };
            }
        }
    }

    /// Successes per thousand over the window; 1000 with no data.
    pub fn success_permille(&self) -> u32 {
        let n = self.window.len();
        if n == 0 {
            return 1000;
        }
        let ok = self.window.iter().filter(|s| **s).count();
        u32::try_from(ok * 1000 / n).unwrap_or(1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Vec<Rule> {
        let rule = |id: &str,
                    methods: Vec<PaymentMethodType>,
                    currencies: &[&str],
                    min,
                    max,
                    merchants: &[&str],
                    priority,
                    connectors: &[(&str, u32)]| Rule {
            id: id.into(),
            methods,
            currencies: currencies.iter().map(|c| (*c).to_owned()).collect(),
            amount_min_minor: min,
            amount_max_minor: max,
            merchants: merchants.iter().map(|c| (*c).to_owned()).collect(),
            priority,
            connectors: connectors
                .iter()
                .map(|(c, w)| ((*c).to_owned(), *w))
                .collect(),
        };
        vec![
            rule("default", vec![], &[], None, None, &[], 0, &[("psp_a", 1)]),
            rule(
                "cards_inr",
                vec![PaymentMethodType::Card],
                &["INR"],
                None,
                None,
                &[],
                10,
                &[("psp_a", 70), ("psp_b", 30)],
            ),
            rule(
                "upi",
                vec![PaymentMethodType::Upi],
                &["INR"],
                None,
                Some(MinorUnits::new(10_000_000)),
                &[],
                10,
                &[("psp_b", 1)],
            ),
            rule(
                "big_cards",
                vec![PaymentMethodType::Card],
                &["INR"],
                Some(MinorUnits::new(5_000_000)),
                None,
                &[],
                20,
                &[("psp_c", 1), ("psp_a", 0)],
            ),
            rule(
                "vip",
                vec![],
                &[],
                None,
                None,
                &["m_vip"],
                30,
                &[("psp_c", 1)],
            ),
        ]
    }

    fn req<'a>(
        payment: &'a str,
        method: PaymentMethodType,
        amount: i64,
        merchant: &'a str,
        tried: &'a [String],
    ) -> Request<'a> {
        Request {
            payment_id: payment,
            merchant_id: merchant,
            method,
            currency: "INR",
            amount_minor: MinorUnits::new(amount),
            tried,
        }
    }

    #[test]
    fn rules_match_by_method_currency_amount_and_merchant() {
        let h = BTreeMap::new();
        let cases = [
            (
                "upi",
                PaymentMethodType::Upi,
                1_000,
                "m_1",
                "upi",
                Some("psp_b"),
            ),
            (
                "big card",
                PaymentMethodType::Card,
                6_000_000,
                "m_1",
                "big_cards",
                Some("psp_c"),
            ),
            (
                "vip beats all",
                PaymentMethodType::Card,
                6_000_000,
                "m_vip",
                "vip",
                Some("psp_c"),
            ),
            (
                "wallet falls to default",
                PaymentMethodType::Wallet,
                1_000,
                "m_1",
                "default",
                Some("psp_a"),
            ),
            (
                "upi above its range falls to default",
                PaymentMethodType::Upi,
                10_000_001,
                "m_1",
                "default",
                Some("psp_a"),
            ),
        ];
        for (name, method, amount, merchant, rule, connector) in cases {
            let d = route(
                &rules(),
                &h,
                &req("pay_1", method, amount, merchant, &[]),
                0,
                3,
            );
            assert_eq!(
                (d.rule.as_str(), d.connector.as_deref()),
                (rule, connector),
                "{name}: {}",
                d.reason
            );
        }
    }

    #[test]
    fn volume_split_is_stable_and_close_to_the_weights() {
        let h = BTreeMap::new();
        let mut to_a = 0;
        for i in 0..10_000 {
            let id = format!("pay_{i}");
            let d = route(
                &rules(),
                &h,
                &req(&id, PaymentMethodType::Card, 1_000, "m_1", &[]),
                0,
                3,
            );
            assert_eq!(
                d,
                route(
                    &rules(),
                    &h,
                    &req(&id, PaymentMethodType::Card, 1_000, "m_1", &[]),
                    0,
                    3
                ),
                "same payment, same route"
            );
            if d.connector.as_deref() == Some("psp_a") {
                to_a += 1;
            }
            assert_eq!(d.candidates.len(), 2);
        }
        assert!(
            (6_700..=7_300).contains(&to_a),
            "70/30 split sent {to_a} of 10000 to psp_a"
        );
    }

    #[test]
    fn cascade_skips_tried_and_unhealthy_connectors_and_is_bounded() {
        let tried = vec!["psp_c".to_owned()];
        let d = route(
            &rules(),
            &BTreeMap::new(),
            &req("pay_1", PaymentMethodType::Card, 6_000_000, "m_1", &tried),
            0,
            3,
        );
        assert_eq!(
            (d.connector.as_deref(), d.cascade_depth),
            (Some("psp_a"), 1),
            "{}",
            d.reason
        );
        assert!(d.reason.contains("psp_c already tried"), "{}", d.reason);

        let mut open = Breaker::new(10, 3, 30_000);
        for t in 0..3 {
            open.record(false, t);
        }
        let health = BTreeMap::from([("psp_c".to_owned(), open)]);
        let d = route(
            &rules(),
            &health,
            &req("pay_1", PaymentMethodType::Card, 6_000_000, "m_1", &[]),
            10,
            3,
        );
        assert_eq!(d.connector.as_deref(), Some("psp_a"), "{}", d.reason);
        assert!(d.reason.contains("psp_c circuit open"));
        let d = route(
            &rules(),
            &health,
            &req("pay_1", PaymentMethodType::Card, 6_000_000, "m_1", &[]),
            40_000,
            3,
        );
        assert_eq!(
            d.connector.as_deref(),
            Some("psp_c"),
            "after the cool-down a probe is allowed"
        );

        let all = vec!["psp_c".to_owned(), "psp_a".to_owned()];
        let d = route(
            &rules(),
            &BTreeMap::new(),
            &req("pay_1", PaymentMethodType::Card, 6_000_000, "m_1", &all),
            0,
            5,
        );
        assert_eq!(d.connector, None);
        let d = route(
            &rules(),
            &BTreeMap::new(),
            &req("pay_1", PaymentMethodType::Card, 6_000_000, "m_1", &tried),
            0,
            1,
        );
        assert_eq!(d.connector, None, "cascade limit");
        assert!(d.reason.contains("cascade limit"));
    }

    #[test]
    fn breaker_opens_half_opens_and_closes() {
        let mut b = Breaker::new(4, 2, 1_000);
        b.record(false, 0);
        assert_eq!(b.state(), BreakerState::Closed);
        b.record(false, 1);
        assert_eq!(b.state(), BreakerState::Open { until_ms: 1_001 });
        assert!(!b.allows(500) && b.allows(1_001));
        b.record(false, 1_500);
        assert_eq!(
            b.state(),
            BreakerState::Open { until_ms: 2_500 },
            "a failed probe reopens"
        );
        b.record(true, 2_600);
        assert_eq!(b.state(), BreakerState::Closed);
        assert_eq!(
            b.success_permille(),
            250,
            "window of 4: three failures, one success"
        );
        assert_eq!(Breaker::new(4, 2, 1).success_permille(), 1000);
    }
}
