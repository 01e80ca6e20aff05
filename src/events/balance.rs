//! A merchant's balance: `BalanceCommand` and `FundingDecision` (schemas/balance_command.avsc,
//! funding_decision.avsc).

use super::{impl_event, TimestampMillis};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceCommand {
    pub command_id: String,
    pub merchant_id: String,
    pub payout_id: String,
    pub kind: BalanceCommandKind,
    pub amount_minor: i64,
    pub currency: String,
    pub queue_until: Option<TimestampMillis>,
    pub issued_at: TimestampMillis,
}
impl_event!(
    BalanceCommand,
    "io.paystream.balances.BalanceCommand",
    merchant_id
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BalanceCommandKind {
    Reserve,
    Release,
    Settle,
    Credit,
    Withdraw,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FundingDecision {
    pub decision_id: String,
    pub payout_id: String,
    pub merchant_id: String,
    pub outcome: FundingOutcome,
    pub amount_minor: i64,
    pub currency: String,
    pub available_minor: i64,
    pub decided_at: TimestampMillis,
}
impl_event!(
    FundingDecision,
    "io.paystream.balances.FundingDecision",
    payout_id
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FundingOutcome {
    Reserved,
    Queued,
    Expired,
    Refused,
}
