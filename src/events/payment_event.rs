//! `io.paystream.payments.PaymentEvent` (schemas/payment_event.avsc).

use super::{impl_event, TimestampMillis};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentEvent {
    pub event_id: String,
    pub payment_id: String,
    pub merchant_id: String,
    pub sequence: i64,
    pub status: IntentStatus,
    pub previous_status: Option<IntentStatus>,
    pub attempt_id: Option<String>,
    pub attempt_status: Option<AttemptStatus>,
    pub amount_minor: i64,
    pub amount_captured_minor: i64,
    pub currency: String,
    pub connector: Option<String>,
    pub reason_code: Option<String>,
    pub reason: Option<String>,
    pub cause_id: String,
    pub occurred_at: TimestampMillis,
    pub provider_fee_minor: Option<i64>,
    pub risk: Option<RiskContext>,
}

/// What fraud scoring needs about the payer and the method.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RiskContext {
    pub method_type: String,
    pub customer_id: Option<String>,
    pub card_token: Option<String>,
    pub card_issuer_country: Option<String>,
    pub vpa: Option<String>,
    pub customer_ip: Option<String>,
    pub customer_country: Option<String>,
}
impl_event!(
    PaymentEvent,
    "io.paystream.payments.PaymentEvent",
    payment_id
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IntentStatus {
    RequiresPaymentMethod,
    RequiresConfirmation,
    Processing,
    RequiresCapture,
    Succeeded,
    Failed,
    Canceled,
    Expired,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AttemptStatus {
    Started,
    Authorized,
    Declined,
    Pending,
    Unknown,
    Captured,
    Voided,
    Failed,
    /// A capture was sent to the provider; its answer is awaited.
    CapturePending,
    /// A void was sent to the provider; its answer is awaited.
    VoidPending,
}
