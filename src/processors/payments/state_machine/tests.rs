//! The state machine, table-driven: every legal path and every refusal.
//!
//! Test code: the parent module declares this file under #[cfg(test)].

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
                provider(ProviderOutcome::Succeeded, None),
            ],
            I::Succeeded,
            Some(A::Captured),
            10_000,
        ),
        (
            "a capture the provider declines leaves the authorization to capture again",
            create(CaptureMethod::Manual, true),
            vec![
                Signal::Command(&confirm),
                att(),
                provider(ProviderOutcome::Succeeded, None),
                Signal::Command(&capture),
                provider(ProviderOutcome::Declined, Some(DeclineClass::Other)),
                Signal::Command(&partial),
                provider(ProviderOutcome::Succeeded, None),
            ],
            I::Succeeded,
            Some(A::Captured),
            4_000,
        ),
        (
            "a capture in flight waits for its answer",
            create(CaptureMethod::Manual, true),
            vec![
                Signal::Command(&confirm),
                att(),
                provider(ProviderOutcome::Succeeded, None),
                Signal::Command(&capture),
            ],
            I::RequiresCapture,
            Some(A::CapturePending),
            0,
        ),
        (
            "partial capture",
            create(CaptureMethod::Manual, true),
            vec![
                Signal::Command(&confirm),
                att(),
                provider(ProviderOutcome::Succeeded, None),
                Signal::Command(&partial),
                provider(ProviderOutcome::Succeeded, None),
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
                provider(ProviderOutcome::Succeeded, None),
            ],
            I::Canceled,
            Some(A::Voided),
            0,
        ),
        (
            "an expired authorization is voided by the provider",
            create(CaptureMethod::Manual, true),
            vec![
                Signal::Command(&confirm),
                att(),
                provider(ProviderOutcome::Succeeded, None),
                Signal::Expire,
                provider(ProviderOutcome::Succeeded, None),
            ],
            I::Expired,
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

#[test]
fn broken_states_and_steps_are_named() {
    let good = create(CaptureMethod::Automatic, true);
    good.check().unwrap();
    check_step(None, &good).unwrap();
    let cases: Vec<(&str, PaymentState, &str)> = vec![
        (
            "captured above the amount",
            PaymentState {
                captured_minor: MinorUnits::new(good.amount.amount.get() + 1),
                ..good.clone()
            },
            "captured",
        ),
        (
            "negative capture",
            PaymentState {
                captured_minor: MinorUnits::new(-1),
                ..good.clone()
            },
            "captured",
        ),
        (
            "sequence 0",
            PaymentState {
                sequence: 0,
                ..good.clone()
            },
            "sequence 0 below 1",
        ),
    ];
    for (name, state, expected) in cases {
        let err = state.check().unwrap_err();
        assert!(err.contains(expected), "{name}: {err}");
    }
    let skipped = PaymentState {
        sequence: good.sequence + 2,
        ..good.clone()
    };
    let err = check_step(Some(&good), &skipped).unwrap_err();
    assert!(err.contains("follows 1"), "{err}");
    let later = PaymentState {
        sequence: good.sequence + 1,
        ..good.clone()
    };
    check_step(Some(&good), &later).unwrap();
    let captured = PaymentState {
        captured_minor: MinorUnits::new(1),
        ..later.clone()
    };
    let shrunk = PaymentState {
        captured_minor: MinorUnits::ZERO,
        sequence: captured.sequence + 1,
        ..captured.clone()
    };
    let err = check_step(Some(&captured), &shrunk).unwrap_err();
    assert!(err.contains("shrank"), "{err}");
}
