//! Beneficiaries: `BeneficiaryCommand` (schemas/beneficiary_command.avsc) and
//! `BeneficiaryVerification` (schemas/beneficiary_verification.avsc).

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
    pub account_fingerprint: Option<String>,
    pub reason_code: Option<String>,
    pub expires_at: Option<TimestampMillis>,
    pub sequence: i64,
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BeneficiaryCommand {
    pub command_id: String,
    pub beneficiary_id: String,
    pub merchant_id: String,
    pub kind: BeneficiaryCommandKind,
    pub name: Option<String>,
    pub account_kind: Option<String>,
    pub account_masked: Option<String>,
    pub account_sealed: Option<String>,
    pub account_fingerprint: Option<String>,
    pub requested_by: String,
    pub issued_at: TimestampMillis,
}
impl_event!(
    BeneficiaryCommand,
    "io.paystream.payouts.BeneficiaryCommand",
    beneficiary_id
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BeneficiaryCommandKind {
    Create,
    Update,
    Verify,
}
