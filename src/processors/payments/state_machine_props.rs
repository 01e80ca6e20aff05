//! Properties of the state machine over random signal sequences: only the lifecycle's edges are ever
//! taken, `sequence` advances by exactly one per applied transition, a final state never changes, and
//! the captured amount never exceeds the authorized one nor shrinks.
//!
//! Test code: the parent module declares this file under #[cfg(test)].

use super::state_machine::{apply, Outcome, PaymentState, Signal};
use crate::domain::ids::AttemptId;
use crate::domain::MinorUnits;
use crate::events::payment_command::{
    CaptureMethod, PaymentCommand, PaymentCommandKind, PaymentMethod, PaymentMethodType,
};
use crate::events::payment_event::IntentStatus as I;
use crate::events::provider::{DeclineClass, ProviderOutcome};
use crate::events::TimestampMillis;
use proptest::prelude::*;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
enum Step {
    Create {
        manual: bool,
        with_method: bool,
    },
    Confirm {
        with_method: bool,
    },
    Capture {
        amount: Option<i64>,
    },
    Cancel,
    Started {
        attempt: u8,
    },
    Provider {
        attempt: u8,
        outcome: u8,
        decline: u8,
    },
    FraudBlocked,
    FraudReview,
    RoutingExhausted,
    Expire,
    StatusUnresolved,
    ReviewTimedOut,
}

/// Weighted so that runs often get past creation and confirmation into attempts and captures
/// instead of ending early in a cancel or an expiry.
fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (any::<bool>(), any::<bool>())
            .prop_map(|(manual, with_method)| Step::Create { manual, with_method }),
        3 => any::<bool>().prop_map(|with_method| Step::Confirm { with_method }),
        2 => proptest::option::of(-5i64..20_000).prop_map(|amount| Step::Capture { amount }),
        1 => Just(Step::Cancel),
        4 => (1u8..3).prop_map(|attempt| Step::Started { attempt }),
        6 => (1u8..3, 0u8..5, 0u8..9).prop_map(|(attempt, outcome, decline)| Step::Provider {
            attempt,
            outcome,
            decline
        }),
        1 => Just(Step::FraudBlocked),
        1 => Just(Step::FraudReview),
        1 => Just(Step::RoutingExhausted),
        1 => Just(Step::Expire),
        1 => Just(Step::StatusUnresolved),
        1 => Just(Step::ReviewTimedOut),
    ]
}

fn command(kind: PaymentCommandKind, with_method: bool) -> PaymentCommand {
    PaymentCommand {
        command_id: "cmd".into(),
        payment_id: "pay_p".into(),
        merchant_id: "m".into(),
        kind,
        amount_minor: None,
        currency: None,
        capture_method: None,
        payment_method: with_method.then(|| PaymentMethod::of(PaymentMethodType::Upi)),
        customer_id: None,
        customer_ip: None,
        customer_country: None,
        idempotency_key: None,
        metadata: BTreeMap::new(),
        issued_at: TimestampMillis(0),
        confirm: false,
    }
}

const OUTCOMES: [ProviderOutcome; 5] = [
    ProviderOutcome::Succeeded,
    ProviderOutcome::Declined,
    ProviderOutcome::Pending,
    ProviderOutcome::Failed,
    ProviderOutcome::Unknown,
];
const DECLINES: [DeclineClass; 9] = [
    DeclineClass::InsufficientFunds,
    DeclineClass::InvalidPaymentMethod,
    DeclineClass::DoNotHonor,
    DeclineClass::RiskDecline,
    DeclineClass::IssuerUnavailable,
    DeclineClass::ProviderError,
    DeclineClass::RateLimited,
    DeclineClass::Expired,
    DeclineClass::Other,
];

fn run(state: Option<&PaymentState>, s: &Step) -> Outcome {
    let attempt_id = |n: u8| format!("pay_p_att{n}");
    match s {
        Step::Create {
            manual,
            with_method,
        } => {
            let mut c = command(PaymentCommandKind::Create, *with_method);
            c.amount_minor = Some(10_000);
            c.currency = Some("INR".into());
            c.capture_method = Some(if *manual {
                CaptureMethod::Manual
            } else {
                CaptureMethod::Automatic
            });
            apply(state, &Signal::Command(&c))
        }
        Step::Confirm { with_method } => apply(
            state,
            &Signal::Command(&command(PaymentCommandKind::Confirm, *with_method)),
        ),
        Step::Capture { amount } => {
            let mut c = command(PaymentCommandKind::Capture, false);
            c.amount_minor = *amount;
            apply(state, &Signal::Command(&c))
        }
        Step::Cancel => apply(
            state,
            &Signal::Command(&command(PaymentCommandKind::Cancel, false)),
        ),
        Step::Started { attempt } => apply(
            state,
            &Signal::AttemptStarted {
                attempt_id: &AttemptId::parse(&attempt_id(*attempt)).unwrap(),
                connector: "acme",
            },
        ),
        Step::Provider {
            attempt,
            outcome,
            decline,
        } => apply(
            state,
            &Signal::Provider {
                attempt_id: &attempt_id(*attempt),
                outcome: OUTCOMES[usize::from(*outcome)],
                decline_class: Some(DECLINES[usize::from(*decline)]),
            },
        ),
        Step::FraudBlocked => apply(state, &Signal::FraudBlocked),
        Step::FraudReview => apply(state, &Signal::FraudReview),
        Step::RoutingExhausted => apply(state, &Signal::RoutingExhausted),
        Step::Expire => apply(state, &Signal::Expire),
        Step::StatusUnresolved => apply(state, &Signal::StatusUnresolved),
        Step::ReviewTimedOut => apply(state, &Signal::ReviewTimedOut),
    }
}

/// The intent lifecycle's edges (docs/payment-flow.md), a status to itself included where an attempt
/// changes underneath it.
fn legal(from: Option<I>, to: I) -> bool {
    match from {
        None => matches!(to, I::RequiresPaymentMethod | I::RequiresConfirmation),
        Some(I::RequiresPaymentMethod) => matches!(
            to,
            I::RequiresConfirmation | I::Processing | I::Canceled | I::Expired
        ),
        Some(I::RequiresConfirmation) => matches!(to, I::Processing | I::Canceled | I::Expired),
        Some(I::Processing) => matches!(
            to,
            I::Processing | I::RequiresCapture | I::Succeeded | I::Failed
        ),
        // To itself: a capture or void asked of the provider, or one the provider refused.
        Some(I::RequiresCapture) => matches!(
            to,
            I::RequiresCapture | I::Succeeded | I::Failed | I::Canceled | I::Expired
        ),
        Some(I::Succeeded | I::Failed | I::Canceled | I::Expired) => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn only_lifecycle_edges_one_sequence_step_at_a_time(steps in proptest::collection::vec(step(), 1..40)) {
        let mut state: Option<PaymentState> = None;
        for s in &steps {
            let before = state.clone();
            match run(before.as_ref(), s) {
                Outcome::Applied { state: next, transition } => {
                    let from = before.as_ref().map(|b| b.status);
                    prop_assert!(legal(from, next.status), "{:?} -> {:?} by {:?}", from, next.status, s);
                    prop_assert_eq!(transition.status, next.status);
                    prop_assert_eq!(next.sequence, before.as_ref().map_or(0, |b| b.sequence) + 1);
                    prop_assert!(next.captured_minor <= next.amount.amount, "captured above the amount");
                    prop_assert!(next.captured_minor >= before.as_ref().map_or(MinorUnits::ZERO, |b| b.captured_minor), "captured shrank");
                    state = Some(*next);
                }
                Outcome::Rejected(_) => {}
            }
        }
    }
}
