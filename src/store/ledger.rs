//! Reading the ledger back: the audit re-sums every posting and checks the double-entry invariant
//! again, independently of the check made before each write.

use super::{Store, StoreError};
use crate::contract::ledger_account::Account;
use futures::TryStreamExt;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AuditReport {
    pub entries: usize,
    pub postings: usize,
    /// (entry id, problem) for every entry that does not balance or is incomplete.
    pub problems: Vec<(String, String)>,
    /// Per currency: (total debits, total credits).
    pub totals: BTreeMap<String, (i64, i64)>,
    /// Per (account, currency): debits minus credits.
    pub balances: BTreeMap<(String, String), i64>,
    /// Per (merchant, currency): what payout movements left on the merchant's reserved account
    /// (debits minus credits), the part of it the merchant's balance tracks as `reserved`; refunds
    /// hold the rest.
    pub payout_reserved: BTreeMap<(String, String), i64>,
}

impl AuditReport {
    pub fn is_balanced(&self) -> bool {
        self.problems.is_empty() && self.totals.values().all(|(d, c)| d == c)
    }

    pub fn render(&self) -> String {
        let mut s = format!(
            "ledger audit: {} entries, {} postings\n",
            self.entries, self.postings
        );
        for (cur, (d, c)) in &self.totals {
            s.push_str(&format!(
                "  {cur}: debits {d}, credits {c}{}\n",
                if d == c { "" } else { "  UNBALANCED" }
            ));
        }
        for ((account, cur), b) in &self.balances {
            s.push_str(&format!("  {account:<44} {b:>16} {cur}\n"));
        }
        for (entry, problem) in &self.problems {
            s.push_str(&format!("  PROBLEM {entry}: {problem}\n"));
        }
        s.push_str(if self.is_balanced() {
            "result: balanced"
        } else {
            "result: NOT BALANCED"
        });
        s
    }
}

#[derive(Default)]
struct EntrySums {
    debits: i64,
    credits: i64,
    postings: i32,
    currencies: Vec<String>,
    /// Debits minus credits on merchants' reserved accounts: (merchant, currency) → amount.
    reserved: Vec<((String, String), i64)>,
}

fn add(x: i64, y: i64, what: &str) -> Result<i64, StoreError> {
    x.checked_add(y)
        .ok_or_else(|| StoreError::Invariant(format!("{what} overflows 64-bit minor units")))
}

pub async fn audit(store: &Store) -> Result<AuditReport, StoreError> {
    let mut report = AuditReport::default();
    let mut per_entry = sum_postings(store, &mut report).await?;
    check_entries(store, &mut per_entry, &mut report).await?;
    for (entry, _) in per_entry {
        report
            .problems
            .push((entry, "postings without an entry".into()));
    }
    report.balances.retain(|_, b| *b != 0);
    report.payout_reserved.retain(|_, b| *b != 0);
    report.problems.sort();
    Ok(report)
}

/// Every posting, summed per entry, per currency and per account.
async fn sum_postings(
    store: &Store,
    report: &mut AuditReport,
) -> Result<HashMap<String, EntrySums>, StoreError> {
    let q = StoreError::query;
    let mut per_entry: HashMap<String, EntrySums> = HashMap::new();
    let mut rows = store
        .session()
        .query_iter(
            format!(
                "SELECT entry_id, account, direction, amount_minor, currency FROM {}",
                store.table("journal_postings")
            ),
            (),
        )
        .await
        .map_err(|e| q("scan journal_postings")(&e))?
        .rows_stream::<(String, String, String, i64, String)>()
        .map_err(|e| q("scan journal_postings")(&e))?;
    while let Some((entry, account, direction, amount, currency)) = rows
        .try_next()
        .await
        .map_err(|e| q("scan journal_postings")(&e))?
    {
        report.postings += 1;
        let sums = per_entry.entry(entry.clone()).or_default();
        sums.postings += 1;
        if !sums.currencies.contains(&currency) {
            sums.currencies.push(currency.clone());
        }
        let signed = match direction.as_str() {
            "CREDIT" => amount.checked_neg().unwrap_or(i64::MIN),
            _ => amount,
        };
        if let Some(Account::MerchantReserved(merchant)) = Account::parse(&account) {
            sums.reserved
                .push(((merchant.to_owned(), currency.clone()), signed));
        }
        let total = report.totals.entry(currency.clone()).or_insert((0, 0));
        let balance = report.balances.entry((account, currency)).or_insert(0);
        match direction.as_str() {
            "DEBIT" => {
                sums.debits = add(sums.debits, amount, "entry debits")?;
                total.0 = add(total.0, amount, "total debits")?;
                *balance = add(*balance, amount, "account balance")?;
            }
            "CREDIT" => {
                sums.credits = add(sums.credits, amount, "entry credits")?;
                total.1 = add(total.1, amount, "total credits")?;
                *balance = add(*balance, -amount, "account balance")?;
            }
            other => report
                .problems
                .push((entry, format!("posting direction '{other}'"))),
        }
    }
    Ok(per_entry)
}

/// Every entry against its postings: the count it declares, one currency, debits equal credits.
/// The entries' sums are taken out of `per_entry`; what is left has no entry.
async fn check_entries(
    store: &Store,
    per_entry: &mut HashMap<String, EntrySums>,
    report: &mut AuditReport,
) -> Result<(), StoreError> {
    let q = StoreError::query;
    let mut entries = store
        .session()
        .query_iter(
            format!(
                "SELECT entry_id, postings, movement FROM {}",
                store.table("journal_entries")
            ),
            (),
        )
        .await
        .map_err(|e| q("scan journal_entries")(&e))?
        .rows_stream::<(String, i32, Option<String>)>()
        .map_err(|e| q("scan journal_entries")(&e))?;
    while let Some((entry, expected, movement)) = entries
        .try_next()
        .await
        .map_err(|e| q("scan journal_entries")(&e))?
    {
        report.entries += 1;
        let Some(s) = per_entry.remove(&entry) else {
            let problem = format!("entry has no postings (expected {expected})");
            report.problems.push((entry, problem));
            continue;
        };
        if s.postings != expected {
            let problem = format!("{} postings stored, {expected} expected", s.postings);
            report.problems.push((entry.clone(), problem));
        }
        if s.currencies.len() != 1 {
            let problem = format!("postings in {} currencies", s.currencies.len());
            report.problems.push((entry.clone(), problem));
        }
        if movement.as_deref().is_some_and(|m| m.starts_with("PAYOUT")) {
            for (at, delta) in &s.reserved {
                let held = report.payout_reserved.entry(at.clone()).or_insert(0);
                *held = add(*held, *delta, "payout reserve")?;
            }
        }
        if s.debits != s.credits {
            let problem = format!("debits {} != credits {}", s.debits, s.credits);
            report.problems.push((entry, problem));
        }
    }
    Ok(())
}
