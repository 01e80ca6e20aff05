//! Fraud scoring: rules produce a score (0–1000), a decision (allow, review, block) and the reasons.
//!
//! Velocity counts (payments per customer, card token, VPA and IP within the sliding window, this one
//! included) come in as a state view; when that state is unavailable, the merchant's failure mode
//! decides: fail-open allows (recorded as `FAIL_OPEN`), fail-closed blocks. Rules in shadow mode are
//! evaluated and recorded but never change the decision, so a new rule can be watched before it bites.

pub mod config;
pub mod processor;

use crate::domain::MinorUnits;
use crate::events::fraud_assessment::{AssessmentMode, FraudDecision, FraudReason};
use std::collections::{BTreeMap, BTreeSet};

pub const SCORE_MAX: i32 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailureMode {
    Open,
    Closed,
}

/// Counts within the window, this payment included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Velocity {
    pub customer: u32,
    pub card: u32,
    pub vpa: u32,
    pub ip: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// Per currency: (review at or above, block at or above), in minor units.
    pub amount_thresholds: BTreeMap<String, (MinorUnits, MinorUnits)>,
    /// Count above which a velocity rule fires, per dimension; score added when it does.
    pub velocity_limit: Velocity,
    pub velocity_score: i32,
    pub country_mismatch_score: i32,
    pub blocked_cards: BTreeSet<String>,
    pub blocked_vpas: BTreeSet<String>,
    pub blocked_ips: BTreeSet<String>,
    pub blocked_customers: BTreeSet<String>,
    /// Rule ids evaluated in shadow mode.
    pub shadow: BTreeSet<String>,
    pub review_at: i32,
    pub block_at: i32,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Input<'a> {
    pub amount_minor: MinorUnits,
    pub currency: &'a str,
    pub customer_id: Option<&'a str>,
    pub card_token: Option<&'a str>,
    pub vpa: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub customer_country: Option<&'a str>,
    pub card_issuer_country: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    pub score: i32,
    pub decision: FraudDecision,
    pub mode: AssessmentMode,
    pub reasons: Vec<FraudReason>,
}

/// Scores one payment. `velocity` is `None` when the velocity state could not be read.
pub fn assess(
    rules: &Rules,
    input: &Input<'_>,
    velocity: Option<&Velocity>,
    failure: FailureMode,
) -> Assessment {
    let Some(v) = velocity else {
        return unavailable(failure);
    };
    let mut fired = Fired {
        rules,
        reasons: Vec::new(),
    };
    blocklists(input, &mut fired);
    amount(input, &mut fired);
    velocity_limits(input, v, &mut fired);
    if let (Some(c), Some(i)) = (input.customer_country, input.card_issuer_country) {
        if !c.eq_ignore_ascii_case(i) {
            let detail = format!("customer in {c}, card issued in {i}");
            fired.fire("country_mismatch", detail, rules.country_mismatch_score);
        }
    }
    decide(rules, fired.reasons)
}

/// The rules that fired so far; a shadow rule is recorded but does not score.
struct Fired<'r> {
    rules: &'r Rules,
    reasons: Vec<FraudReason>,
}

impl Fired<'_> {
    fn fire(&mut self, rule: &str, detail: String, score: i32) {
        self.reasons.push(FraudReason {
            rule: rule.to_owned(),
            detail,
            score,
            shadow: self.rules.shadow.contains(rule),
        });
    }
}

/// No velocity state: allow or block as the merchant's failure mode says, and say why.
fn unavailable(failure: FailureMode) -> Assessment {
    let (decision, mode) = match failure {
        FailureMode::Open => (FraudDecision::Allow, AssessmentMode::FailOpen),
        FailureMode::Closed => (FraudDecision::Block, AssessmentMode::FailClosed),
    };
    let reason = FraudReason {
        rule: "scoring_unavailable".into(),
        detail: "velocity state unavailable".into(),
        score: 0,
        shadow: false,
    };
    Assessment {
        score: 0,
        decision,
        mode,
        reasons: vec![reason],
    }
}

fn blocklists(input: &Input<'_>, fired: &mut Fired<'_>) {
    let rules = fired.rules;
    let lists = [
        ("blocklist_card", input.card_token, &rules.blocked_cards),
        ("blocklist_vpa", input.vpa, &rules.blocked_vpas),
        ("blocklist_ip", input.ip, &rules.blocked_ips),
        (
            "blocklist_customer",
            input.customer_id,
            &rules.blocked_customers,
        ),
    ];
    for (rule, value, list) in lists {
        if let Some(x) = value.filter(|x| list.contains(*x)) {
            fired.fire(rule, format!("{x} is blocklisted"), SCORE_MAX);
        }
    }
}

fn amount(input: &Input<'_>, fired: &mut Fired<'_>) {
    let rules = fired.rules;
    let Some((review, block)) = rules.amount_thresholds.get(input.currency) else {
        return;
    };
    let (amount, currency) = (input.amount_minor.get(), input.currency);
    if input.amount_minor >= *block {
        let detail = format!("{amount} >= {} {currency}", block.get());
        fired.fire("amount_block", detail, rules.block_at);
    } else if input.amount_minor >= *review {
        let detail = format!("{amount} >= {} {currency}", review.get());
        fired.fire("amount_review", detail, rules.review_at);
    }
}

fn velocity_limits(input: &Input<'_>, v: &Velocity, fired: &mut Fired<'_>) {
    let (limits, score) = (fired.rules.velocity_limit, fired.rules.velocity_score);
    let dims = [
        (
            "velocity_customer",
            input.customer_id.is_some(),
            v.customer,
            limits.customer,
        ),
        (
            "velocity_card",
            input.card_token.is_some(),
            v.card,
            limits.card,
        ),
        ("velocity_vpa", input.vpa.is_some(), v.vpa, limits.vpa),
        ("velocity_ip", input.ip.is_some(), v.ip, limits.ip),
    ];
    for (rule, present, count, limit) in dims {
        if present && limit > 0 && count > limit {
            let detail = format!("{count} payments in the window; limit {limit}");
            fired.fire(rule, detail, score);
        }
    }
}

/// The score of the scoring (not shadow) rules, capped, and the decision its thresholds give.
fn decide(rules: &Rules, reasons: Vec<FraudReason>) -> Assessment {
    let score = reasons
        .iter()
        .filter(|r| !r.shadow)
        .map(|r| r.score)
        .fold(0i32, |a, s| a.saturating_add(s))
        .min(SCORE_MAX);
    let decision = if score >= rules.block_at {
        FraudDecision::Block
    } else if score >= rules.review_at {
        FraudDecision::Review
    } else {
        FraudDecision::Allow
    };
    Assessment {
        score,
        decision,
        mode: AssessmentMode::Scored,
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules {
            amount_thresholds: [(
                "INR".to_owned(),
                (MinorUnits::new(5_000_000), MinorUnits::new(20_000_000)),
            )]
            .into(),
            velocity_limit: Velocity {
                customer: 5,
                card: 3,
                vpa: 3,
                ip: 10,
            },
            velocity_score: 300,
            country_mismatch_score: 250,
            blocked_cards: ["tok_stolen".to_owned()].into(),
            blocked_vpas: ["fraud@bank".to_owned()].into(),
            blocked_ips: BTreeSet::new(),
            blocked_customers: BTreeSet::new(),
            shadow: BTreeSet::new(),
            review_at: 400,
            block_at: 800,
        }
    }

    fn input<'a>() -> Input<'a> {
        Input {
            amount_minor: MinorUnits::new(49_900),
            currency: "INR",
            customer_id: Some("cus_1"),
            card_token: Some("tok_ok"),
            ip: Some("203.0.113.1"),
            customer_country: Some("IN"),
            card_issuer_country: Some("IN"),
            ..Input::default()
        }
    }

    #[test]
    fn decisions() {
        let quiet = Velocity {
            customer: 1,
            card: 1,
            vpa: 0,
            ip: 1,
        };
        let busy = Velocity {
            customer: 7,
            card: 4,
            vpa: 0,
            ip: 1,
        };
        /// (name, input, velocity, decision, score, rules fired in order)
        type Case<'a> = (
            &'a str,
            Input<'a>,
            Velocity,
            FraudDecision,
            i32,
            &'a [&'a str],
        );
        let cases: Vec<Case> = vec![
            ("clean", input(), quiet, FraudDecision::Allow, 0, &[]),
            (
                "large amount reviews",
                Input {
                    amount_minor: MinorUnits::new(6_000_000),
                    ..input()
                },
                quiet,
                FraudDecision::Review,
                400,
                &["amount_review"],
            ),
            (
                "huge amount blocks",
                Input {
                    amount_minor: MinorUnits::new(25_000_000),
                    ..input()
                },
                quiet,
                FraudDecision::Block,
                800,
                &["amount_block"],
            ),
            (
                "stolen card blocks",
                Input {
                    card_token: Some("tok_stolen"),
                    ..input()
                },
                quiet,
                FraudDecision::Block,
                1000,
                &["blocklist_card"],
            ),
            (
                "blocklisted VPA",
                Input {
                    card_token: None,
                    vpa: Some("fraud@bank"),
                    ..input()
                },
                quiet,
                FraudDecision::Block,
                1000,
                &["blocklist_vpa"],
            ),
            (
                "velocity on two dimensions reviews",
                input(),
                busy,
                FraudDecision::Review,
                600,
                &["velocity_customer", "velocity_card"],
            ),
            (
                "country mismatch alone allows",
                Input {
                    card_issuer_country: Some("US"),
                    ..input()
                },
                quiet,
                FraudDecision::Allow,
                250,
                &["country_mismatch"],
            ),
            (
                "mismatch plus velocity blocks",
                Input {
                    card_issuer_country: Some("US"),
                    ..input()
                },
                busy,
                FraudDecision::Block,
                850,
                &["velocity_customer", "velocity_card", "country_mismatch"],
            ),
        ];
        for (name, i, v, decision, score, fired) in cases {
            let a = assess(&rules(), &i, Some(&v), FailureMode::Closed);
            assert_eq!(
                (a.decision, a.score, a.mode),
                (decision, score, AssessmentMode::Scored),
                "{name}: {:?}",
                a.reasons
            );
            assert_eq!(
                a.reasons
                    .iter()
                    .map(|r| r.rule.as_str())
                    .collect::<Vec<_>>(),
                fired,
                "{name}"
            );
        }
    }

    #[test]
    fn shadow_rules_are_recorded_but_not_enforced() {
        let mut r = rules();
        r.shadow.insert("amount_block".into());
        let a = assess(
            &r,
            &Input {
                amount_minor: MinorUnits::new(25_000_000),
                ..input()
            },
            Some(&Velocity::default()),
            FailureMode::Closed,
        );
        assert_eq!((a.decision, a.score), (FraudDecision::Allow, 0));
        assert_eq!(a.reasons.len(), 1);
        assert!(a.reasons[0].shadow && a.reasons[0].rule == "amount_block");
    }

    #[test]
    fn unavailable_state_follows_the_merchant_failure_mode() {
        let open = assess(&rules(), &input(), None, FailureMode::Open);
        assert_eq!(
            (open.decision, open.mode),
            (FraudDecision::Allow, AssessmentMode::FailOpen)
        );
        let closed = assess(&rules(), &input(), None, FailureMode::Closed);
        assert_eq!(
            (closed.decision, closed.mode),
            (FraudDecision::Block, AssessmentMode::FailClosed)
        );
        assert_eq!(closed.reasons[0].rule, "scoring_unavailable");
    }
}
