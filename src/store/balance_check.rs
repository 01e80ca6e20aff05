//! Every merchant's balance against the ledger. The balances processor keeps each merchant's
//! `available` and `reserved` from the ledger's movements and the payouts' commands; the ledger keeps
//! the same money as accounts. They must agree: `available` is what the ledger owes the merchant
//! (`merchant:<m>:payable`, credit-normal), `reserved` what payout movements hold on
//! `merchant:<m>:reserved`. A balance that says more than the ledger would authorise payouts of money
//! the deployment never held.

use super::ledger::AuditReport;
use super::{Store, StoreError};
use crate::contract::ledger_account::Account;
use futures::TryStreamExt;
use std::collections::{BTreeMap, BTreeSet};

/// One merchant and currency where the two disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceMismatch {
    pub merchant: String,
    pub currency: String,
    /// (balance, ledger)
    pub available: (i64, i64),
    pub reserved: (i64, i64),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BalanceCheck {
    /// (merchant, currency) pairs compared.
    pub compared: usize,
    pub mismatches: Vec<BalanceMismatch>,
}

impl BalanceCheck {
    pub fn is_ok(&self) -> bool {
        self.mismatches.is_empty()
    }

    pub fn render(&self) -> String {
        let mut s = format!(
            "balances against the ledger: {} merchant balance(s) compared",
            self.compared
        );
        for m in &self.mismatches {
            s.push_str(&format!(
                "\n  MISMATCH {} {}: balance available {} but ledger payable {}; balance reserved {} but ledger payout reserve {}",
                m.merchant, m.currency, m.available.0, m.available.1, m.reserved.0, m.reserved.1
            ));
        }
        s.push_str(if self.is_ok() {
            "\nresult: every balance equals its ledger"
        } else {
            "\nresult: BALANCES DIFFER FROM THE LEDGER"
        });
        s
    }
}

/// (merchant, currency) → (available, reserved), as the ledger says.
fn ledger_side(report: &AuditReport) -> BTreeMap<(String, String), (i64, i64)> {
    let mut out: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    for ((account, currency), balance) in &report.balances {
        if let Some(Account::MerchantPayable(m)) = Account::parse(account) {
            // Payable is credit-normal: the audit's debits minus credits is minus what is owed.
            out.entry((m.to_owned(), currency.clone())).or_default().0 =
                balance.checked_neg().unwrap_or(i64::MAX);
        }
    }
    for (at, held) in &report.payout_reserved {
        // Reserved is credit-normal too.
        out.entry(at.clone()).or_default().1 = held.checked_neg().unwrap_or(i64::MAX);
    }
    out
}

/// Compares every balance row with the ledger `report` was summed from.
pub async fn against_ledger(
    store: &Store,
    report: &AuditReport,
) -> Result<BalanceCheck, StoreError> {
    let q = StoreError::query("scan merchant_balances");
    let mut rows = store
        .session()
        .query_iter(
            format!(
                "SELECT merchant_id, currency, available_minor, reserved_minor FROM {}",
                store.table("merchant_balances")
            ),
            (),
        )
        .await
        .map_err(|e| q(&e))?
        .rows_stream::<(String, String, Option<i64>, Option<i64>)>()
        .map_err(|e| q(&e))?;
    let mut balances = BTreeMap::new();
    while let Some((merchant, currency, available, reserved)) =
        rows.try_next().await.map_err(|e| q(&e))?
    {
        balances.insert(
            (merchant, currency),
            (available.unwrap_or(0), reserved.unwrap_or(0)),
        );
    }
    Ok(compare(&balances, &ledger_side(report)))
}

fn compare(
    balances: &BTreeMap<(String, String), (i64, i64)>,
    ledger: &BTreeMap<(String, String), (i64, i64)>,
) -> BalanceCheck {
    let keys: BTreeSet<&(String, String)> = balances.keys().chain(ledger.keys()).collect();
    let mut check = BalanceCheck {
        compared: keys.len(),
        ..BalanceCheck::default()
    };
    for key in keys {
        let b = balances.get(key).copied().unwrap_or_default();
        let l = ledger.get(key).copied().unwrap_or_default();
        if b != l {
            check.mismatches.push(BalanceMismatch {
                merchant: key.0.clone(),
                currency: key.1.clone(),
                available: (b.0, l.0),
                reserved: (b.1, l.1),
            });
        }
    }
    check
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(m: &str) -> (String, String) {
        (m.to_owned(), "INR".to_owned())
    }

    #[test]
    fn the_ledger_side_flips_credit_normal_accounts() {
        let mut r = AuditReport::default();
        r.balances
            .insert(("merchant:m1:payable".into(), "INR".into()), -6_048_541);
        r.balances
            .insert(("merchant:m1:reserved".into(), "INR".into()), -900);
        r.balances
            .insert(("provider:acme:receivable".into(), "INR".into()), 7_000);
        r.payout_reserved.insert(at("m1"), -500);
        let l = ledger_side(&r);
        assert_eq!(l, BTreeMap::from([(at("m1"), (6_048_541, 500))]));
    }

    #[test]
    fn every_difference_is_reported_with_both_figures() {
        let balances = BTreeMap::from([
            (at("same"), (100, 0)),
            (at("shared"), (851_768_143, 0)),
            (at("no_ledger"), (5, 0)),
        ]);
        let ledger = BTreeMap::from([
            (at("same"), (100, 0)),
            (at("shared"), (6_048_541, 0)),
            (at("no_balance"), (0, 7)),
        ]);
        let c = compare(&balances, &ledger);
        assert_eq!(c.compared, 4);
        type Row<'a> = (&'a str, (i64, i64), (i64, i64));
        let by: Vec<Row<'_>> = c
            .mismatches
            .iter()
            .map(|m| (m.merchant.as_str(), m.available, m.reserved))
            .collect();
        assert_eq!(
            by,
            [
                ("no_balance", (0, 0), (0, 7)),
                ("no_ledger", (5, 0), (0, 0)),
                ("shared", (851_768_143, 6_048_541), (0, 0)),
            ]
        );
        assert!(!c.is_ok());
        assert!(c
            .render()
            .contains("balance available 851768143 but ledger payable 6048541"));
        let ok = compare(
            &BTreeMap::from([(at("a"), (1, 2))]),
            &BTreeMap::from([(at("a"), (1, 2))]),
        );
        assert!(ok.is_ok(), "{}", ok.render());
    }
}
