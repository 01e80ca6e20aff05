//! Provider answers, from responses and webhooks (both untrusted, both through the state machine):
//! the attempt's outcome, then one status check of an unknown authorization, or a cascade to the
//! next connector after a retryable decline.

use super::output::{Cause, Detail, Out};
use super::route::{route, status_check};
use super::state_machine;
use super::{refunds, Payments, Stored};
use crate::contract::provider::{Answer, Notice};
use crate::events::provider::ProviderOperation;
use crate::events::symbol;
use crate::processors::routing::Breaker;
use crate::processors::ProcessError;
use std::collections::BTreeMap;

pub(super) fn response(
    p: &Payments,
    r: &Answer,
    stored: Option<&Stored>,
    health: &BTreeMap<String, Breaker>,
    out: &mut Out<'_>,
) -> Result<Option<Stored>, ProcessError> {
    let e = &r.response;
    // The subject's own id: an attempt's, or a refund's (a response before v3 named a refund's
    // status check like an attempt's: the refunds the payment holds tell them apart, as before).
    let own = r.subject.own_id();
    let cause = Cause {
        id: &e.response_id,
        payment_id: r.subject.key(),
        attempted: format!("PROVIDER_{}", symbol(&e.outcome)),
        merchant_id: None,
    };
    if let Some(s) = stored.filter(|s| refunds::owns(Some(s), own)) {
        let found = refunds::Found {
            refund_id: own,
            outcome: e.outcome,
            provider_reference: e.provider_reference.as_deref(),
        };
        let ask = r.operation == ProviderOperation::Refund;
        return refunds::answer(p, s, found, &cause, ask, out);
    }
    let machine = stored.map(|s| &s.machine);
    let outcome = state_machine::provider_answer(machine, Some(own), e.outcome, e.decline_class);
    let detail = Detail {
        fee_minor: e.fee_minor,
        ..Detail::default()
    };
    let Some(mut s) = out.settle(outcome, stored.cloned(), &cause, detail, Stored::of)? else {
        return Ok(None);
    };
    remember_reference(&mut s, own, e.provider_reference.as_deref());
    if state_machine::needs_status_check(&s.machine, own, r.operation, e.outcome) {
        let check = status_check(
            &s.machine,
            own,
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
    n: &Notice,
    stored: Option<&Stored>,
    health: &BTreeMap<String, Breaker>,
    out: &mut Out<'_>,
) -> Result<Option<Stored>, ProcessError> {
    let w = &n.webhook;
    let own = n.subject.own_id();
    let cause = Cause {
        id: &w.webhook_id,
        payment_id: n.subject.key(),
        attempted: format!("WEBHOOK_{}", symbol(&w.outcome)),
        merchant_id: None,
    };
    let refund = Some(own).filter(|a| refunds::owns(stored, a));
    if let (Some(s), Some(refund_id)) = (stored, refund) {
        let found = refunds::Found {
            refund_id,
            outcome: w.outcome,
            provider_reference: w.provider_reference.as_deref(),
        };
        return refunds::answer(p, s, found, &cause, false, out);
    }
    let machine = stored.map(|s| &s.machine);
    let outcome = state_machine::provider_answer(machine, Some(own), w.outcome, w.decline_class);
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
    remember_reference(&mut s, own, w.provider_reference.as_deref());
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
