//! Refunds: `RefundRequest` and `RefundEvent` (schemas/refund_request.avsc, refund_event.avsc).

use super::{impl_event, TimestampMillis};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A refund's metadata has at most this many pairs; its reason and values at most this many bytes.
pub const REFUND_METADATA_PAIRS_MAX: usize = 20;
pub const REFUND_TEXT_LEN_MAX: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRequest {
    pub refund_id: String,
    pub payment_id: String,
    pub merchant_id: String,
    /// `Create`: the amount, or `None` for everything still refundable.
    pub amount_minor: Option<i64>,
    pub currency: String,
    pub reason: Option<String>,
    /// The API key id or operator that sent this action.
    pub requested_by: String,
    pub idempotency_key: Option<String>,
    pub requested_at: TimestampMillis,
    pub action: RefundAction,
    pub metadata: BTreeMap<String, String>,
}
impl_event!(
    RefundRequest,
    "io.paystream.refunds.RefundRequest",
    payment_id
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RefundAction {
    Create,
    Approve,
    Reject,
    Cancel,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundEvent {
    pub event_id: String,
    pub refund_id: String,
    pub payment_id: String,
    pub merchant_id: String,
    pub status: RefundStatus,
    pub amount_minor: i64,
    pub currency: String,
    pub connector: Option<String>,
    pub provider_reference: Option<String>,
    pub reason_code: Option<String>,
    pub reason: Option<String>,
    pub occurred_at: TimestampMillis,
    pub sequence: i64,
    pub previous_status: Option<RefundStatus>,
    pub actor: Option<String>,
    pub cause_id: Option<String>,
    pub payment_captured_minor: i64,
    pub payment_refunded_minor: i64,
    pub metadata: BTreeMap<String, String>,
}
impl_event!(RefundEvent, "io.paystream.refunds.RefundEvent", payment_id);

/// Refund states. `Requested` and `Processing` are in the schema's first version and not used:
/// a refund is `Pending` from the moment its amount is reserved until the provider settles it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RefundStatus {
    Requested,
    PendingApproval,
    Processing,
    Pending,
    Succeeded,
    Failed,
    Rejected,
    Canceled,
}

impl RefundStatus {
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::Rejected | Self::Canceled
        )
    }

    /// Whether the refund's amount counts against the payment's refundable amount.
    pub fn holds_amount(self) -> bool {
        matches!(
            self,
            Self::Requested
                | Self::PendingApproval
                | Self::Processing
                | Self::Pending
                | Self::Succeeded
        )
    }

    /// The REST API's name.
    pub fn api_name(self) -> &'static str {
        match self {
            Self::Requested | Self::Processing | Self::Pending => "pending",
            Self::PendingApproval => "requires_approval",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Rejected => "rejected",
            Self::Canceled => "canceled",
        }
    }
}
