//! Routing and attempt building: which connector the next attempt goes to, the attempt's
//! transition, and the provider requests (authorization, status check).

use super::output::{Cause, Detail, Out};
use super::state_machine::{self, Outcome, PaymentState, Settling, Signal};
use super::{Payments, Stored};
use crate::contract::provider::Subject;
use crate::domain::ids::AttemptId;
use crate::events::payment_command::PaymentMethod;
use crate::events::provider::{ProviderOperation, ProviderRequest};
use crate::events::routing_decision::RoutingDecision;
use crate::events::{symbol, TimestampMillis};
use crate::processors::routing::{self, Breaker};
use crate::processors::ProcessError;
use std::collections::BTreeMap;

/// Chooses a connector and starts an attempt, or fails the payment when none is eligible. Returns
/// the new state (`None` when the state machine refused, which is counted, not recorded).
pub(super) fn route(
    p: &Payments,
    current: Option<Stored>,
    health: &BTreeMap<String, Breaker>,
    cause: &Cause<'_>,
    out: &mut Out<'_>,
) -> Result<Option<Stored>, ProcessError> {
    let Some(mut s) = current else {
        return Ok(None);
    };
    let decision = decide(p, &s, health, out.now_ms)?;
    let attempt_no = s.tried.len().saturating_add(1);
    let attempt_id = AttemptId::parse(&format!("{}_att{attempt_no}", s.machine.payment_id))
        .map_err(|e| ProcessError::Fatal(format!("derived attempt id: {e}")))?;
    let routed = decision_event(&s.machine, &decision, &attempt_id, attempt_no, out.now_ms);
    let topics = out.topics;
    out.emit(&topics.routing, &routed)?;
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
    let transition = match state_machine::apply(Some(&s.machine), &signal) {
        Outcome::Applied { state, transition } => {
            state_machine::check_step(Some(&s.machine), &state)
                .map_err(|e| ProcessError::Fatal(format!("broken invariant: {e}")))?;
            s.machine = *state;
            transition
        }
        Outcome::Rejected(r) => {
            out.refused(&r);
            return Ok(None);
        }
    };
    if let Some(c) = &decision.connector {
        s.tried.push(c.clone());
    }
    let detail = Detail {
        reason,
        ..Detail::default()
    };
    out.record(&s, &transition, cause, detail)?;
    if let Some(c) = &decision.connector {
        let req = authorize(&s, attempt_id.as_str(), c, out.now_ms);
        let topics = out.topics;
        out.emit(&topics.requests, &req)?;
    }
    Ok(Some(s))
}

/// Routing's choice for the payment's next attempt.
fn decide(
    p: &Payments,
    s: &Stored,
    health: &BTreeMap<String, Breaker>,
    now_ms: i64,
) -> Result<routing::Decision, ProcessError> {
    let method =
        s.method.as_ref().map(|m| m.method_type).ok_or_else(|| {
            ProcessError::Invalid("processing payment has no payment method".into())
        })?;
    let request = routing::Request {
        payment_id: s.machine.payment_id.as_str(),
        merchant_id: s.machine.merchant_id.as_str(),
        method,
        currency: s.machine.amount.currency.code(),
        amount_minor: s.machine.amount.amount,
        tried: &s.tried,
    };
    Ok(routing::route(
        &p.config.routing,
        health,
        &request,
        now_ms,
        p.config.cascade_max,
    ))
}

fn decision_event(
    s: &PaymentState,
    decision: &routing::Decision,
    attempt_id: &AttemptId,
    attempt_no: usize,
    now_ms: i64,
) -> RoutingDecision {
    RoutingDecision {
        decision_id: format!("{}_route{attempt_no}", s.payment_id),
        payment_id: s.payment_id.to_string(),
        attempt_id: attempt_id.to_string(),
        merchant_id: s.merchant_id.to_string(),
        connector: decision.connector.clone(),
        rule: decision.rule.clone(),
        reason: decision.reason.clone(),
        candidates: decision.candidates.clone(),
        cascade_depth: i32::try_from(decision.cascade_depth).unwrap_or(i32::MAX),
        decided_at: TimestampMillis(now_ms),
    }
}

/// The authorization request of a new attempt.
fn authorize(s: &Stored, attempt_id: &str, connector: &str, now_ms: i64) -> ProviderRequest {
    ProviderRequest {
        request_id: format!("{attempt_id}_authorize"),
        method_type: s.method.as_ref().map(|m| symbol(&m.method_type)),
        method_reference: s.method.as_ref().and_then(method_reference),
        ..request(
            &s.machine,
            attempt_id,
            connector,
            ProviderOperation::Authorize,
            now_ms,
        )
    }
}

/// A status check of an attempt whose outcome is unknown or pending: the immediate one after an
/// unknown authorization (`number` `None`), or rung `number` of the ladder.
pub(super) fn status_check(
    s: &PaymentState,
    attempt_id: &str,
    connector: &str,
    provider_reference: Option<String>,
    now_ms: i64,
    number: Option<u32>,
) -> ProviderRequest {
    let suffix = number.map_or(String::new(), |n| n.to_string());
    ProviderRequest {
        request_id: format!("{attempt_id}_status{suffix}"),
        provider_reference,
        ..request(s, attempt_id, connector, ProviderOperation::Status, now_ms)
    }
}

/// The capture or void of the authorization that `s` waits for (`None` when it waits for neither):
/// the first ask (`number` `None`), or rung `number` of the status-check ladder asking again with the
/// same idempotency key, so the provider answers with the first result.
pub(super) fn settlement(
    s: &PaymentState,
    number: Option<u32>,
    now_ms: i64,
) -> Option<ProviderRequest> {
    let a = s.attempt.as_ref()?;
    let (operation, amount, tag) = match s.settling? {
        Settling::Capture { amount } => (ProviderOperation::Capture, amount, "capture"),
        Settling::Void { .. } => (ProviderOperation::Void, s.amount.amount, "void"),
    };
    let suffix = number.map_or(String::new(), |n| n.to_string());
    Some(ProviderRequest {
        request_id: format!("{}_{tag}{suffix}", a.attempt_id),
        amount_minor: amount.get(),
        provider_reference: a.provider_reference.clone(),
        ..request(s, a.attempt_id.as_str(), &a.connector, operation, now_ms)
    })
}

fn request(
    s: &PaymentState,
    attempt_id: &str,
    connector: &str,
    operation: ProviderOperation,
    now_ms: i64,
) -> ProviderRequest {
    ProviderRequest {
        request_id: String::new(),
        attempt_id: attempt_id.to_owned(),
        payment_id: s.payment_id.to_string(),
        merchant_id: s.merchant_id.to_string(),
        connector: connector.to_owned(),
        operation,
        amount_minor: s.amount.amount.get(),
        currency: s.amount.currency.code().to_owned(),
        method_type: None,
        method_reference: None,
        provider_reference: None,
        requested_at: TimestampMillis(now_ms),
        status_of: None,
        payee: None,
        // Attempt ids are minted from the payment's, so this holds; were it not to, the subject is
        // left out and every reader refuses the request for the id.
        subject: Subject::attempt(s.payment_id.as_str(), attempt_id)
            .ok()
            .map(|x| x.to_wire()),
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
