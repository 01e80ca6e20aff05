//! `io.paystream.payments.PaymentCommand` (schemas/payment_command.avsc).

use super::{impl_event, TimestampMillis};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentCommand {
    pub command_id: String,
    pub payment_id: String,
    pub merchant_id: String,
    pub kind: PaymentCommandKind,
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
    pub capture_method: Option<CaptureMethod>,
    pub payment_method: Option<PaymentMethod>,
    pub customer_id: Option<String>,
    pub customer_ip: Option<String>,
    pub customer_country: Option<String>,
    pub idempotency_key: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub issued_at: TimestampMillis,
    /// CREATE only: confirm in the same command (added in v2; v1 records read as `false`).
    #[serde(default)]
    pub confirm: bool,
}
impl_event!(
    PaymentCommand,
    "io.paystream.payments.PaymentCommand",
    payment_id
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentCommandKind {
    Create,
    Confirm,
    Capture,
    Cancel,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CaptureMethod {
    Automatic,
    Manual,
}

/// How the customer pays. Card data is a vault token only; the schema has no field for a PAN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentMethod {
    pub method_type: PaymentMethodType,
    pub card_token: Option<String>,
    pub card_network: Option<String>,
    pub card_last4: Option<String>,
    pub card_issuer_country: Option<String>,
    pub vpa: Option<String>,
    pub bank_code: Option<String>,
    pub wallet: Option<String>,
}

impl PaymentMethod {
    /// A method of `method_type` with no details yet; set the fields its type needs.
    pub fn of(method_type: PaymentMethodType) -> Self {
        Self {
            method_type,
            card_token: None,
            card_network: None,
            card_last4: None,
            card_issuer_country: None,
            vpa: None,
            bank_code: None,
            wallet: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentMethodType {
    Card,
    Upi,
    NetBanking,
    Wallet,
}
