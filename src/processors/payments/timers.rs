//! The payment processor's timers: what a payment waits for, and what happens when it waits too
//! long.
//!
//! - `status_check`: an attempt whose outcome is unknown or pending gets status checks on the
//!   configured ladder; when the last one has waited as long again, the payment stays processing
//!   with reason `STATUS_UNRESOLVED` (an operator's case).
//! - `expire`: `requires_payment_method` / `requires_confirmation` and `requires_capture` expire
//!   after their configured times (an expired authorization is voided; the ledger releases its
//!   hold).
//! - `review`: a fraud review not decided in time follows the merchant's default.
//!
//! Which timers a payment holds is a function of its state before and after each step ([`plan`]),
//! so every path that changes a payment (commands, fraud, provider answers, timers) sets and
//! cancels them the same way.

use super::config::{PaymentsConfig, ReviewDefault};
use super::output::{Cause, Detail, Out};
use super::route::{self, route, status_check};
use super::state_machine::{self, PaymentState, Signal};
use super::{refunds, Payments, Stored};
use crate::events::payment_event::IntentStatus;
use crate::processors::routing::Breaker;
use crate::processors::timers::{Timer, TimerOp};
use crate::processors::ProcessError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const STATUS_CHECK: &str = "status_check";
pub const EXPIRE: &str = "expire";
pub const REVIEW: &str = "review";
/// What an intent waits for when it may expire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Awaiting {
    Confirmation,
    Capture,
}

/// What a status-check timer carries: the attempt it is for and its rung on the ladder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Rung {
    attempt_id: String,
    step: usize,
}

fn due(now_ms: i64, delay_ms: u64) -> i64 {
    now_ms.saturating_add(i64::try_from(delay_ms).unwrap_or(i64::MAX))
}

fn rung_timer(attempt_id: &str, step: usize, due_at_ms: i64) -> Result<Timer, ProcessError> {
    let payload = serde_json::to_vec(&Rung {
        attempt_id: attempt_id.to_owned(),
        step,
    })
    .map_err(|e| ProcessError::Fatal(format!("status-check payload: {e}")))?;
    Ok(Timer::new(STATUS_CHECK, due_at_ms, payload))
}

/// The timer changes a step from `before` to `after` makes (`review_started`: the step put the
/// payment into a fraud review).
pub(super) fn plan(
    config: &PaymentsConfig,
    before: Option<&PaymentState>,
    after: &PaymentState,
    review_started: bool,
    now_ms: i64,
) -> Result<Vec<TimerOp>, ProcessError> {
    let mut ops = Vec::new();
    let waiting = |s: &PaymentState| {
        state_machine::awaits_provider(s).map(|a| (a.attempt_id.clone(), a.status))
    };
    match (before.and_then(waiting), waiting(after)) {
        (_, None) => ops.push(TimerOp::Cancel(STATUS_CHECK.into())),
        (old, Some(now)) if old.as_ref() != Some(&now) => {
            let first = config.status_check_ladder_ms.first().copied().unwrap_or(0);
            ops.push(TimerOp::Set(rung_timer(
                now.0.as_str(),
                0,
                due(now_ms, first),
            )?));
        }
        _ => {}
    }
    // The waits an intent can expire from, with their delay; moving between two of the same kind
    // (requires_payment_method -> requires_confirmation) keeps the running timer.
    // While a capture or void is with the provider, its answer (or the ladder) decides, not expiry.
    let expiry = |s: &PaymentState| match s.status {
        IntentStatus::RequiresPaymentMethod | IntentStatus::RequiresConfirmation => {
            Some((Awaiting::Confirmation, config.confirmation_expiry_ms))
        }
        IntentStatus::RequiresCapture if s.settling.is_none() => {
            Some((Awaiting::Capture, config.capture_expiry_ms))
        }
        _ => None,
    };
    match (before.and_then(expiry), expiry(after)) {
        (_, None) => ops.push(TimerOp::Cancel(EXPIRE.into())),
        (old, Some((wait, delay))) if old.map(|(w, _)| w) != Some(wait) => {
            ops.push(TimerOp::Set(Timer::new(EXPIRE, due(now_ms, delay), vec![])));
        }
        _ => {}
    }
    if review_started && state_machine::in_review(after) {
        let at = due(now_ms, config.fraud_review_timeout_ms);
        ops.push(TimerOp::Set(Timer::new(REVIEW, at, vec![])));
    } else if !state_machine::in_review(after) {
        ops.push(TimerOp::Cancel(REVIEW.into()));
    }
    Ok(ops)
}

/// What a due timer does to the payment: the new state, if it changed.
pub(super) fn fire(
    p: &Payments,
    timer: &Timer,
    stored: &Stored,
    health: &BTreeMap<String, Breaker>,
    out: &mut Out<'_>,
) -> Result<Option<Stored>, ProcessError> {
    let cause_id = format!("timer:{}:{}", timer.kind, timer.due_at_ms);
    let cause = Cause {
        id: &cause_id,
        payment_id: stored.machine.payment_id.as_str(),
        attempted: format!("TIMER_{}", timer.kind.to_uppercase()),
        merchant_id: None,
    };
    match timer.kind.as_str() {
        STATUS_CHECK => status_rung(p, timer, stored, &cause, out),
        refunds::REFUND_STATUS => refunds::fire(p, stored, &cause_id, out),
        EXPIRE => settle_quietly(stored, &Signal::Expire, &cause, out),
        REVIEW => match p.config.review_default(stored.machine.merchant_id.as_str()) {
            ReviewDefault::Decline => settle_quietly(stored, &Signal::ReviewTimedOut, &cause, out),
            ReviewDefault::Allow if state_machine::in_review(&stored.machine) => {
                route(p, Some(stored.clone()), health, &cause, out)
            }
            ReviewDefault::Allow => Ok(None),
        },
        other => Err(ProcessError::Fatal(format!(
            "payment {} holds a timer of unknown kind '{other}'",
            stored.machine.payment_id
        ))),
    }
}

/// A timer's signal, applied if the state machine allows it; a refusal (the payment moved on) is
/// counted but not recorded: no one sent it.
fn settle_quietly(
    stored: &Stored,
    signal: &Signal<'_>,
    cause: &Cause<'_>,
    out: &mut Out<'_>,
) -> Result<Option<Stored>, ProcessError> {
    match state_machine::apply(Some(&stored.machine), signal) {
        outcome @ state_machine::Outcome::Applied { .. } => out.settle(
            outcome,
            Some(stored.clone()),
            cause,
            Detail::default(),
            Stored::of,
        ),
        state_machine::Outcome::Rejected(r) => {
            out.refused(&r);
            Ok(None)
        }
    }
}

/// One rung of the status-check ladder: another check and the next rung, or, past the last,
/// `STATUS_UNRESOLVED`.
fn status_rung(
    p: &Payments,
    timer: &Timer,
    stored: &Stored,
    cause: &Cause<'_>,
    out: &mut Out<'_>,
) -> Result<Option<Stored>, ProcessError> {
    let rung: Rung = serde_json::from_slice(&timer.payload)
        .map_err(|e| ProcessError::Fatal(format!("status-check payload: {e}")))?;
    let Some(attempt) = state_machine::awaits_provider(&stored.machine) else {
        return Ok(None);
    };
    if attempt.attempt_id.as_str() != rung.attempt_id {
        return Ok(None);
    }
    let ladder = &p.config.status_check_ladder_ms;
    if rung.step >= ladder.len() {
        return settle_quietly(stored, &Signal::StatusUnresolved, cause, out);
    }
    let number = u32::try_from(rung.step + 1).unwrap_or(u32::MAX);
    // A capture or void is asked again (same idempotency key); an authorization is looked up.
    let check = route::settlement(&stored.machine, Some(number), out.now_ms).unwrap_or_else(|| {
        status_check(
            &stored.machine,
            &rung.attempt_id,
            &attempt.connector,
            None,
            out.now_ms,
            Some(number),
        )
    });
    let topics = out.topics;
    out.emit(&topics.requests, &check)?;
    // The next rung waits the next delay; past the last check, as long as the last one did.
    let wait = ladder
        .get(rung.step + 1)
        .or(ladder.last())
        .copied()
        .unwrap_or(0);
    out.timers.push(TimerOp::Set(rung_timer(
        &rung.attempt_id,
        rung.step + 1,
        due(out.now_ms, wait),
    )?));
    Ok(None)
}
