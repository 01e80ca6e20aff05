//! Double-entry postings for payout transitions.
//!
//! Accounts, besides those of `postings` and `refunds`: `provider:<connector>:payouts`, what the
//! payout provider paid out for us (settled against our pre-funded account with it).
//!
//! Movements: a payout whose amount the balance reserved (its move to processing) posts
//! `PAYOUT_RESERVE` (the merchant's payable to reserved); a processed payout posts `PAYOUT` (reserved
//! to the provider's payouts account); a processing payout that fails posts `PAYOUT_RELEASE`
//! (reserved back to payable); a processed payout the bank reversed posts `PAYOUT_REVERSAL` (the
//! provider's account back to payable): the compensating entry. Entry ids derive from the payout
//! event's id, so a replay posts nothing twice.

use super::postings::{check_balanced, entry, LedgerError, Source};
use crate::contract::ledger_account::Account;
use crate::events::journal_entry::{JournalEntry, Movement};
use crate::events::payout::{PayoutEvent, PayoutStatus};

pub fn for_payout(e: &PayoutEvent) -> Result<Vec<JournalEntry>, LedgerError> {
    use PayoutStatus as S;
    let src = Source {
        cause_id: &e.event_id,
        merchant_id: &e.merchant_id,
        payment_id: &e.payout_id,
        currency: &e.currency,
        at: e.occurred_at,
    };
    let payable = Account::MerchantPayable(&e.merchant_id).name();
    let reserved = Account::MerchantReserved(&e.merchant_id).name();
    let provider = Account::ProviderPayouts(e.connector.as_deref().unwrap_or("unknown")).name();
    let funded =
        e.status == S::Processing && matches!(e.previous_status, Some(S::Requested | S::Queued));
    let mut out = Vec::new();
    match (e.previous_status, e.status) {
        _ if funded => out.push(entry(
            &src,
            Movement::PayoutReserve,
            e.amount_minor,
            payable,
            reserved,
        )),
        (Some(S::Processing), S::Succeeded) => out.push(entry(
            &src,
            Movement::Payout,
            e.amount_minor,
            reserved,
            provider,
        )),
        (Some(S::Processing), S::Failed) => out.push(entry(
            &src,
            Movement::PayoutRelease,
            e.amount_minor,
            reserved,
            payable,
        )),
        (Some(S::Succeeded), S::Reversed) => out.push(entry(
            &src,
            Movement::PayoutReversal,
            e.amount_minor,
            provider,
            payable,
        )),
        _ => {}
    }
    for x in &out {
        check_balanced(x)?;
    }
    Ok(out)
}

/// Whether an entry changes what the merchant's balance tracks itself: payout movements are applied
/// by the balances processor when it decides them, so only the others are passed to it.
pub fn moves_balance(e: &JournalEntry) -> bool {
    let payable = Account::MerchantPayable(&e.merchant_id).name();
    let payout = matches!(
        e.movement,
        Movement::PayoutReserve
            | Movement::PayoutRelease
            | Movement::Payout
            | Movement::PayoutReversal
    );
    !payout && e.postings.iter().any(|p| p.account == payable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::journal_entry::Direction;
    use crate::events::samples;
    use std::collections::BTreeMap;

    fn step(status: PayoutStatus, previous: Option<PayoutStatus>, seq: i64) -> PayoutEvent {
        PayoutEvent {
            event_id: format!("po_1:{seq}"),
            status,
            previous_status: previous,
            amount_minor: 700,
            ..samples::payout_event()
        }
    }

    fn balances(events: &[PayoutEvent]) -> BTreeMap<String, i64> {
        let mut b = BTreeMap::new();
        for e in events {
            for x in for_payout(e).unwrap() {
                assert!(!moves_balance(&x), "payout movements are the balance's own");
                for p in x.postings {
                    let v = if p.direction == Direction::Debit {
                        p.amount_minor
                    } else {
                        -p.amount_minor
                    };
                    *b.entry(p.account).or_insert(0) += v;
                }
            }
        }
        b.retain(|_, v| *v != 0);
        b
    }

    #[test]
    fn payout_lifecycles_post_balanced_entries() {
        use PayoutStatus as S;
        type Case<'a> = (&'a str, Vec<PayoutEvent>, Vec<(&'a str, i64)>);
        let cases: Vec<Case<'_>> = vec![
            (
                "processed",
                vec![
                    step(S::Requested, None, 1),
                    step(S::Processing, Some(S::Requested), 2),
                    step(S::Succeeded, Some(S::Processing), 3),
                ],
                vec![
                    ("merchant:m_1:payable", 700),
                    ("provider:cashsim:payouts", -700),
                ],
            ),
            (
                "failed: released",
                vec![
                    step(S::Requested, None, 1),
                    step(S::Processing, Some(S::Requested), 2),
                    step(S::Failed, Some(S::Processing), 3),
                ],
                vec![],
            ),
            (
                "reversed: compensated",
                vec![
                    step(S::Requested, None, 1),
                    step(S::Processing, Some(S::Requested), 2),
                    step(S::Succeeded, Some(S::Processing), 3),
                    step(S::Reversed, Some(S::Succeeded), 4),
                ],
                vec![],
            ),
            (
                "queued then funded",
                vec![
                    step(S::Queued, Some(S::Requested), 2),
                    step(S::Processing, Some(S::Queued), 3),
                    step(S::Succeeded, Some(S::Processing), 4),
                ],
                vec![
                    ("merchant:m_1:payable", 700),
                    ("provider:cashsim:payouts", -700),
                ],
            ),
            (
                "rejected: nothing",
                vec![step(S::Rejected, None, 1)],
                vec![],
            ),
            (
                "pending at the bank: nothing more",
                vec![step(S::Processing, Some(S::Processing), 3)],
                vec![],
            ),
        ];
        for (name, events, want) in cases {
            let want: BTreeMap<String, i64> =
                want.into_iter().map(|(a, v)| (a.to_owned(), v)).collect();
            assert_eq!(balances(&events), want, "{name}");
        }
        let capture = samples::journal_entry();
        assert_eq!(
            moves_balance(&capture),
            capture
                .postings
                .iter()
                .any(|p| p.account == Account::MerchantPayable(&capture.merchant_id).name())
        );
    }
}
