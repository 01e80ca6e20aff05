//! The payment processor's table-driven and scenario tests: the state machine through the
//! processor, routing and cascades, duplicates, status checks and the timers.
//!
//! Test code: the parent module declares this file under #[cfg(test)].
use super::*;
use crate::contract::provider::Subject;
use crate::domain::clock::FixedClock;
use crate::events::fraud_assessment::FraudDecision;
use crate::events::payment_command::PaymentCommandKind;
use crate::events::payment_command::PaymentMethodType;
use crate::events::payment_event::AttemptStatus;
use crate::events::payment_event::{IntentStatus, PaymentEvent};
use crate::events::provider::DeclineClass;
use crate::events::provider::{ProviderOperation, ProviderOutcome, ProviderRequest};
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
        let topology = Topology::load(&dir, &Default::default()).unwrap();
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
                "payments.events" => out.events.push(self.codec.decode_sync(&r.payload).unwrap()),
                "payments.rejections" => out
                    .rejections
                    .push(self.codec.decode_sync(&r.payload).unwrap()),
                "providers.requests" => out
                    .requests
                    .push(self.codec.decode_sync(&r.payload).unwrap()),
                "routing.decisions" => out.routes.push(self.codec.decode_sync(&r.payload).unwrap()),
                "refunds.events" => out
                    .refunds
                    .push(self.codec.decode_sync(&r.payload).unwrap()),
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
    refunds: Vec<crate::events::refund::RefundEvent>,
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

fn response(req: &ProviderRequest, outcome: ProviderOutcome, class: Option<DeclineClass>) -> Input {
    let mut r = samples::provider_response();
    r.payment_id = req.payment_id.clone();
    r.attempt_id = req.attempt_id.clone();
    r.connector = req.connector.clone();
    r.outcome = outcome;
    r.decline_class = class;
    r.fee_minor = None;
    r.subject = req.subject.clone();
    r.request_operation = Some(ProviderOperation::Authorize);
    Input::Response(Answer::read(r).unwrap())
}

/// A provider response as a pre-v3 writer sent it: its subject derived from its ids and operation.
fn legacy_answer(mut r: ProviderResponse) -> Input {
    r.subject = None;
    r.request_operation = None;
    Input::Response(Answer::read(r).unwrap())
}

/// A webhook as a pre-v3 bridge sent it: its subject derived from its ids and event type.
fn legacy_notice(mut w: ProviderWebhook) -> Input {
    w.subject = None;
    Input::Webhook(Notice::read(w).unwrap())
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
    let again = h.apply(legacy_answer(still));
    assert!(again.events.is_empty() && again.requests.is_empty());
    assert_eq!(again.rejections[0].reason_code, "DUPLICATE_SIGNAL");
    // The webhook settles it.
    let mut hook = samples::provider_webhook();
    hook.payment_id = "p3".into();
    hook.attempt_id = Some(req.attempt_id.clone());
    hook.outcome = ProviderOutcome::Succeeded;
    let settled = h.apply(legacy_notice(hook));
    assert_eq!(settled.events[0].status, IntentStatus::Succeeded);
}

#[test]
fn a_response_operation_and_subject_are_decoded_at_the_edge() {
    let h = Harness::new();
    let meta = RecordMeta::at("providers.responses", 0, 1);
    let decode = |r: &ProviderResponse| {
        let payload = h.codec.encode_sync(r).unwrap();
        Input::decode(&h.codec, ProviderResponse::FULL_NAME, &meta, &payload)
    };
    // v3: typed operation and subject.
    let mut r = samples::provider_response();
    r.operation = "STATUS".into();
    r.request_operation = Some(ProviderOperation::Status);
    match decode(&r).unwrap() {
        Input::Response(d) => {
            assert_eq!(d.operation, ProviderOperation::Status);
            assert_eq!(Ok(d.subject), Subject::attempt("pay_1", "att_1"));
        }
        other => panic!("decoded as {other:?}"),
    }
    // Before v3: the string, parsed.
    r.request_operation = None;
    assert!(
        matches!(decode(&r).unwrap(), Input::Response(d) if d.operation == ProviderOperation::Status)
    );
    r.operation = "TELEPORT".into();
    let err = decode(&r).unwrap_err().to_string();
    assert!(
        err.contains("'TELEPORT' is not a ProviderOperation"),
        "{err}"
    );
    // A payout's answer on the payment processor's input is refused, not applied to a payment.
    let mut payout = samples::provider_response();
    (payout.payment_id, payout.attempt_id) = ("po_1".into(), "po_1".into());
    payout.operation = "PAYOUT".into();
    payout.request_operation = Some(ProviderOperation::Payout);
    payout.subject = Some(Subject::payout("po_1").unwrap().to_wire());
    let err = decode(&payout).unwrap_err().to_string();
    assert!(err.contains("not the owner of a Payout"), "{err}");
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
    let voiding = h.fire("p7", timers::EXPIRE);
    let e = &voiding.events[0];
    assert_eq!(
        (e.status, e.attempt_status),
        (
            IntentStatus::RequiresCapture,
            Some(AttemptStatus::VoidPending)
        )
    );
    assert_eq!(e.reason_code.as_deref(), Some("AUTHORIZATION_EXPIRED"));
    let void = &voiding.requests[0];
    assert_eq!(
        (void.operation, void.request_id.as_str()),
        (ProviderOperation::Void, "p7_att1_void")
    );
    assert_eq!(
        h.kinds("p7"),
        vec!["status_check"],
        "the void is asked again if unanswered"
    );
    let rung = h.fire("p7", timers::STATUS_CHECK);
    assert_eq!(
        rung.requests[0].request_id, "p7_att1_void1",
        "same idempotency key, next rung"
    );
    let mut answer = response(void, ProviderOutcome::Succeeded, None);
    if let Input::Response(r) = &mut answer {
        r.operation = ProviderOperation::Void;
    }
    let voided = h.apply(answer);
    let e = &voided.events[0];
    assert_eq!(
        (e.status, e.attempt_status),
        (IntentStatus::Expired, Some(AttemptStatus::Voided))
    );
    assert!(h.kinds("p7").is_empty());
}

#[test]
fn captures_and_cancels_after_authorization_go_to_the_provider() {
    let mut h = Harness::new();
    let authorized = |h: &mut Harness, id: &str| {
        let Input::Command(mut create) = command(PaymentCommandKind::Create, id) else {
            unreachable!()
        };
        create.capture_method = Some(crate::events::payment_command::CaptureMethod::Manual);
        h.apply(Input::Command(create));
        h.apply(command(PaymentCommandKind::Confirm, id));
        let req = h.apply(allow(id)).requests[0].clone();
        let mut ok = response(&req, ProviderOutcome::Succeeded, None);
        if let Input::Response(r) = &mut ok {
            r.response.provider_reference = Some(format!("ch_{id}"));
        }
        h.apply(ok);
    };
    let answer = |req: &ProviderRequest, outcome| {
        let mut a = response(req, outcome, Some(DeclineClass::Other));
        if let Input::Response(r) = &mut a {
            r.operation = req.operation;
        }
        a
    };
    authorized(&mut h, "c1");
    let Input::Command(mut partial) = command(PaymentCommandKind::Capture, "c1") else {
        unreachable!()
    };
    partial.amount_minor = Some(4_000);
    let asked = h.apply(Input::Command(partial));
    let capture = asked.requests[0].clone();
    assert_eq!(
        (
            capture.operation,
            capture.amount_minor,
            capture.provider_reference.as_deref()
        ),
        (ProviderOperation::Capture, 4_000, Some("ch_c1"))
    );
    assert_eq!(
        asked.events[0].attempt_status,
        Some(AttemptStatus::CapturePending)
    );
    let again = h.apply(command(PaymentCommandKind::Capture, "c1"));
    assert_eq!(
        again.rejections[0].reason_code, "DUPLICATE_SIGNAL",
        "one capture in flight"
    );
    let failed = h.apply(answer(&capture, ProviderOutcome::Declined));
    assert_eq!(
        failed.events[0].reason_code.as_deref(),
        Some("CAPTURE_FAILED")
    );
    assert_eq!(
        failed.events[0].attempt_status,
        Some(AttemptStatus::Authorized)
    );
    assert_eq!(
        h.kinds("c1"),
        vec!["expire"],
        "back to waiting for a capture"
    );
    let capture = h.apply(command(PaymentCommandKind::Capture, "c1")).requests[0].clone();
    let done = h.apply(answer(&capture, ProviderOutcome::Succeeded));
    assert_eq!(
        (done.events[0].status, done.events[0].amount_captured_minor),
        (IntentStatus::Succeeded, 10_000)
    );

    authorized(&mut h, "c2");
    let void = h.apply(command(PaymentCommandKind::Cancel, "c2")).requests[0].clone();
    assert_eq!(void.operation, ProviderOperation::Void);
    let unknown = h.apply(answer(&void, ProviderOutcome::Unknown));
    assert!(
        unknown.events.is_empty(),
        "an unknown answer changes nothing"
    );
    let canceled = h.apply(answer(&void, ProviderOutcome::Succeeded));
    assert_eq!(
        (canceled.events[0].status, canceled.events[0].attempt_status),
        (IntentStatus::Canceled, Some(AttemptStatus::Voided))
    );
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

#[path = "refunds/processor_tests.rs"]
mod refunds_tests;
