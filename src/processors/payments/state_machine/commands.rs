//! Commands: create, confirm, capture, cancel.

use super::{next, reject, Outcome, PaymentState, RejectCode, Settling, Transition};
use crate::domain::ids::{MerchantId, PaymentId};
use crate::domain::{MinorUnits, Money};
use crate::events::payment_command::{CaptureMethod, PaymentCommand, PaymentCommandKind};
use crate::events::payment_event::IntentStatus;

pub(super) fn create(c: &PaymentCommand) -> Outcome {
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
        settling: None,
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

pub(super) fn command(s: &PaymentState, c: &PaymentCommand) -> Outcome {
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
        (PaymentCommandKind::Capture | PaymentCommandKind::Cancel, I::RequiresCapture)
            if s.settling.is_some() =>
        {
            reject(
                RejectCode::DuplicateSignal,
                format!(
                    "{:?} of the authorization is with the provider; its answer settles the payment",
                    s.settling
                ),
            )
        }
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
            super::settle::ask(s, Settling::Void { expired: false }, "VOID_REQUESTED")
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
    // The provider captures; its answer ends the intent (a partial capture releases the remainder:
    // ledger HOLD_RELEASE).
    super::settle::ask(
        s,
        Settling::Capture { amount: requested },
        "CAPTURE_REQUESTED",
    )
}
