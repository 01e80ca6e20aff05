//! Refunds: `RefundRequest` and `RefundEvent` (schemas/refund_request.avsc, refund_event.avsc).

use super::{impl_event, TimestampMillis};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRequest {
    pub refund_id: String,
    pub payment_id: String,
    pub merchant_id: String,
    pub amount_minor: i64,
    pub currency: String,
    pub reason: Option<String>,
    pub requested_by: String,
    pub idempotency_key: Option<String>,
    pub requested_at: TimestampMillis,
}
impl_event!(
    RefundRequest,
    "io.paystream.refunds.RefundRequest",
    payment_id
);

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
}
impl_event!(RefundEvent, "io.paystream.refunds.RefundEvent", payment_id);

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
}
