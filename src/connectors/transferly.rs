//! "Transferly": a bank-transfer provider for payouts and account verification. JSON; amounts are
//! rupee decimal strings; our payout id is its `request_ref` (the idempotency key); it answers with
//! its own transfer id and, once the bank has it, the UTR; the final word often comes later, by
//! webhook `{event_id, event, created_at_ms, transfer}`. A verification is a penny drop (bank
//! account) or a VPA lookup, answered at once.
//!
//! The account details arrive sealed and are opened here, for the body of this one call.

use super::bolt::{from_decimal, to_decimal};
use super::{clean, HttpMethod, HttpRequest, Normalized, ParseError, WebhookEvent};
use crate::domain::accounts::{Account, AccountKey, Sealed};
use crate::events::provider::{AccountCheck, ProviderOutcome, ProviderRequest};
use serde::{Deserialize, Serialize};

const TEXT_LEN_MAX: usize = 256;

/// Where to send money, or what to verify.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Destination {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ifsc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpa: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TransferRequest {
    pub request_ref: String,
    pub amount: String,
    pub currency: String,
    pub mode: String,
    pub beneficiary: Destination,
    pub name: Option<String>,
    pub narration: Option<String>,
    pub purpose: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Failure {
    pub code: String,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Transfer {
    pub id: String,
    pub request_ref: String,
    pub status: String,
    #[serde(default)]
    pub utr: Option<String>,
    #[serde(default)]
    pub amount: Option<String>,
    #[serde(default)]
    pub failure: Option<Failure>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct TransferAnswer {
    pub transfer: Transfer,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VerificationRequest {
    pub request_ref: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub beneficiary: Destination,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verification {
    pub id: String,
    pub account_status: String,
    #[serde(default)]
    pub registered_name: Option<String>,
    #[serde(default)]
    pub name_match_score: Option<i32>,
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct VerificationAnswer {
    pub verification: Verification,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Webhook {
    pub event_id: String,
    pub event: String,
    pub created_at_ms: i64,
    pub transfer: Transfer,
}

fn destination(
    r: &ProviderRequest,
    key: &AccountKey,
) -> Result<(Destination, Option<String>), ParseError> {
    let payee = r
        .payee
        .as_ref()
        .ok_or_else(|| ParseError("the request names no payee".into()))?;
    let account = key
        .open(&Sealed(payee.account_sealed.clone()))
        .map_err(|e| ParseError(e.to_string()))?;
    let d = match account {
        Account::BankAccount { number, ifsc } => Destination {
            account_number: Some(number),
            ifsc: Some(ifsc),
            vpa: None,
        },
        Account::Vpa { vpa } => Destination {
            account_number: None,
            ifsc: None,
            vpa: Some(vpa),
        },
    };
    Ok((d, payee.name.clone()))
}

fn json(path: String, body: &impl Serialize) -> Result<HttpRequest, ParseError> {
    Ok(HttpRequest {
        method: HttpMethod::Post,
        path,
        headers: vec![],
        content_type: "application/json",
        body: serde_json::to_vec(body).map_err(|e| ParseError(e.to_string()))?,
    })
}

pub fn payout(r: &ProviderRequest, key: &AccountKey) -> Result<HttpRequest, ParseError> {
    let (beneficiary, name) = destination(r, key)?;
    let payee = r.payee.as_ref();
    let body = TransferRequest {
        request_ref: r.attempt_id.clone(),
        amount: to_decimal(r.amount_minor, &r.currency)?,
        currency: r.currency.clone(),
        mode: payee
            .and_then(|p| p.rail.clone())
            .unwrap_or_else(|| "IMPS".into()),
        beneficiary,
        name,
        narration: payee.and_then(|p| p.narration.clone()),
        purpose: payee
            .and_then(|p| p.purpose.clone())
            .map(|p| p.to_ascii_lowercase()),
    };
    json("/v2/transfers".into(), &body)
}

pub fn verify(r: &ProviderRequest, key: &AccountKey) -> Result<HttpRequest, ParseError> {
    let (beneficiary, name) = destination(r, key)?;
    let kind = if beneficiary.vpa.is_some() {
        "vpa"
    } else {
        "bank_account"
    };
    let body = VerificationRequest {
        request_ref: r.attempt_id.clone(),
        kind: kind.into(),
        beneficiary,
        name,
    };
    json("/v2/verifications".into(), &body)
}

pub fn status_path(request_ref: &str) -> String {
    format!("/v2/transfers/{request_ref}")
}

fn normalize(t: &Transfer) -> Result<Normalized, ParseError> {
    let outcome = match t.status.as_str() {
        "SUCCESS" => ProviderOutcome::Succeeded,
        "ACCEPTED" | "PROCESSING" => ProviderOutcome::Pending,
        "FAILED" | "REVERSED" => ProviderOutcome::Failed,
        other => {
            return Err(ParseError(format!(
                "unknown transfer status '{}'",
                clean(other, 32)?
            )))
        }
    };
    let mut n = Normalized::of(outcome, None);
    n.provider_reference = Some(clean(&t.id, TEXT_LEN_MAX)?);
    n.bank_reference = t.utr.as_deref().map(|u| clean(u, 64)).transpose()?;
    if let Some(f) = &t.failure {
        n.provider_code = Some(clean(&f.code, 64)?);
        n.message = f
            .message
            .as_deref()
            .map(|m| clean(m, TEXT_LEN_MAX))
            .transpose()?;
    }
    Ok(n)
}

/// The answer to a payout or its status check.
pub fn parse_transfer(status: u16, body: &[u8], currency: &str) -> Result<Normalized, ParseError> {
    let a: TransferAnswer =
        serde_json::from_slice(body).map_err(|e| ParseError(format!("HTTP {status}: {e}")))?;
    if let Some(amount) = &a.transfer.amount {
        from_decimal(amount, currency)?;
    }
    normalize(&a.transfer)
}

/// The answer to a verification: the account's status, its holder's name and how well it matches.
pub fn parse_verification(status: u16, body: &[u8]) -> Result<Normalized, ParseError> {
    let a: VerificationAnswer =
        serde_json::from_slice(body).map_err(|e| ParseError(format!("HTTP {status}: {e}")))?;
    let v = &a.verification;
    let valid = match v.account_status.as_str() {
        "VALID" => true,
        "INVALID" => false,
        other => {
            return Err(ParseError(format!(
                "unknown account_status '{}'",
                clean(other, 32)?
            )))
        }
    };
    if v.name_match_score.is_some_and(|s| !(0..=100).contains(&s)) {
        return Err(ParseError("name_match_score outside 0..=100".into()));
    }
    let mut n = Normalized::of(ProviderOutcome::Succeeded, None);
    n.provider_reference = Some(clean(&v.id, TEXT_LEN_MAX)?);
    n.verification = Some(AccountCheck {
        account_valid: valid,
        registered_name: v
            .registered_name
            .as_deref()
            .map(|x| clean(x, TEXT_LEN_MAX))
            .transpose()?,
        name_match_score: v.name_match_score,
        reason_code: v.reason.as_deref().map(|x| clean(x, 64)).transpose()?,
    });
    Ok(n)
}

/// A webhook about a transfer: our payout id is its `request_ref`.
pub fn parse_webhook(body: &[u8]) -> Result<WebhookEvent, ParseError> {
    let w: Webhook = serde_json::from_slice(body).map_err(|e| ParseError(e.to_string()))?;
    let result = normalize(&w.transfer)?;
    let reference = clean(&w.transfer.request_ref, TEXT_LEN_MAX)?;
    Ok(WebhookEvent {
        event_id: clean(&w.event_id, TEXT_LEN_MAX)?,
        event_type: clean(&w.event, 64)?,
        payment_id: reference.clone(),
        attempt_id: reference,
        amount_minor: None,
        currency: None,
        created_ms: w.created_at_ms,
        result,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfers_and_verifications_parse_strictly() {
        type Case<'a> = (&'a str, ProviderOutcome, Option<&'a str>);
        let cases: [Case<'_>; 3] = [
            (
                r#"{"transfer":{"id":"tr_1","request_ref":"po_1","status":"SUCCESS","utr":"UTR123"}}"#,
                ProviderOutcome::Succeeded,
                Some("UTR123"),
            ),
            (
                r#"{"transfer":{"id":"tr_1","request_ref":"po_1","status":"ACCEPTED"}}"#,
                ProviderOutcome::Pending,
                None,
            ),
            (
                r#"{"transfer":{"id":"tr_1","request_ref":"po_1","status":"FAILED","failure":{"code":"ACCOUNT_CLOSED"}}}"#,
                ProviderOutcome::Failed,
                None,
            ),
        ];
        for (body, outcome, utr) in cases {
            let n = parse_transfer(200, body.as_bytes(), "INR").unwrap();
            assert_eq!(
                (n.outcome, n.bank_reference.as_deref()),
                (outcome, utr),
                "{body}"
            );
        }
        assert!(parse_transfer(
            200,
            br#"{"transfer":{"id":"t","request_ref":"p","status":"MAYBE"}}"#,
            "INR"
        )
        .is_err());
        assert!(parse_transfer(
            200,
            br#"{"transfer":{"id":"t","request_ref":"p","status":"SUCCESS","amount":"1.234"}}"#,
            "INR"
        )
        .is_err());
        let v = parse_verification(
            200,
            br#"{"verification":{"id":"v1","account_status":"INVALID","reason":"ACCOUNT_CLOSED"}}"#,
        )
        .unwrap();
        assert_eq!(
            v.verification.unwrap().reason_code.as_deref(),
            Some("ACCOUNT_CLOSED")
        );
        assert!(parse_verification(
            200,
            br#"{"verification":{"id":"v1","account_status":"VALID","name_match_score":140}}"#
        )
        .is_err());
    }
}
