//! Provider adapters. A connector only builds a provider request and parses a provider answer, as pure
//! functions; the HTTP call happens in `transport`, driven by the connector processor's edge. Every answer is untrusted:
//! sizes are bounded by the caller, fields are parsed strictly, and anything unexpected is an error,
//! never a guess. An answer that does not say what happened (timeout, 5xx, unparsable) is `Unknown`.

pub mod acme;
pub mod bolt;
pub mod config;
pub mod transferly;
pub mod transport;
pub mod webhook_signature;

use crate::domain::accounts::AccountKey;
use crate::events::provider::{
    AccountCheck, DeclineClass, ProviderOperation, ProviderOutcome, ProviderRequest,
};
use config::ConnectorKind;

/// An HTTP request, as data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: HttpMethod,
    /// Appended to the connector's base URL.
    pub path: String,
    pub headers: Vec<(&'static str, String)>,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    Get,
    Post,
}

/// What a provider said about an attempt, normalized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    pub outcome: ProviderOutcome,
    pub decline_class: Option<DeclineClass>,
    pub provider_reference: Option<String>,
    pub provider_code: Option<String>,
    pub message: Option<String>,
    pub fee_minor: Option<i64>,
    /// A payout's bank reference (UTR).
    pub bank_reference: Option<String>,
    /// A verification's result.
    pub verification: Option<AccountCheck>,
}

impl Normalized {
    pub fn unknown(message: impl Into<String>) -> Self {
        Self::of(ProviderOutcome::Unknown, Some(message.into()))
    }

    /// An outcome with nothing else known.
    pub fn of(outcome: ProviderOutcome, message: Option<String>) -> Self {
        Self {
            outcome,
            decline_class: None,
            provider_reference: None,
            provider_code: None,
            message,
            fee_minor: None,
            bank_reference: None,
            verification: None,
        }
    }
}

/// A webhook, normalized: which attempt, what happened, and the provider's event id (the dedup key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    pub event_id: String,
    pub event_type: String,
    pub payment_id: String,
    pub attempt_id: String,
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
    pub created_ms: i64,
    pub result: Normalized,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

/// The provider call a request asks for: an authorization, a status check, a capture or void of the
/// authorization, a refund, a payout or an account verification. Operations on an existing charge
/// name it by the provider's id, or by our attempt id when no answer named one (both card providers
/// accept either). `key` opens a payee's sealed account, for the payout connector only.
pub fn build(
    kind: ConnectorKind,
    r: &ProviderRequest,
    key: &AccountKey,
) -> Result<HttpRequest, ParseError> {
    let charge = r.provider_reference.as_deref().unwrap_or(&r.attempt_id);
    let settle = |action: &str| match kind {
        ConnectorKind::Acme => Ok(acme::settle(r, charge, action)),
        ConnectorKind::Bolt => bolt::settle(r, charge, action),
        ConnectorKind::Transferly => Err(not_supported(kind, r.operation)),
    };
    match (r.operation, kind) {
        (ProviderOperation::Status, _) => Ok(build_status(kind, r)),
        (ProviderOperation::Authorize, ConnectorKind::Acme) => Ok(acme::authorize(r)),
        (ProviderOperation::Authorize, ConnectorKind::Bolt) => bolt::authorize(r),
        (ProviderOperation::Refund, ConnectorKind::Acme) => Ok(acme::refund(r, charge)),
        (ProviderOperation::Refund, ConnectorKind::Bolt) => bolt::refund(r, charge),
        (ProviderOperation::Capture, _) => settle("capture"),
        (ProviderOperation::Void, _) => settle("void"),
        (ProviderOperation::Payout, ConnectorKind::Transferly) => transferly::payout(r, key),
        (ProviderOperation::VerifyBeneficiary, ConnectorKind::Transferly) => {
            transferly::verify(r, key)
        }
        (op, kind) => Err(not_supported(kind, op)),
    }
}

fn not_supported(kind: ConnectorKind, op: ProviderOperation) -> ParseError {
    ParseError(format!("a {kind:?} connector does not perform {op:?}"))
}

/// Whether a connector of `kind` performs `op`: card and UPI providers authorize, capture, void and
/// refund; the payout provider pays out and verifies accounts; every one answers status checks.
pub fn performs(kind: ConnectorKind, op: ProviderOperation) -> bool {
    use ProviderOperation as Op;
    match kind {
        ConnectorKind::Acme | ConnectorKind::Bolt => {
            !matches!(op, Op::Payout | Op::VerifyBeneficiary)
        }
        ConnectorKind::Transferly => matches!(op, Op::Payout | Op::VerifyBeneficiary | Op::Status),
    }
}

/// A status check of an attempt (or, `status_of` `REFUND`, of the refund named by `attempt_id`;
/// `PAYOUT`, of the transfer) whose outcome is unknown or pending.
pub fn build_status(kind: ConnectorKind, r: &ProviderRequest) -> HttpRequest {
    let refund = r.status_of == Some(ProviderOperation::Refund);
    let path = match (kind, refund) {
        (ConnectorKind::Acme, false) => format!("/v1/charges/{}", r.attempt_id),
        (ConnectorKind::Acme, true) => format!("/v1/refunds/{}", r.attempt_id),
        (ConnectorKind::Bolt, false) => format!("/transactions/{}", r.attempt_id),
        (ConnectorKind::Bolt, true) => format!("/refunds/{}", r.attempt_id),
        (ConnectorKind::Transferly, _) => transferly::status_path(&r.attempt_id),
    };
    HttpRequest {
        method: HttpMethod::Get,
        path,
        headers: vec![],
        content_type: "application/json",
        body: vec![],
    }
}

/// The answer to any call, normalized by the operation it answers. A 404 to a status check means the
/// provider has no record: still unknown, the webhook or reconciliation decides. `status` is `None`
/// when no answer came (timeout, connection error).
pub fn parse(
    kind: ConnectorKind,
    op: ProviderOperation,
    status: Option<u16>,
    body: &[u8],
    currency: &str,
) -> Normalized {
    let Some(code) = status else {
        return Normalized::unknown("no answer from the provider (timeout or connection error)");
    };
    if code >= 500 || code == 429 || code == 404 {
        return Normalized::unknown(format!("provider answered HTTP {code}"));
    }
    let parsed = match (kind, op) {
        (ConnectorKind::Transferly, ProviderOperation::VerifyBeneficiary) => {
            transferly::parse_verification(code, body)
        }
        (ConnectorKind::Transferly, _) => transferly::parse_transfer(code, body, currency),
        (ConnectorKind::Acme, _) => acme::parse(code, body),
        (ConnectorKind::Bolt, _) => bolt::parse(code, body, currency),
    };
    parsed.unwrap_or_else(|e| Normalized::unknown(format!("unparsable provider answer: {e}")))
}

pub fn parse_webhook(kind: ConnectorKind, body: &[u8]) -> Result<WebhookEvent, ParseError> {
    match kind {
        ConnectorKind::Acme => acme::parse_webhook(body),
        ConnectorKind::Bolt => bolt::parse_webhook(body),
        ConnectorKind::Transferly => transferly::parse_webhook(body),
    }
}

/// Bounded, printable text from an untrusted field.
pub(crate) fn clean(s: &str, len_max: usize) -> Result<String, ParseError> {
    if s.len() > len_max || s.chars().any(char::is_control) {
        return Err(ParseError(format!(
            "field is longer than {len_max} or holds control characters"
        )));
    }
    Ok(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::samples;

    #[test]
    fn no_answer_and_server_errors_are_unknown_never_guessed() {
        for kind in [ConnectorKind::Acme, ConnectorKind::Bolt] {
            for (status, body) in [
                (None, &b""[..]),
                (Some(503), b"{}"),
                (Some(500), b"Internal Server Error"),
                (Some(429), b"{}"),
                (Some(429), b"slow down"),
                (Some(413), b"{}"),
                (Some(413), b"Payload Too Large"),
                (Some(404), b"{}"),
                (Some(200), b"not json"),
            ] {
                assert_eq!(
                    parse(kind, ProviderOperation::Authorize, status, body, "INR").outcome,
                    ProviderOutcome::Unknown,
                    "{kind:?} HTTP {status:?} {}",
                    String::from_utf8_lossy(body)
                );
            }
            let req = samples::provider_request();
            let key = AccountKey::from_hex(config::DEMO_ACCOUNT_KEY_HEX).unwrap();
            assert!(build(kind, &req, &key).is_ok());
        }
    }

    #[test]
    fn each_kind_performs_its_own_operations_and_builds_nothing_else() {
        use ProviderOperation as Op;
        let key = AccountKey::from_hex(config::DEMO_ACCOUNT_KEY_HEX).unwrap();
        let cases = [
            (ConnectorKind::Acme, Op::Refund, true),
            (ConnectorKind::Bolt, Op::Capture, true),
            (ConnectorKind::Acme, Op::Payout, false),
            (ConnectorKind::Transferly, Op::Payout, true),
            (ConnectorKind::Transferly, Op::Status, true),
            (ConnectorKind::Transferly, Op::Authorize, false),
            (ConnectorKind::Transferly, Op::Refund, false),
        ];
        for (kind, op, performs_it) in cases {
            assert_eq!(performs(kind, op), performs_it, "{kind:?} {op:?}");
            if !performs_it {
                let r = ProviderRequest {
                    operation: op,
                    ..samples::provider_request()
                };
                assert!(
                    build(kind, &r, &key).is_err(),
                    "{kind:?} {op:?} never builds"
                );
            }
        }
    }
}
