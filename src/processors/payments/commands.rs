//! Commands: create, confirm, capture, cancel. A CREATE with `confirm` is one record, so both
//! steps commit together or not at all.

use super::output::{Cause, Detail, Out};
use super::state_machine::{self, PaymentState, Signal};
use super::Stored;
use crate::events::payment_command::{PaymentCommand, PaymentCommandKind};
use crate::events::payment_event::IntentStatus;
use crate::events::symbol;
use crate::processors::ProcessError;
use std::collections::BTreeMap;

pub(super) fn apply(
    c: &PaymentCommand,
    stored: Option<&Stored>,
    out: &mut Out<'_>,
) -> Result<Option<Stored>, ProcessError> {
    let created = one(c, stored, out)?;
    if !(c.confirm && c.kind == PaymentCommandKind::Create) {
        return Ok(created);
    }
    let Some(state) = created else {
        return Ok(None);
    };
    let confirmed = one(&confirm_of(c), Some(&state), out)?;
    Ok(confirmed.or(Some(state)))
}

fn one(
    c: &PaymentCommand,
    stored: Option<&Stored>,
    out: &mut Out<'_>,
) -> Result<Option<Stored>, ProcessError> {
    let mut current = stored.cloned();
    if let (Some(s), Some(m)) = (current.as_mut(), c.payment_method.as_ref()) {
        if c.kind == PaymentCommandKind::Confirm && s.method.is_none() {
            s.method = Some(m.clone());
        }
    }
    let before = current.as_ref().map(|s| s.machine.status);
    let outcome = state_machine::apply(current.as_ref().map(|s| &s.machine), &Signal::Command(c));
    let cause = Cause {
        id: &c.command_id,
        payment_id: &c.payment_id,
        attempted: symbol(&c.kind),
        merchant_id: Some(&c.merchant_id),
    };
    let detail = Detail {
        with_risk: starts_processing(c, before, &outcome),
        ..Detail::default()
    };
    out.settle(outcome, current, &cause, detail, |machine| {
        from_create(c, machine)
    })
}

/// The confirm that moves a payment into processing carries its risk context to fraud scoring.
fn starts_processing(
    c: &PaymentCommand,
    before: Option<IntentStatus>,
    outcome: &state_machine::Outcome,
) -> bool {
    let state_machine::Outcome::Applied { transition, .. } = outcome else {
        return false;
    };
    c.kind == PaymentCommandKind::Confirm
        && transition.status == IntentStatus::Processing
        && before.is_some_and(|b| b != IntentStatus::Processing)
}

/// A new payment, from its CREATE.
fn from_create(c: &PaymentCommand, machine: PaymentState) -> Stored {
    Stored {
        machine,
        method: c.payment_method.clone(),
        customer_id: c.customer_id.clone(),
        customer_ip: c.customer_ip.clone(),
        customer_country: c.customer_country.clone(),
        tried: vec![],
        refunds: vec![],
    }
}

/// The CONFIRM a CREATE with `confirm` carries: the method came with the CREATE and is stored.
fn confirm_of(create: &PaymentCommand) -> PaymentCommand {
    PaymentCommand {
        command_id: format!("{}:confirm", create.command_id),
        kind: PaymentCommandKind::Confirm,
        amount_minor: None,
        currency: None,
        capture_method: None,
        payment_method: None,
        metadata: BTreeMap::new(),
        confirm: false,
        ..create.clone()
    }
}
