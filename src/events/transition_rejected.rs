//! `io.paystream.payments.TransitionRejected` (schemas/transition_rejected.avsc).

use super::{impl_event, TimestampMillis};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransitionRejected {
    pub rejection_id: String,
    pub payment_id: String,
    pub merchant_id: String,
    pub current_status: Option<String>,
    pub attempted: String,
    pub reason_code: String,
    pub reason: String,
    pub cause_id: String,
    pub occurred_at: TimestampMillis,
}
impl_event!(
    TransitionRejected,
    "io.paystream.payments.TransitionRejected",
    payment_id
);
