//! Provider traffic: `ProviderRequest`, `ProviderResponse` and `ProviderWebhook`
//! (schemas/provider_request.avsc, provider_response.avsc, provider_webhook.avsc).

use super::{impl_event, TimestampMillis};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderRequest {
    pub request_id: String,
    pub attempt_id: String,
    pub payment_id: String,
    pub merchant_id: String,
    pub connector: String,
    pub operation: ProviderOperation,
    pub amount_minor: i64,
    pub currency: String,
    pub method_type: Option<String>,
    pub method_reference: Option<String>,
    pub provider_reference: Option<String>,
    pub requested_at: TimestampMillis,
    /// `STATUS` only: whose object to look up (`Refund`: the refund named by `attempt_id`).
    #[serde(default)]
    pub status_of: Option<ProviderOperation>,
    /// `PAYOUT`, `VERIFY_BENEFICIARY`: whom to pay or verify.
    #[serde(default)]
    pub payee: Option<Payee>,
    /// v3 on: what the request is about. Read through `contract::provider::Subject`, which also
    /// derives it for older records.
    #[serde(default)]
    pub subject: Option<ProviderSubject>,
}

/// The object a provider message is about, as the wire carries it: the ids of its kind set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderSubject {
    pub kind: ProviderSubjectKind,
    pub payment_id: Option<String>,
    pub attempt_id: Option<String>,
    pub refund_id: Option<String>,
    pub payout_id: Option<String>,
    pub beneficiary_id: Option<String>,
    pub verification_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProviderSubjectKind {
    PaymentAttempt,
    Refund,
    Payout,
    BeneficiaryVerification,
}

/// A beneficiary's account as a provider call needs it; the details stay sealed until the edge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payee {
    pub account_kind: String,
    pub account_masked: String,
    pub account_sealed: String,
    pub name: Option<String>,
    pub rail: Option<String>,
    pub narration: Option<String>,
    pub purpose: Option<String>,
}
impl_event!(
    ProviderRequest,
    "io.paystream.providers.ProviderRequest",
    payment_id
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProviderOperation {
    Authorize,
    Capture,
    Void,
    Refund,
    Payout,
    Status,
    VerifyBeneficiary,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderResponse {
    pub response_id: String,
    pub request_id: String,
    pub attempt_id: String,
    pub payment_id: String,
    pub connector: String,
    pub operation: String,
    pub outcome: ProviderOutcome,
    pub decline_class: Option<DeclineClass>,
    pub retryable: bool,
    pub provider_reference: Option<String>,
    pub provider_code: Option<String>,
    pub message: Option<String>,
    pub fee_minor: Option<i64>,
    pub latency_ms: i64,
    pub received_at: TimestampMillis,
    #[serde(default)]
    pub bank_reference: Option<String>,
    #[serde(default)]
    pub verification: Option<AccountCheck>,
    /// v3 on: the answered request's operation, typed (`operation` is its v1 string spelling).
    #[serde(default)]
    pub request_operation: Option<ProviderOperation>,
    #[serde(default)]
    pub subject: Option<ProviderSubject>,
}

/// What a penny drop or a VPA lookup learned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountCheck {
    pub account_valid: bool,
    pub registered_name: Option<String>,
    pub name_match_score: Option<i32>,
    pub reason_code: Option<String>,
}
impl_event!(
    ProviderResponse,
    "io.paystream.providers.ProviderResponse",
    payment_id
);

/// Normalized outcome. `Unknown` is never guessed into success or failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProviderOutcome {
    Succeeded,
    Declined,
    Pending,
    Failed,
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeclineClass {
    InsufficientFunds,
    InvalidPaymentMethod,
    DoNotHonor,
    RiskDecline,
    IssuerUnavailable,
    ProviderError,
    RateLimited,
    Expired,
    Other,
}

impl DeclineClass {
    /// Declines another connector may well accept. Insufficient funds or an invalid card stay declined.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            Self::IssuerUnavailable | Self::ProviderError | Self::RateLimited
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderWebhook {
    pub webhook_id: String,
    pub connector: String,
    pub payment_id: String,
    pub attempt_id: Option<String>,
    pub provider_reference: Option<String>,
    pub event_type: String,
    pub outcome: ProviderOutcome,
    pub decline_class: Option<DeclineClass>,
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
    pub provider_timestamp: TimestampMillis,
    pub received_at: TimestampMillis,
    pub body_sha256: String,
    #[serde(default)]
    pub bank_reference: Option<String>,
    #[serde(default)]
    pub provider_code: Option<String>,
    #[serde(default)]
    pub subject: Option<ProviderSubject>,
}
impl_event!(
    ProviderWebhook,
    "io.paystream.providers.ProviderWebhook",
    payment_id
);
