//! The payment state machine, at two levels: the intent and its current attempt.
//!
//! Intent:  requires_payment_method → requires_confirmation → processing → requires_capture →
//!          succeeded | failed | canceled | expired
//! Attempt: started → authorized | declined | pending | unknown → captured | voided | failed
//!
//! [`apply`] is a pure function of the current state and one signal. It returns the transitions to
//! record (each becomes a `PaymentEvent`, the audit trail), or a rejection with its reason when the
//! signal is illegal, late or a duplicate: an illegal transition is never applied. Amounts use checked
//! minor-unit arithmetic; a capture can never exceed what was authorized.

mod attempts;
mod commands;
mod settle;

use attempts::{
    attempt_started, expire, fraud_blocked, fraud_review, provider, review_timed_out,
    routing_exhausted, status_unresolved,
};
use commands::{command, create};

use crate::domain::ids::{AttemptId, MerchantId, PaymentId};
use crate::domain::{MinorUnits, Money};
use crate::events::payment_command::{CaptureMethod, PaymentCommand, PaymentCommandKind};
use crate::events::payment_event::{AttemptStatus, IntentStatus};
use crate::events::provider::{DeclineClass, ProviderOperation, ProviderOutcome};

/// What the state machine knows about one payment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PaymentState {
    pub payment_id: PaymentId,
    pub merchant_id: MerchantId,
    pub status: IntentStatus,
    pub amount: Money,
    pub captured_minor: MinorUnits,
    pub capture_method: CaptureMethod,
    pub has_payment_method: bool,
    pub attempt: Option<Attempt>,
    /// Number of the last transition; the next one is `sequence + 1`.
    pub sequence: i64,
    /// A capture or void of the authorization sent to the provider, awaiting its answer.
    #[serde(default)]
    pub settling: Option<Settling>,
}

/// What was asked of the provider about an authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Settling {
    /// A capture of this amount.
    Capture { amount: MinorUnits },
    /// A void: asked by the merchant (`Canceled` when done), or because the authorization expired
    /// (`Expired`).
    Void { expired: bool },
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Attempt {
    pub attempt_id: AttemptId,
    pub connector: String,
    pub status: AttemptStatus,
    /// The provider's id of the charge, once an answer named it (captures, voids and refunds need it).
    #[serde(default)]
    pub provider_reference: Option<String>,
}

/// One input to the state machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal<'a> {
    Command(&'a PaymentCommand),
    /// Routing started an attempt with a connector.
    AttemptStarted {
        attempt_id: &'a AttemptId,
        connector: &'a str,
    },
    /// A provider answer, from a response or a webhook (both untrusted, both go through here).
    Provider {
        attempt_id: &'a str,
        outcome: ProviderOutcome,
        decline_class: Option<DeclineClass>,
    },
    /// Fraud scoring blocked the payment (the reasons are in its `FraudAssessment`).
    FraudBlocked,
    /// Fraud scoring wants a human to look: the payment waits in processing, with no attempt.
    FraudReview,
    /// Routing found no connector (none matches, all tried, all unhealthy): the payment fails.
    RoutingExhausted,
    /// The intent waited for the customer longer than allowed.
    Expire,
    /// The status checks of an unknown or pending attempt ran out without a final answer: the
    /// payment stays processing, flagged for an operator.
    StatusUnresolved,
    /// A fraud review was not decided in time and the merchant's default is to decline.
    ReviewTimedOut,
}

/// One recorded change: the new intent status and, if it changed, the attempt's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub status: IntentStatus,
    pub previous_status: Option<IntentStatus>,
    pub attempt: Option<Attempt>,
    pub captured_minor: MinorUnits,
    pub reason_code: Option<String>,
    pub sequence: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectCode {
    /// The signal is not allowed in the current state.
    IllegalTransition,
    /// The same outcome was already applied (a second "captured", a repeated webhook).
    DuplicateSignal,
    /// An outcome that arrives after a final state ("pending" after "succeeded").
    LateSignal,
    /// A capture above the authorized, uncaptured amount.
    AmountExceedsAuthorized,
    /// A signal for a payment that does not exist, or a CREATE for one that does.
    UnknownPayment,
    /// The command itself is malformed (missing amount, bad currency).
    InvalidCommand,
    /// The signal names an attempt that is not the current one.
    StaleAttempt,
    /// An approval by the key that created what it approves (four eyes).
    SameActor,
}

impl RejectCode {
    pub fn as_str(self) -> &'static str {
        match self {
            RejectCode::IllegalTransition => "ILLEGAL_TRANSITION",
            RejectCode::DuplicateSignal => "DUPLICATE_SIGNAL",
            RejectCode::LateSignal => "LATE_SIGNAL",
            RejectCode::AmountExceedsAuthorized => "AMOUNT_EXCEEDS_AUTHORIZED",
            RejectCode::UnknownPayment => "UNKNOWN_PAYMENT",
            RejectCode::InvalidCommand => "INVALID_COMMAND",
            RejectCode::StaleAttempt => "STALE_ATTEMPT",
            RejectCode::SameActor => "SAME_ACTOR",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub code: RejectCode,
    pub reason: String,
}

/// The result of one signal: the new state with the transition to record, or a rejection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Applied {
        state: Box<PaymentState>,
        transition: Transition,
    },
    Rejected(Rejection),
}

fn reject(code: RejectCode, reason: impl Into<String>) -> Outcome {
    Outcome::Rejected(Rejection {
        code,
        reason: reason.into(),
    })
}

impl PaymentState {
    /// What every state holds: a positive amount, `0 <= captured <= authorized`, a sequence from 1.
    /// Checked where a state is read back (the store, the journal) as well as where it is made.
    pub fn check(&self) -> Result<(), String> {
        let p = &self.payment_id;
        if !self.amount.amount.is_positive() {
            return Err(format!(
                "payment {p}: amount {} is not positive",
                self.amount
            ));
        }
        if self.captured_minor < MinorUnits::ZERO || self.captured_minor > self.amount.amount {
            return Err(format!(
                "payment {p}: captured {} outside 0..={}",
                self.captured_minor.get(),
                self.amount.amount.get()
            ));
        }
        if self.sequence < 1 {
            return Err(format!("payment {p}: sequence {} below 1", self.sequence));
        }
        Ok(())
    }
}

/// What every transition holds: the state after it is valid, belongs to the same payment, its
/// sequence is one more than before (1 for a new payment) and its captured amount never shrinks.
pub fn check_step(before: Option<&PaymentState>, after: &PaymentState) -> Result<(), String> {
    after.check()?;
    let expected = before.map_or(1, |b| b.sequence.saturating_add(1));
    if after.sequence != expected {
        return Err(format!(
            "payment {}: sequence {} follows {}",
            after.payment_id,
            after.sequence,
            expected.saturating_sub(1)
        ));
    }
    if let Some(b) = before {
        if b.payment_id != after.payment_id || after.captured_minor < b.captured_minor {
            return Err(format!(
                "payment {}: a transition changed the payment or shrank its capture",
                b.payment_id
            ));
        }
    }
    Ok(())
}

pub fn is_final(s: IntentStatus) -> bool {
    matches!(
        s,
        IntentStatus::Succeeded
            | IntentStatus::Failed
            | IntentStatus::Canceled
            | IntentStatus::Expired
    )
}

/// A fraud allow starts the first attempt: only while the payment is processing without one.
pub fn may_start_first_attempt(state: Option<&PaymentState>) -> Result<(), Rejection> {
    match state {
        Some(s) if s.status == IntentStatus::Processing && s.attempt.is_none() => Ok(()),
        other => Err(Rejection {
            code: RejectCode::IllegalTransition,
            reason: format!(
                "a fraud allow only starts an attempt for a processing payment without one; it is {:?}",
                other.map(|s| s.status)
            ),
        }),
    }
}

/// A provider's answer about an attempt, from a response or a webhook; one that names no attempt
/// is stale.
pub fn provider_answer(
    state: Option<&PaymentState>,
    attempt_id: Option<&str>,
    outcome: ProviderOutcome,
    decline_class: Option<DeclineClass>,
) -> Outcome {
    match attempt_id {
        Some(attempt_id) => apply(
            state,
            &Signal::Provider {
                attempt_id,
                outcome,
                decline_class,
            },
        ),
        None => reject(RejectCode::StaleAttempt, "webhook names no attempt"),
    }
}

/// An authorization whose outcome is unknown gets one status check. The check's own unknown answer
/// does not ask again (bounded); the provider's webhook settles it later.
pub fn needs_status_check(
    state: &PaymentState,
    attempt_id: &str,
    operation: ProviderOperation,
    outcome: ProviderOutcome,
) -> bool {
    outcome == ProviderOutcome::Unknown
        && operation == ProviderOperation::Authorize
        && state
            .attempt
            .as_ref()
            .is_some_and(|a| a.attempt_id == *attempt_id && a.status == AttemptStatus::Unknown)
}

/// The attempt is waiting on the provider (its outcome unknown, or pending): status checks may
/// settle it.
pub fn awaits_provider(state: &PaymentState) -> Option<&Attempt> {
    let authorizing = |a: &&Attempt| {
        state.status == IntentStatus::Processing
            && matches!(a.status, AttemptStatus::Unknown | AttemptStatus::Pending)
    };
    let settling = |a: &&Attempt| {
        state.status == IntentStatus::RequiresCapture
            && matches!(
                a.status,
                AttemptStatus::CapturePending | AttemptStatus::VoidPending
            )
    };
    state
        .attempt
        .as_ref()
        .filter(|a| authorizing(a) || settling(a))
}

/// Held for a fraud review: processing, no attempt yet (set only by a review decision).
pub fn in_review(state: &PaymentState) -> bool {
    state.status == IntentStatus::Processing && state.attempt.is_none()
}

/// A retryable decline or a failure leaves the intent processing with a closed attempt: the next
/// connector may be tried.
pub fn should_cascade(state: &PaymentState) -> bool {
    state.status == IntentStatus::Processing
        && state
            .attempt
            .as_ref()
            .is_some_and(|a| matches!(a.status, AttemptStatus::Declined | AttemptStatus::Failed))
}

/// Applies one signal to the current state (`None`: the payment does not exist yet).
pub fn apply(state: Option<&PaymentState>, signal: &Signal<'_>) -> Outcome {
    let outcome = transition(state, signal);
    if let Outcome::Applied { state: after, .. } = &outcome {
        debug_assert!(
            check_step(state, after).is_ok(),
            "{:?}",
            check_step(state, after)
        );
    }
    outcome
}

fn transition(state: Option<&PaymentState>, signal: &Signal<'_>) -> Outcome {
    match (state, signal) {
        (None, Signal::Command(c)) if c.kind == PaymentCommandKind::Create => create(c),
        (Some(s), Signal::Command(c)) if c.kind == PaymentCommandKind::Create => reject(
            RejectCode::UnknownPayment,
            format!("payment {} already exists ({:?})", s.payment_id, s.status),
        ),
        (None, _) => reject(RejectCode::UnknownPayment, "no such payment"),
        (Some(s), Signal::Command(c)) => command(s, c),
        (
            Some(s),
            Signal::AttemptStarted {
                attempt_id,
                connector,
            },
        ) => attempt_started(s, attempt_id, connector),
        (
            Some(s),
            Signal::Provider {
                attempt_id,
                outcome,
                ..
            },
        ) if s.settling.is_some() => settle::answer(s, attempt_id, *outcome),
        (
            Some(s),
            Signal::Provider {
                attempt_id,
                outcome,
                decline_class,
            },
        ) => provider(s, attempt_id, *outcome, *decline_class),
        (Some(s), Signal::FraudBlocked) => fraud_blocked(s),
        (Some(s), Signal::FraudReview) => fraud_review(s),
        (Some(s), Signal::RoutingExhausted) => routing_exhausted(s),
        (Some(s), Signal::Expire) => expire(s),
        (Some(s), Signal::StatusUnresolved) => status_unresolved(s),
        (Some(s), Signal::ReviewTimedOut) => review_timed_out(s),
    }
}

fn next(
    s: &PaymentState,
    status: IntentStatus,
    attempt: Option<Attempt>,
    captured_minor: MinorUnits,
    reason_code: Option<&str>,
) -> Outcome {
    let sequence = s.sequence + 1;
    let mut state = s.clone();
    state.status = status;
    state.attempt = attempt.clone().or_else(|| s.attempt.clone());
    state.captured_minor = captured_minor;
    state.sequence = sequence;
    // A settlement is open only while the attempt waits for it.
    if !state.attempt.as_ref().is_some_and(|a| {
        matches!(
            a.status,
            AttemptStatus::CapturePending | AttemptStatus::VoidPending
        )
    }) {
        state.settling = None;
    }
    Outcome::Applied {
        state: Box::new(state),
        transition: Transition {
            status,
            previous_status: Some(s.status),
            attempt,
            captured_minor,
            reason_code: reason_code.map(str::to_owned),
            sequence,
        },
    }
}

#[cfg(test)]
mod tests;
