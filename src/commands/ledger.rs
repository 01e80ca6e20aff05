//! `paystream ledger audit`: re-sums the whole ledger from the store, reports whether it balances,
//! and compares every merchant's balance with the ledger's accounts.

use super::CommandError;
use crate::config::Config;
use crate::store::balance_check::{against_ledger, BalanceCheck};
use crate::store::ledger::{audit as run_audit, AuditReport};
use crate::store::Store;
use std::time::{Duration, Instant};

/// How long balances may trail the ledger before a difference counts: the balances processor
/// applies the ledger's movements a transaction after the ledger posts them.
const SETTLE_MS: u64 = 10_000;
const SETTLE_POLL_MS: u64 = 500;

/// The ledger's audit and the balances held against it.
#[derive(Debug, Clone)]
pub struct LedgerAudit {
    pub ledger: AuditReport,
    pub balances: BalanceCheck,
}

impl LedgerAudit {
    pub fn is_ok(&self) -> bool {
        self.ledger.is_balanced() && self.balances.is_ok()
    }

    pub fn render(&self) -> String {
        format!("{}\n{}", self.ledger.render(), self.balances.render())
    }
}

/// Audits the ledger and the balances; a difference between them is re-read for up to
/// [`SETTLE_MS`] before it is reported (a live pipeline's balance trails its ledger briefly).
pub async fn audit(config: &Config) -> Result<LedgerAudit, CommandError> {
    let store = Store::open(&config.store).await?;
    let started = Instant::now();
    loop {
        let ledger = run_audit(&store).await?;
        let balances = against_ledger(&store, &ledger).await?;
        let audit = LedgerAudit { ledger, balances };
        if audit.balances.is_ok() || started.elapsed() >= Duration::from_millis(SETTLE_MS) {
            return Ok(audit);
        }
        tokio::time::sleep(Duration::from_millis(SETTLE_POLL_MS)).await;
    }
}
