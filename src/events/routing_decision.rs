//! `io.paystream.routing.RoutingDecision` (schemas/routing_decision.avsc).

use super::{impl_event, TimestampMillis};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingDecision {
    pub decision_id: String,
    pub payment_id: String,
    pub attempt_id: String,
    pub merchant_id: String,
    pub connector: Option<String>,
    pub rule: String,
    pub reason: String,
    pub candidates: Vec<String>,
    pub cascade_depth: i32,
    pub decided_at: TimestampMillis,
}
impl_event!(
    RoutingDecision,
    "io.paystream.routing.RoutingDecision",
    payment_id
);
