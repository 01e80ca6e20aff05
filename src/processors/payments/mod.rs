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
use crate::events::fraud_assessment::{FraudAssessment, FraudDecision};
use crate::events::payment_command::{PaymentCommand, PaymentMethod};
use crate::events::provider::{ProviderOperation, ProviderResponse, ProviderWebhook};
use crate::events::{from_symbol, Codec, CodecError, Event};
use config::{PaymentsConfig, PaymentsSetup};
use futures::future::BoxFuture;
use output::Out;

use serde::{Deserialize, Serialize};
use state_machine::PaymentState;
use std::collections::BTreeMap;

pub const NAME: &str = "payments";

/// One input of the payment processor.
#[derive(Debug, Clone)]
pub enum Input {
    Command(PaymentCommand),
    Fraud(FraudAssessment),
    Response(Response),
    Webhook(ProviderWebhook),
}

/// A provider response with its operation decoded at the edge (the schema carries the symbol).
#[derive(Debug, Clone)]
pub struct Response {
    pub response: ProviderResponse,
    pub operation: ProviderOperation,
}

impl Input {
    fn payment_id(&self) -> &str {
        match self {
            Input::Command(c) => &c.payment_id,
            Input::Fraud(f) => &f.payment_id,
            Input::Response(r) => &r.response.payment_id,
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
                let response: ProviderResponse = Decode::decode(codec, schema, record, payload)?;
                let operation = from_symbol(&response.operation).ok_or_else(|| {
                    CodecError::Invalid(format!(
                        "operation: '{}' is not a ProviderOperation symbol",
                        response.operation
                    ))
                })?;
                Input::Response(Response {
                    response,
                    operation,
                })
            }
            ProviderWebhook::FULL_NAME => {
                Input::Webhook(Decode::decode(codec, schema, record, payload)?)
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
    const OUTPUTS: &'static [&'static str] = &["events", "rejections", "requests", "routing"];
    const INPUT_SCHEMAS: &'static [&'static str] = &[
        PaymentCommand::FULL_NAME,
        FraudAssessment::FULL_NAME,
        ProviderResponse::FULL_NAME,
        ProviderWebhook::FULL_NAME,
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
            // Read back from the changelog: what was written must still hold.
            if let Some(s) = stored {
                s.machine.check().map_err(|e| {
                    ProcessError::Fatal(format!("stored state breaks an invariant: {e}"))
                })?;
            }
            let mut out = Out::new(ctx, &self.topics);
            let state = match input {
                Input::Command(c) => commands::apply(c, stored, &mut out)?,
                Input::Fraud(f) => fraud::apply(self, f, stored, health, &mut out)?,
                Input::Response(r) => provider::response(self, r, stored, health, &mut out)?,
                Input::Webhook(w) => provider::webhook(self, w, stored, health, &mut out)?,
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
            stored.machine.check().map_err(|e| {
                ProcessError::Fatal(format!("stored state breaks an invariant: {e}"))
            })?;
            let mut out = Out::new(ctx, &self.topics);
            let state = timers::fire(self, timer, stored, health, &mut out)?;
            self.step(Some(stored), state, false, out)
        })
    }
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
mod tests {
    use super::*;
    use crate::domain::clock::FixedClock;
    use crate::events::fraud_assessment::FraudDecision;
    use crate::events::payment_command::PaymentCommandKind;
    use crate::events::payment_command::PaymentMethodType;
    use crate::events::payment_event::AttemptStatus;
    use crate::events::payment_event::{IntentStatus, PaymentEvent};
    use crate::events::provider::DeclineClass;
    use crate::events::provider::{ProviderOutcome, ProviderRequest};
    use crate::events::routing_decision::RoutingDecision;
    use crate::events::transition_rejected::TransitionRejected;
    use crate::events::{samples, Catalog};
    use crate::topology::Topology;
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
            let binding = Binding::of(topology.processor(NAME).unwrap(), &topology).unwrap();
            binding.check::<Payments>().unwrap();
            let setup = PaymentsSetup {
                payments: PaymentsConfig::default(),
                connectors: vec!["acme".into(), "bolt".into()],
            };
            let p = Payments::build(&setup, &binding).unwrap();
            Self {
                p,
                view: View {
                    payments: Keyed::of(BTreeMap::new()),
                    health: BTreeMap::new(),
                },
                codec: Codec::single_object(Catalog::bundled().unwrap()),
                offset: 0,
            }
        }

        /// Applies one input; returns the decoded outputs by topic.
        fn apply(&mut self, input: Input) -> Outputs {
            self.offset += 1;
            let meta = RecordMeta::at("t", 0, self.offset);
            let ctx = Context {
                record: &meta,
                clock: &FixedClock(1_000),
                codec: &self.codec,
            };
            let effects = self.p.process(&input, &mut self.view, &ctx).unwrap();
            self.decode(effects)
        }

        fn decode(&self, effects: Effects) -> Outputs {
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

    impl Harness {
        /// Fires `id`'s timer of `kind` at its due time; panics if it holds none.
        fn fire(&mut self, id: &str, kind: &str) -> Outputs {
            let timer = self
                .view
                .payments
                .timers(id)
                .iter()
                .find(|t| t.kind == kind)
                .cloned()
                .unwrap_or_else(|| panic!("{id} holds no {kind} timer"));
            let meta = RecordMeta::of_timer("payments.changelog", 0, id, &timer);
            let ctx = Context {
                record: &meta,
                clock: &FixedClock(timer.due_at_ms),
                codec: &self.codec,
            };
            let effects = self.p.on_timer(id, &timer, &mut self.view, &ctx).unwrap();
            assert!(
                !effects.state.last().unwrap().timers.contains(&timer),
                "a firing clears its timer"
            );
            self.decode(effects)
        }

        fn kinds(&self, id: &str) -> Vec<String> {
            let mut k: Vec<String> = self
                .view
                .payments
                .timers(id)
                .iter()
                .map(|t| t.kind.clone())
                .collect();
            k.sort();
            k
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
        Input::Response(Response {
            response: r,
            operation: ProviderOperation::Authorize,
        })
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
        let again = h.apply(Input::Response(Response {
            response: still,
            operation: ProviderOperation::Status,
        }));
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
    fn a_response_operation_is_decoded_at_the_edge() {
        let h = Harness::new();
        let meta = RecordMeta::at("providers.responses", 0, 1);
        let mut r = samples::provider_response();
        r.operation = "STATUS".into();
        let payload = h.codec.encode_sync(&r).unwrap();
        match Input::decode(&h.codec, ProviderResponse::FULL_NAME, &meta, &payload).unwrap() {
            Input::Response(d) => assert_eq!(d.operation, ProviderOperation::Status),
            other => panic!("decoded as {other:?}"),
        }
        r.operation = "TELEPORT".into();
        let payload = h.codec.encode_sync(&r).unwrap();
        let err = Input::decode(&h.codec, ProviderResponse::FULL_NAME, &meta, &payload)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("'TELEPORT' is not a ProviderOperation"),
            "{err}"
        );
    }

    fn unknown_attempt(h: &mut Harness, id: &str) -> ProviderRequest {
        h.apply(command(PaymentCommandKind::Create, id));
        h.apply(command(PaymentCommandKind::Confirm, id));
        let req = h.apply(allow(id)).requests[0].clone();
        h.apply(response(&req, ProviderOutcome::Unknown, None));
        req
    }

    #[test]
    fn an_unknown_attempt_climbs_the_status_ladder_then_is_unresolved() {
        let mut h = Harness::new();
        let ladder = h.p.config.status_check_ladder_ms.clone();
        let req = unknown_attempt(&mut h, "p4");
        assert_eq!(h.kinds("p4"), vec!["status_check"]);
        for n in 1..=ladder.len() {
            let rung = h.fire("p4", timers::STATUS_CHECK);
            assert_eq!(rung.requests.len(), 1);
            assert_eq!(rung.requests[0].operation, ProviderOperation::Status);
            assert_eq!(
                rung.requests[0].request_id,
                format!("{}_status{n}", req.attempt_id)
            );
            assert!(rung.events.is_empty(), "a check changes nothing by itself");
        }
        let unresolved = h.fire("p4", timers::STATUS_CHECK);
        assert!(unresolved.requests.is_empty());
        let e = &unresolved.events[0];
        assert_eq!(e.status, IntentStatus::Processing);
        assert_eq!(e.reason_code.as_deref(), Some("STATUS_UNRESOLVED"));
        assert_eq!(e.attempt_status, Some(AttemptStatus::Unknown));
        assert!(
            h.kinds("p4").is_empty(),
            "no more checks: an operator's case"
        );

        // A final answer stops the ladder.
        let req = unknown_attempt(&mut h, "p5");
        h.fire("p5", timers::STATUS_CHECK);
        let settled = h.apply(response(&req, ProviderOutcome::Succeeded, None));
        assert_eq!(settled.events[0].status, IntentStatus::Succeeded);
        assert!(h.kinds("p5").is_empty());
    }

    #[test]
    fn intents_expire_and_an_expired_authorization_is_voided() {
        let mut h = Harness::new();
        h.apply(command(PaymentCommandKind::Create, "p6"));
        assert_eq!(h.kinds("p6"), vec!["expire"]);
        let expired = h.fire("p6", timers::EXPIRE);
        assert_eq!(expired.events[0].status, IntentStatus::Expired);
        assert_eq!(expired.events[0].reason_code.as_deref(), Some("TIMED_OUT"));

        let Input::Command(mut create) = command(PaymentCommandKind::Create, "p7") else {
            unreachable!()
        };
        create.capture_method = Some(crate::events::payment_command::CaptureMethod::Manual);
        h.apply(Input::Command(create));
        h.apply(command(PaymentCommandKind::Confirm, "p7"));
        assert!(h.kinds("p7").is_empty(), "processing does not expire");
        let req = h.apply(allow("p7")).requests[0].clone();
        let authorized = h.apply(response(&req, ProviderOutcome::Succeeded, None));
        assert_eq!(authorized.events[0].status, IntentStatus::RequiresCapture);
        assert_eq!(h.kinds("p7"), vec!["expire"]);
        let voided = h.fire("p7", timers::EXPIRE);
        let e = &voided.events[0];
        assert_eq!(
            (e.status, e.attempt_status),
            (IntentStatus::Expired, Some(AttemptStatus::Voided))
        );
        assert_eq!(e.reason_code.as_deref(), Some("AUTHORIZATION_EXPIRED"));
    }

    #[test]
    fn a_review_that_times_out_follows_the_merchants_default() {
        let mut h = Harness::new();
        let review = |h: &mut Harness, id: &str| {
            h.apply(command(PaymentCommandKind::Create, id));
            h.apply(command(PaymentCommandKind::Confirm, id));
            let mut f = samples::fraud_assessment();
            f.payment_id = id.into();
            f.decision = FraudDecision::Review;
            let held = h.apply(Input::Fraud(f));
            assert_eq!(held.events[0].reason_code.as_deref(), Some("FRAUD_REVIEW"));
            assert_eq!(h.kinds(id), vec!["review"]);
        };
        review(&mut h, "p8");
        let declined = h.fire("p8", timers::REVIEW);
        assert_eq!(declined.events[0].status, IntentStatus::Failed);
        assert_eq!(
            declined.events[0].reason_code.as_deref(),
            Some("FRAUD_REVIEW_TIMEOUT")
        );

        let merchant = crate::events::demo::demo_command("pp", 0, 1).merchant_id;
        h.p.config
            .fraud_review_defaults
            .insert(merchant, config::ReviewDefault::Allow);
        review(&mut h, "p9");
        let routed = h.fire("p9", timers::REVIEW);
        assert_eq!(routed.requests[0].operation, ProviderOperation::Authorize);
        assert!(h.kinds("p9").is_empty());
    }
}
