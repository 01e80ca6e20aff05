//! Attempt signals: an attempt starts, a provider answers (response or webhook), fraud blocks or
//! holds for review, routing runs out of connectors, the intent expires.

use super::{is_final, next, reject, Attempt, Outcome, PaymentState, RejectCode, Rejection};

fn rejection(code: RejectCode, reason: impl Into<String>) -> Rejection {
    Rejection {
        code,
        reason: reason.into(),
    }
}
use crate::domain::ids::AttemptId;
use crate::events::payment_command::CaptureMethod;
use crate::events::payment_event::{AttemptStatus, IntentStatus};
use crate::events::provider::{DeclineClass, ProviderOutcome};

pub(super) fn attempt_started(
    s: &PaymentState,
    attempt_id: &AttemptId,
    connector: &str,
) -> Outcome {
    if s.status != IntentStatus::Processing {
        return reject(
            RejectCode::IllegalTransition,
            format!("no attempt can start while the payment is {:?}", s.status),
        );
    }
    if let Some(a) = &s.attempt {
        if a.attempt_id == *attempt_id {
            return reject(RejectCode::DuplicateSignal, "attempt already started");
        }
        // A new attempt only replaces one that definitively failed (a cascade after a retryable decline).
        if !matches!(a.status, AttemptStatus::Declined | AttemptStatus::Failed) {
            return reject(
                RejectCode::IllegalTransition,
                format!("attempt {} is still {:?}", a.attempt_id, a.status),
            );
        }
    }
    let attempt = Attempt {
        attempt_id: attempt_id.clone(),
        connector: connector.to_owned(),
        status: AttemptStatus::Started,
        provider_reference: None,
    };
    next(
        s,
        IntentStatus::Processing,
        Some(attempt),
        s.captured_minor,
        None,
    )
}

pub(super) fn provider(
    s: &PaymentState,
    attempt_id: &str,
    outcome: ProviderOutcome,
    decline_class: Option<DeclineClass>,
) -> Outcome {
    match open_attempt(s, attempt_id, outcome) {
        Ok(current) => provider_outcome(s, current, outcome, decline_class),
        Err(rejected) => Outcome::Rejected(rejected),
    }
}

/// The attempt an answer may still change: the current one, neither settled nor already in the
/// state the answer reports.
fn open_attempt<'s>(
    s: &'s PaymentState,
    attempt_id: &str,
    outcome: ProviderOutcome,
) -> Result<&'s Attempt, Rejection> {
    use AttemptStatus as A;
    let Some(current) = &s.attempt else {
        return Err(rejection(
            RejectCode::StaleAttempt,
            format!("no attempt is open; {attempt_id} is unknown"),
        ));
    };
    if current.attempt_id != *attempt_id {
        return Err(rejection(
            RejectCode::StaleAttempt,
            format!(
                "{attempt_id} is not the current attempt {}",
                current.attempt_id
            ),
        ));
    }
    let already = matches!(
        (current.status, outcome),
        (A::Authorized | A::Captured, ProviderOutcome::Succeeded)
            | (A::Declined, ProviderOutcome::Declined)
            | (A::Failed, ProviderOutcome::Failed)
            | (A::Pending, ProviderOutcome::Pending)
            | (A::Unknown, ProviderOutcome::Unknown)
    );
    if already {
        return Err(rejection(
            RejectCode::DuplicateSignal,
            format!("attempt is already {:?}", current.status),
        ));
    }
    if is_final(s.status)
        || matches!(
            current.status,
            A::Authorized | A::Captured | A::Voided | A::Declined | A::Failed
        )
    {
        return Err(rejection(
            RejectCode::LateSignal,
            format!(
                "{outcome:?} after the attempt became {:?} (payment {:?})",
                current.status, s.status
            ),
        ));
    }
    Ok(current)
}

/// The transition an answer about an open attempt makes.
fn provider_outcome(
    s: &PaymentState,
    current: &Attempt,
    outcome: ProviderOutcome,
    decline_class: Option<DeclineClass>,
) -> Outcome {
    use AttemptStatus as A;
    use IntentStatus as I;
    let with = |status| {
        Some(Attempt {
            status,
            ..current.clone()
        })
    };
    let class = decline_class.map(|d| crate::events::symbol(&d));
    match outcome {
        ProviderOutcome::Succeeded => match s.capture_method {
            CaptureMethod::Manual => next(
                s,
                I::RequiresCapture,
                with(A::Authorized),
                s.captured_minor,
                None,
            ),
            CaptureMethod::Automatic => {
                next(s, I::Succeeded, with(A::Captured), s.amount.amount, None)
            }
        },
        ProviderOutcome::Pending => next(
            s,
            I::Processing,
            with(A::Pending),
            s.captured_minor,
            Some("AWAITING_PROVIDER"),
        ),
        ProviderOutcome::Unknown => next(
            s,
            I::Processing,
            with(A::Unknown),
            s.captured_minor,
            Some("OUTCOME_UNKNOWN"),
        ),
        ProviderOutcome::Declined if decline_class.is_some_and(DeclineClass::is_retryable) => {
            // Routing may cascade to another connector: the intent stays in processing.
            next(
                s,
                I::Processing,
                with(A::Declined),
                s.captured_minor,
                class.as_deref(),
            )
        }
        ProviderOutcome::Declined => next(
            s,
            I::Failed,
            with(A::Declined),
            s.captured_minor,
            class.as_deref(),
        ),
        ProviderOutcome::Failed => next(
            s,
            I::Failed,
            with(A::Failed),
            s.captured_minor,
            class.as_deref().or(Some("PROVIDER_FAILED")),
        ),
    }
}

pub(super) fn fraud_blocked(s: &PaymentState) -> Outcome {
    if s.status != IntentStatus::Processing || s.attempt.is_some() {
        return reject(
            RejectCode::IllegalTransition,
            format!(
                "a fraud block applies before any attempt; the payment is {:?}",
                s.status
            ),
        );
    }
    next(
        s,
        IntentStatus::Failed,
        None,
        s.captured_minor,
        Some("FRAUD_BLOCKED"),
    )
}

pub(super) fn fraud_review(s: &PaymentState) -> Outcome {
    if s.status != IntentStatus::Processing || s.attempt.is_some() {
        return reject(
            RejectCode::IllegalTransition,
            format!(
                "a fraud review applies before any attempt; the payment is {:?}",
                s.status
            ),
        );
    }
    next(
        s,
        IntentStatus::Processing,
        None,
        s.captured_minor,
        Some("FRAUD_REVIEW"),
    )
}

pub(super) fn routing_exhausted(s: &PaymentState) -> Outcome {
    let open = s
        .attempt
        .as_ref()
        .is_some_and(|a| !matches!(a.status, AttemptStatus::Declined | AttemptStatus::Failed));
    if s.status != IntentStatus::Processing || open {
        return reject(
            RejectCode::IllegalTransition,
            format!(
                "routing can only give up on a processing payment without an open attempt; it is {:?}",
                s.status
            ),
        );
    }
    next(
        s,
        IntentStatus::Failed,
        None,
        s.captured_minor,
        Some("ROUTING_EXHAUSTED"),
    )
}

pub(super) fn expire(s: &PaymentState) -> Outcome {
    match s.status {
        IntentStatus::RequiresPaymentMethod | IntentStatus::RequiresConfirmation => next(
            s,
            IntentStatus::Expired,
            None,
            s.captured_minor,
            Some("TIMED_OUT"),
        ),
        // The provider voids the authorization; its answer expires the intent.
        IntentStatus::RequiresCapture if s.settling.is_none() => super::settle::ask(
            s,
            super::Settling::Void { expired: true },
            "AUTHORIZATION_EXPIRED",
        ),
        other => reject(
            RejectCode::IllegalTransition,
            format!("a {other:?} payment does not expire"),
        ),
    }
}

pub(super) fn status_unresolved(s: &PaymentState) -> Outcome {
    if super::awaits_provider(s).is_none() {
        return reject(
            RejectCode::IllegalTransition,
            format!(
                "only an unknown or pending attempt can be unresolved; the payment is {:?} ({:?})",
                s.status,
                s.attempt.as_ref().map(|a| a.status)
            ),
        );
    }
    next(
        s,
        s.status,
        None,
        s.captured_minor,
        Some("STATUS_UNRESOLVED"),
    )
}

pub(super) fn review_timed_out(s: &PaymentState) -> Outcome {
    if !super::in_review(s) {
        return reject(
            RejectCode::IllegalTransition,
            format!(
                "a review times out before any attempt; the payment is {:?}",
                s.status
            ),
        );
    }
    next(
        s,
        IntentStatus::Failed,
        None,
        s.captured_minor,
        Some("FRAUD_REVIEW_TIMEOUT"),
    )
}
