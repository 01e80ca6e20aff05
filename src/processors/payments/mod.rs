//! `payments`: the payment processor. It applies commands (`commands`), fraud decisions (`fraud`),
//! provider responses and webhooks (`provider`) to each payment through the state machine
//! (`state_machine`, where every legality decision lives), routes attempts to connectors (`route`)
//! and builds its outputs in `output`.
//!
//! Every input is keyed by payment id, so one instance owns a payment at a time. The payment's state is
//! keyed state ([`Keyed`]) in the `payments.changelog` topic, committed with the outputs; connector
//! health is read from the time sets the connector processor appends to. Outputs of one input:
//! - each applied transition: a `PaymentEvent` on the events topic (the audit trail), from which the
//!   `views` processor projects the query rows;
//! - an illegal, late or duplicate signal: a `TransitionRejected` with the reason, state unchanged;
//! - a fraud "allow" or a retryable decline: a `RoutingDecision` and, if a connector is eligible, an
//!   attempt and its `ProviderRequest`; otherwise the payment fails with `ROUTING_EXHAUSTED`.

mod commands;
pub mod config;
mod fraud;
mod output;
mod provider;
pub mod refunds;
mod route;
pub mod state_machine;
#[cfg(test)]
mod state_machine_props;
pub mod timers;

use super::routing::{health_set, Breaker, HEALTH_SET_OWNER};
use super::state::{Keyed, Step};
use super::timers::Timer;
use super::{
    Binding, Build, Context, Decode, Decoded, Effects, Io, ProcessError, Processor, RecordMeta,
};
use crate::contract::provider::{expect_kind, Answer, Notice};
use crate::events::fraud_assessment::{FraudAssessment, FraudDecision};
use crate::events::payment_command::{PaymentCommand, PaymentMethod};
use crate::events::provider::{ProviderResponse, ProviderSubjectKind, ProviderWebhook};
use crate::events::refund::RefundRequest;
use crate::events::{Codec, CodecError, Event};
use config::{PaymentsConfig, PaymentsSetup};
use futures::future::BoxFuture;
use output::Out;

use serde::{Deserialize, Serialize};
use state_machine::PaymentState;
use std::collections::BTreeMap;

pub const NAME: &str = "payments";

/// The provider subjects this processor owns: a payment's attempts and its refunds.
const OWNED: &[ProviderSubjectKind] = &[
    ProviderSubjectKind::PaymentAttempt,
    ProviderSubjectKind::Refund,
];

/// One input of the payment processor.
#[derive(Debug, Clone)]
pub enum Input {
    Command(PaymentCommand),
    Fraud(FraudAssessment),
    Response(Answer),
    Webhook(Notice),
    Refund(RefundRequest),
}

impl Input {
    fn payment_id(&self) -> &str {
        match self {
            Input::Command(c) => &c.payment_id,
            Input::Fraud(f) => &f.payment_id,
            Input::Response(r) => r.subject.key(),
            Input::Webhook(w) => w.subject.key(),
            Input::Refund(r) => &r.payment_id,
        }
    }
}

/// What the processor keeps per payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    pub machine: PaymentState,
    pub method: Option<PaymentMethod>,
    pub customer_id: Option<String>,
    pub customer_ip: Option<String>,
    pub customer_country: Option<String>,
    /// Connectors already tried, in order: a cascade never returns to one.
    pub tried: Vec<String>,
    /// The payment's refunds, at most `refunds_per_payment_max`.
    #[serde(default)]
    pub refunds: Vec<refunds::machine::Refund>,
}

impl Stored {
    /// A payment first known from a signal other than its CREATE.
    fn of(machine: PaymentState) -> Self {
        Self {
            machine,
            method: None,
            customer_id: None,
            customer_ip: None,
            customer_country: None,
            tried: vec![],
            refunds: vec![],
        }
    }
}

pub struct View {
    pub payments: Keyed<Stored>,
    pub health: BTreeMap<String, Breaker>,
}

/// Output topics, bound by role from processors.toml.
#[derive(Debug, Clone)]
struct Topics {
    events: String,
    rejections: String,
    requests: String,
    routing: String,
    refunds: String,
}

pub struct Payments {
    config: PaymentsConfig,
    connectors: Vec<String>,
    topics: Topics,
}

impl Build for Payments {
    type Config = PaymentsSetup;

    fn build(setup: &PaymentsSetup, binding: &Binding) -> Result<Self, String> {
        let topics = Topics {
            events: binding.output("events")?,
            rejections: binding.output("rejections")?,
            requests: binding.output("requests")?,
            routing: binding.output("routing")?,
            refunds: binding.output("refunds")?,
        };
        Ok(Self {
            config: setup.payments.clone(),
            connectors: setup.connectors.clone(),
            topics,
        })
    }
}

impl Decode for Input {
    fn decode(
        codec: &Codec,
        schema: &str,
        record: &RecordMeta,
        payload: &[u8],
    ) -> Result<Input, CodecError> {
        Ok(match schema {
            PaymentCommand::FULL_NAME => {
                Input::Command(Decode::decode(codec, schema, record, payload)?)
            }
            FraudAssessment::FULL_NAME => {
                Input::Fraud(Decode::decode(codec, schema, record, payload)?)
            }
            ProviderResponse::FULL_NAME => {
                let answer: Answer = Decode::decode(codec, schema, record, payload)?;
                expect_kind(&answer.subject, OWNED, NAME).map_err(CodecError::Invalid)?;
                Input::Response(answer)
            }
            ProviderWebhook::FULL_NAME => {
                let notice: Notice = Decode::decode(codec, schema, record, payload)?;
                expect_kind(&notice.subject, OWNED, NAME).map_err(CodecError::Invalid)?;
                Input::Webhook(notice)
            }
            RefundRequest::FULL_NAME => {
                Input::Refund(Decode::decode(codec, schema, record, payload)?)
            }
            other => {
                return Err(CodecError::Invalid(format!(
                    "topic '{}' carries {other}, which the payment processor does not read",
                    record.topic
                )))
            }
        })
    }
}

impl Processor for Payments {
    type Input = Input;
    type View = View;
    const OUTPUTS: &'static [&'static str] =
        &["events", "rejections", "requests", "routing", "refunds"];
    const INPUT_SCHEMAS: &'static [&'static str] = &[
        PaymentCommand::FULL_NAME,
        FraudAssessment::FULL_NAME,
        ProviderResponse::FULL_NAME,
        ProviderWebhook::FULL_NAME,
        RefundRequest::FULL_NAME,
    ];
    const STATEFUL: bool = true;

    fn state_key(input: &Input) -> Option<&str> {
        Some(input.payment_id())
    }

    fn name(&self) -> &str {
        NAME
    }

    fn load<'a>(
        &'a self,
        io: &'a Io<'a>,
        _batch: &'a [Decoded<Input>],
    ) -> BoxFuture<'a, Result<View, ProcessError>> {
        Box::pin(async move {
            let payments = Keyed::load(io)?;
            let mut health = BTreeMap::new();
            let window = i32::try_from(self.config.breaker_window).unwrap_or(i32::MAX);
            for c in &self.connectors {
                let members = io
                    .sets
                    .set_members(HEALTH_SET_OWNER, &health_set(c), 0, window)
                    .await
                    .map_err(|e| ProcessError::Retryable(e.to_string()))?;
                let mut b = Breaker::new(
                    self.config.breaker_window,
                    self.config.breaker_failures_to_open,
                    self.config.breaker_open_ms,
                );
                // Newest first from the store; the breaker replays oldest first.
                for member in members.iter().rev() {
                    b.record(member.value == "ok", member.at_ms);
                }
                health.insert(c.clone(), b);
            }
            Ok(View { payments, health })
        })
    }

    fn process(
        &self,
        input: &Input,
        view: &mut View,
        ctx: &Context<'_>,
    ) -> Result<Effects, ProcessError> {
        let key = input.payment_id().to_owned();
        let health = &view.health;
        view.payments.step(ctx, &key, |stored| {
            if let Some(s) = stored {
                read_back(s)?;
            }
            let mut out = Out::new(ctx, &self.topics);
            let state = match input {
                Input::Command(c) => commands::apply(c, stored, &mut out)?,
                Input::Fraud(f) => fraud::apply(self, f, stored, health, &mut out)?,
                Input::Response(r) => provider::response(self, r, stored, health, &mut out)?,
                Input::Webhook(w) => provider::webhook(self, w, stored, health, &mut out)?,
                Input::Refund(r) => refunds::request(self, r, stored, &mut out)?,
            };
            let review = matches!(input, Input::Fraud(f) if f.decision == FraudDecision::Review);
            self.step(stored, state, review, out)
        })
    }

    fn on_timer(
        &self,
        key: &str,
        timer: &Timer,
        view: &mut View,
        ctx: &Context<'_>,
    ) -> Result<Effects, ProcessError> {
        let health = &view.health;
        view.payments.fire(ctx, key, timer, |stored| {
            read_back(stored)?;
            let mut out = Out::new(ctx, &self.topics);
            let state = timers::fire(self, timer, stored, health, &mut out)?;
            self.step(Some(stored), state, false, out)
        })
    }
}

/// Read back from the changelog: what was written must still hold.
fn read_back(s: &Stored) -> Result<(), ProcessError> {
    s.machine
        .check()
        .map_err(|e| ProcessError::Fatal(format!("stored state breaks an invariant: {e}")))?;
    refunds::check(s)
}

impl Payments {
    /// The step a signal made: its effects, the new state and the timers the change implies.
    fn step(
        &self,
        before: Option<&Stored>,
        after: Option<Stored>,
        review_started: bool,
        mut out: Out<'_>,
    ) -> Result<Step<Stored>, ProcessError> {
        let mut ops = std::mem::take(&mut out.timers);
        if let Some(a) = &after {
            refunds::check(a)?;
            ops.push(refunds::timer(a));
            // A capture or void the step asked for goes to the provider in the same transaction.
            let asked = a.machine.settling.is_some()
                && before.is_none_or(|b| b.machine.settling != a.machine.settling);
            if let Some(call) = asked
                .then(|| route::settlement(&a.machine, None, out.now_ms))
                .flatten()
            {
                let topics = out.topics;
                out.emit(&topics.requests, &call)?;
            }
            ops.extend(timers::plan(
                &self.config,
                before.map(|b| &b.machine),
                &a.machine,
                review_started,
                out.now_ms,
            )?);
        }
        Ok(Step::new(out.effects, after).with_timers(ops))
    }
}

#[cfg(test)]
mod tests;
