//! `fraud`: scores every payment that enters processing after a confirm, and records the decision in
//! the decision journal topic (`fraud.assessments`), which the payment processor acts on.
//!
//! Velocity counters live in the store as append-only time sets (one per customer, card token, VPA and
//! IP), written before the Kafka commit. A payment counts the members of each set in the window that
//! ends at its own event time, itself excluded then added back: a replay sees the same members it saw
//! the first time, whatever other partitions appended since, so the decision does not change, and the
//! member it appends is the same row. When the sets cannot be read, the merchant's failure mode decides.

use super::config::FraudConfig;
use super::{assess, FailureMode, Input as Scored, Velocity};
use crate::domain::MinorUnits;
use crate::events::fraud_assessment::FraudAssessment;
use crate::events::payment_event::{PaymentEvent, RiskContext};
use crate::events::{symbol, Event, TimestampMillis};
use crate::metrics::{self as m, Measure};
use crate::processors::{Binding, Build, Context, Decoded, Effects, Io, ProcessError, Processor};
use crate::store::state::{rows, SetMember};
use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use std::collections::{BTreeMap, BTreeSet};
use tracing::warn;

pub const NAME: &str = "fraud";

pub struct Fraud {
    config: FraudConfig,
    output_topic: String,
}

/// The velocity sets the batch touches; `None` when they could not be read.
pub struct View {
    sets: Option<BTreeMap<String, Vec<SetMember>>>,
}

impl Fraud {
    pub fn new(config: FraudConfig, output_topic: &str) -> Self {
        Self {
            config,
            output_topic: output_topic.to_owned(),
        }
    }
}

impl Build for Fraud {
    type Config = FraudConfig;

    fn build(config: &FraudConfig, binding: &Binding) -> Result<Self, String> {
        Ok(Self::new(config.clone(), &binding.output("assessments")?))
    }
}

impl Fraud {
    fn failure_mode(&self, merchant: &str) -> FailureMode {
        self.config
            .merchant_failure_mode
            .get(merchant)
            .copied()
            .unwrap_or(self.config.failure_mode)
    }

    fn ttl_s(&self) -> u32 {
        u32::try_from(self.config.velocity_window_ms / 1_000)
            .unwrap_or(u32::MAX)
            .saturating_mul(2)
            .max(60)
    }
}

/// The velocity set keys of one payment: (dimension, set key).
fn dimensions(r: &RiskContext) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let dims = [
        ("customer", r.customer_id.as_deref()),
        ("card", r.card_token.as_deref()),
        ("vpa", r.vpa.as_deref()),
        ("ip", r.customer_ip.as_deref()),
    ];
    for (dim, value) in dims {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            out.push((dim, format!("velocity:{dim}:{v}")));
        }
    }
    out
}

/// Whether this event asks for scoring: the transition into processing after a confirm.
fn to_score(e: &PaymentEvent) -> Option<&RiskContext> {
    e.risk.as_ref()
}

impl Processor for Fraud {
    type Input = PaymentEvent;
    type View = View;
    const OUTPUTS: &'static [&'static str] = &["assessments"];
    const INPUT_SCHEMAS: &'static [&'static str] = &[PaymentEvent::FULL_NAME];

    fn name(&self) -> &str {
        NAME
    }

    fn load<'a>(
        &'a self,
        io: &'a Io<'a>,
        batch: &'a [Decoded<PaymentEvent>],
    ) -> BoxFuture<'a, Result<View, ProcessError>> {
        Box::pin(async move {
            // The earliest window start each set is needed from.
            let mut since: BTreeMap<String, i64> = BTreeMap::new();
            for d in batch {
                if let Some(r) = to_score(&d.input) {
                    let start = d
                        .input
                        .occurred_at
                        .0
                        .saturating_sub(self.config.velocity_window_ms);
                    for (_, key) in dimensions(r) {
                        let s = since.entry(key).or_insert(start);
                        *s = (*s).min(start);
                    }
                }
            }
            // One read per set, at most `in_flight_max` at once: a batch touches hundreds of sets.
            let reads: Vec<BoxFuture<'a, _>> = since
                .into_iter()
                .map(|(key, start)| -> BoxFuture<'a, _> {
                    Box::pin(async move {
                        let members = io
                            .sets
                            .set_members(NAME, &key, start, self.config.velocity_read_max)
                            .await?;
                        Ok::<_, crate::store::StoreError>((key, members))
                    })
                })
                .collect();
            let read: Result<BTreeMap<String, Vec<SetMember>>, _> = futures::stream::iter(reads)
                .buffer_unordered(io.in_flight_max.max(1))
                .try_collect()
                .await;
            match read {
                Ok(sets) => Ok(View { sets: Some(sets) }),
                Err(e) => {
                    warn!(error = %e, "velocity state unavailable; the merchants' failure modes decide");
                    Ok(View { sets: None })
                }
            }
        })
    }

    fn process(
        &self,
        e: &PaymentEvent,
        view: &mut View,
        ctx: &Context<'_>,
    ) -> Result<Effects, ProcessError> {
        let Some(risk) = to_score(e) else {
            return Ok(Effects::default());
        };
        let at = e.occurred_at.0;
        let dims = dimensions(risk);
        let velocity = view.sets.as_ref().map(|sets| {
            let window = (at.saturating_sub(self.config.velocity_window_ms), at);
            velocity_of(sets, &dims, window, &e.payment_id)
        });
        let input = Scored {
            amount_minor: MinorUnits::new(e.amount_minor),
            currency: &e.currency,
            customer_id: risk.customer_id.as_deref(),
            card_token: risk.card_token.as_deref(),
            vpa: risk.vpa.as_deref(),
            ip: risk.customer_ip.as_deref(),
            customer_country: risk.customer_country.as_deref(),
            card_issuer_country: risk.card_issuer_country.as_deref(),
        };
        let a = assess(
            &self.config.rules,
            &input,
            velocity.as_ref(),
            self.failure_mode(&e.merchant_id),
        );
        let decided = Measure::count(
            m::FRAUD_DECISIONS,
            &[("decision", symbol(&a.decision)), ("mode", symbol(&a.mode))],
        );
        let assessment = FraudAssessment {
            assessment_id: format!("{}:fraud:{}", e.payment_id, e.sequence),
            payment_id: e.payment_id.clone(),
            merchant_id: e.merchant_id.clone(),
            score: a.score,
            decision: a.decision,
            mode: a.mode,
            reasons: a.reasons,
            assessed_at: TimestampMillis(ctx.clock.now_millis()),
        };
        let mut effects = Effects {
            records: vec![ctx.record(&self.output_topic, &assessment)?],
            measures: vec![decided],
            ..Effects::default()
        };
        let member = SetMember {
            at_ms: at,
            member: e.payment_id.clone(),
            value: String::new(),
        };
        for (_, key) in &dims {
            effects
                .writes
                .push(rows::set_member(NAME, key, &member, self.ttl_s()));
            // Later payments of this batch see this one.
            if let Some(sets) = view.sets.as_mut() {
                sets.entry(key.clone()).or_default().push(member.clone());
            }
        }
        Ok(effects)
    }
}

/// Payments per dimension within `(start, end]`, this one included (counted once, however often
/// it was seen).
fn velocity_of(
    sets: &BTreeMap<String, Vec<SetMember>>,
    dims: &[(&'static str, String)],
    (start, end): (i64, i64),
    payment_id: &str,
) -> Velocity {
    let mut v = Velocity::default();
    for (dim, key) in dims {
        let seen: BTreeSet<&str> = sets
            .get(key)
            .map(|ms| {
                ms.iter()
                    .filter(|m| m.at_ms > start && m.at_ms <= end && m.member != payment_id)
                    .map(|m| m.member.as_str())
                    .collect()
            })
            .unwrap_or_default();
        let count = u32::try_from(seen.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1);
        match *dim {
            "customer" => v.customer = count,
            "card" => v.card = count,
            "vpa" => v.vpa = count,
            _ => v.ip = count,
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::clock::FixedClock;
    use crate::events::fraud_assessment::{AssessmentMode, FraudDecision};
    use crate::events::Codec;
    use crate::events::{samples, Catalog};
    use crate::processors::RecordMeta;

    fn event(payment: &str, customer: &str, at: i64, amount: i64) -> PaymentEvent {
        let mut e = samples::payment_event();
        e.payment_id = payment.into();
        e.occurred_at = TimestampMillis(at);
        e.amount_minor = amount;
        e.currency = "INR".into();
        if let Some(r) = e.risk.as_mut() {
            r.customer_id = Some(customer.into());
            r.card_token = Some(format!("tok_{customer}"));
            r.customer_country = Some("IN".into());
            r.card_issuer_country = Some("IN".into());
        }
        e
    }

    /// The effects of one event, and the codec to read them.
    fn effects(f: &Fraud, view: &mut View, e: &PaymentEvent) -> (Effects, Codec) {
        let codec = Codec::single_object(Catalog::bundled().unwrap());
        let meta = RecordMeta::at("payments.events", 0, 0);
        let ctx = Context {
            record: &meta,
            clock: &FixedClock(0),
            codec: &codec,
        };
        let out = f.process(e, view, &ctx).unwrap();
        (out, codec)
    }

    fn run(f: &Fraud, view: &mut View, e: &PaymentEvent) -> FraudAssessment {
        let (out, codec) = effects(f, view, e);
        codec.decode_sync(&out.records[0].payload).unwrap()
    }

    #[test]
    fn velocity_counts_the_window_before_the_payment_and_sees_the_batch() {
        let mut config = FraudConfig::default();
        config.rules.velocity_limit.customer = 2;
        config.rules.velocity_limit.card = 0;
        config.velocity_window_ms = 10_000;
        let f = Fraud::new(config, "fraud.assessments");
        let mut view = View {
            sets: Some(BTreeMap::new()),
        };
        // Three payments of one customer in one batch: the third exceeds the limit of 2.
        let a = run(&f, &mut view, &event("p1", "c1", 1_000, 100));
        let b = run(&f, &mut view, &event("p2", "c1", 2_000, 100));
        let c = run(&f, &mut view, &event("p3", "c1", 3_000, 100));
        assert!(a.reasons.is_empty() && b.reasons.is_empty(), "{a:?} {b:?}");
        assert_eq!(c.reasons[0].rule, "velocity_customer");
        // A replay of p1 after p3's member exists counts only what came before p1.
        let again = run(&f, &mut view, &event("p1", "c1", 1_000, 100));
        assert!(again.reasons.is_empty(), "{again:?}");
        // Outside the window, p4 is alone again.
        let d = run(&f, &mut view, &event("p4", "c1", 20_000, 100));
        assert!(d.reasons.is_empty(), "{d:?}");
    }

    #[test]
    fn unavailable_state_follows_the_merchants_failure_mode() {
        let mut config = FraudConfig::default();
        config
            .merchant_failure_mode
            .insert("m_strict".into(), FailureMode::Closed);
        let f = Fraud::new(config, "fraud.assessments");
        let mut view = View { sets: None };
        let mut e = event("p1", "c1", 1_000, 100);
        let open = run(&f, &mut view, &e);
        assert_eq!(
            (open.decision, open.mode),
            (FraudDecision::Allow, AssessmentMode::FailOpen)
        );
        e.merchant_id = "m_strict".into();
        let closed = run(&f, &mut view, &e);
        assert_eq!(
            (closed.decision, closed.mode),
            (FraudDecision::Block, AssessmentMode::FailClosed)
        );
    }

    #[test]
    fn events_without_risk_context_are_not_scored() {
        let f = Fraud::new(FraudConfig::default(), "fraud.assessments");
        let mut e = event("p1", "c1", 1_000, 100);
        e.risk = None;
        let mut view = View {
            sets: Some(BTreeMap::new()),
        };
        let (out, _) = effects(&f, &mut view, &e);
        assert_eq!(out, Effects::default());
    }
}
