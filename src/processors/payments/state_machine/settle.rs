//! Capture and void of an authorization through the provider. The merchant's capture or cancel (or
//! an expired authorization) asks the provider; the intent stays `requires_capture` with the attempt
//! `capture_pending` or `void_pending` until the provider answers:
//!
//! capture: succeeded -> intent succeeded, attempt captured (the amount asked; partial capture
//!          releases the rest) | declined or failed -> back to authorized (`CAPTURE_FAILED`)
//! void:    succeeded -> intent canceled (or expired), attempt voided | declined or failed -> back to
//!          authorized (`VOID_FAILED`)
//! unknown or pending: no change; the status-check ladder asks again with the same idempotency key.

use super::{next, reject, Attempt, Outcome, PaymentState, RejectCode, Settling};
use crate::events::payment_event::{AttemptStatus, IntentStatus};
use crate::events::provider::ProviderOutcome;

/// Sends `what` to the provider: the attempt waits for its answer.
pub(super) fn ask(s: &PaymentState, what: Settling, reason: &str) -> Outcome {
    let Some(a) = s
        .attempt
        .as_ref()
        .filter(|a| a.status == AttemptStatus::Authorized)
    else {
        return reject(
            RejectCode::IllegalTransition,
            "only an authorized attempt can be captured or voided",
        );
    };
    let pending = match what {
        Settling::Capture { .. } => AttemptStatus::CapturePending,
        Settling::Void { .. } => AttemptStatus::VoidPending,
    };
    let attempt = Attempt {
        status: pending,
        ..a.clone()
    };
    let mut asking = s.clone();
    asking.settling = Some(what);
    next(
        &asking,
        IntentStatus::RequiresCapture,
        Some(attempt),
        s.captured_minor,
        Some(reason),
    )
}

/// The provider's answer to a capture or void.
pub(super) fn answer(s: &PaymentState, attempt_id: &str, outcome: ProviderOutcome) -> Outcome {
    let (Some(a), Some(what)) = (s.attempt.as_ref(), s.settling) else {
        return reject(RejectCode::IllegalTransition, "nothing is being settled");
    };
    if a.attempt_id != *attempt_id {
        return reject(
            RejectCode::StaleAttempt,
            format!("{attempt_id} is not the current attempt {}", a.attempt_id),
        );
    }
    let with = |status| {
        Some(Attempt {
            status,
            ..a.clone()
        })
    };
    let authorized = |reason| {
        next(
            s,
            IntentStatus::RequiresCapture,
            with(AttemptStatus::Authorized),
            s.captured_minor,
            Some(reason),
        )
    };
    match (what, outcome) {
        (_, ProviderOutcome::Unknown | ProviderOutcome::Pending) => reject(
            RejectCode::DuplicateSignal,
            format!("{what:?} is still {outcome:?}; the status-check ladder asks again"),
        ),
        (Settling::Capture { amount }, ProviderOutcome::Succeeded) => {
            let partial = amount < s.amount.amount;
            next(
                s,
                IntentStatus::Succeeded,
                with(AttemptStatus::Captured),
                amount,
                partial.then_some("PARTIAL_CAPTURE"),
            )
        }
        (Settling::Capture { .. }, _) => authorized("CAPTURE_FAILED"),
        (Settling::Void { expired }, ProviderOutcome::Succeeded) => {
            let (status, reason) = if expired {
                (IntentStatus::Expired, "AUTHORIZATION_EXPIRED")
            } else {
                (IntentStatus::Canceled, "REQUESTED_BY_MERCHANT")
            };
            next(
                s,
                status,
                with(AttemptStatus::Voided),
                s.captured_minor,
                Some(reason),
            )
        }
        (Settling::Void { .. }, _) => authorized("VOID_FAILED"),
    }
}
