//! "Bolt": a UPI-first provider with a form-encoded API. Amounts are decimal strings in major units,
//! the idempotency key travels in the body, states are upper case, webhooks `{event_id, event, ts_ms,
//! txn}`. Units change here, at the edge, with integer arithmetic only.

use super::{clean, HttpMethod, HttpRequest, Normalized, ParseError, WebhookEvent};
use crate::domain::Currency;
use crate::events::provider::{DeclineClass, ProviderOutcome, ProviderRequest};
use serde::{Deserialize, Serialize};

const TEXT_LEN_MAX: usize = 256;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reason {
    pub code: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Txn {
    #[serde(rename = "ref")]
    pub reference: String,
    pub state: String,
    #[serde(default)]
    pub reason: Option<Reason>,
    #[serde(default)]
    pub charges: Option<String>,
    #[serde(default)]
    pub merchant_ref: Option<String>,
    #[serde(default)]
    pub order: Option<String>,
    #[serde(default)]
    pub amount: Option<String>,
    #[serde(default)]
    pub currency: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Answer {
    pub txn: Txn,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Webhook {
    pub event_id: String,
    pub event: String,
    pub ts_ms: i64,
    pub txn: Txn,
}

fn scale(currency: &str) -> Result<(u32, i64), ParseError> {
    let c = Currency::from_code(currency).map_err(|e| ParseError(e.to_string()))?;
    let exp = u32::from(c.exponent());
    let factor = 10i64
        .checked_pow(exp)
        .ok_or_else(|| ParseError("currency exponent overflows".into()))?;
    Ok((exp, factor))
}

/// Minor units to Bolt's decimal string: 12345 INR → "123.45"; 500 JPY → "500".
pub fn to_decimal(minor: i64, currency: &str) -> Result<String, ParseError> {
    if minor < 0 {
        return Err(ParseError("negative amount".into()));
    }
    let (exp, factor) = scale(currency)?;
    if exp == 0 {
        return Ok(minor.to_string());
    }
    let width = usize::try_from(exp).map_err(|e| ParseError(e.to_string()))?;
    Ok(format!("{}.{:0width$}", minor / factor, minor % factor))
}

/// Bolt's decimal string to minor units, strictly: digits, at most one '.', at most `exponent`
/// fraction digits. "123.4" INR → 12340.
pub fn from_decimal(s: &str, currency: &str) -> Result<i64, ParseError> {
    let (exp, factor) = scale(currency)?;
    let bad = || {
        ParseError(format!(
            "'{}' is not a {currency} amount",
            s.chars().take(32).collect::<String>()
        ))
    };
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |x: &str| !x.is_empty() && x.len() <= 18 && x.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || (s.contains('.') && !digits(frac)) {
        return Err(bad());
    }
    let frac_len = u32::try_from(frac.len()).map_err(|_| bad())?;
    if frac_len > exp {
        return Err(bad());
    }
    let w: i64 = whole.parse().map_err(|_| bad())?;
    let f: i64 = if frac.is_empty() {
        0
    } else {
        frac.parse().map_err(|_| bad())?
    };
    let pad = 10i64.checked_pow(exp - frac_len).ok_or_else(bad)?;
    w.checked_mul(factor)
        .and_then(|x| f.checked_mul(pad).and_then(|y| x.checked_add(y)))
        .ok_or_else(bad)
}

fn form_encode(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{k}={}", percent(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn percent(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub fn authorize(r: &ProviderRequest) -> Result<HttpRequest, ParseError> {
    let amount = to_decimal(r.amount_minor, &r.currency)?;
    let instrument = r.method_reference.clone().unwrap_or_default();
    let body = form_encode(&[
        ("amount", &amount),
        ("currency", &r.currency),
        ("instrument", &instrument),
        ("merchant_ref", &r.attempt_id),
        ("order", &r.payment_id),
        ("idem_key", &r.attempt_id),
    ]);
    Ok(HttpRequest {
        method: HttpMethod::Post,
        path: "/transactions".into(),
        headers: vec![],
        content_type: "application/x-www-form-urlencoded",
        body: body.into_bytes(),
    })
}

fn form_post(path: String, fields: &[(&str, &str)]) -> HttpRequest {
    HttpRequest {
        method: HttpMethod::Post,
        path,
        headers: vec![],
        content_type: "application/x-www-form-urlencoded",
        body: form_encode(fields).into_bytes(),
    }
}

/// A refund of a transaction: the refund id is its reference and its idempotency key.
pub fn refund(r: &ProviderRequest, txn: &str) -> Result<HttpRequest, ParseError> {
    let amount = to_decimal(r.amount_minor, &r.currency)?;
    Ok(form_post(
        "/refunds".into(),
        &[
            ("txn", txn),
            ("amount", &amount),
            ("currency", &r.currency),
            ("merchant_ref", &r.attempt_id),
            ("order", &r.payment_id),
            ("idem_key", &r.attempt_id),
        ],
    ))
}

/// A capture (`action` "capture", with the amount) or void ("void") of an authorized transaction.
pub fn settle(r: &ProviderRequest, txn: &str, action: &str) -> Result<HttpRequest, ParseError> {
    let amount = to_decimal(r.amount_minor, &r.currency)?;
    let key = format!("{}_{action}", r.attempt_id);
    Ok(form_post(
        format!("/transactions/{txn}/{action}"),
        &[
            ("amount", &amount),
            ("currency", &r.currency),
            ("idem_key", &key),
        ],
    ))
}

pub fn decline_class(code: &str) -> DeclineClass {
    match code {
        "NSF" => DeclineClass::InsufficientFunds,
        "CARD_INVALID" | "VPA_INVALID" => DeclineClass::InvalidPaymentMethod,
        "DNH" => DeclineClass::DoNotHonor,
        "RISK" => DeclineClass::RiskDecline,
        "ISSUER_DOWN" | "BANK_DOWN" => DeclineClass::IssuerUnavailable,
        "SYSTEM" => DeclineClass::ProviderError,
        "THROTTLED" => DeclineClass::RateLimited,
        "EXPIRED" => DeclineClass::Expired,
        _ => DeclineClass::Other,
    }
}

fn normalize(t: &Txn, currency: Option<&str>) -> Result<Normalized, ParseError> {
    let outcome = match t.state.as_str() {
        "CAPTURED" => ProviderOutcome::Succeeded,
        "PROCESSING" => ProviderOutcome::Pending,
        "REJECTED" => ProviderOutcome::Declined,
        "ERROR" => ProviderOutcome::Failed,
        other => {
            return Err(ParseError(format!(
                "unknown txn state '{}'",
                clean(other, 32)?
            )))
        }
    };
    let code = t.reason.as_ref().map(|r| r.code.as_str());
    let decline_class = match outcome {
        ProviderOutcome::Declined | ProviderOutcome::Failed => {
            Some(decline_class(code.unwrap_or("")))
        }
        _ => None,
    };
    let fee_minor = match (&t.charges, currency.or(t.currency.as_deref())) {
        (Some(c), Some(cur)) => Some(from_decimal(c, cur)?),
        _ => None,
    };
    Ok(Normalized {
        outcome,
        decline_class,
        provider_reference: Some(clean(&t.reference, TEXT_LEN_MAX)?),
        provider_code: code.map(|c| clean(c, 64)).transpose()?,
        message: None,
        fee_minor,
        bank_reference: None,
        verification: None,
    })
}

pub fn parse(status: u16, body: &[u8], currency: &str) -> Result<Normalized, ParseError> {
    let a: Answer =
        serde_json::from_slice(body).map_err(|e| ParseError(format!("HTTP {status}: {e}")))?;
    normalize(&a.txn, Some(currency))
}

pub fn parse_webhook(body: &[u8]) -> Result<WebhookEvent, ParseError> {
    let w: Webhook = serde_json::from_slice(body).map_err(|e| ParseError(e.to_string()))?;
    let result = normalize(&w.txn, None)?;
    let currency = w.txn.currency.as_deref().map(|c| clean(c, 3)).transpose()?;
    let amount_minor = match (&w.txn.amount, &currency) {
        (Some(a), Some(c)) => Some(from_decimal(a, c)?),
        _ => None,
    };
    Ok(WebhookEvent {
        event_id: clean(&w.event_id, TEXT_LEN_MAX)?,
        event_type: clean(&w.event, 64)?,
        payment_id: clean(w.txn.order.as_deref().unwrap_or_default(), TEXT_LEN_MAX)?,
        attempt_id: clean(
            w.txn.merchant_ref.as_deref().unwrap_or_default(),
            TEXT_LEN_MAX,
        )?,
        amount_minor,
        currency,
        created_ms: w.ts_ms,
        result,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_convert_exactly_both_ways() {
        type Case<'a> = (i64, &'a str, &'a str);
        let cases: [Case<'_>; 5] = [
            (12_345, "INR", "123.45"),
            (5, "INR", "0.05"),
            (500, "JPY", "500"),
            (1_234, "KWD", "1.234"),
            (0, "USD", "0.00"),
        ];
        for (minor, cur, text) in cases {
            assert_eq!(to_decimal(minor, cur).unwrap(), text);
            assert_eq!(from_decimal(text, cur).unwrap(), minor);
        }
        assert_eq!(from_decimal("123.4", "INR").unwrap(), 12_340);
        for bad in ["1.234", "-1", "1e3", "", ".5", "1.", "99999999999999999999"] {
            assert!(from_decimal(bad, "INR").is_err(), "{bad}");
        }
    }

    #[test]
    fn answers_map_to_outcomes() {
        let ok = parse(
            200,
            br#"{"txn":{"ref":"bt_1","state":"CAPTURED","charges":"0.25"}}"#,
            "INR",
        )
        .unwrap();
        assert_eq!(
            (ok.outcome, ok.fee_minor),
            (ProviderOutcome::Succeeded, Some(25))
        );
        let nsf = parse(
            200,
            br#"{"txn":{"ref":"bt_1","state":"REJECTED","reason":{"code":"NSF"}}}"#,
            "INR",
        )
        .unwrap();
        assert_eq!(nsf.decline_class, Some(DeclineClass::InsufficientFunds));
        assert!(parse(200, br#"{"txn":{"ref":"bt_1","state":"???"}}"#, "INR").is_err());
    }
}
