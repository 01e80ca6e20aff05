//! Provider answers, from responses and webhooks (both untrusted, both through the state machine):
//! the attempt's outcome, then one status check of an unknown authorization, or a cascade to the
//! next connector after a retryable decline.

use super::output::{Cause, Detail, Out};
use super::route::{route, status_check};
use super::state_machine;
use super::{refunds, Payments, Response, Stored};
use crate::events::provider::ProviderOperation;
use crate::events::provider::ProviderWebhook;
use crate::events::symbol;
use crate::processors::routing::Breaker;
use crate::processors::ProcessError;
use std::collections::BTreeMap;

pub(super) fn response(
    p: &Payments,
    r: &Response,
    stored: Option<&Stored>,
    health: &BTreeMap<String, Breaker>,
    out: &mut Out<'_>,
) -> Result<Option<Stored>, ProcessError> {
    let e = &r.response;
    let cause = Cause {
        id: &e.response_id,
        payment_id: &e.payment_id,
        attempted: format!("PROVIDER_{}", symbol(&e.outcome)),
        merchant_id: None,
    };
    if let Some(s) = stored.filter(|s| refunds::owns(Some(s), &e.attempt_id)) {
        let found = refunds::Found {
            refund_id: &e.attempt_id,
            outcome: e.outcome,
            provider_reference: e.provider_reference.as_deref(),
        };
        let ask = r.operation == ProviderOperation::Refund;
        return refunds::answer(p, s, found, &cause, ask, out);
    }
    let machine = stored.map(|s| &s.machine);
    let outcome =
        state_machine::provider_answer(machine, Some(&e.attempt_id), e.outcome, e.decline_class);
    let detail = Detail {
        fee_minor: e.fee_minor,
        ..Detail::default()
    };
    let Some(mut s) = out.settle(outcome, stored.cloned(), &cause, detail, Stored::of)? else {
        return Ok(None);
    };
    remember_reference(&mut s, &e.attempt_id, e.provider_reference.as_deref());
    if state_machine::needs_status_check(&s.machine, &e.attempt_id, r.operation, e.outcome) {
        let check = status_check(
            &s.machine,
            &e.attempt_id,
            &e.connector,
            e.provider_reference.clone(),
            out.now_ms,
            None,
        );
        let topics = out.topics;
        out.emit(&topics.requests, &check)?;
    }
    cascade(p, s, health, &cause, out)
}

pub(super) fn webhook(
    p: &Payments,
    w: &ProviderWebhook,
    stored: Option<&Stored>,
    health: &BTreeMap<String, Breaker>,
    out: &mut Out<'_>,
) -> Result<Option<Stored>, ProcessError> {
    let cause = Cause {
        id: &w.webhook_id,
        payment_id: &w.payment_id,
        attempted: format!("WEBHOOK_{}", symbol(&w.outcome)),
        merchant_id: None,
    };
    let refund = w.attempt_id.as_deref().filter(|a| refunds::owns(stored, a));
    if let (Some(s), Some(refund_id)) = (stored, refund) {
        let found = refunds::Found {
            refund_id,
            outcome: w.outcome,
            provider_reference: w.provider_reference.as_deref(),
        };
        return refunds::answer(p, s, found, &cause, false, out);
    }
    let machine = stored.map(|s| &s.machine);
    let outcome = state_machine::provider_answer(
        machine,
        w.attempt_id.as_deref(),
        w.outcome,
        w.decline_class,
    );
    let Some(mut s) = out.settle(
        outcome,
        stored.cloned(),
        &cause,
        Detail::default(),
        Stored::of,
    )?
    else {
        return Ok(None);
    };
    if let Some(a) = w.attempt_id.as_deref() {
        remember_reference(&mut s, a, w.provider_reference.as_deref());
    }
    cascade(p, s, health, &cause, out)
}

/// Keeps the provider's id of the current attempt's charge, which captures, voids and refunds name.
fn remember_reference(s: &mut Stored, attempt_id: &str, reference: Option<&str>) {
    let current = s
        .machine
        .attempt
        .as_mut()
        .filter(|a| a.attempt_id == *attempt_id);
    if let (Some(a), Some(r)) = (current, reference) {
        if a.provider_reference.is_none() {
            a.provider_reference = Some(r.to_owned());
        }
    }
}

/// After a retryable decline, the next connector; the state as it is otherwise.
fn cascade(
    p: &Payments,
    s: Stored,
    health: &BTreeMap<String, Breaker>,
    cause: &Cause<'_>,
    out: &mut Out<'_>,
) -> Result<Option<Stored>, ProcessError> {
    if !state_machine::should_cascade(&s.machine) {
        return Ok(Some(s));
    }
    let routed = route(p, Some(s.clone()), health, cause, out)?;
    Ok(routed.or(Some(s)))
}
