//! `payments`: the payment processor. It applies commands, fraud decisions, provider responses and
//! webhooks to each payment through the state machine (`state_machine`), routes attempts to
//! connectors (`super::routing`) and asks the connector edge for provider calls.
//!
//! Every input is keyed by payment id, so one instance owns a payment at a time. The payment's state is
//! kept in the store through [`Keyed`] (state row plus replay journal); connector health is read from
//! the time sets the connector processor appends to. Outputs of one input:
//! - each applied transition: a `PaymentEvent` on the events topic (the audit trail) and the compacted
//!   state topic, and the `payments` query row;
//! - an illegal, late or duplicate signal: a `TransitionRejected` with the reason, state unchanged;
//! - a fraud "allow" or a retryable decline: a `RoutingDecision` and, if a connector is eligible, an
//!   attempt and its `ProviderRequest`; otherwise the payment fails with `ROUTING_EXHAUSTED`.

pub mod config;
pub mod state_machine;
#[cfg(test)]
mod state_machine_props;

use super::routing::{self, health_set, Breaker, HEALTH_SET_OWNER};
use super::state::{Keyed, Step};
use super::{
    check_ids, check_no_card_number, Context, Decoded, Effects, Io, ProcessError, Processor,
    RecordMeta,
};
use crate::events::fraud_assessment::{FraudAssessment, FraudDecision};
use crate::events::payment_command::{PaymentCommand, PaymentCommandKind, PaymentMethod};
use crate::events::payment_event::{IntentStatus, PaymentEvent, RiskContext};
use crate::events::provider::{
    ProviderOperation, ProviderOutcome, ProviderRequest, ProviderResponse, ProviderWebhook,
};
use crate::events::routing_decision::RoutingDecision;
use crate::events::transition_rejected::TransitionRejected;
use crate::events::{symbol, Codec, CodecError, Event, TimestampMillis};
use crate::metrics as m;
use crate::store::writer::{Cql, StoreWrite};
use crate::topology::{ProcessorSpec, Topology};
use config::PaymentsConfig;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use state_machine::{Outcome, PaymentState, Signal};
use std::collections::BTreeMap;

pub const NAME: &str = "payments";
/// One input of the payment processor.
#[derive(Debug, Clone)]
pub enum Input {
    Command(PaymentCommand),
    Fraud(FraudAssessment),
    Response(ProviderResponse),
    Webhook(ProviderWebhook),
}

impl Input {
    fn payment_id(&self) -> &str {
        match self {
            Input::Command(c) => &c.payment_id,
            Input::Fraud(f) => &f.payment_id,
            Input::Response(r) => &r.payment_id,
            Input::Webhook(w) => &w.payment_id,
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
}

pub struct View {
    pub payments: Keyed<Stored>,
    pub health: BTreeMap<String, Breaker>,
}

/// Output topics, by role (processors.toml lists them in this order).
#[derive(Debug, Clone)]
struct Topics {
    events: String,
    state: String,
    rejections: String,
    requests: String,
    routing: String,
}

pub struct Payments {
    config: PaymentsConfig,
    connectors: Vec<String>,
    topics: Topics,
    /// Input topic → the Avro record it carries.
    inputs: BTreeMap<String, String>,
}

impl Payments {
    /// Binds the processor to its topics: inputs by their value schema, outputs by position
    /// (`events, state, rejections, requests, routing`).
    pub fn new(
        spec: &ProcessorSpec,
        topology: &Topology,
        config: PaymentsConfig,
        connectors: Vec<String>,
    ) -> Result<Self, String> {
        let out = |i: usize, role: &str| {
            spec.outputs.get(i).cloned().ok_or_else(|| {
                format!("processor '{NAME}' needs output #{i} ({role}) in processors.toml")
            })
        };
        let topics = Topics {
            events: out(0, "payment events")?,
            state: out(1, "payment state")?,
            rejections: out(2, "rejections")?,
            requests: out(3, "provider requests")?,
            routing: out(4, "routing decisions")?,
        };
        let mut inputs = BTreeMap::new();
        for t in &spec.inputs {
            let schema = topology
                .topic(t)
                .map(|s| s.value_schema.clone())
                .ok_or_else(|| format!("input topic '{t}' is not in topics.toml"))?;
            inputs.insert(t.clone(), schema);
        }
        Ok(Self {
            config,
            connectors,
            topics,
            inputs,
        })
    }
}

impl Processor for Payments {
    type Input = Input;
    type View = View;

    fn name(&self) -> &str {
        NAME
    }

    fn decode(
        &self,
        codec: &Codec,
        record: &RecordMeta,
        payload: &[u8],
    ) -> Result<Input, CodecError> {
        let schema = self.inputs.get(&record.topic).map(String::as_str);
        let input = match schema {
            Some(PaymentCommand::FULL_NAME) => {
                let c: PaymentCommand = codec.decode_sync(payload)?;
                check_ids(&[
                    ("command_id", &c.command_id),
                    ("payment_id", &c.payment_id),
                    ("merchant_id", &c.merchant_id),
                ])?;
                check_no_card_number(&c)?;
                Input::Command(c)
            }
            Some(FraudAssessment::FULL_NAME) => Input::Fraud(codec.decode_sync(payload)?),
            Some(ProviderResponse::FULL_NAME) => Input::Response(codec.decode_sync(payload)?),
            Some(ProviderWebhook::FULL_NAME) => Input::Webhook(codec.decode_sync(payload)?),
            other => {
                return Err(CodecError::Invalid(format!(
                    "topic '{}' carries {other:?}, which the payment processor does not read",
                    record.topic
                )))
            }
        };
        check_ids(&[("payment_id", input.payment_id())])?;
        Ok(input)
    }

    fn load<'a>(
        &'a self,
        io: &'a Io<'a>,
        batch: &'a [Decoded<Input>],
    ) -> BoxFuture<'a, Result<View, ProcessError>> {
        Box::pin(async move {
            let payments =
                Keyed::load(io, NAME, batch, payment_key, self.config.journal_ttl_s).await?;
            let mut health = BTreeMap::new();
            let window = i32::try_from(self.config.breaker_window).unwrap_or(i32::MAX);
            for c in &self.connectors {
                let members = io
                    .state
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
            let created = self.apply(input, stored, health, ctx)?;
            // A CREATE with `confirm` is one record, so both steps commit together or not at all.
            let confirm = match input {
                Input::Command(c) if c.confirm && c.kind == PaymentCommandKind::Create => {
                    confirm_of(c)
                }
                _ => return Ok(created),
            };
            let Some(state) = created.state else {
                return Ok(created);
            };
            let confirmed = self.apply(&Input::Command(confirm), Some(&state), health, ctx)?;
            let mut effects = created.effects;
            effects.records.extend(confirmed.effects.records);
            effects.writes.extend(confirmed.effects.writes);
            Ok(Step {
                effects,
                state: confirmed.state.or(Some(state)),
            })
        })
    }
}

/// Accumulates one input's outputs.
struct Out<'c> {
    ctx: &'c Context<'c>,
    effects: Effects,
    now_ms: i64,
}

impl Out<'_> {
    fn emit<E: Event>(&mut self, topic: &str, e: &E) -> Result<(), ProcessError> {
        let r = self.ctx.record(topic, e)?;
        self.effects.records.push(r);
        Ok(())
    }
}

impl Payments {
    fn apply(
        &self,
        input: &Input,
        stored: Option<&Stored>,
        health: &BTreeMap<String, Breaker>,
        ctx: &Context<'_>,
    ) -> Result<Step<Stored>, ProcessError> {
        let now_ms = ctx.clock.now_millis();
        let mut out = Out {
            ctx,
            effects: Effects::default(),
            now_ms,
        };
        let cause = cause_id(input);
        let mut current: Option<Stored> = stored.cloned();

        // The first signal an input carries.
        let (signal_result, routing_wanted) = match input {
            Input::Command(c) => {
                if let (Some(s), Some(m)) = (current.as_mut(), c.payment_method.as_ref()) {
                    if c.kind == PaymentCommandKind::Confirm && s.method.is_none() {
                        s.method = Some(m.clone());
                    }
                }
                (
                    state_machine::apply(current.as_ref().map(|s| &s.machine), &Signal::Command(c)),
                    false,
                )
            }
            Input::Fraud(f) => {
                let signal = match f.decision {
                    FraudDecision::Block => Signal::FraudBlocked,
                    FraudDecision::Review => Signal::FraudReview,
                    FraudDecision::Allow => {
                        // Allow: start the first attempt (below) instead of a transition of its own.
                        let ok = current.as_ref().is_some_and(|s| {
                            s.machine.status == IntentStatus::Processing
                                && s.machine.attempt.is_none()
                        });
                        if ok {
                            return self.route(current, health, &cause, &mut out).map(|s| Step {
                                effects: out.effects,
                                state: s,
                            });
                        }
                        let r = state_machine::Rejection {
                            code: state_machine::RejectCode::IllegalTransition,
                            reason: format!(
                                "a fraud allow only starts an attempt for a processing payment without one; it is {:?}",
                                current.as_ref().map(|s| s.machine.status)
                            ),
                        };
                        self.reject(input, current.as_ref(), &r, &cause, &mut out)?;
                        return Ok(Step {
                            effects: out.effects,
                            state: None,
                        });
                    }
                };
                (
                    state_machine::apply(current.as_ref().map(|s| &s.machine), &signal),
                    false,
                )
            }
            Input::Response(r) => (
                state_machine::apply(
                    current.as_ref().map(|s| &s.machine),
                    &Signal::Provider {
                        attempt_id: &r.attempt_id,
                        outcome: r.outcome,
                        decline_class: r.decline_class,
                    },
                ),
                true,
            ),
            Input::Webhook(w) => match w.attempt_id.as_deref() {
                Some(attempt_id) => (
                    state_machine::apply(
                        current.as_ref().map(|s| &s.machine),
                        &Signal::Provider {
                            attempt_id,
                            outcome: w.outcome,
                            decline_class: w.decline_class,
                        },
                    ),
                    true,
                ),
                None => (
                    Outcome::Rejected(state_machine::Rejection {
                        code: state_machine::RejectCode::StaleAttempt,
                        reason: "webhook names no attempt".into(),
                    }),
                    false,
                ),
            },
        };

        match signal_result {
            Outcome::Rejected(r) => {
                self.reject(input, current.as_ref(), &r, &cause, &mut out)?;
                return Ok(Step {
                    effects: out.effects,
                    state: None,
                });
            }
            Outcome::Applied { state, transition } => {
                let next = match current.take() {
                    Some(mut s) => {
                        s.machine = *state;
                        s
                    }
                    None => new_stored(input, *state),
                };
                let fee = match input {
                    Input::Response(r) => r.fee_minor,
                    _ => None,
                };
                let risk = match (input, transition.previous_status) {
                    (Input::Command(c), Some(prev))
                        if c.kind == PaymentCommandKind::Confirm
                            && transition.status == IntentStatus::Processing
                            && prev != IntentStatus::Processing =>
                    {
                        Some(risk_of(&next))
                    }
                    _ => None,
                };
                let event = self.event(
                    &next,
                    transition.previous_status,
                    transition.reason_code.clone(),
                    &cause,
                    fee,
                    risk,
                    now_ms,
                );
                let created_ms = match input {
                    Input::Command(c) if c.kind == PaymentCommandKind::Create => {
                        Some(c.issued_at.0)
                    }
                    _ => None,
                };
                self.record_transition(&event, created_ms, &mut out)?;
                current = Some(next);
            }
        }

        // An authorization whose outcome is unknown gets one status check; its own unknown answer
        // does not ask again (bounded), and the provider's webhook settles it later.
        if let (Input::Response(r), Some(s)) = (input, current.as_ref()) {
            let unknown_now = s.machine.attempt.as_ref().is_some_and(|a| {
                a.attempt_id == r.attempt_id
                    && a.status == crate::events::payment_event::AttemptStatus::Unknown
            });
            if r.outcome == ProviderOutcome::Unknown && r.operation == "AUTHORIZE" && unknown_now {
                let status = ProviderRequest {
                    request_id: format!("{}_status", r.attempt_id),
                    attempt_id: r.attempt_id.clone(),
                    payment_id: s.machine.payment_id.clone(),
                    merchant_id: s.machine.merchant_id.clone(),
                    connector: r.connector.clone(),
                    operation: ProviderOperation::Status,
                    amount_minor: s.machine.amount.amount.get(),
                    currency: s.machine.amount.currency.code().to_owned(),
                    method_type: None,
                    method_reference: None,
                    provider_reference: r.provider_reference.clone(),
                    requested_at: TimestampMillis(now_ms),
                };
                out.emit(&self.topics.requests, &status)?;
            }
        }

        // A retryable decline leaves the intent processing without an open attempt: cascade.
        if routing_wanted {
            let cascade = current.as_ref().is_some_and(|s| {
                s.machine.status == IntentStatus::Processing
                    && s.machine.attempt.as_ref().is_some_and(|a| {
                        matches!(
                            a.status,
                            crate::events::payment_event::AttemptStatus::Declined
                                | crate::events::payment_event::AttemptStatus::Failed
                        )
                    })
            });
            if cascade {
                let routed = self.route(current.clone(), health, &cause, &mut out)?;
                if routed.is_some() {
                    current = routed;
                }
            }
        }
        Ok(Step {
            effects: out.effects,
            state: current,
        })
    }

    /// Chooses a connector and starts an attempt, or fails the payment when none is eligible. Returns
    /// the new state (`None` when the state machine refused, which is then recorded as a rejection).
    fn route(
        &self,
        current: Option<Stored>,
        health: &BTreeMap<String, Breaker>,
        cause: &str,
        out: &mut Out<'_>,
    ) -> Result<Option<Stored>, ProcessError> {
        let Some(mut s) = current else {
            return Ok(None);
        };
        let method = s.method.as_ref().map(|m| m.method_type).ok_or_else(|| {
            ProcessError::Invalid("processing payment has no payment method".into())
        })?;
        let request = routing::Request {
            payment_id: &s.machine.payment_id,
            merchant_id: &s.machine.merchant_id,
            method,
            currency: s.machine.amount.currency.code(),
            amount_minor: s.machine.amount.amount.get(),
            tried: &s.tried,
        };
        let decision = routing::route(
            &self.config.routing,
            health,
            &request,
            out.now_ms,
            self.config.cascade_max,
        );
        let attempt_no = s.tried.len().saturating_add(1);
        let attempt_id = format!("{}_att{attempt_no}", s.machine.payment_id);
        let routed = RoutingDecision {
            decision_id: format!("{}_route{attempt_no}", s.machine.payment_id),
            payment_id: s.machine.payment_id.clone(),
            attempt_id: attempt_id.clone(),
            merchant_id: s.machine.merchant_id.clone(),
            connector: decision.connector.clone(),
            rule: decision.rule.clone(),
            reason: decision.reason.clone(),
            candidates: decision.candidates.clone(),
            cascade_depth: i32::try_from(decision.cascade_depth).unwrap_or(i32::MAX),
            decided_at: TimestampMillis(out.now_ms),
        };
        out.emit(&self.topics.routing, &routed)?;
        let (signal, reason) = match &decision.connector {
            Some(c) => (
                Signal::AttemptStarted {
                    attempt_id: &attempt_id,
                    connector: c,
                },
                None,
            ),
            None => (Signal::RoutingExhausted, Some(decision.reason.clone())),
        };
        match state_machine::apply(Some(&s.machine), &signal) {
            Outcome::Applied { state, transition } => {
                s.machine = *state;
                if let Some(c) = &decision.connector {
                    s.tried.push(c.clone());
                }
                let mut event = self.event(
                    &s,
                    transition.previous_status,
                    transition.reason_code.clone(),
                    cause,
                    None,
                    None,
                    out.now_ms,
                );
                event.reason = reason;
                self.record_transition(&event, None, out)?;
                if let Some(c) = &decision.connector {
                    let req = ProviderRequest {
                        request_id: format!("{attempt_id}_authorize"),
                        attempt_id: attempt_id.clone(),
                        payment_id: s.machine.payment_id.clone(),
                        merchant_id: s.machine.merchant_id.clone(),
                        connector: c.clone(),
                        operation: ProviderOperation::Authorize,
                        amount_minor: s.machine.amount.amount.get(),
                        currency: s.machine.amount.currency.code().to_owned(),
                        method_type: Some(symbol(&method)),
                        method_reference: s.method.as_ref().and_then(method_reference),
                        provider_reference: None,
                        requested_at: TimestampMillis(out.now_ms),
                    };
                    out.emit(&self.topics.requests, &req)?;
                }
                Ok(Some(s))
            }
            Outcome::Rejected(r) => {
                metrics::counter!(m::PAYMENTS_SIGNALS_REJECTED, "code" => r.code.as_str())
                    .increment(1);
                Ok(None)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn event(
        &self,
        s: &Stored,
        previous_status: Option<IntentStatus>,
        reason_code: Option<String>,
        cause: &str,
        fee: Option<i64>,
        risk: Option<RiskContext>,
        now_ms: i64,
    ) -> PaymentEvent {
        let p = &s.machine;
        PaymentEvent {
            event_id: format!("{}:{}", p.payment_id, p.sequence),
            payment_id: p.payment_id.clone(),
            merchant_id: p.merchant_id.clone(),
            sequence: p.sequence,
            status: p.status,
            previous_status,
            attempt_id: p.attempt.as_ref().map(|a| a.attempt_id.clone()),
            attempt_status: p.attempt.as_ref().map(|a| a.status),
            amount_minor: p.amount.amount.get(),
            amount_captured_minor: p.captured_minor,
            currency: p.amount.currency.code().to_owned(),
            connector: p.attempt.as_ref().map(|a| a.connector.clone()),
            reason_code,
            reason: None,
            cause_id: cause.to_owned(),
            occurred_at: TimestampMillis(now_ms),
            provider_fee_minor: fee,
            risk,
        }
    }

    /// The event on the audit trail and the state topic, and the query row.
    fn record_transition(
        &self,
        event: &PaymentEvent,
        created_ms: Option<i64>,
        out: &mut Out<'_>,
    ) -> Result<(), ProcessError> {
        out.emit(&self.topics.events, event)?;
        out.emit(&self.topics.state, event)?;
        out.effects.writes.push(payment_row(event));
        out.effects.writes.push(event_row(event));
        if let Some(created_ms) = created_ms {
            out.effects.writes.push(by_merchant_row(event, created_ms));
            out.effects.writes.push(owner_row(event, created_ms));
        }
        metrics::counter!(m::PAYMENTS_TRANSITIONS, "status" => symbol(&event.status)).increment(1);
        Ok(())
    }

    fn reject(
        &self,
        input: &Input,
        current: Option<&Stored>,
        r: &state_machine::Rejection,
        cause: &str,
        out: &mut Out<'_>,
    ) -> Result<(), ProcessError> {
        metrics::counter!(m::PAYMENTS_SIGNALS_REJECTED, "code" => r.code.as_str()).increment(1);
        let payment_id = input.payment_id().to_owned();
        let rejected = TransitionRejected {
            rejection_id: out.ctx.derived_id("rej"),
            merchant_id: current
                .map(|s| s.machine.merchant_id.clone())
                .or_else(|| match input {
                    Input::Command(c) => Some(c.merchant_id.clone()),
                    _ => None,
                })
                .unwrap_or_default(),
            payment_id,
            current_status: current.map(|s| symbol(&s.machine.status)),
            attempted: attempted(input),
            reason_code: r.code.as_str().to_owned(),
            reason: r.reason.clone(),
            cause_id: cause.to_owned(),
            occurred_at: TimestampMillis(out.now_ms),
        };
        out.emit(&self.topics.rejections, &rejected)
    }
}

/// The CONFIRM a CREATE with `confirm` carries: the method came with the CREATE and is stored.
fn confirm_of(create: &PaymentCommand) -> PaymentCommand {
    PaymentCommand {
        command_id: format!("{}:confirm", create.command_id),
        kind: PaymentCommandKind::Confirm,
        amount_minor: None,
        currency: None,
        capture_method: None,
        payment_method: None,
        metadata: BTreeMap::new(),
        confirm: false,
        ..create.clone()
    }
}

fn payment_key(i: &Input) -> Option<String> {
    Some(i.payment_id().to_owned())
}

fn new_stored(input: &Input, machine: PaymentState) -> Stored {
    let (method, customer_id, customer_ip, customer_country) = match input {
        Input::Command(c) => (
            c.payment_method.clone(),
            c.customer_id.clone(),
            c.customer_ip.clone(),
            c.customer_country.clone(),
        ),
        _ => (None, None, None, None),
    };
    Stored {
        machine,
        method,
        customer_id,
        customer_ip,
        customer_country,
        tried: vec![],
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

/// What the provider needs to find the instrument: a token, a VPA, a bank code or a wallet. Never a PAN.
fn method_reference(m: &PaymentMethod) -> Option<String> {
    m.card_token
        .clone()
        .or_else(|| m.vpa.clone())
        .or_else(|| m.bank_code.clone())
        .or_else(|| m.wallet.clone())
}

fn cause_id(input: &Input) -> String {
    match input {
        Input::Command(c) => c.command_id.clone(),
        Input::Fraud(f) => f.assessment_id.clone(),
        Input::Response(r) => r.response_id.clone(),
        Input::Webhook(w) => w.webhook_id.clone(),
    }
}

fn attempted(input: &Input) -> String {
    match input {
        Input::Command(c) => symbol(&c.kind),
        Input::Fraud(f) => format!("FRAUD_{}", symbol(&f.decision)),
        Input::Response(r) => format!("PROVIDER_{}", symbol(&r.outcome)),
        Input::Webhook(w) => format!("WEBHOOK_{}", symbol(&w.outcome)),
    }
}

/// The payment's query row, versioned by its sequence: an older event written after a newer one (a
/// replay) never takes the row back.
pub fn payment_row(e: &PaymentEvent) -> StoreWrite {
    StoreWrite::upsert(
        "payments",
        &e.payment_id,
        vec![
            ("payment_id", Cql::text(&e.payment_id)),
            ("merchant_id", Cql::text(&e.merchant_id)),
            ("status", Cql::Text(symbol(&e.status))),
            ("amount_minor", Cql::BigInt(e.amount_minor)),
            (
                "amount_captured_minor",
                Cql::BigInt(e.amount_captured_minor),
            ),
            ("currency", Cql::text(&e.currency)),
            ("connector", Cql::opt_text(e.connector.as_deref())),
            ("reason_code", Cql::opt_text(e.reason_code.as_deref())),
            ("sequence", Cql::BigInt(e.sequence)),
            ("last_event_id", Cql::text(&e.event_id)),
            ("updated_at", Cql::Timestamp(e.occurred_at.0)),
        ],
    )
    .versioned(e.sequence)
}

fn by_merchant_row(e: &PaymentEvent, created_ms: i64) -> StoreWrite {
    StoreWrite::upsert(
        "payments_by_merchant",
        &e.payment_id,
        vec![
            ("merchant_id", Cql::text(&e.merchant_id)),
            ("created_day", Cql::Text(day_of(created_ms))),
            ("created_at", Cql::Timestamp(created_ms)),
            ("payment_id", Cql::text(&e.payment_id)),
        ],
    )
}

/// One transition of the queryable audit trail, keyed by (payment, sequence): a replay rewrites it.
/// Absent values are left out rather than written as nulls: the row is written once, and a null
/// would only leave a tombstone for every read of the trail to skip.
fn event_row(e: &PaymentEvent) -> StoreWrite {
    let columns: Vec<(&'static str, Cql)> = vec![
        ("payment_id", Cql::text(&e.payment_id)),
        ("sequence", Cql::BigInt(e.sequence)),
        ("event_id", Cql::text(&e.event_id)),
        ("status", Cql::Text(symbol(&e.status))),
        ("attempt_id", Cql::opt_text(e.attempt_id.as_deref())),
        (
            "attempt_status",
            Cql::opt_text(e.attempt_status.map(|a| symbol(&a)).as_deref()),
        ),
        ("amount_minor", Cql::BigInt(e.amount_minor)),
        (
            "amount_captured_minor",
            Cql::BigInt(e.amount_captured_minor),
        ),
        ("currency", Cql::text(&e.currency)),
        ("connector", Cql::opt_text(e.connector.as_deref())),
        ("reason_code", Cql::opt_text(e.reason_code.as_deref())),
        ("cause_id", Cql::text(&e.cause_id)),
        ("occurred_at", Cql::Timestamp(e.occurred_at.0)),
    ];
    let present = columns
        .into_iter()
        .filter(|(_, v)| !matches!(v, Cql::Null))
        .collect();
    StoreWrite::upsert("payment_events", &e.event_id, present)
}

/// Who owns the payment, from the applied CREATE: a payment created over Kafka is its merchant's
/// over REST too.
fn owner_row(e: &PaymentEvent, created_ms: i64) -> StoreWrite {
    StoreWrite::upsert(
        "intent_owners",
        &e.payment_id,
        vec![
            ("payment_id", Cql::text(&e.payment_id)),
            ("merchant_id", Cql::text(&e.merchant_id)),
            ("created_at", Cql::Timestamp(created_ms)),
        ],
    )
}

/// `YYYY-MM-DD` (UTC) of a Unix-millisecond instant: civil-from-days, integer arithmetic only.
pub fn day_of(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = if month <= 2 { y + 1 } else { y };
    format!("{year:04}-{month:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::clock::FixedClock;
    use crate::events::payment_command::PaymentMethodType;
    use crate::events::payment_event::AttemptStatus;
    use crate::events::provider::DeclineClass;
    use crate::events::{samples, Catalog};
    use std::path::Path;

    struct Harness {
        p: Payments,
        view: View,
        codec: Codec,
        offset: i64,
    }

    impl Harness {
        fn new() -> Self {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("topology");
            let topology = Topology::load(&dir).unwrap();
            let spec = topology.processor(NAME).unwrap().clone();
            let p = Payments::new(
                &spec,
                &topology,
                PaymentsConfig::default(),
                vec!["acme".into(), "bolt".into()],
            )
            .unwrap();
            Self {
                p,
                view: View {
                    payments: Keyed::of(NAME, BTreeMap::new()),
                    health: BTreeMap::new(),
                },
                codec: Codec::single_object(Catalog::bundled().unwrap()),
                offset: 0,
            }
        }

        /// Applies one input; returns the decoded outputs by topic.
        fn apply(&mut self, input: Input) -> Outputs {
            self.offset += 1;
            let meta = RecordMeta {
                topic: "t".into(),
                partition: 0,
                offset: self.offset,
                key: None,
                timestamp_ms: None,
            };
            let ctx = Context {
                record: &meta,
                clock: &FixedClock(1_000),
                codec: &self.codec,
            };
            let effects = self.p.process(&input, &mut self.view, &ctx).unwrap();
            let mut out = Outputs::default();
            for r in effects.records {
                match r.topic.as_str() {
                    "payments.events" => {
                        out.events.push(self.codec.decode_sync(&r.payload).unwrap())
                    }
                    "payments.rejections" => out
                        .rejections
                        .push(self.codec.decode_sync(&r.payload).unwrap()),
                    "providers.requests" => out
                        .requests
                        .push(self.codec.decode_sync(&r.payload).unwrap()),
                    "routing.decisions" => {
                        out.routes.push(self.codec.decode_sync(&r.payload).unwrap())
                    }
                    _ => {}
                }
            }
            out
        }
    }

    #[derive(Default)]
    struct Outputs {
        events: Vec<PaymentEvent>,
        rejections: Vec<TransitionRejected>,
        requests: Vec<ProviderRequest>,
        routes: Vec<RoutingDecision>,
    }

    fn command(kind: PaymentCommandKind, id: &str) -> Input {
        let mut c = crate::events::demo::demo_command("pp", 0, 1);
        c.payment_id = id.into();
        c.kind = kind;
        let mut m = PaymentMethod::of(PaymentMethodType::Card);
        m.card_token = Some("tok_visa".into());
        c.payment_method = Some(m);
        c.amount_minor = Some(10_000);
        c.currency = Some("INR".into());
        c.capture_method = Some(crate::events::payment_command::CaptureMethod::Automatic);
        Input::Command(c)
    }

    fn allow(id: &str) -> Input {
        let mut f = samples::fraud_assessment();
        f.payment_id = id.into();
        f.decision = FraudDecision::Allow;
        Input::Fraud(f)
    }

    fn response(
        req: &ProviderRequest,
        outcome: ProviderOutcome,
        class: Option<DeclineClass>,
    ) -> Input {
        let mut r = samples::provider_response();
        r.payment_id = req.payment_id.clone();
        r.attempt_id = req.attempt_id.clone();
        r.connector = req.connector.clone();
        r.outcome = outcome;
        r.decline_class = class;
        r.fee_minor = None;
        Input::Response(r)
    }

    #[test]
    fn a_card_payment_is_routed_cascades_on_retryable_declines_and_stops_on_final_ones() {
        let mut h = Harness::new();
        let created = h.apply(command(PaymentCommandKind::Create, "p1"));
        assert_eq!(created.events[0].status, IntentStatus::RequiresConfirmation);
        let confirmed = h.apply(command(PaymentCommandKind::Confirm, "p1"));
        let e = &confirmed.events[0];
        assert_eq!((e.status, e.sequence), (IntentStatus::Processing, 2));
        assert_eq!(
            e.risk.as_ref().map(|r| r.method_type.as_str()),
            Some("CARD")
        );

        let routed = h.apply(allow("p1"));
        assert_eq!(routed.routes.len(), 1);
        let first = routed.requests[0].clone();
        assert_eq!(first.attempt_id, "p1_att1");
        assert_eq!(
            routed.events[0].attempt_status,
            Some(AttemptStatus::Started)
        );

        // A retryable decline cascades to the other connector.
        let cascaded = h.apply(response(
            &first,
            ProviderOutcome::Declined,
            Some(DeclineClass::IssuerUnavailable),
        ));
        assert_eq!(
            cascaded.events.len(),
            2,
            "declined, then the next attempt started"
        );
        let second = cascaded.requests[0].clone();
        assert_ne!(second.connector, first.connector);
        assert_eq!(second.attempt_id, "p1_att2");
        assert_eq!(cascaded.routes[0].cascade_depth, 1);

        // A late answer for the first attempt is stale; a final decline fails the payment.
        let stale = h.apply(response(&first, ProviderOutcome::Succeeded, None));
        assert_eq!(stale.rejections[0].reason_code, "STALE_ATTEMPT");
        let failed = h.apply(response(
            &second,
            ProviderOutcome::Declined,
            Some(DeclineClass::InsufficientFunds),
        ));
        assert_eq!(failed.events[0].status, IntentStatus::Failed);
        assert_eq!(
            failed.events[0].reason_code.as_deref(),
            Some("INSUFFICIENT_FUNDS")
        );
        assert!(
            failed.requests.is_empty(),
            "a non-retryable decline never cascades"
        );
        let seqs: Vec<i64> = [created, confirmed, routed, cascaded, failed]
            .iter()
            .flat_map(|o| o.events.iter().map(|e| e.sequence))
            .collect();
        assert_eq!(seqs, (1..=6).collect::<Vec<_>>());
    }

    #[test]
    fn duplicates_and_unknown_payments_are_rejected_with_a_reason() {
        let mut h = Harness::new();
        let unknown = h.apply(command(PaymentCommandKind::Confirm, "nope"));
        assert_eq!(unknown.rejections[0].reason_code, "UNKNOWN_PAYMENT");
        h.apply(command(PaymentCommandKind::Create, "p2"));
        let again = h.apply(command(PaymentCommandKind::Create, "p2"));
        assert_eq!(again.rejections.len(), 1);
        assert!(again.events.is_empty());
        h.apply(command(PaymentCommandKind::Confirm, "p2"));
        let req = h.apply(allow("p2")).requests[0].clone();
        let ok = h.apply(response(&req, ProviderOutcome::Succeeded, None));
        assert_eq!(ok.events[0].status, IntentStatus::Succeeded);
        let dup = h.apply(response(&req, ProviderOutcome::Succeeded, None));
        assert_eq!(dup.rejections[0].reason_code, "DUPLICATE_SIGNAL");
        let late = h.apply(response(&req, ProviderOutcome::Pending, None));
        assert_eq!(late.rejections[0].reason_code, "LATE_SIGNAL");
    }

    #[test]
    fn an_unknown_outcome_gets_one_status_check_and_is_never_guessed() {
        let mut h = Harness::new();
        h.apply(command(PaymentCommandKind::Create, "p3"));
        h.apply(command(PaymentCommandKind::Confirm, "p3"));
        let req = h.apply(allow("p3")).requests[0].clone();
        let timed_out = h.apply(response(&req, ProviderOutcome::Unknown, None));
        assert_eq!(timed_out.events[0].status, IntentStatus::Processing);
        assert_eq!(
            timed_out.events[0].attempt_status,
            Some(AttemptStatus::Unknown)
        );
        assert_eq!(timed_out.requests.len(), 1);
        let check = timed_out.requests[0].clone();
        assert_eq!(check.operation, ProviderOperation::Status);
        assert_eq!(check.attempt_id, req.attempt_id);
        // The status check is unknown too: nothing changes and nothing more is asked.
        let mut still = samples::provider_response();
        still.payment_id = "p3".into();
        still.attempt_id = req.attempt_id.clone();
        still.operation = "STATUS".into();
        still.outcome = ProviderOutcome::Unknown;
        let again = h.apply(Input::Response(still));
        assert!(again.events.is_empty() && again.requests.is_empty());
        assert_eq!(again.rejections[0].reason_code, "DUPLICATE_SIGNAL");
        // The webhook settles it.
        let mut hook = samples::provider_webhook();
        hook.payment_id = "p3".into();
        hook.attempt_id = Some(req.attempt_id.clone());
        hook.outcome = ProviderOutcome::Succeeded;
        let settled = h.apply(Input::Webhook(hook));
        assert_eq!(settled.events[0].status, IntentStatus::Succeeded);
    }

    #[test]
    fn day_of_is_the_utc_calendar_day() {
        type Case<'a> = (i64, &'a str);
        let cases: [Case<'_>; 3] = [
            (0, "1970-01-01"),
            (1_763_942_400_000, "2025-11-24"),
            (951_782_400_000, "2000-02-29"),
        ];
        for (ms, day) in cases {
            assert_eq!(day_of(ms), day);
        }
    }
}
