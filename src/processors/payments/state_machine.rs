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
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Attempt {
    pub attempt_id: AttemptId,
    pub connector: String,
    pub status: AttemptStatus,
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
                decline_class,
            },
        ) => provider(s, attempt_id, *outcome, *decline_class),
        (Some(s), Signal::FraudBlocked) => fraud_blocked(s),
        (Some(s), Signal::FraudReview) => fraud_review(s),
        (Some(s), Signal::RoutingExhausted) => routing_exhausted(s),
        (Some(s), Signal::Expire) => expire(s),
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

fn create(c: &PaymentCommand) -> Outcome {
    let amount = match (c.amount_minor, c.currency.as_deref()) {
        (Some(a), Some(cur)) => match Money::from_wire(a, cur) {
            Ok(m) if m.amount.is_positive() => m,
            Ok(_) => {
                return reject(
                    RejectCode::InvalidCommand,
                    format!("amount_minor {a} is not positive"),
                )
            }
            Err(e) => return reject(RejectCode::InvalidCommand, e.to_string()),
        },
        _ => {
            return reject(
                RejectCode::InvalidCommand,
                "CREATE needs amount_minor and currency",
            )
        }
    };
    let (payment_id, merchant_id) = match (
        PaymentId::parse(&c.payment_id),
        MerchantId::parse(&c.merchant_id),
    ) {
        (Ok(p), Ok(m)) => (p, m),
        (Err(e), _) | (_, Err(e)) => return reject(RejectCode::InvalidCommand, e.to_string()),
    };
    let has_payment_method = c.payment_method.is_some();
    let status = if has_payment_method {
        IntentStatus::RequiresConfirmation
    } else {
        IntentStatus::RequiresPaymentMethod
    };
    let state = PaymentState {
        payment_id,
        merchant_id,
        status,
        amount,
        captured_minor: MinorUnits::ZERO,
        capture_method: c.capture_method.unwrap_or(CaptureMethod::Automatic),
        has_payment_method,
        attempt: None,
        sequence: 1,
    };
    Outcome::Applied {
        state: Box::new(state),
        transition: Transition {
            status,
            previous_status: None,
            attempt: None,
            captured_minor: MinorUnits::ZERO,
            reason_code: None,
            sequence: 1,
        },
    }
}

fn command(s: &PaymentState, c: &PaymentCommand) -> Outcome {
    use IntentStatus as I;
    match (c.kind, s.status) {
        (PaymentCommandKind::Confirm, I::RequiresConfirmation) => {
            next(s, I::Processing, None, s.captured_minor, None)
        }
        (PaymentCommandKind::Confirm, I::RequiresPaymentMethod) if c.payment_method.is_some() => {
            let mut with_method = s.clone();
            with_method.has_payment_method = true;
            next(&with_method, I::Processing, None, s.captured_minor, None)
        }
        (PaymentCommandKind::Confirm, I::RequiresPaymentMethod) => reject(
            RejectCode::IllegalTransition,
            "CONFIRM needs a payment method: attach one in the command",
        ),
        (PaymentCommandKind::Capture, I::RequiresCapture) => capture(s, c),
        (PaymentCommandKind::Capture, I::Succeeded) => {
            reject(RejectCode::DuplicateSignal, "already captured")
        }
        (PaymentCommandKind::Cancel, I::RequiresPaymentMethod | I::RequiresConfirmation) => next(
            s,
            I::Canceled,
            None,
            s.captured_minor,
            Some("REQUESTED_BY_MERCHANT"),
        ),
        (PaymentCommandKind::Cancel, I::RequiresCapture) => {
            // The authorization is released: the attempt is voided.
            let attempt = s.attempt.clone().map(|a| Attempt {
                status: AttemptStatus::Voided,
                ..a
            });
            next(
                s,
                I::Canceled,
                attempt,
                s.captured_minor,
                Some("REQUESTED_BY_MERCHANT"),
            )
        }
        (PaymentCommandKind::Cancel, I::Canceled) => {
            reject(RejectCode::DuplicateSignal, "already canceled")
        }
        (kind, status) => reject(
            RejectCode::IllegalTransition,
            format!("{kind:?} is not allowed while the payment is {status:?}"),
        ),
    }
}

fn capture(s: &PaymentState, c: &PaymentCommand) -> Outcome {
    let authorized = s.amount.amount;
    let requested = c.amount_minor.map_or(authorized, MinorUnits::new);
    if !requested.is_positive() {
        return reject(
            RejectCode::InvalidCommand,
            format!("capture amount {} is not positive", requested.get()),
        );
    }
    let captured = match s.captured_minor.checked_add(requested) {
        Ok(v) => v,
        Err(e) => return reject(RejectCode::InvalidCommand, e.to_string()),
    };
    if captured > authorized {
        return reject(
            RejectCode::AmountExceedsAuthorized,
            format!(
                "capture of {} exceeds the authorized {} (already captured {})",
                requested.get(),
                authorized.get(),
                s.captured_minor.get()
            ),
        );
    }
    let attempt = s.attempt.clone().map(|a| Attempt {
        status: AttemptStatus::Captured,
        ..a
    });
    // One capture ends the intent: a partial capture releases the remainder (ledger: HOLD_RELEASE).
    next(
        s,
        IntentStatus::Succeeded,
        attempt,
        captured,
        (captured < authorized).then_some("PARTIAL_CAPTURE"),
    )
}

fn attempt_started(s: &PaymentState, attempt_id: &AttemptId, connector: &str) -> Outcome {
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
    };
    next(
        s,
        IntentStatus::Processing,
        Some(attempt),
        s.captured_minor,
        None,
    )
}

fn provider(
    s: &PaymentState,
    attempt_id: &str,
    outcome: ProviderOutcome,
    decline_class: Option<DeclineClass>,
) -> Outcome {
    use AttemptStatus as A;
    use IntentStatus as I;
    let Some(current) = &s.attempt else {
        return reject(
            RejectCode::StaleAttempt,
            format!("no attempt is open; {attempt_id} is unknown"),
        );
    };
    if current.attempt_id != *attempt_id {
        return reject(
            RejectCode::StaleAttempt,
            format!(
                "{attempt_id} is not the current attempt {}",
                current.attempt_id
            ),
        );
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
        return reject(
            RejectCode::DuplicateSignal,
            format!("attempt is already {:?}", current.status),
        );
    }
    if is_final(s.status)
        || matches!(
            current.status,
            A::Authorized | A::Captured | A::Voided | A::Declined | A::Failed
        )
    {
        return reject(
            RejectCode::LateSignal,
            format!(
                "{outcome:?} after the attempt became {:?} (payment {:?})",
                current.status, s.status
            ),
        );
    }
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

fn fraud_blocked(s: &PaymentState) -> Outcome {
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

fn fraud_review(s: &PaymentState) -> Outcome {
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

fn routing_exhausted(s: &PaymentState) -> Outcome {
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

fn expire(s: &PaymentState) -> Outcome {
    match s.status {
        IntentStatus::RequiresPaymentMethod | IntentStatus::RequiresConfirmation => next(
            s,
            IntentStatus::Expired,
            None,
            s.captured_minor,
            Some("TIMED_OUT"),
        ),
        IntentStatus::RequiresCapture => {
            let attempt = s.attempt.clone().map(|a| Attempt {
                status: AttemptStatus::Voided,
                ..a
            });
            next(
                s,
                IntentStatus::Expired,
                attempt,
                s.captured_minor,
                Some("AUTHORIZATION_EXPIRED"),
            )
        }
        other => reject(
            RejectCode::IllegalTransition,
            format!("a {other:?} payment does not expire"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AttemptStatus as A;
    use IntentStatus as I;

    fn cmd(kind: PaymentCommandKind, amount: Option<i64>) -> PaymentCommand {
        let mut c = crate::events::demo::demo_command("sm", 0, 1);
        c.kind = kind;
        c.amount_minor = amount;
        c
    }

    fn create(capture: CaptureMethod, with_method: bool) -> PaymentState {
        let mut c = cmd(PaymentCommandKind::Create, Some(10_000));
        c.currency = Some("INR".into());
        c.capture_method = Some(capture);
        if !with_method {
            c.payment_method = None;
        }
        applied(apply(None, &Signal::Command(&c)))
    }

    fn applied(o: Outcome) -> PaymentState {
        match o {
            Outcome::Applied { state, .. } => *state,
            Outcome::Rejected(r) => panic!("rejected: {r:?}"),
        }
    }

    fn run(start: PaymentState, signals: &[Signal<'_>]) -> PaymentState {
        signals
            .iter()
            .fold(start, |s, sig| applied(apply(Some(&s), sig)))
    }

    static ATT_1: std::sync::LazyLock<AttemptId> =
        std::sync::LazyLock::new(|| AttemptId::parse("att_1").unwrap());

    fn att() -> Signal<'static> {
        Signal::AttemptStarted {
            attempt_id: &ATT_1,
            connector: "psp_a",
        }
    }

    fn provider(outcome: ProviderOutcome, class: Option<DeclineClass>) -> Signal<'static> {
        Signal::Provider {
            attempt_id: "att_1",
            outcome,
            decline_class: class,
        }
    }

    #[test]
    fn happy_paths_reach_their_final_state() {
        let confirm = cmd(PaymentCommandKind::Confirm, None);
        let cancel = cmd(PaymentCommandKind::Cancel, None);
        let capture = cmd(PaymentCommandKind::Capture, None);
        let partial = cmd(PaymentCommandKind::Capture, Some(4_000));
        /// (name, start, signals, final intent status, final attempt status, captured minor units)
        type Case<'a> = (&'a str, PaymentState, Vec<Signal<'a>>, I, Option<A>, i64);
        let cases: Vec<Case> = vec![
            (
                "auto capture",
                create(CaptureMethod::Automatic, true),
                vec![
                    Signal::Command(&confirm),
                    att(),
                    provider(ProviderOutcome::Succeeded, None),
                ],
                I::Succeeded,
                Some(A::Captured),
                10_000,
            ),
            (
                "manual capture",
                create(CaptureMethod::Manual, true),
                vec![
                    Signal::Command(&confirm),
                    att(),
                    provider(ProviderOutcome::Succeeded, None),
                    Signal::Command(&capture),
                ],
                I::Succeeded,
                Some(A::Captured),
                10_000,
            ),
            (
                "partial capture",
                create(CaptureMethod::Manual, true),
                vec![
                    Signal::Command(&confirm),
                    att(),
                    provider(ProviderOutcome::Succeeded, None),
                    Signal::Command(&partial),
                ],
                I::Succeeded,
                Some(A::Captured),
                4_000,
            ),
            (
                "pending then success",
                create(CaptureMethod::Automatic, true),
                vec![
                    Signal::Command(&confirm),
                    att(),
                    provider(ProviderOutcome::Pending, None),
                    provider(ProviderOutcome::Succeeded, None),
                ],
                I::Succeeded,
                Some(A::Captured),
                10_000,
            ),
            (
                "pending then failure",
                create(CaptureMethod::Automatic, true),
                vec![
                    Signal::Command(&confirm),
                    att(),
                    provider(ProviderOutcome::Pending, None),
                    provider(ProviderOutcome::Failed, None),
                ],
                I::Failed,
                Some(A::Failed),
                0,
            ),
            (
                "unknown then success",
                create(CaptureMethod::Automatic, true),
                vec![
                    Signal::Command(&confirm),
                    att(),
                    provider(ProviderOutcome::Unknown, None),
                    provider(ProviderOutcome::Succeeded, None),
                ],
                I::Succeeded,
                Some(A::Captured),
                10_000,
            ),
            (
                "hard decline",
                create(CaptureMethod::Automatic, true),
                vec![
                    Signal::Command(&confirm),
                    att(),
                    provider(
                        ProviderOutcome::Declined,
                        Some(DeclineClass::InsufficientFunds),
                    ),
                ],
                I::Failed,
                Some(A::Declined),
                0,
            ),
            (
                "retryable decline stays processing",
                create(CaptureMethod::Automatic, true),
                vec![
                    Signal::Command(&confirm),
                    att(),
                    provider(
                        ProviderOutcome::Declined,
                        Some(DeclineClass::IssuerUnavailable),
                    ),
                ],
                I::Processing,
                Some(A::Declined),
                0,
            ),
            (
                "cancel after auth voids",
                create(CaptureMethod::Manual, true),
                vec![
                    Signal::Command(&confirm),
                    att(),
                    provider(ProviderOutcome::Succeeded, None),
                    Signal::Command(&cancel),
                ],
                I::Canceled,
                Some(A::Voided),
                0,
            ),
            (
                "fraud block",
                create(CaptureMethod::Automatic, true),
                vec![Signal::Command(&confirm), Signal::FraudBlocked],
                I::Failed,
                None,
                0,
            ),
            (
                "expired",
                create(CaptureMethod::Automatic, false),
                vec![Signal::Expire],
                I::Expired,
                None,
                0,
            ),
        ];
        for (name, start, signals, status, attempt, captured) in cases {
            let end = run(start, &signals);
            assert_eq!(end.status, status, "{name}");
            assert_eq!(end.attempt.map(|a| a.status), attempt, "{name}");
            assert_eq!(end.captured_minor.get(), captured, "{name}");
            assert_eq!(
                end.sequence,
                i64::try_from(signals.len()).unwrap() + 1,
                "{name}: one transition per signal"
            );
        }
    }

    #[test]
    fn illegal_late_and_duplicate_signals_are_rejected_with_a_reason() {
        let confirm = cmd(PaymentCommandKind::Confirm, None);
        let capture = cmd(PaymentCommandKind::Capture, None);
        let too_much = cmd(PaymentCommandKind::Capture, Some(10_001));
        let cancel = cmd(PaymentCommandKind::Cancel, None);
        let create_again = cmd(PaymentCommandKind::Create, Some(5));
        let mut confirm_no_method = cmd(PaymentCommandKind::Confirm, None);
        confirm_no_method.payment_method = None;
        let succeeded = run(
            create(CaptureMethod::Automatic, true),
            &[
                Signal::Command(&confirm),
                att(),
                provider(ProviderOutcome::Succeeded, None),
            ],
        );
        let authorized = run(
            create(CaptureMethod::Manual, true),
            &[
                Signal::Command(&confirm),
                att(),
                provider(ProviderOutcome::Succeeded, None),
            ],
        );
        let processing = run(
            create(CaptureMethod::Automatic, true),
            &[Signal::Command(&confirm), att()],
        );
        let fresh = create(CaptureMethod::Automatic, true);
        let no_method = create(CaptureMethod::Automatic, false);
        let cases: Vec<(&str, &PaymentState, Signal<'_>, RejectCode)> = vec![
            (
                "pending after succeeded",
                &succeeded,
                provider(ProviderOutcome::Pending, None),
                RejectCode::LateSignal,
            ),
            (
                "second success webhook",
                &succeeded,
                provider(ProviderOutcome::Succeeded, None),
                RejectCode::DuplicateSignal,
            ),
            (
                "second capture",
                &succeeded,
                Signal::Command(&capture),
                RejectCode::DuplicateSignal,
            ),
            (
                "capture above authorized",
                &authorized,
                Signal::Command(&too_much),
                RejectCode::AmountExceedsAuthorized,
            ),
            (
                "capture before authorization",
                &processing,
                Signal::Command(&capture),
                RejectCode::IllegalTransition,
            ),
            (
                "cancel while processing",
                &processing,
                Signal::Command(&cancel),
                RejectCode::IllegalTransition,
            ),
            (
                "confirm twice",
                &processing,
                Signal::Command(&confirm),
                RejectCode::IllegalTransition,
            ),
            (
                "confirm without a method",
                &no_method,
                Signal::Command(&confirm_no_method),
                RejectCode::IllegalTransition,
            ),
            (
                "answer for another attempt",
                &processing,
                Signal::Provider {
                    attempt_id: "att_9",
                    outcome: ProviderOutcome::Succeeded,
                    decline_class: None,
                },
                RejectCode::StaleAttempt,
            ),
            (
                "provider answer before any attempt",
                &fresh,
                provider(ProviderOutcome::Succeeded, None),
                RejectCode::StaleAttempt,
            ),
            (
                "create an existing payment",
                &fresh,
                Signal::Command(&create_again),
                RejectCode::UnknownPayment,
            ),
            (
                "a succeeded payment does not expire",
                &succeeded,
                Signal::Expire,
                RejectCode::IllegalTransition,
            ),
        ];
        for (name, state, signal, code) in cases {
            match apply(Some(state), &signal) {
                Outcome::Rejected(r) => {
                    assert_eq!(r.code, code, "{name}: {}", r.reason);
                    assert!(!r.reason.is_empty(), "{name}");
                }
                Outcome::Applied { transition, .. } => panic!("{name}: applied {transition:?}"),
            }
        }
        assert!(matches!(
            apply(None, &provider(ProviderOutcome::Succeeded, None)),
            Outcome::Rejected(Rejection {
                code: RejectCode::UnknownPayment,
                ..
            })
        ));
    }

    #[test]
    fn invalid_creates_are_rejected() {
        for (amount, currency, want) in [
            (Some(0), "INR", "not positive"),
            (Some(5), "XYZ", "ISO 4217"),
            (None, "INR", "needs amount"),
        ] {
            let mut c = cmd(PaymentCommandKind::Create, amount);
            c.currency = Some(currency.into());
            match apply(None, &Signal::Command(&c)) {
                Outcome::Rejected(r) => assert!(
                    r.code == RejectCode::InvalidCommand && r.reason.contains(want),
                    "{r:?}"
                ),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn cascade_needs_the_previous_attempt_to_have_failed() {
        let confirm = cmd(PaymentCommandKind::Confirm, None);
        let declined = run(
            create(CaptureMethod::Automatic, true),
            &[
                Signal::Command(&confirm),
                att(),
                provider(ProviderOutcome::Declined, Some(DeclineClass::RateLimited)),
            ],
        );
        let att_2 = AttemptId::parse("att_2").unwrap();
        let second = Signal::AttemptStarted {
            attempt_id: &att_2,
            connector: "psp_b",
        };
        let after = applied(apply(Some(&declined), &second));
        assert_eq!(
            after
                .attempt
                .as_ref()
                .map(|a| (a.attempt_id.as_str(), a.status)),
            Some(("att_2", A::Started))
        );
        let pending = run(
            create(CaptureMethod::Automatic, true),
            &[
                Signal::Command(&confirm),
                att(),
                provider(ProviderOutcome::Pending, None),
            ],
        );
        assert!(
            matches!(
                apply(Some(&pending), &second),
                Outcome::Rejected(Rejection {
                    code: RejectCode::IllegalTransition,
                    ..
                })
            ),
            "never a second charge while one is pending"
        );
    }
}
