//! Signatures of inbound provider webhooks, as Standard Webhooks v1 defines them: headers
//! `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature` (space-separated
//! `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`), secrets written `whsec_<base64>`.
//!
//! Verification compares in constant time, lengths included (`hmac`'s `verify_slice`), accepts any of
//! several signatures (so secrets can rotate), and rejects a timestamp more than the tolerance away
//! from now, in either direction, which bounds replays. Every input is bounded before it is used.

use crate::domain::ids::ID_LEN_MAX;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

pub const TOLERANCE_S_DEFAULT: i64 = 300;
const SIGNATURE_HEADER_LEN_MAX: usize = 2_048;

/// A secret, held as the keyed HMAC so that a bad key is an error at parse time, not per delivery.
#[derive(Clone)]
pub struct WebhookSecret(HmacSha256);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(..)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("webhook secret must be whsec_<base64> with at least 16 bytes")]
    BadSecret,
    #[error("header {0} is missing")]
    MissingHeader(&'static str),
    #[error("header {0} is too long")]
    HeaderTooLong(&'static str),
    #[error("webhook-timestamp is not Unix seconds")]
    BadTimestamp,
    #[error("webhook-timestamp is {skew_s} s away from now; the tolerance is {tolerance_s} s")]
    OutsideTolerance { skew_s: i64, tolerance_s: i64 },
    #[error("no v1 signature matches")]
    NoMatch,
}

impl WebhookSecret {
    pub fn parse(s: &str) -> Result<Self, SignatureError> {
        let key = B64
            .decode(s.strip_prefix("whsec_").ok_or(SignatureError::BadSecret)?)
            .map_err(|_| SignatureError::BadSecret)?;
        if key.len() < 16 {
            return Err(SignatureError::BadSecret);
        }
        HmacSha256::new_from_slice(&key)
            .map(Self)
            .map_err(|_| SignatureError::BadSecret)
    }

    fn mac(&self, id: &str, timestamp_s: i64, body: &[u8]) -> HmacSha256 {
        let mut mac = self.0.clone();
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp_s.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }

    /// The `webhook-signature` value for a delivery (the sandbox PSP signs with it).
    pub fn sign(&self, id: &str, timestamp_s: i64, body: &[u8]) -> String {
        format!(
            "v1,{}",
            B64.encode(self.mac(id, timestamp_s, body).finalize().into_bytes())
        )
    }
}

/// The three headers, as received (absent headers are `None`).
#[derive(Debug, Clone, Copy)]
pub struct SignedHeaders<'a> {
    pub id: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
}

/// Verifies a delivery against any of `secrets`; returns the webhook id on success.
pub fn verify<'a>(
    secrets: &[WebhookSecret],
    h: SignedHeaders<'a>,
    body: &[u8],
    now_s: i64,
    tolerance_s: i64,
) -> Result<&'a str, SignatureError> {
    let id = h.id.ok_or(SignatureError::MissingHeader("webhook-id"))?;
    let timestamp = h
        .timestamp
        .ok_or(SignatureError::MissingHeader("webhook-timestamp"))?;
    let signature = h
        .signature
        .ok_or(SignatureError::MissingHeader("webhook-signature"))?;
    if id.len() > ID_LEN_MAX {
        return Err(SignatureError::HeaderTooLong("webhook-id"));
    }
    if signature.len() > SIGNATURE_HEADER_LEN_MAX {
        return Err(SignatureError::HeaderTooLong("webhook-signature"));
    }
    if timestamp.is_empty()
        || timestamp.len() > 12
        || !timestamp.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(SignatureError::BadTimestamp);
    }
    let ts: i64 = timestamp
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    let skew_s = ts.saturating_sub(now_s);
    if skew_s.saturating_abs() > tolerance_s {
        return Err(SignatureError::OutsideTolerance {
            skew_s,
            tolerance_s,
        });
    }
    let candidates: Vec<Vec<u8>> = signature
        .split(' ')
        .filter_map(|part| part.strip_prefix("v1,"))
        .filter_map(|b64| B64.decode(b64).ok())
        .collect();
    for secret in secrets {
        for candidate in &candidates {
            if secret.mac(id, ts, body).verify_slice(candidate).is_ok() {
                return Ok(id);
            }
        }
    }
    Err(SignatureError::NoMatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const NOW: i64 = 1_763_942_400;

    fn secret() -> WebhookSecret {
        WebhookSecret::parse(SECRET).unwrap()
    }

    fn headers<'a>(id: &'a str, ts: &'a str, sig: &'a str) -> SignedHeaders<'a> {
        SignedHeaders {
            id: Some(id),
            timestamp: Some(ts),
            signature: Some(sig),
        }
    }

    #[test]
    fn matches_the_standard_webhooks_reference_vector() {
        // The specification's published example: this id, timestamp, body and secret give this signature.
        let body = br#"{"test": 2432232314}"#;
        let sig = secret().sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, body);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn verification_cases() {
        let body = br#"{"event":"payment.captured"}"#;
        let good = secret().sign("wh_1", NOW, body);
        let other = WebhookSecret::parse("whsec_QUFBQUFBQUFBQUFBQUFBQUFBQUE=").unwrap();
        let ts = NOW.to_string();
        let late = (NOW - 301).to_string();
        let future = (NOW + 301).to_string();
        let edge = (NOW - 300).to_string();
        let edge_sig = secret().sign("wh_1", NOW - 300, body);
        let rotated = format!("v1,AAAA {good}");
        let truncated = good[..good.len() - 4].to_owned();
        type Case<'a> = (
            &'a str,
            SignedHeaders<'a>,
            &'a [u8],
            Result<&'a str, SignatureError>,
        );
        let cases: Vec<Case> = vec![
            ("valid", headers("wh_1", &ts, &good), body, Ok("wh_1")),
            (
                "one of several signatures",
                headers("wh_1", &ts, &rotated),
                body,
                Ok("wh_1"),
            ),
            (
                "at the tolerance edge",
                headers("wh_1", &edge, &edge_sig),
                body,
                Ok("wh_1"),
            ),
            (
                "tampered body",
                headers("wh_1", &ts, &good),
                br#"{"event":"payment.failed"}"#,
                Err(SignatureError::NoMatch),
            ),
            (
                "other id",
                headers("wh_2", &ts, &good),
                body,
                Err(SignatureError::NoMatch),
            ),
            (
                "truncated signature",
                headers("wh_1", &ts, &truncated),
                body,
                Err(SignatureError::NoMatch),
            ),
            (
                "no v1 prefix",
                headers("wh_1", &ts, &good[3..]),
                body,
                Err(SignatureError::NoMatch),
            ),
            (
                "too old",
                headers("wh_1", &late, &good),
                body,
                Err(SignatureError::OutsideTolerance {
                    skew_s: -301,
                    tolerance_s: 300,
                }),
            ),
            (
                "too far ahead",
                headers("wh_1", &future, &good),
                body,
                Err(SignatureError::OutsideTolerance {
                    skew_s: 301,
                    tolerance_s: 300,
                }),
            ),
            (
                "not a number",
                headers("wh_1", "12ab", &good),
                body,
                Err(SignatureError::BadTimestamp),
            ),
            (
                "missing signature",
                SignedHeaders {
                    id: Some("wh_1"),
                    timestamp: Some(&ts),
                    signature: None,
                },
                body,
                Err(SignatureError::MissingHeader("webhook-signature")),
            ),
        ];
        for (name, h, b, want) in cases {
            assert_eq!(verify(&[secret()], h, b, NOW, 300), want, "{name}");
        }
        assert_eq!(
            verify(
                std::slice::from_ref(&other),
                headers("wh_1", &ts, &good),
                body,
                NOW,
                300
            ),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify(
                &[other, secret()],
                headers("wh_1", &ts, &good),
                body,
                NOW,
                300
            ),
            Ok("wh_1"),
            "rotation: any configured secret"
        );
    }

    #[test]
    fn secrets_and_oversized_headers_are_refused() {
        assert_eq!(
            WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap_err(),
            SignatureError::BadSecret
        );
        assert_eq!(
            WebhookSecret::parse("whsec_c2hvcnQ=").unwrap_err(),
            SignatureError::BadSecret
        );
        let long = "v1,".repeat(1_000);
        assert_eq!(
            verify(
                &[secret()],
                headers("wh", &NOW.to_string(), &long),
                b"",
                NOW,
                300
            ),
            Err(SignatureError::HeaderTooLong("webhook-signature"))
        );
        assert!(
            !format!("{:?}", secret()).contains("MfKQ"),
            "secrets never reach logs"
        );
    }
}
