//! Double-entry postings for refund transitions.
//!
//! Accounts, besides those of `postings`: `merchant:<merchant>:reserved`, what the merchant's
//! balance has set aside for refunds (and payouts) not yet settled. The merchant's available balance
//! is the credit balance of `merchant:<merchant>:payable`.
//!
//! Movements: a refund that reserves its amount (requires_approval or pending, its first event) posts
//! `REFUND_RESERVE` (payable to reserved); a refund that succeeds posts `REFUND` (reserved to the
//! provider's receivable: the provider keeps that much of the settlement); a reserved refund that ends
//! without money moving (failed, rejected, canceled) posts `REFUND_RELEASE` (reserved back to payable).
//! A refund refused up front reserved nothing and posts nothing. Entry ids derive from the refund
//! event's id, so a replay posts nothing twice.

use super::postings::{check_balanced, entry, LedgerError, Source};
use crate::contract::ledger_account::Account;
use crate::events::journal_entry::{JournalEntry, Movement};
use crate::events::refund::{RefundEvent, RefundStatus};

/// The entries one refund transition posts, each already checked.
pub fn for_refund(e: &RefundEvent) -> Result<Vec<JournalEntry>, LedgerError> {
    let src = Source {
        cause_id: &e.event_id,
        merchant_id: &e.merchant_id,
        payment_id: &e.payment_id,
        currency: &e.currency,
        at: e.occurred_at,
    };
    let payable = Account::MerchantPayable(&e.merchant_id).name();
    let reserved = Account::MerchantReserved(&e.merchant_id).name();
    let connector = e.connector.as_deref().unwrap_or("unknown");
    let was_reserved = e.previous_status.is_some_and(RefundStatus::holds_amount);
    let mut out = Vec::new();
    match e.status {
        RefundStatus::PendingApproval | RefundStatus::Pending if e.previous_status.is_none() => {
            out.push(entry(
                &src,
                Movement::RefundReserve,
                e.amount_minor,
                payable,
                reserved,
            ));
        }
        RefundStatus::Succeeded if was_reserved => {
            let receivable = Account::ProviderReceivable(connector).name();
            out.push(entry(
                &src,
                Movement::Refund,
                e.amount_minor,
                reserved,
                receivable,
            ));
        }
        RefundStatus::Failed | RefundStatus::Rejected | RefundStatus::Canceled if was_reserved => {
            out.push(entry(
                &src,
                Movement::RefundRelease,
                e.amount_minor,
                reserved,
                payable,
            ));
        }
        _ => {}
    }
    for x in &out {
        check_balanced(x)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::journal_entry::Direction;
    use crate::events::samples;
    use std::collections::BTreeMap;

    fn step(status: RefundStatus, previous: Option<RefundStatus>, seq: i64) -> RefundEvent {
        RefundEvent {
            event_id: format!("rf_1:{seq}"),
            status,
            previous_status: previous,
            amount_minor: 400,
            ..samples::refund_event()
        }
    }

    fn balances(events: &[RefundEvent]) -> BTreeMap<String, i64> {
        let mut b = BTreeMap::new();
        for e in events {
            for x in for_refund(e).unwrap() {
                for p in x.postings {
                    let v = match p.direction {
                        Direction::Debit => p.amount_minor,
                        Direction::Credit => -p.amount_minor,
                    };
                    *b.entry(p.account).or_insert(0) += v;
                }
            }
        }
        b.retain(|_, v| *v != 0);
        b
    }

    #[test]
    fn refund_lifecycles_post_balanced_entries_and_clear_reserves() {
        use RefundStatus as R;
        type Case<'a> = (&'a str, Vec<RefundEvent>, Vec<(&'a str, i64)>);
        let cases: Vec<Case<'_>> = vec![
            (
                "succeeded: the merchant's payable pays the provider's receivable",
                vec![
                    step(R::Pending, None, 1),
                    step(R::Pending, Some(R::Pending), 2),
                    step(R::Succeeded, Some(R::Pending), 3),
                ],
                vec![
                    ("merchant:m_1:payable", 400),
                    ("provider:razorsim:receivable", -400),
                ],
            ),
            (
                "failed: the reserve is released",
                vec![
                    step(R::Pending, None, 1),
                    step(R::Failed, Some(R::Pending), 2),
                ],
                vec![],
            ),
            (
                "approval rejected: released",
                vec![
                    step(R::PendingApproval, None, 1),
                    step(R::Rejected, Some(R::PendingApproval), 2),
                ],
                vec![],
            ),
            (
                "approved then succeeded",
                vec![
                    step(R::PendingApproval, None, 1),
                    step(R::Pending, Some(R::PendingApproval), 2),
                    step(R::Succeeded, Some(R::Pending), 3),
                ],
                vec![
                    ("merchant:m_1:payable", 400),
                    ("provider:razorsim:receivable", -400),
                ],
            ),
            (
                "refused up front: nothing",
                vec![step(R::Failed, None, 1)],
                vec![],
            ),
        ];
        for (name, events, want) in cases {
            let want: BTreeMap<String, i64> =
                want.into_iter().map(|(a, v)| (a.to_owned(), v)).collect();
            assert_eq!(balances(&events), want, "{name}");
            let pending_only = balances(&events[..1]);
            assert_eq!(
                pending_only.values().sum::<i64>(),
                0,
                "{name}: every entry balances"
            );
        }
    }
}
