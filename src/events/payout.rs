//! Payouts: `PayoutRequest`, `PayoutDecision` and `PayoutEvent` (schemas/payout_request.avsc,
//! payout_decision.avsc, payout_event.avsc).

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
    pub action: PayoutAction,
    pub requested_by: String,
    pub reference: Option<String>,
    pub narration: Option<String>,
    pub note: Option<String>,
}
impl_event!(
    PayoutRequest,
    "io.paystream.payouts.PayoutRequest",
    payout_id
);

/// A decision on an existing payout (schemas/payout_decision.avsc).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutDecision {
    pub decision_id: String,
    pub payout_id: String,
    pub merchant_id: String,
    pub action: PayoutDecisionAction,
    pub decided_by: String,
    pub note: Option<String>,
    pub idempotency_key: Option<String>,
    pub decided_at: TimestampMillis,
}
impl_event!(
    PayoutDecision,
    "io.paystream.payouts.PayoutDecision",
    payout_id
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PayoutDecisionAction {
    Approve,
    Reject,
    Cancel,
}

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
    pub sequence: i64,
    pub previous_status: Option<PayoutStatus>,
    pub beneficiary_id: Option<String>,
    pub rail: Option<String>,
    pub utr: Option<String>,
    pub actor: Option<String>,
    pub cause_id: Option<String>,
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
    PendingApproval,
    Canceled,
}

impl PayoutStatus {
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::Reversed | Self::Rejected | Self::Canceled
        )
    }

    /// The REST API's name (RazorpayX's lifecycle).
    pub fn api_name(self) -> &'static str {
        match self {
            Self::Requested => "pending",
            Self::PendingApproval => "pending_approval",
            Self::Queued => "queued",
            Self::Processing | Self::Pending => "processing",
            Self::Succeeded => "processed",
            Self::Failed => "failed",
            Self::Reversed => "reversed",
            Self::Rejected => "rejected",
            Self::Canceled => "canceled",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PayoutAction {
    Create,
    Approve,
    Reject,
    Cancel,
}
