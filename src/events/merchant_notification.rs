//! `io.paystream.notifications.MerchantNotification` (schemas/merchant_notification.avsc).

use super::{impl_event, TimestampMillis};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerchantNotification {
    pub notification_id: String,
    pub merchant_id: String,
    pub event_type: String,
    pub object_id: String,
    pub object_status: String,
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
    pub attempt: i32,
    pub created_at: TimestampMillis,
}
impl_event!(
    MerchantNotification,
    "io.paystream.notifications.MerchantNotification",
    merchant_id
);
