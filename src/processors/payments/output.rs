//! What a payment input produces: transitions (events on the audit trail and the state topic, query
//! rows), rejections, and the measures of both. Built here, emitted by the signal handlers.

use super::state_machine::{self, Outcome, PaymentState, Rejection, Transition};
use super::{Stored, Topics};
use crate::events::payment_event::{IntentStatus, PaymentEvent, RiskContext};
use crate::events::transition_rejected::TransitionRejected;
use crate::events::{symbol, Event, TimestampMillis};
use crate::metrics::{self as m, Measure};
use crate::processors::timers::TimerOp;
use crate::processors::{Context, Effects, ProcessError};

/// Accumulates one input's effects.
pub(super) struct Out<'c> {
    pub ctx: &'c Context<'c>,
    pub topics: &'c Topics,
    pub effects: Effects,
    pub now_ms: i64,
    /// Timer changes beyond those the state change implies (the next rung of a status ladder).
    pub timers: Vec<TimerOp>,
}

/// The input a transition or rejection is caused by.
pub(super) struct Cause<'a> {
    pub id: &'a str,
    pub payment_id: &'a str,
    /// What the input tried, for a rejection (`CONFIRM`, `PROVIDER_DECLINED`, ...).
    pub attempted: String,
    /// The merchant, when the input names one (commands do).
    pub merchant_id: Option<&'a str>,
}

/// What a transition's event carries besides the new state.
#[derive(Default)]
pub(super) struct Detail {
    pub fee_minor: Option<i64>,
    /// The payment's risk context, for the fraud processor: on the confirm that starts processing.
    pub with_risk: bool,
    /// Why, in words (routing's reason when it exhausts the connectors).
    pub reason: Option<String>,
}

impl<'c> Out<'c> {
    pub fn new(ctx: &'c Context<'c>, topics: &'c Topics) -> Self {
        Self {
            ctx,
            topics,
            effects: Effects::default(),
            now_ms: ctx.clock.now_millis(),
            timers: Vec::new(),
        }
    }

    pub fn emit<E: Event>(&mut self, topic: &str, e: &E) -> Result<(), ProcessError> {
        let r = self.ctx.record(topic, e)?;
        self.effects.records.push(r);
        Ok(())
    }

    /// Records the state machine's outcome: a transition becomes the new state (`current`, or
    /// `fresh` for a new payment) and its event; a rejection is recorded and leaves the state as it
    /// was (`None`).
    pub fn settle(
        &mut self,
        outcome: Outcome,
        current: Option<Stored>,
        cause: &Cause<'_>,
        detail: Detail,
        fresh: impl FnOnce(PaymentState) -> Stored,
    ) -> Result<Option<Stored>, ProcessError> {
        match outcome {
            Outcome::Rejected(r) => {
                self.reject(current.as_ref(), &r, cause)?;
                Ok(None)
            }
            Outcome::Applied { state, transition } => {
                state_machine::check_step(current.as_ref().map(|s| &s.machine), &state)
                    .map_err(|e| ProcessError::Fatal(format!("broken invariant: {e}")))?;
                let next = match current {
                    Some(mut s) => {
                        s.machine = *state;
                        s
                    }
                    None => fresh(*state),
                };
                self.record(&next, &transition, cause, detail)?;
                Ok(Some(next))
            }
        }
    }

    /// Records the transition that led to `next`.
    pub fn record(
        &mut self,
        next: &Stored,
        transition: &Transition,
        cause: &Cause<'_>,
        detail: Detail,
    ) -> Result<(), ProcessError> {
        let mut event = event(next, transition.previous_status, cause.id, self.now_ms);
        event.reason_code = transition.reason_code.clone();
        event.reason = detail.reason;
        event.provider_fee_minor = detail.fee_minor;
        event.risk = detail.with_risk.then(|| risk_of(next));
        self.transition(&event)
    }

    /// The event on the audit trail. The query views are projected from it once committed (the
    /// `views` processor), so they never show a transition that was rolled back.
    fn transition(&mut self, event: &PaymentEvent) -> Result<(), ProcessError> {
        let topics = self.topics;
        self.emit(&topics.events, event)?;
        self.effects.measures.push(Measure::count(
            m::PAYMENTS_TRANSITIONS,
            &[("status", symbol(&event.status))],
        ));
        Ok(())
    }

    /// A refused signal: its reason on the rejections topic; the state is unchanged.
    pub fn reject(
        &mut self,
        current: Option<&Stored>,
        r: &Rejection,
        cause: &Cause<'_>,
    ) -> Result<(), ProcessError> {
        self.refused(r);
        let rejected = TransitionRejected {
            rejection_id: self.ctx.derived_id("rej"),
            merchant_id: current
                .map(|s| s.machine.merchant_id.to_string())
                .or_else(|| cause.merchant_id.map(str::to_owned))
                .unwrap_or_default(),
            payment_id: cause.payment_id.to_owned(),
            current_status: current.map(|s| symbol(&s.machine.status)),
            attempted: cause.attempted.clone(),
            reason_code: r.code.as_str().to_owned(),
            reason: r.reason.clone(),
            cause_id: cause.id.to_owned(),
            occurred_at: TimestampMillis(self.now_ms),
        };
        let topics = self.topics;
        self.emit(&topics.rejections, &rejected)
    }

    /// Counts a signal the state machine refused.
    pub fn refused(&mut self, r: &Rejection) {
        self.effects.measures.push(Measure::count(
            m::PAYMENTS_SIGNALS_REJECTED,
            &[("code", r.code.as_str().to_owned())],
        ));
    }
}

/// The event of the payment's latest transition.
fn event(
    s: &Stored,
    previous_status: Option<IntentStatus>,
    cause: &str,
    now_ms: i64,
) -> PaymentEvent {
    let p = &s.machine;
    PaymentEvent {
        event_id: format!("{}:{}", p.payment_id, p.sequence),
        payment_id: p.payment_id.to_string(),
        merchant_id: p.merchant_id.to_string(),
        sequence: p.sequence,
        status: p.status,
        previous_status,
        attempt_id: p.attempt.as_ref().map(|a| a.attempt_id.to_string()),
        attempt_status: p.attempt.as_ref().map(|a| a.status),
        amount_minor: p.amount.amount.get(),
        amount_captured_minor: p.captured_minor.get(),
        currency: p.amount.currency.code().to_owned(),
        connector: p.attempt.as_ref().map(|a| a.connector.clone()),
        reason_code: None,
        reason: None,
        cause_id: cause.to_owned(),
        occurred_at: TimestampMillis(now_ms),
        provider_fee_minor: None,
        risk: None,
    }
}

fn risk_of(s: &Stored) -> RiskContext {
    let m = s.method.as_ref();
    RiskContext {
        method_type: m.map(|m| symbol(&m.method_type)).unwrap_or_default(),
        customer_id: s.customer_id.clone(),
        card_token: m.and_then(|m| m.card_token.clone()),
        card_issuer_country: m.and_then(|m| m.card_issuer_country.clone()),
        vpa: m.and_then(|m| m.vpa.clone()),
        customer_ip: s.customer_ip.clone(),
        customer_country: s.customer_country.clone(),
    }
}
