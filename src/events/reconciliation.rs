//! Reconciliation: `SettlementLine` and `ReconciliationResult`
//! (schemas/settlement_line.avsc, reconciliation_result.avsc).

use super::TimestampMillis;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementLine {
    pub line_id: String,
    pub settlement_id: String,
    pub connector: String,
    pub provider_reference: String,
    pub payment_id: Option<String>,
    pub kind: SettlementKind,
    pub gross_minor: i64,
    pub fee_minor: i64,
    pub net_minor: i64,
    pub currency: String,
    pub settled_at: TimestampMillis,
}

impl crate::events::Event for SettlementLine {
    const FULL_NAME: &'static str = "io.paystream.reconciliation.SettlementLine";
    /// Keyed by the provider's transaction id: the payment id is only known when the provider echoes it.
    fn key(&self) -> &str {
        &self.provider_reference
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SettlementKind {
    Payment,
    Refund,
    Payout,
    Fee,
    Chargeback,
    Adjustment,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconciliationResult {
    pub result_id: String,
    pub line_id: Option<String>,
    pub payment_id: Option<String>,
    pub connector: String,
    pub status: ReconciliationStatus,
    pub expected_minor: Option<i64>,
    pub actual_minor: Option<i64>,
    pub currency: String,
    pub detail: String,
    pub reconciled_at: TimestampMillis,
}

impl crate::events::Event for ReconciliationResult {
    const FULL_NAME: &'static str = "io.paystream.reconciliation.ReconciliationResult";
    fn key(&self) -> &str {
        self.payment_id.as_deref().unwrap_or(&self.result_id)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReconciliationStatus {
    Matched,
    AmountMismatch,
    CurrencyMismatch,
    StatusMismatch,
    MissingInLedger,
    MissingInSettlement,
    DuplicateSettlement,
}
