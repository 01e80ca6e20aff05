//! Refunds of a payment. A refund belongs to its payment: requests, approvals, provider answers and
//! status checks are all keyed by the payment id, so the instance that owns the payment is the only
//! writer of its refunds and the check of the refundable amount and the reservation are one step
//! (`machine`, pure). This module turns a decision into outputs: the `RefundEvent`, the provider's
//! `REFUND` request, status checks on the payment processor's ladder, and rejections.

pub mod machine;

use super::config::REFUNDS_PER_PAYMENT_MAX;
use super::output::{Cause, Out};
use super::state_machine::{RejectCode, Rejection};
use super::{Payments, Stored};
use crate::contract::provider::Subject;
use crate::domain::MinorUnits;
use crate::events::provider::{ProviderOperation, ProviderOutcome, ProviderRequest};
use crate::events::refund::{RefundAction, RefundEvent, RefundRequest, RefundStatus};
use crate::events::{symbol, TimestampMillis};
use crate::metrics::{self as m, Measure};
use crate::processors::timers::{Timer, TimerOp};
use crate::processors::ProcessError;
use machine::{Change, Payment, Reason, Refund, Refused, Rules};

/// The timer of the refunds' status checks: one per payment, due at the earliest check.
pub const REFUND_STATUS: &str = "refund_status";

/// Whether `id` names one of the payment's refunds (a provider answer about it is a refund's).
pub(super) fn owns(stored: Option<&Stored>, id: &str) -> bool {
    stored.is_some_and(|s| s.refunds.iter().any(|r| r.refund_id == id))
}

/// The read-back check of a stored payment's refunds.
pub(super) fn check(s: &Stored) -> Result<(), ProcessError> {
    machine::check(
        &s.refunds,
        s.machine.captured_minor,
        REFUNDS_PER_PAYMENT_MAX,
    )
    .map_err(|e| ProcessError::Fatal(format!("payment {}: {e}", s.machine.payment_id)))
}

/// A request on `refunds.requests`: create, approve, reject or cancel.
pub(super) fn request(
    p: &Payments,
    r: &RefundRequest,
    stored: Option<&Stored>,
    out: &mut Out<'_>,
) -> Result<Option<Stored>, ProcessError> {
    let payment = stored.map(|s| Payment {
        currency: s.machine.amount.currency.code(),
        captured: s.machine.captured_minor,
    });
    let merchant = stored.map_or(r.merchant_id.as_str(), |s| s.machine.merchant_id.as_str());
    let rules = Rules {
        refunds_max: p.config.refunds_per_payment_max,
        approval_from: p
            .config
            .refund_approval_thresholds_minor
            .get(merchant)
            .map(|t| MinorUnits::new(*t)),
    };
    let refunds = stored.map_or(&[][..], |s| s.refunds.as_slice());
    let cause_id = format!("{}:{}", r.refund_id, symbol(&r.action).to_ascii_lowercase());
    let cause = Cause {
        id: &cause_id,
        payment_id: &r.payment_id,
        attempted: format!("REFUND_{}", symbol(&r.action)),
        merchant_id: Some(&r.merchant_id),
    };
    if stored.is_some_and(|s| s.machine.merchant_id.as_str() != r.merchant_id) {
        let refused = Refused::Illegal(format!("the payment is not merchant {}'s", r.merchant_id));
        return refuse(stored, &refused, &cause, out);
    }
    match machine::request(payment, refunds, r, rules) {
        Ok(change) => {
            let ctx = Ctx {
                payment_id: &r.payment_id,
                cause_id: &cause_id,
                actor: Some(&r.requested_by),
                note: (r.action != RefundAction::Create)
                    .then_some(r.reason.as_deref())
                    .flatten(),
                merchant,
                currency: &r.currency,
            };
            apply(stored, change, &ctx, out)
        }
        Err(refused) => refuse(stored, &refused, &cause, out),
    }
}

/// A provider's answer about a refund: its outcome, from a response or a webhook. `ask_status`: an
/// unknown answer to the refund call itself gets one immediate status check (bounded: the check's own
/// unknown answer does not ask again).
pub(super) fn answer(
    p: &Payments,
    stored: &Stored,
    found: Found<'_>,
    cause: &Cause<'_>,
    ask_status: bool,
    out: &mut Out<'_>,
) -> Result<Option<Stored>, ProcessError> {
    match machine::answer(
        &stored.refunds,
        found.refund_id,
        found.outcome,
        found.provider_reference,
    ) {
        Ok(mut change) => {
            // The first unknown or pending answer starts the refund's status-check ladder.
            if change.refund.awaiting.is_some()
                && change.refund.checks == 0
                && change.refund.next_check_at_ms.is_none()
            {
                let first = p.config.status_check_ladder_ms.first();
                change.refund.next_check_at_ms = Some(after(out.now_ms, first));
            }
            let refund = change.refund.clone();
            let after_step = apply(Some(stored), change, &Ctx::of(stored, cause.id), out)?;
            if ask_status && found.outcome == ProviderOutcome::Unknown {
                let check = status_check(stored, &refund, None, out.now_ms)?;
                let topics = out.topics;
                out.emit(&topics.requests, &check)?;
            }
            Ok(after_step)
        }
        Err(refused) => refuse(Some(stored), &refused, cause, out),
    }
}

/// What a provider said about one refund.
pub(super) struct Found<'a> {
    pub refund_id: &'a str,
    pub outcome: ProviderOutcome,
    pub provider_reference: Option<&'a str>,
}

/// The refunds' status-check timer fired: every pending refund whose check is due gets its next
/// check on the ladder (the same ladder as payments); when the last check has waited as long again,
/// the refund stays pending with `STATUS_UNRESOLVED` for an operator, its amount still reserved.
pub(super) fn fire(
    p: &Payments,
    stored: &Stored,
    cause_id: &str,
    out: &mut Out<'_>,
) -> Result<Option<Stored>, ProcessError> {
    let ladder = &p.config.status_check_ladder_ms;
    let mut current = stored.clone();
    let due: Vec<Refund> = stored
        .refunds
        .iter()
        .filter(|r| r.status == RefundStatus::Pending)
        .filter(|r| r.next_check_at_ms.is_some_and(|d| d <= out.now_ms))
        .cloned()
        .collect();
    if due.is_empty() {
        return Ok(None);
    }
    for r in due {
        let mut next = r.clone();
        if r.checks < ladder.len() {
            next.checks = r.checks.saturating_add(1);
            next.next_check_at_ms =
                Some(after(out.now_ms, ladder.get(next.checks).or(ladder.last())));
            let number = u32::try_from(next.checks).unwrap_or(u32::MAX);
            let check = status_check(stored, &next, Some(number), out.now_ms)?;
            let topics = out.topics;
            out.emit(&topics.requests, &check)?;
            current.refunds = machine::with(&current.refunds, &Change::quiet(next));
        } else {
            next.next_check_at_ms = None;
            next.sequence = r.sequence.saturating_add(1);
            let change = Change {
                refund: next,
                previous: Some(r.status),
                reason: Some(Reason::StatusUnresolved),
                call_provider: false,
                kept: true,
            };
            if let Some(s) = apply(Some(&current), change, &Ctx::of(stored, cause_id), out)? {
                current = s;
            }
        }
    }
    Ok(Some(current))
}

fn after(now_ms: i64, delay_ms: Option<&u64>) -> i64 {
    now_ms.saturating_add(i64::try_from(delay_ms.copied().unwrap_or(0)).unwrap_or(i64::MAX))
}

/// The refunds' timer after a step: due at the earliest pending check, or none.
pub(super) fn timer(s: &Stored) -> TimerOp {
    match s.refunds.iter().filter_map(|r| r.next_check_at_ms).min() {
        Some(at) => TimerOp::Set(Timer::new(REFUND_STATUS, at, vec![])),
        None => TimerOp::Cancel(REFUND_STATUS.into()),
    }
}

/// What every refund event of one step shares.
struct Ctx<'a> {
    payment_id: &'a str,
    cause_id: &'a str,
    actor: Option<&'a str>,
    /// A decision's reason in the decider's words (approve, reject, cancel).
    note: Option<&'a str>,
    merchant: &'a str,
    currency: &'a str,
}

impl<'a> Ctx<'a> {
    fn of(s: &'a Stored, cause_id: &'a str) -> Self {
        Self {
            payment_id: s.machine.payment_id.as_str(),
            cause_id,
            actor: None,
            note: None,
            merchant: s.machine.merchant_id.as_str(),
            currency: s.machine.amount.currency.code(),
        }
    }
}

/// Records a change: the event, the new state (when the payment keeps it), the provider call.
fn apply(
    stored: Option<&Stored>,
    change: Change,
    ctx: &Ctx<'_>,
    out: &mut Out<'_>,
) -> Result<Option<Stored>, ProcessError> {
    let after = stored.map(|s| {
        let mut next = s.clone();
        next.refunds = machine::with(&s.refunds, &change);
        next
    });
    let refunds = after.as_ref().map_or(&[][..], |s| s.refunds.as_slice());
    let captured = stored.map_or(MinorUnits::ZERO, |s| s.machine.captured_minor);
    machine::check(refunds, captured, REFUNDS_PER_PAYMENT_MAX)
        .map_err(|e| ProcessError::Fatal(format!("broken refund invariant: {e}")))?;
    let held = machine::held(refunds).map_err(ProcessError::Fatal)?;
    let event = event(stored, &change, ctx, captured, held, out.now_ms);
    let topics = out.topics;
    out.emit(&topics.refunds, &event)?;
    out.effects.measures.push(Measure::count(
        m::REFUNDS_TRANSITIONS,
        &[("status", symbol(&event.status))],
    ));
    if change.call_provider {
        if let Some(s) = stored {
            let call = provider_request(
                s,
                &change.refund,
                ProviderOperation::Refund,
                format!("{}_refund", change.refund.refund_id),
                out.now_ms,
            )?;
            out.emit(&topics.requests, &call)?;
        }
    }
    // A refusal past the bound is recorded but not kept: the payment's state stays as it was.
    Ok(after.filter(|_| change.kept))
}

fn event(
    stored: Option<&Stored>,
    c: &Change,
    ctx: &Ctx<'_>,
    captured: MinorUnits,
    held: MinorUnits,
    now_ms: i64,
) -> RefundEvent {
    let r = &c.refund;
    RefundEvent {
        event_id: format!("{}:{}", r.refund_id, r.sequence),
        refund_id: r.refund_id.as_str().to_owned(),
        payment_id: ctx.payment_id.to_owned(),
        merchant_id: ctx.merchant.to_owned(),
        status: r.status,
        amount_minor: r.amount.get(),
        currency: ctx.currency.to_owned(),
        connector: stored
            .and_then(|s| s.machine.attempt.as_ref())
            .map(|a| a.connector.clone()),
        provider_reference: r.provider_reference.clone(),
        reason_code: c.reason.map(|x| x.code().to_owned()),
        reason: ctx.note.map(str::to_owned).or_else(|| r.reason.clone()),
        occurred_at: TimestampMillis(now_ms),
        sequence: r.sequence,
        previous_status: c.previous,
        actor: ctx.actor.map(str::to_owned),
        cause_id: Some(ctx.cause_id.to_owned()),
        payment_captured_minor: captured.get(),
        payment_refunded_minor: held.get(),
        metadata: r.metadata.clone(),
    }
}

fn refuse(
    stored: Option<&Stored>,
    refused: &Refused,
    cause: &Cause<'_>,
    out: &mut Out<'_>,
) -> Result<Option<Stored>, ProcessError> {
    let (code, reason) = match refused {
        Refused::Duplicate(r) => (RejectCode::DuplicateSignal, r),
        Refused::Illegal(r) => (RejectCode::IllegalTransition, r),
        Refused::SameActor(r) => (RejectCode::SameActor, r),
    };
    out.reject(
        stored,
        &Rejection {
            code,
            reason: reason.clone(),
        },
        cause,
    )?;
    Ok(None)
}

fn provider_request(
    s: &Stored,
    r: &Refund,
    operation: ProviderOperation,
    request_id: String,
    now_ms: i64,
) -> Result<ProviderRequest, ProcessError> {
    let attempt = s.machine.attempt.as_ref().ok_or_else(|| {
        ProcessError::Fatal(format!(
            "captured payment {} has no attempt",
            s.machine.payment_id
        ))
    })?;
    Ok(ProviderRequest {
        request_id,
        attempt_id: r.refund_id.as_str().to_owned(),
        payment_id: s.machine.payment_id.to_string(),
        merchant_id: s.machine.merchant_id.to_string(),
        connector: attempt.connector.clone(),
        operation,
        amount_minor: r.amount.get(),
        currency: s.machine.amount.currency.code().to_owned(),
        method_type: None,
        method_reference: None,
        provider_reference: attempt.provider_reference.clone(),
        requested_at: TimestampMillis(now_ms),
        status_of: (operation == ProviderOperation::Status).then_some(ProviderOperation::Refund),
        payee: None,
        subject: Some(
            Subject::Refund {
                payment: s.machine.payment_id.clone(),
                refund: r.refund_id.clone(),
            }
            .to_wire(),
        ),
    })
}

/// A status check of a refund: the immediate one after an unknown answer (`number` `None`), or rung
/// `number` of the ladder.
fn status_check(
    s: &Stored,
    r: &Refund,
    number: Option<u32>,
    now_ms: i64,
) -> Result<ProviderRequest, ProcessError> {
    let suffix = number.map_or(String::new(), |n| n.to_string());
    provider_request(
        s,
        r,
        ProviderOperation::Status,
        format!("{}_status{suffix}", r.refund_id),
        now_ms,
    )
}
