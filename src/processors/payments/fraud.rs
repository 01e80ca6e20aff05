//! Fraud decisions: an allow starts the first attempt (routing); a block or a review is a
//! transition of its own.

use super::output::{Cause, Detail, Out};
use super::route::route;
use super::state_machine::{self, Signal};
use super::{Payments, Stored};
use crate::events::fraud_assessment::{FraudAssessment, FraudDecision};
use crate::events::symbol;
use crate::processors::routing::Breaker;
use crate::processors::ProcessError;
use std::collections::BTreeMap;

pub(super) fn apply(
    p: &Payments,
    f: &FraudAssessment,
    stored: Option<&Stored>,
    health: &BTreeMap<String, Breaker>,
    out: &mut Out<'_>,
) -> Result<Option<Stored>, ProcessError> {
    let cause = Cause {
        id: &f.assessment_id,
        payment_id: &f.payment_id,
        attempted: format!("FRAUD_{}", symbol(&f.decision)),
        merchant_id: None,
    };
    let machine = stored.map(|s| &s.machine);
    let signal = match f.decision {
        FraudDecision::Block => Signal::FraudBlocked,
        FraudDecision::Review => Signal::FraudReview,
        FraudDecision::Allow => {
            return match state_machine::may_start_first_attempt(machine) {
                Ok(()) => route(p, stored.cloned(), health, &cause, out),
                Err(r) => {
                    out.reject(stored, &r, &cause)?;
                    Ok(None)
                }
            };
        }
    };
    let outcome = state_machine::apply(machine, &signal);
    out.settle(
        outcome,
        stored.cloned(),
        &cause,
        Detail::default(),
        Stored::of,
    )
}
