//! `paystream ledger audit`: re-sums the whole ledger from the store and reports whether it balances.

use super::CommandError;
use crate::config::Config;
use crate::store::ledger::{audit as run_audit, AuditReport};
use crate::store::Store;

pub async fn audit(config: &Config) -> Result<AuditReport, CommandError> {
    let store = Store::open(&config.store).await?;
    Ok(run_audit(&store).await?)
}
