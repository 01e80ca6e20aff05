//! "Acme": a card-first provider with a JSON API. Amounts in minor units, `Idempotency-Key` header,
//! lower-case decline codes, webhooks `{id, type, created, data: charge}`.

use super::{clean, HttpMethod, HttpRequest, Normalized, ParseError, WebhookEvent};
use crate::events::provider::{DeclineClass, ProviderOutcome, ProviderRequest};
use serde::{Deserialize, Serialize};

const TEXT_LEN_MAX: usize = 256;

#[derive(Debug, Serialize, Deserialize)]
pub struct ChargeRequest {
    pub amount: i64,
    pub currency: String,
    pub source: String,
    pub method: String,
    pub reference: String,
    pub payment_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Charge {
    pub id: String,
    pub status: String,
    #[serde(default)]
    pub decline_code: Option<String>,
    #[serde(default)]
    pub fee: Option<i64>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub reference: Option<String>,
    #[serde(default)]
    pub payment_id: Option<String>,
    #[serde(default)]
    pub amount: Option<i64>,
    #[serde(default)]
    pub currency: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Webhook {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// Unix milliseconds.
    pub created: i64,
    pub data: Charge,
}

pub fn authorize(r: &ProviderRequest) -> HttpRequest {
    let body = ChargeRequest {
        amount: r.amount_minor,
        currency: r.currency.clone(),
        source: r.method_reference.clone().unwrap_or_default(),
        method: r
            .method_type
            .clone()
            .unwrap_or_default()
            .to_ascii_lowercase(),
        reference: r.attempt_id.clone(),
        payment_id: r.payment_id.clone(),
    };
    HttpRequest {
        method: HttpMethod::Post,
        path: "/v1/charges".into(),
        headers: vec![("Idempotency-Key", r.attempt_id.clone())],
        content_type: "application/json",
        body: serde_json::to_vec(&body).unwrap_or_default(),
    }
}

/// A refund of a charge (`POST /v1/refunds`).
#[derive(Debug, Serialize, Deserialize)]
pub struct RefundRequest {
    /// The charge's id (or our reference of it when no answer named the id).
    pub charge: String,
    pub amount: i64,
    pub reference: String,
    pub payment_id: String,
}

fn json_post(path: String, key: String, body: Vec<u8>) -> HttpRequest {
    HttpRequest {
        method: HttpMethod::Post,
        path,
        headers: vec![("Idempotency-Key", key)],
        content_type: "application/json",
        body,
    }
}

/// A refund: the refund id is its reference and its idempotency key.
pub fn refund(r: &ProviderRequest, charge: &str) -> HttpRequest {
    let body = RefundRequest {
        charge: charge.to_owned(),
        amount: r.amount_minor,
        reference: r.attempt_id.clone(),
        payment_id: r.payment_id.clone(),
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    json_post("/v1/refunds".into(), r.attempt_id.clone(), bytes)
}

/// A capture (`action` "capture", with the amount) or void ("void") of an authorized charge.
pub fn settle(r: &ProviderRequest, charge: &str, action: &str) -> HttpRequest {
    let body = serde_json::json!({ "amount": r.amount_minor });
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    json_post(
        format!("/v1/charges/{charge}/{action}"),
        format!("{}_{action}", r.attempt_id),
        bytes,
    )
}

pub fn decline_class(code: &str) -> DeclineClass {
    match code {
        "insufficient_funds" => DeclineClass::InsufficientFunds,
        "invalid_card" | "incorrect_number" => DeclineClass::InvalidPaymentMethod,
        "do_not_honor" => DeclineClass::DoNotHonor,
        "fraudulent" => DeclineClass::RiskDecline,
        "issuer_unavailable" => DeclineClass::IssuerUnavailable,
        "processing_error" => DeclineClass::ProviderError,
        "rate_limited" => DeclineClass::RateLimited,
        "expired_card" => DeclineClass::Expired,
        _ => DeclineClass::Other,
    }
}

fn normalize(c: &Charge) -> Result<Normalized, ParseError> {
    let outcome = match c.status.as_str() {
        "succeeded" => ProviderOutcome::Succeeded,
        "pending" => ProviderOutcome::Pending,
        "declined" => ProviderOutcome::Declined,
        "failed" => ProviderOutcome::Failed,
        other => {
            return Err(ParseError(format!(
                "unknown charge status '{}'",
                clean(other, 32)?
            )))
        }
    };
    let decline_class = match outcome {
        ProviderOutcome::Declined | ProviderOutcome::Failed => {
            Some(decline_class(c.decline_code.as_deref().unwrap_or("")))
        }
        _ => None,
    };
    if c.fee.is_some_and(|f| f < 0) {
        return Err(ParseError("negative fee".into()));
    }
    Ok(Normalized {
        outcome,
        decline_class,
        provider_reference: Some(clean(&c.id, TEXT_LEN_MAX)?),
        provider_code: c
            .decline_code
            .as_deref()
            .map(|d| clean(d, 64))
            .transpose()?,
        message: c
            .message
            .as_deref()
            .map(|m| clean(m, TEXT_LEN_MAX))
            .transpose()?,
        fee_minor: c.fee,
        bank_reference: None,
        verification: None,
    })
}

pub fn parse(status: u16, body: &[u8]) -> Result<Normalized, ParseError> {
    let c: Charge =
        serde_json::from_slice(body).map_err(|e| ParseError(format!("HTTP {status}: {e}")))?;
    normalize(&c)
}

pub fn parse_webhook(body: &[u8]) -> Result<WebhookEvent, ParseError> {
    let w: Webhook = serde_json::from_slice(body).map_err(|e| ParseError(e.to_string()))?;
    let result = normalize(&w.data)?;
    Ok(WebhookEvent {
        event_id: clean(&w.id, TEXT_LEN_MAX)?,
        event_type: clean(&w.kind, 64)?,
        payment_id: clean(
            w.data.payment_id.as_deref().unwrap_or_default(),
            TEXT_LEN_MAX,
        )?,
        attempt_id: clean(
            w.data.reference.as_deref().unwrap_or_default(),
            TEXT_LEN_MAX,
        )?,
        amount_minor: w.data.amount,
        currency: w
            .data
            .currency
            .as_deref()
            .map(|c| clean(c, 3))
            .transpose()?,
        created_ms: w.created,
        result,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_map_to_outcomes() {
        type Case<'a> = (&'a str, ProviderOutcome, Option<DeclineClass>);
        let cases: [Case<'_>; 4] = [
            (
                r#"{"id":"ch_1","status":"succeeded","fee":20}"#,
                ProviderOutcome::Succeeded,
                None,
            ),
            (
                r#"{"id":"ch_1","status":"pending"}"#,
                ProviderOutcome::Pending,
                None,
            ),
            (
                r#"{"id":"ch_1","status":"declined","decline_code":"insufficient_funds"}"#,
                ProviderOutcome::Declined,
                Some(DeclineClass::InsufficientFunds),
            ),
            (
                r#"{"id":"ch_1","status":"declined","decline_code":"issuer_unavailable"}"#,
                ProviderOutcome::Declined,
                Some(DeclineClass::IssuerUnavailable),
            ),
        ];
        for (body, outcome, class) in cases {
            let n = parse(200, body.as_bytes()).unwrap();
            assert_eq!((n.outcome, n.decline_class), (outcome, class), "{body}");
        }
        assert!(parse(200, br#"{"id":"ch_1","status":"maybe"}"#).is_err());
        assert!(parse(200, br#"{"id":"ch_1","status":"succeeded","fee":-1}"#).is_err());
    }
}
