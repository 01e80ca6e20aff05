//! The payout lifecycle, pure (RazorpayX's is the model):
//!
//! ```text
//! (request) -> rejected                        (invalid beneficiary, rail or amount: no money moves)
//!           -> pending_approval -> rejected | canceled | (approved, as below)
//!           -> requested -> processing         (the balance reserved the amount)
//!                        -> queued -> processing | failed (QUEUE_EXPIRED) | canceled
//!                        -> failed             (INSUFFICIENT_BALANCE, may not wait)
//! processing -> processed (UTR) -> reversed    (the bank returned it: compensating entries)
//!            -> failed                         (the reserve is released)
//! ```
//!
//! Each transition returns what it asks of others: the balance (reserve, release, settle, credit,
//! withdraw) and the provider (pay, status). An unknown or pending answer keeps the reserve and climbs
//! the status-check ladder.

use crate::domain::ids::{BatchId, BeneficiaryId, MerchantId, PayoutId};
use crate::events::balance::FundingOutcome;
use crate::events::beneficiary_verification::VerificationStatus;
use crate::events::payout::{
    PayoutDecisionAction, PayoutPurpose, PayoutRail, PayoutRequest, PayoutStatus,
};
use crate::events::provider::{Payee, ProviderOutcome};
use crate::processors::verification::payable;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payout {
    pub payout_id: PayoutId,
    pub merchant_id: MerchantId,
    pub batch_id: Option<BatchId>,
    pub beneficiary_id: BeneficiaryId,
    pub amount: i64,
    pub currency: String,
    pub rail: PayoutRail,
    pub purpose: PayoutPurpose,
    pub reference: Option<String>,
    pub narration: Option<String>,
    pub status: PayoutStatus,
    pub sequence: i64,
    pub created_by: String,
    pub payee: Option<Payee>,
    pub provider_reference: Option<String>,
    pub utr: Option<String>,
    /// While processing: the provider's last word (`None`: the call is in flight).
    pub awaiting: Option<ProviderOutcome>,
    pub checks: usize,
    pub next_check_at_ms: Option<i64>,
}

/// What a transition asks of the balance or the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ask {
    Reserve,
    Release,
    Settle,
    Credit,
    Withdraw,
    Pay,
    /// A status check: the immediate one (`None`) or rung `n` of the ladder.
    Status(Option<u32>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub payout: Payout,
    pub previous: Option<PayoutStatus>,
    pub reason: Option<String>,
    /// Whether the change is a transition (an event); a quiet change only updates bookkeeping.
    pub event: bool,
    pub asks: Vec<Ask>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Changed(Box<Change>),
    /// Nothing changes; asks still go out (a reserve that arrived for a payout no longer waiting is
    /// released at once).
    Quiet(Vec<Ask>),
    Refused(String),
}

/// What the payout processor read of the beneficiary (its row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BeneficiaryCheck {
    pub merchant_id: MerchantId,
    pub account_kind: String,
    pub payee: Payee,
    pub fingerprint: String,
    pub status: Option<VerificationStatus>,
    pub verified_fingerprint: Option<String>,
    pub expires_at_ms: Option<i64>,
}

#[derive(Debug, Clone, Copy)]
pub struct Rules {
    pub approval_from: Option<i64>,
    pub imps_max_minor: i64,
    pub rtgs_min_minor: i64,
    pub ladder_first_ms: i64,
}

fn transition(p: &Payout, status: PayoutStatus, reason: Option<&str>, asks: Vec<Ask>) -> Outcome {
    let mut next = p.clone();
    next.status = status;
    next.sequence = p.sequence.saturating_add(1);
    if status.is_final() || status != PayoutStatus::Processing {
        next.awaiting = None;
        next.next_check_at_ms = None;
    }
    Outcome::Changed(Box::new(Change {
        payout: next,
        previous: Some(p.status),
        reason: reason.map(str::to_owned),
        event: true,
        asks,
    }))
}

/// Why a payout to this beneficiary, by this rail, of this amount cannot be made.
fn refusal(
    r: &PayoutRequest,
    b: Option<&BeneficiaryCheck>,
    rules: Rules,
    now_ms: i64,
) -> Option<&'static str> {
    let Some(b) = b.filter(|b| b.merchant_id.as_str() == r.merchant_id) else {
        return Some("INVALID_BENEFICIARY");
    };
    if let Err(code) = payable(
        b.status,
        b.verified_fingerprint.as_deref(),
        b.expires_at_ms,
        &b.fingerprint,
        now_ms,
    ) {
        return Some(code);
    }
    let bank = b.account_kind == "bank_account";
    let rail_fits = match r.rail {
        PayoutRail::Imps | PayoutRail::Neft | PayoutRail::Rtgs => bank,
        PayoutRail::Upi => !bank,
        PayoutRail::Wallet => false,
    };
    if !rail_fits {
        return Some("RAIL_NOT_FOR_ACCOUNT");
    }
    if r.currency != "INR" {
        return Some("UNSUPPORTED_CURRENCY");
    }
    match r.rail {
        PayoutRail::Imps if r.amount_minor > rules.imps_max_minor => {
            Some("AMOUNT_ABOVE_RAIL_LIMIT")
        }
        PayoutRail::Rtgs if r.amount_minor < rules.rtgs_min_minor => {
            Some("AMOUNT_BELOW_RAIL_MINIMUM")
        }
        _ => None,
    }
}

/// A new payout, checked against its beneficiary as the row stood when the batch was read.
pub fn create(
    r: &PayoutRequest,
    b: Option<&BeneficiaryCheck>,
    rules: Rules,
    now_ms: i64,
) -> Outcome {
    let refused = refusal(r, b, rules, now_ms);
    let needs_approval = rules.approval_from.is_some_and(|t| r.amount_minor >= t);
    let (status, reason, asks) = match refused {
        Some(code) => (PayoutStatus::Rejected, Some(code), vec![]),
        None if needs_approval => (
            PayoutStatus::PendingApproval,
            Some("AWAITING_APPROVAL"),
            vec![],
        ),
        None => (
            PayoutStatus::Requested,
            Some("AWAITING_FUNDS"),
            vec![Ask::Reserve],
        ),
    };
    // The decoder checked every id of the request: a refusal here is a broken invariant.
    let ids = (
        PayoutId::parse(&r.payout_id),
        MerchantId::parse(&r.merchant_id),
        r.batch_id.as_deref().map(BatchId::parse).transpose(),
        BeneficiaryId::parse(&r.beneficiary_id),
    );
    let (Ok(payout_id), Ok(merchant_id), Ok(batch_id), Ok(beneficiary_id)) = ids else {
        return Outcome::Refused(format!(
            "payout {}: an id is not an id: {ids:?}",
            r.payout_id
        ));
    };
    let payout = Payout {
        payout_id,
        merchant_id,
        batch_id,
        beneficiary_id,
        amount: r.amount_minor,
        currency: r.currency.clone(),
        rail: r.rail,
        purpose: r.purpose,
        reference: r.reference.clone(),
        narration: r.narration.clone(),
        status,
        sequence: 1,
        created_by: r.requested_by.clone(),
        payee: b.filter(|_| refused.is_none()).map(|b| b.payee.clone()),
        provider_reference: None,
        utr: None,
        awaiting: None,
        checks: 0,
        next_check_at_ms: None,
    };
    Outcome::Changed(Box::new(Change {
        payout,
        previous: None,
        reason: reason.map(str::to_owned),
        event: true,
        asks,
    }))
}

/// An approver's or the merchant's decision.
pub fn decide(p: &Payout, action: PayoutDecisionAction, actor: &str) -> Outcome {
    use PayoutStatus as S;
    match (action, p.status) {
        (PayoutDecisionAction::Approve, S::PendingApproval) if actor == p.created_by => {
            Outcome::Refused(format!(
                "{actor} created payout {} and cannot approve it",
                p.payout_id
            ))
        }
        (PayoutDecisionAction::Approve, S::PendingApproval) => {
            transition(p, S::Requested, Some("AWAITING_FUNDS"), vec![Ask::Reserve])
        }
        (PayoutDecisionAction::Reject, S::PendingApproval) => {
            transition(p, S::Rejected, Some("REJECTED_BY_APPROVER"), vec![])
        }
        (PayoutDecisionAction::Cancel, S::PendingApproval) => {
            transition(p, S::Canceled, Some("CANCELED_BY_MERCHANT"), vec![])
        }
        (PayoutDecisionAction::Cancel, S::Queued) => transition(
            p,
            S::Canceled,
            Some("CANCELED_BY_MERCHANT"),
            vec![Ask::Withdraw],
        ),
        (action, status) => Outcome::Refused(format!(
            "{action:?} is not allowed while the payout is {status:?}"
        )),
    }
}

/// The balance's answer to the payout's reserve.
pub fn funding(p: &Payout, outcome: FundingOutcome) -> Outcome {
    use PayoutStatus as S;
    let waiting = matches!(p.status, S::Requested | S::Queued);
    match outcome {
        // The money is held for a payout that no longer waits (canceled while the answer crossed):
        // give it back at once.
        FundingOutcome::Reserved if !waiting => Outcome::Quiet(vec![Ask::Release]),
        FundingOutcome::Reserved => {
            transition(p, S::Processing, Some("FUNDS_RESERVED"), vec![Ask::Pay])
        }
        FundingOutcome::Queued if p.status == S::Requested => {
            transition(p, S::Queued, Some("INSUFFICIENT_BALANCE"), vec![])
        }
        FundingOutcome::Refused if waiting => {
            transition(p, S::Failed, Some("INSUFFICIENT_BALANCE"), vec![])
        }
        FundingOutcome::Expired if waiting => {
            transition(p, S::Failed, Some("QUEUE_EXPIRED"), vec![])
        }
        other => Outcome::Refused(format!("{other:?} for a payout that is {:?}", p.status)),
    }
}

/// What the provider said (a response, a status check, a webhook). `code`: its failure code.
pub fn answer(
    p: &Payout,
    outcome: ProviderOutcome,
    said: Said<'_>,
    ladder_first_ms: i64,
    now_ms: i64,
) -> Outcome {
    use PayoutStatus as S;
    if p.status == S::Succeeded && said.reversed {
        let mut r = transition(p, S::Reversed, Some("REVERSED_BY_BANK"), vec![Ask::Credit]);
        if let Outcome::Changed(c) = &mut r {
            c.reason = Some(said.code.map_or("REVERSED_BY_BANK".into(), str::to_owned));
        }
        return r;
    }
    if p.status != S::Processing {
        return Outcome::Refused(format!("{outcome:?} for a payout that is {:?}", p.status));
    }
    let mut next = match outcome {
        ProviderOutcome::Succeeded => transition(p, S::Succeeded, None, vec![Ask::Settle]),
        ProviderOutcome::Declined | ProviderOutcome::Failed => transition(
            p,
            S::Failed,
            Some(said.code.unwrap_or("BANK_REJECTED")),
            vec![Ask::Release],
        ),
        waiting if p.awaiting == Some(waiting) => {
            return Outcome::Refused(format!("payout {} is already {waiting:?}", p.payout_id))
        }
        waiting => {
            let reason = if waiting == ProviderOutcome::Unknown {
                "OUTCOME_UNKNOWN"
            } else {
                "AWAITING_BANK"
            };
            let asks = if waiting == ProviderOutcome::Unknown && said.ask_status {
                vec![Ask::Status(None)]
            } else {
                vec![]
            };
            let mut c = transition(p, S::Processing, Some(reason), asks);
            if let Outcome::Changed(c) = &mut c {
                c.payout.awaiting = Some(waiting);
                if c.payout.checks == 0 && c.payout.next_check_at_ms.is_none() {
                    c.payout.next_check_at_ms = Some(now_ms.saturating_add(ladder_first_ms));
                }
            }
            c
        }
    };
    if let Outcome::Changed(c) = &mut next {
        if let Some(r) = said.provider_reference {
            c.payout.provider_reference = Some(r.to_owned());
        }
        if let Some(u) = said.utr {
            c.payout.utr = Some(u.to_owned());
        }
    }
    next
}

/// The details of a provider's answer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Said<'a> {
    pub provider_reference: Option<&'a str>,
    pub utr: Option<&'a str>,
    pub code: Option<&'a str>,
    /// A webhook that says the bank returned a processed transfer.
    pub reversed: bool,
    /// The answer to the payout call itself: an unknown one asks for a status check at once.
    pub ask_status: bool,
}

/// A rung of the status-check ladder: the next check, or, past the last, `STATUS_UNRESOLVED`.
pub fn rung(p: &Payout, ladder: &[u64], now_ms: i64) -> Outcome {
    if p.status != PayoutStatus::Processing || p.awaiting.is_none() {
        return Outcome::Refused("no status check is due".into());
    }
    let wait = |n: usize| {
        i64::try_from(ladder.get(n).or(ladder.last()).copied().unwrap_or(0)).unwrap_or(i64::MAX)
    };
    if p.checks < ladder.len() {
        let mut next = p.clone();
        next.checks = p.checks.saturating_add(1);
        next.next_check_at_ms = Some(now_ms.saturating_add(wait(next.checks)));
        let n = u32::try_from(next.checks).unwrap_or(u32::MAX);
        return Outcome::Changed(Box::new(Change {
            payout: next,
            previous: Some(p.status),
            reason: None,
            event: false,
            asks: vec![Ask::Status(Some(n))],
        }));
    }
    let mut r = transition(
        p,
        PayoutStatus::Processing,
        Some("STATUS_UNRESOLVED"),
        vec![],
    );
    if let Outcome::Changed(c) = &mut r {
        c.payout.awaiting = p.awaiting;
        c.payout.next_check_at_ms = None;
    }
    r
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;
