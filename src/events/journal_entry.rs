//! `io.paystream.ledger.JournalEntry` (schemas/journal_entry.avsc).

use super::TimestampMillis;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    pub entry_id: String,
    pub merchant_id: String,
    pub payment_id: Option<String>,
    pub movement: Movement,
    pub currency: String,
    pub postings: Vec<Posting>,
    pub cause_id: String,
    pub posted_at: TimestampMillis,
}

impl crate::events::Event for JournalEntry {
    const FULL_NAME: &'static str = "io.paystream.ledger.JournalEntry";
    /// Entries without a payment (adjustments) are keyed by the entry itself.
    fn key(&self) -> &str {
        self.payment_id.as_deref().unwrap_or(&self.entry_id)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Movement {
    AuthorizationHold,
    HoldRelease,
    Capture,
    ProviderFee,
    Refund,
    Payout,
    PayoutReversal,
    Settlement,
    Adjustment,
    RefundReserve,
    RefundRelease,
    PayoutReserve,
    PayoutRelease,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Posting {
    pub account: String,
    pub direction: Direction,
    pub amount_minor: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Direction {
    Debit,
    Credit,
}
