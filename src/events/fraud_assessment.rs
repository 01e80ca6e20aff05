//! `io.paystream.fraud.FraudAssessment` (schemas/fraud_assessment.avsc).

use super::{impl_event, TimestampMillis};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FraudAssessment {
    pub assessment_id: String,
    pub payment_id: String,
    pub merchant_id: String,
    pub score: i32,
    pub decision: FraudDecision,
    pub mode: AssessmentMode,
    pub reasons: Vec<FraudReason>,
    pub assessed_at: TimestampMillis,
}
impl_event!(
    FraudAssessment,
    "io.paystream.fraud.FraudAssessment",
    payment_id
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FraudDecision {
    Allow,
    Review,
    Block,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AssessmentMode {
    Scored,
    FailOpen,
    FailClosed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FraudReason {
    pub rule: String,
    pub detail: String,
    pub score: i32,
    pub shadow: bool,
}
