//! What every decision endpoint shares (`POST /v1/refunds/{id}/approve|reject|cancel`, the same for
//! payouts): the action a path names, the role it needs, the caller, and the decider's reason.

use super::config::Role;
use super::errors::{err, invalid, ApiError};
use super::request::{authorized, parse_json};
use super::shared::{Bridge, Caller};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;

/// A decision about something that waits for one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
    Cancel,
}

impl Decision {
    fn of(action: &str) -> Result<Self, ApiError> {
        match action {
            "approve" => Ok(Self::Approve),
            "reject" => Ok(Self::Reject),
            "cancel" => Ok(Self::Cancel),
            _ => Err(err(
                StatusCode::NOT_FOUND,
                "unknown_action",
                "use approve, reject or cancel",
            )),
        }
    }

    /// Approving and rejecting are an approver's; canceling is the merchant's own.
    fn role(self) -> Role {
        match self {
            Self::Approve | Self::Reject => Role::Approver,
            Self::Cancel => Role::Write,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Reject => "reject",
            Self::Cancel => "cancel",
        }
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DecideIn {
    /// Why, for the audit trail.
    reason: Option<String>,
}

/// A reason's bound.
pub const REASON_LEN_MAX: usize = 500;

/// The decision `action` names, checked against the caller's roles; who decides, and the
/// Idempotency-Key their request is remembered by.
pub fn decision(
    b: &Bridge,
    headers: &HeaderMap,
    body: &[u8],
    action: &str,
) -> Result<(Decision, Caller, Option<String>), ApiError> {
    let d = Decision::of(action)?;
    let (who, key) = authorized(b, headers, body, d.role())?;
    Ok((d, who, key))
}

/// The decider's reason from the body (which may be empty), bounded.
pub fn reason(body: &[u8]) -> Result<Option<String>, ApiError> {
    let input: DecideIn = if body.is_empty() {
        DecideIn::default()
    } else {
        parse_json(body)?
    };
    match input.reason {
        Some(r) if r.len() > REASON_LEN_MAX || r.chars().any(char::is_control) => Err(invalid(
            "reason_invalid",
            "reason",
            format!("at most {REASON_LEN_MAX} printable characters"),
        )),
        other => Ok(other),
    }
}

/// The four-eyes rule, checked here for a precise answer (the processor checks again and decides).
pub fn not_the_creator(
    d: Decision,
    who: &Caller,
    created_by: Option<&str>,
) -> Result<(), ApiError> {
    if d == Decision::Approve && created_by == Some(who.key_id.as_str()) {
        return Err(err(
            StatusCode::FORBIDDEN,
            "same_actor",
            "the key that created it cannot approve it: approve with another approver key",
        ));
    }
    Ok(())
}
