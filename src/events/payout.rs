//! Payouts: `PayoutRequest` and `PayoutEvent` (schemas/payout_request.avsc, payout_event.avsc).

use super::{impl_event, TimestampMillis};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutRequest {
    pub payout_id: String,
    pub merchant_id: String,
    pub batch_id: Option<String>,
    pub beneficiary_id: String,
    pub purpose: PayoutPurpose,
    pub amount_minor: i64,
    pub currency: String,
    pub rail: PayoutRail,
    pub idempotency_key: Option<String>,
    pub requested_at: TimestampMillis,
}
impl_event!(
    PayoutRequest,
    "io.paystream.payouts.PayoutRequest",
    payout_id
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PayoutPurpose {
    Vendor,
    Salary,
    PartnerCommission,
    Refund,
    Cashback,
    Settlement,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PayoutRail {
    Imps,
    Neft,
    Rtgs,
    Upi,
    Wallet,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutEvent {
    pub event_id: String,
    pub payout_id: String,
    pub merchant_id: String,
    pub batch_id: Option<String>,
    pub status: PayoutStatus,
    pub amount_minor: i64,
    pub currency: String,
    pub connector: Option<String>,
    pub provider_reference: Option<String>,
    pub reason_code: Option<String>,
    pub reason: Option<String>,
    pub occurred_at: TimestampMillis,
}
impl_event!(PayoutEvent, "io.paystream.payouts.PayoutEvent", payout_id);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PayoutStatus {
    Requested,
    Queued,
    Processing,
    Pending,
    Succeeded,
    Failed,
    Reversed,
    Rejected,
}
