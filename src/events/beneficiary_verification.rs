//! `io.paystream.payouts.BeneficiaryVerification` (schemas/beneficiary_verification.avsc).

use super::{impl_event, TimestampMillis};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BeneficiaryVerification {
    pub verification_id: String,
    pub beneficiary_id: String,
    pub merchant_id: String,
    pub account_kind: BeneficiaryAccountKind,
    pub account_reference: String,
    pub name_on_record: Option<String>,
    pub status: VerificationStatus,
    pub name_at_bank: Option<String>,
    pub name_match_score: Option<i32>,
    pub connector: Option<String>,
    pub reason: Option<String>,
    pub occurred_at: TimestampMillis,
}
impl_event!(
    BeneficiaryVerification,
    "io.paystream.payouts.BeneficiaryVerification",
    beneficiary_id
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BeneficiaryAccountKind {
    BankAccount,
    Vpa,
    Wallet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VerificationStatus {
    Requested,
    Verified,
    NameMismatch,
    Invalid,
    Pending,
    Failed,
}
