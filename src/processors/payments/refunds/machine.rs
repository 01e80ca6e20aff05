//! The refund state machine, pure: what a refund request, an approval decision, a provider answer or
//! a status-check rung does to one payment's refunds.
//!
//! ```text
//! (request) ─┬─> pending ──────────────> succeeded | failed
//!            ├─> requires_approval ─┬──> pending (approved by another key)
//!            │                      └──> rejected | canceled
//!            └─> failed (nothing reserved: not refundable, over the remainder, too many)
//! ```
//!
//! The refundable amount is the payment's captured amount less every refund still holding its
//! amount (requires_approval, pending, succeeded). A refund reserves its amount in the same step that
//! asks the provider, so two refunds can never both take the same remainder: the payment's refunds
//! have one writer, the instance that owns the payment's partition. A definite failure releases the
//! amount; an unknown outcome keeps it until a status check or a webhook settles it.

use crate::domain::ids::RefundId;
use crate::domain::MinorUnits;
use crate::events::provider::ProviderOutcome;
use crate::events::refund::{RefundAction, RefundRequest, RefundStatus};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One refund of a payment, as the payment's state keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub refund_id: RefundId,
    pub amount: MinorUnits,
    pub status: RefundStatus,
    /// Number of the refund's last transition (its events are 1..n).
    pub sequence: i64,
    pub created_by: String,
    pub reason: Option<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    pub provider_reference: Option<String>,
    /// While pending: the provider's last word (`None`: the call is in flight).
    pub awaiting: Option<ProviderOutcome>,
    /// Status checks sent so far, and when the next is due.
    pub checks: usize,
    pub next_check_at_ms: Option<i64>,
}

/// What the refund part of a payment knows about the payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payment<'a> {
    pub currency: &'a str,
    pub captured: MinorUnits,
}

/// Limits and thresholds a decision needs.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    pub refunds_max: usize,
    /// The amount from which a refund needs an approver, if the merchant has one.
    pub approval_from: Option<MinorUnits>,
}

/// Why a refund failed, or a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    PaymentNotCaptured,
    CurrencyMismatch,
    InvalidAmount,
    NothingToRefund,
    AmountExceedsRefundable,
    TooManyRefunds,
    ProviderDeclined,
    RejectedByApprover,
    CanceledByMerchant,
    AwaitingApproval,
    AwaitingProvider,
    OutcomeUnknown,
    StatusUnresolved,
}

impl Reason {
    pub fn code(self) -> &'static str {
        match self {
            Reason::PaymentNotCaptured => "PAYMENT_NOT_CAPTURED",
            Reason::CurrencyMismatch => "CURRENCY_MISMATCH",
            Reason::InvalidAmount => "INVALID_AMOUNT",
            Reason::NothingToRefund => "NOTHING_TO_REFUND",
            Reason::AmountExceedsRefundable => "AMOUNT_EXCEEDS_REFUNDABLE",
            Reason::TooManyRefunds => "TOO_MANY_REFUNDS",
            Reason::ProviderDeclined => "PROVIDER_DECLINED",
            Reason::RejectedByApprover => "REJECTED_BY_APPROVER",
            Reason::CanceledByMerchant => "CANCELED_BY_MERCHANT",
            Reason::AwaitingApproval => "AWAITING_APPROVAL",
            Reason::AwaitingProvider => "AWAITING_PROVIDER",
            Reason::OutcomeUnknown => "OUTCOME_UNKNOWN",
            Reason::StatusUnresolved => "STATUS_UNRESOLVED",
        }
    }
}

/// A signal the refunds cannot take (nothing is recorded on the refund).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The same request or answer was already applied.
    Duplicate(String),
    /// The action is not allowed in the refund's state, or names no refund.
    Illegal(String),
    /// The approver is the refund's creator (four eyes).
    SameActor(String),
}

/// One transition to record as a `RefundEvent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub refund: Refund,
    pub previous: Option<RefundStatus>,
    pub reason: Option<Reason>,
    /// The provider must be asked to refund (the refund just became pending).
    pub call_provider: bool,
    /// Whether the refund is kept in the payment's state (a refusal past the bound is not).
    pub kept: bool,
}

impl Change {
    /// A change of bookkeeping only (the next status check), with no event.
    pub fn quiet(refund: Refund) -> Self {
        Self {
            refund,
            previous: None,
            reason: None,
            call_provider: false,
            kept: true,
        }
    }
}

/// The amount refunds hold (reserved or refunded).
pub fn held(refunds: &[Refund]) -> Result<MinorUnits, String> {
    refunds
        .iter()
        .filter(|r| r.status.holds_amount())
        .try_fold(MinorUnits::ZERO, |sum, r| {
            sum.checked_add(r.amount).map_err(|e| e.to_string())
        })
}

/// What every payment's refunds hold: each amount positive, ids unique, at most `refunds_max`, and
/// together never more than captured. Checked where refunds change and where they are read back.
pub fn check(refunds: &[Refund], captured: MinorUnits, refunds_max: usize) -> Result<(), String> {
    if refunds.len() > refunds_max {
        return Err(format!(
            "{} refunds, above the bound {refunds_max}",
            refunds.len()
        ));
    }
    let total = held(refunds)?;
    if total > captured {
        return Err(format!(
            "refunds hold {} of a capture of {}",
            total.get(),
            captured.get()
        ));
    }
    let mut ids: Vec<&str> = refunds.iter().map(|r| r.refund_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.len() != refunds.len() {
        return Err("two refunds share an id".into());
    }
    match refunds.iter().find(|r| !r.amount.is_positive()) {
        Some(r) => Err(format!(
            "refund {} has amount {}",
            r.refund_id,
            r.amount.get()
        )),
        None => Ok(()),
    }
}

/// Applies one request (create, approve, reject, cancel) to the payment's refunds.
pub fn request(
    payment: Option<Payment<'_>>,
    refunds: &[Refund],
    r: &RefundRequest,
    rules: Rules,
) -> Result<Change, Refused> {
    let existing = refunds.iter().find(|x| x.refund_id == r.refund_id);
    match (r.action, existing) {
        (RefundAction::Create, Some(_)) => Err(Refused::Duplicate(format!(
            "refund {} already exists",
            r.refund_id
        ))),
        (RefundAction::Create, None) => {
            let id = RefundId::parse(&r.refund_id)
                .map_err(|e| Refused::Illegal(format!("refund_id '{}': {e}", r.refund_id)))?;
            Ok(create(payment, refunds, r, id, rules))
        }
        (_, None) => Err(Refused::Illegal(format!(
            "{:?} names refund {}, which this payment does not have",
            r.action, r.refund_id
        ))),
        (action, Some(x)) => decide(x, action, &r.requested_by),
    }
}

fn create(
    payment: Option<Payment<'_>>,
    refunds: &[Refund],
    r: &RefundRequest,
    refund_id: RefundId,
    rules: Rules,
) -> Change {
    let fresh = |amount: MinorUnits, status| Refund {
        refund_id: refund_id.clone(),
        amount,
        status,
        sequence: 1,
        created_by: r.requested_by.clone(),
        reason: r.reason.clone(),
        metadata: r.metadata.clone(),
        provider_reference: None,
        awaiting: None,
        checks: 0,
        next_check_at_ms: None,
    };
    let requested = r.amount_minor.map(MinorUnits::new);
    let failed = |reason: Reason| Change {
        refund: fresh(requested.unwrap_or(MinorUnits::ZERO), RefundStatus::Failed),
        previous: None,
        reason: Some(reason),
        call_provider: false,
        kept: refunds.len() < rules.refunds_max && requested.is_some_and(MinorUnits::is_positive),
    };
    let Some(p) = payment.filter(|p| p.captured.is_positive()) else {
        return failed(Reason::PaymentNotCaptured);
    };
    if p.currency != r.currency {
        return failed(Reason::CurrencyMismatch);
    }
    if refunds.len() >= rules.refunds_max {
        return failed(Reason::TooManyRefunds);
    }
    let refundable =
        match held(refunds).and_then(|h| p.captured.checked_sub(h).map_err(|e| e.to_string())) {
            Ok(v) => v,
            Err(_) => return failed(Reason::InvalidAmount),
        };
    let amount = requested.unwrap_or(refundable);
    if requested.is_some_and(|a| !a.is_positive()) {
        return failed(Reason::InvalidAmount);
    }
    if !amount.is_positive() {
        return failed(Reason::NothingToRefund);
    }
    if amount > refundable {
        return failed(Reason::AmountExceedsRefundable);
    }
    let needs_approval = rules.approval_from.is_some_and(|t| amount >= t);
    let (status, reason) = if needs_approval {
        (RefundStatus::PendingApproval, Reason::AwaitingApproval)
    } else {
        (RefundStatus::Pending, Reason::AwaitingProvider)
    };
    Change {
        refund: fresh(amount, status),
        previous: None,
        reason: Some(reason),
        call_provider: !needs_approval,
        kept: true,
    }
}

fn decide(x: &Refund, action: RefundAction, actor: &str) -> Result<Change, Refused> {
    let to = |status, reason, call_provider| {
        let mut refund = x.clone();
        refund.status = status;
        refund.sequence = x.sequence.saturating_add(1);
        Ok(Change {
            refund,
            previous: Some(x.status),
            reason: Some(reason),
            call_provider,
            kept: true,
        })
    };
    if x.status != RefundStatus::PendingApproval {
        let what = if x.status == RefundStatus::Pending && action == RefundAction::Cancel {
            "the provider has already been asked; a pending refund cannot be canceled".to_owned()
        } else {
            format!(
                "{action:?} needs a refund that requires approval; {} is {:?}",
                x.refund_id, x.status
            )
        };
        return Err(Refused::Illegal(what));
    }
    match action {
        RefundAction::Approve if x.created_by == actor => Err(Refused::SameActor(format!(
            "{actor} created refund {} and cannot approve it",
            x.refund_id
        ))),
        RefundAction::Approve => to(RefundStatus::Pending, Reason::AwaitingProvider, true),
        RefundAction::Reject => to(RefundStatus::Rejected, Reason::RejectedByApprover, false),
        RefundAction::Cancel => to(RefundStatus::Canceled, Reason::CanceledByMerchant, false),
        RefundAction::Create => Err(Refused::Duplicate(format!(
            "refund {} already exists",
            x.refund_id
        ))),
    }
}

/// A provider's answer about a refund (a response, a status check, a webhook).
pub fn answer(
    refunds: &[Refund],
    refund_id: &str,
    outcome: ProviderOutcome,
    provider_reference: Option<&str>,
) -> Result<Change, Refused> {
    let Some(x) = refunds.iter().find(|r| r.refund_id == refund_id) else {
        return Err(Refused::Illegal(format!(
            "no refund {refund_id} on this payment"
        )));
    };
    if x.status != RefundStatus::Pending {
        return Err(Refused::Duplicate(format!(
            "{outcome:?} for refund {refund_id}, which is already {:?}",
            x.status
        )));
    }
    let (status, reason, awaiting) = match outcome {
        ProviderOutcome::Succeeded => (RefundStatus::Succeeded, None, None),
        ProviderOutcome::Declined | ProviderOutcome::Failed => {
            (RefundStatus::Failed, Some(Reason::ProviderDeclined), None)
        }
        ProviderOutcome::Pending => (
            RefundStatus::Pending,
            Some(Reason::AwaitingProvider),
            Some(outcome),
        ),
        ProviderOutcome::Unknown => (
            RefundStatus::Pending,
            Some(Reason::OutcomeUnknown),
            Some(outcome),
        ),
    };
    if status == RefundStatus::Pending && x.awaiting == Some(outcome) {
        return Err(Refused::Duplicate(format!(
            "refund {refund_id} is already {outcome:?}"
        )));
    }
    let mut refund = x.clone();
    refund.status = status;
    refund.sequence = x.sequence.saturating_add(1);
    refund.awaiting = awaiting;
    if let Some(r) = provider_reference {
        refund.provider_reference = Some(r.to_owned());
    }
    if status.is_final() {
        refund.next_check_at_ms = None;
    }
    Ok(Change {
        refund,
        previous: Some(x.status),
        reason,
        call_provider: false,
        kept: true,
    })
}

/// The refunds of `after` replacing those of `before` by `change` (or adding it).
pub fn with(refunds: &[Refund], change: &Change) -> Vec<Refund> {
    let mut out = refunds.to_vec();
    match out
        .iter_mut()
        .find(|r| r.refund_id == change.refund.refund_id)
    {
        Some(r) => *r = change.refund.clone(),
        None if change.kept => out.push(change.refund.clone()),
        None => {}
    }
    out
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;
