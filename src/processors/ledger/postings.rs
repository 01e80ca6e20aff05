//! Double-entry postings for payment transitions.
//!
//! Accounts (all in the payment's currency):
//! - `holds:provider:<connector>` / `holds:merchant:<merchant>`: memo pair for authorized, uncaptured
//!   funds (an authorization moves no money yet, but the books must show it);
//! - `provider:<connector>:receivable`: what the provider owes us for captured payments;
//! - `merchant:<merchant>:payable`: what we owe the merchant;
//! - `fees:provider:<connector>`: provider fees, charged against the merchant's payable.
//!
//! Movements: an authorization (manual capture) posts `AUTHORIZATION_HOLD`; a capture posts `CAPTURE`
//! for the captured amount and, when a hold exists, `HOLD_RELEASE` for the whole hold; a void or an
//! expired authorization posts `HOLD_RELEASE`. Entry ids are `<cause event id>:<movement>`, so a replayed
//! event posts the same entries (the store keys them by id) and nothing twice.
//!
//! Every entry is checked by [`check_balanced`] before it is written: at least two postings, every
//! amount positive, one currency, debits equal to credits, all with checked arithmetic.

use crate::contract::ledger_account::Account;
use crate::domain::{Currency, MinorUnits};
use crate::events::journal_entry::{Direction, JournalEntry, Movement, Posting};
use crate::events::payment_event::{AttemptStatus, IntentStatus, PaymentEvent};
use crate::events::TimestampMillis;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("entry {entry}: {problem}")]
    Unbalanced { entry: String, problem: String },
}

fn unbalanced(entry: &str, problem: impl Into<String>) -> LedgerError {
    LedgerError::Unbalanced {
        entry: entry.to_owned(),
        problem: problem.into(),
    }
}

/// Checks the double-entry invariant of one entry.
pub fn check_balanced(e: &JournalEntry) -> Result<(), LedgerError> {
    Currency::from_code(&e.currency).map_err(|err| unbalanced(&e.entry_id, err.to_string()))?;
    if e.postings.len() < 2 {
        return Err(unbalanced(
            &e.entry_id,
            format!(
                "{} posting(s); double entry needs at least two",
                e.postings.len()
            ),
        ));
    }
    let (mut debits, mut credits) = (MinorUnits::ZERO, MinorUnits::ZERO);
    for p in &e.postings {
        if p.amount_minor <= 0 {
            return Err(unbalanced(
                &e.entry_id,
                format!(
                    "posting to {} has non-positive amount {}",
                    p.account, p.amount_minor
                ),
            ));
        }
        let side = match p.direction {
            Direction::Debit => &mut debits,
            Direction::Credit => &mut credits,
        };
        *side = side
            .checked_add(MinorUnits::new(p.amount_minor))
            .map_err(|err| unbalanced(&e.entry_id, err.to_string()))?;
    }
    if debits != credits {
        return Err(unbalanced(
            &e.entry_id,
            format!(
                "debits {} != credits {} {}",
                debits.get(),
                credits.get(),
                e.currency
            ),
        ));
    }
    Ok(())
}

/// The event an entry records: its id (the entry's id is `<cause_id>:<movement>`), whose books and
/// which payment.
pub struct Source<'a> {
    pub cause_id: &'a str,
    pub merchant_id: &'a str,
    pub payment_id: &'a str,
    pub currency: &'a str,
    pub at: TimestampMillis,
}

impl<'a> Source<'a> {
    fn of(event: &'a PaymentEvent) -> Self {
        Self {
            cause_id: &event.event_id,
            merchant_id: &event.merchant_id,
            payment_id: &event.payment_id,
            currency: &event.currency,
            at: event.occurred_at,
        }
    }
}

/// A two-posting entry moving `amount` from `credit` to `debit`.
pub fn entry(
    src: &Source<'_>,
    movement: Movement,
    amount: i64,
    debit: String,
    credit: String,
) -> JournalEntry {
    let tag = match movement {
        Movement::AuthorizationHold => "hold",
        Movement::HoldRelease => "release",
        Movement::Capture => "capture",
        Movement::ProviderFee => "fee",
        Movement::Refund => "refund",
        Movement::Payout => "payout",
        Movement::PayoutReversal => "payout_reversal",
        Movement::Settlement => "settlement",
        Movement::Adjustment => "adjustment",
        Movement::RefundReserve => "refund_reserve",
        Movement::RefundRelease => "refund_release",
        Movement::PayoutReserve => "payout_reserve",
        Movement::PayoutRelease => "payout_release",
    };
    JournalEntry {
        entry_id: format!("{}:{tag}", src.cause_id),
        merchant_id: src.merchant_id.to_owned(),
        payment_id: Some(src.payment_id.to_owned()),
        movement,
        currency: src.currency.to_owned(),
        postings: vec![
            Posting {
                account: debit,
                direction: Direction::Debit,
                amount_minor: amount,
            },
            Posting {
                account: credit,
                direction: Direction::Credit,
                amount_minor: amount,
            },
        ],
        cause_id: src.cause_id.to_owned(),
        posted_at: src.at,
    }
}

/// The entries one payment transition posts, each already checked. `held_minor` is the amount on hold
/// before the transition (0 when nothing was authorized and uncaptured).
pub fn for_transition(
    event: &PaymentEvent,
    held_minor: i64,
) -> Result<Vec<JournalEntry>, LedgerError> {
    let connector = event.connector.as_deref().unwrap_or("unknown");
    let (hold_provider, hold_merchant) = (
        Account::HoldsProvider(connector).name(),
        Account::HoldsMerchant(&event.merchant_id).name(),
    );
    let src = Source::of(event);
    let release = |amount: i64| {
        entry(
            &src,
            Movement::HoldRelease,
            amount,
            hold_merchant.clone(),
            hold_provider.clone(),
        )
    };
    let mut out = Vec::new();
    match (event.status, event.attempt_status) {
        // Only the authorization itself holds: a capture the provider declined returns to
        // requires_capture with the hold already in place.
        (IntentStatus::RequiresCapture, Some(AttemptStatus::Authorized))
            if event.previous_status != Some(IntentStatus::RequiresCapture) =>
        {
            out.push(entry(
                &src,
                Movement::AuthorizationHold,
                event.amount_minor,
                hold_provider.clone(),
                hold_merchant.clone(),
            ));
        }
        (IntentStatus::Succeeded, Some(AttemptStatus::Captured)) => {
            out.push(entry(
                &src,
                Movement::Capture,
                event.amount_captured_minor,
                Account::ProviderReceivable(connector).name(),
                Account::MerchantPayable(&event.merchant_id).name(),
            ));
            if held_minor > 0 {
                out.push(release(held_minor));
            }
        }
        (IntentStatus::Canceled | IntentStatus::Expired, Some(AttemptStatus::Voided))
            if held_minor > 0 =>
        {
            out.push(release(held_minor))
        }
        _ => {}
    }
    for e in &out {
        check_balanced(e)?;
    }
    Ok(out)
}

/// A provider fee for a captured payment: charged to the merchant, owed against the receivable.
pub fn provider_fee(event: &PaymentEvent, fee_minor: i64) -> Result<JournalEntry, LedgerError> {
    let connector = event.connector.as_deref().unwrap_or("unknown");
    let e = entry(
        &Source::of(event),
        Movement::ProviderFee,
        fee_minor,
        Account::MerchantPayable(&event.merchant_id).name(),
        Account::ProviderFees(connector).name(),
    );
    check_balanced(&e)?;
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::samples;
    use std::collections::BTreeMap;

    fn event(
        status: IntentStatus,
        attempt: Option<AttemptStatus>,
        amount: i64,
        captured: i64,
    ) -> PaymentEvent {
        PaymentEvent {
            status,
            attempt_status: attempt,
            amount_minor: amount,
            amount_captured_minor: captured,
            ..samples::payment_event()
        }
    }

    /// Sum of every account over a sequence of entries (debit positive).
    fn balances(entries: &[JournalEntry]) -> BTreeMap<String, i64> {
        let mut b = BTreeMap::new();
        for e in entries {
            for p in &e.postings {
                let signed = match p.direction {
                    Direction::Debit => p.amount_minor,
                    Direction::Credit => -p.amount_minor,
                };
                *b.entry(p.account.clone()).or_insert(0) += signed;
            }
        }
        b.retain(|_, v| *v != 0);
        b
    }

    #[test]
    fn lifecycle_postings_balance_and_clear_holds() {
        use AttemptStatus as A;
        use IntentStatus as I;
        /// (name, (event, amount held before it) steps, expected non-zero account balances)
        type Case<'a> = (&'a str, Vec<(PaymentEvent, i64)>, Vec<(&'a str, i64)>);
        let cases: Vec<Case> = vec![
            (
                "auto capture",
                vec![(event(I::Succeeded, Some(A::Captured), 125_050, 125_050), 0)],
                vec![
                    ("merchant:m_1:payable", -125_050),
                    ("provider:razorsim:receivable", 125_050),
                ],
            ),
            (
                "partial capture releases the whole hold",
                vec![
                    (event(I::RequiresCapture, Some(A::Authorized), 10_000, 0), 0),
                    (
                        event(I::Succeeded, Some(A::Captured), 10_000, 4_000),
                        10_000,
                    ),
                ],
                vec![
                    ("merchant:m_1:payable", -4_000),
                    ("provider:razorsim:receivable", 4_000),
                ],
            ),
            (
                "void releases the hold",
                vec![
                    (event(I::RequiresCapture, Some(A::Authorized), 10_000, 0), 0),
                    (event(I::Canceled, Some(A::Voided), 10_000, 0), 10_000),
                ],
                vec![],
            ),
            (
                "decline posts nothing",
                vec![(event(I::Failed, Some(A::Declined), 10_000, 0), 0)],
                vec![],
            ),
        ];
        for (name, steps, want) in cases {
            let mut entries = Vec::new();
            for (i, (mut e, held)) in steps.into_iter().enumerate() {
                e.event_id = format!("evt_{i}");
                entries.extend(for_transition(&e, held).unwrap());
            }
            let want: BTreeMap<String, i64> =
                want.into_iter().map(|(a, v)| (a.to_owned(), v)).collect();
            assert_eq!(balances(&entries), want, "{name}");
            assert_eq!(
                balances(&entries).values().sum::<i64>(),
                0,
                "{name}: the books balance"
            );
        }
    }

    #[test]
    fn replayed_events_post_the_same_entry_ids() {
        let e = event(
            IntentStatus::Succeeded,
            Some(AttemptStatus::Captured),
            500,
            500,
        );
        assert_eq!(
            for_transition(&e, 500).unwrap(),
            for_transition(&e, 500).unwrap()
        );
        let ids: Vec<String> = for_transition(&e, 500)
            .unwrap()
            .into_iter()
            .map(|x| x.entry_id)
            .collect();
        assert_eq!(ids, vec!["evt_1:capture", "evt_1:release"]);
    }

    #[test]
    fn unbalanced_entries_are_refused() {
        let good = provider_fee(
            &event(
                IntentStatus::Succeeded,
                Some(AttemptStatus::Captured),
                500,
                500,
            ),
            25,
        )
        .unwrap();
        let mut cases: Vec<(&str, JournalEntry, &str)> = Vec::new();
        let mut e = good.clone();
        e.postings[0].amount_minor = 26;
        cases.push(("debits != credits", e, "debits 26 != credits 25"));
        let mut e = good.clone();
        e.postings.truncate(1);
        cases.push(("single posting", e, "at least two"));
        let mut e = good.clone();
        e.postings[0].amount_minor = -25;
        e.postings[1].amount_minor = -25;
        cases.push(("negative", e, "non-positive"));
        let mut e = good.clone();
        e.postings[0].amount_minor = i64::MAX;
        e.postings.push(e.postings[0].clone());
        cases.push(("overflow", e, "overflows"));
        let mut e = good;
        e.currency = "XYZ".into();
        cases.push(("currency", e, "ISO 4217"));
        for (name, entry, want) in cases {
            let err = check_balanced(&entry).unwrap_err().to_string();
            assert!(err.contains(want), "{name}: {err}");
        }
        assert!(
            provider_fee(&event(IntentStatus::Succeeded, None, 1, 1), 0).is_err(),
            "a zero fee is not an entry"
        );
    }

    proptest::proptest! {
        /// Whatever the transition, its amounts and the hold before it: every entry balances on its own,
        /// and a capture never posts more to the receivable than was captured.
        #[test]
        fn every_entry_of_any_transition_balances(
            status in 0usize..8,
            attempt in 0usize..9,
            amount in 1i64..1_000_000_000,
            captured_share in 0i64..=100,
            held in 0i64..1_000_000_000,
            fee in proptest::option::of(0i64..10_000),
        ) {
            use AttemptStatus as A;
            use IntentStatus as I;
            let statuses = [I::RequiresPaymentMethod, I::RequiresConfirmation, I::Processing,
                I::RequiresCapture, I::Succeeded, I::Failed, I::Canceled, I::Expired];
            let attempts = [None, Some(A::Started), Some(A::Authorized), Some(A::Declined),
                Some(A::Pending), Some(A::Unknown), Some(A::Captured), Some(A::Voided), Some(A::Failed)];
            let captured = amount / 100 * captured_share;
            let mut e = event(statuses[status], attempts[attempt], amount, captured);
            e.provider_fee_minor = fee;
            let entries = match for_transition(&e, held) {
                Ok(entries) => entries,
                // A capture of nothing is refused (the ledger dead-letters the event), never
                // posted as an entry that does not balance; nothing else may be refused.
                Err(err) => {
                    proptest::prop_assert!(captured == 0, "{}", err);
                    return Ok(());
                }
            };
            let mut receivable = 0;
            for entry in &entries {
                proptest::prop_assert!(check_balanced(entry).is_ok(), "{:?}", entry);
            }
            for (account, b) in balances(&entries) {
                if account.ends_with(":receivable") {
                    receivable += b;
                }
            }
            proptest::prop_assert!(receivable <= captured, "receivable {} above captured {}", receivable, captured);
        }
    }
}
