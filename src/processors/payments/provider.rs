//! Provider answers, from responses and webhooks (both untrusted, both through the state machine):
//! the attempt's outcome, then one status check of an unknown authorization, or a cascade to the
//! next connector after a retryable decline.

use super::output::{Cause, Detail, Out};
use super::route::{route, status_check};
use super::state_machine;
use super::{Payments, Response, Stored};
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
    let machine = stored.map(|s| &s.machine);
    let outcome =
        state_machine::provider_answer(machine, Some(&e.attempt_id), e.outcome, e.decline_class);
    let detail = Detail {
        fee_minor: e.fee_minor,
        ..Detail::default()
    };
    let Some(s) = out.settle(outcome, stored.cloned(), &cause, detail, Stored::of)? else {
        return Ok(None);
    };
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
    let machine = stored.map(|s| &s.machine);
    let outcome = state_machine::provider_answer(
        machine,
        w.attempt_id.as_deref(),
        w.outcome,
        w.decline_class,
    );
    let Some(s) = out.settle(
        outcome,
        stored.cloned(),
        &cause,
        Detail::default(),
        Stored::of,
    )?
    else {
        return Ok(None);
    };
    cascade(p, s, health, &cause, out)
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
