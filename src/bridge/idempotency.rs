//! `Idempotency-Key` semantics, as a pure decision over what is stored for (merchant, key).
//!
//! A key names one request: its method, route and body (the IETF draft's and Stripe's rule). So:
//! - same key, same request, first request completed → replay the first response (whatever it was);
//! - same key, another request (another payment, another action, another body) → 422, never someone
//!   else's response;
//! - same key while the first request is still in flight → 409;
//! - an in-flight record older than the lock timeout belongs to a request that died: take it over;
//! - a first request whose outcome the bridge could not know (a Kafka send that timed out) is kept as
//!   `unknown`: the retry runs it again, which is safe because the request names the same payment and
//!   command ids (derived from the key) and the state machine drops a command it has already applied;
//! - records are kept at least 24 h; an older one counts as absent.
//!
//! Keys are scoped per merchant by the caller (the storage key is (merchant, key)). The store claims a
//! key with a conditional insert, so two concurrent first requests cannot both proceed.

use crate::domain::ids::{IdError, MerchantId, PaymentId};
pub use crate::store::bridge::Stored;
use sha2::{Digest, Sha256};

pub const KEY_LEN_MAX: usize = 255;
pub const RETENTION_MS: i64 = 24 * 60 * 60 * 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Claim the key and process the request.
    Proceed,
    /// Answer with the stored response.
    Replay { status: u16, response: Vec<u8> },
    /// 409: the first request with this key has not finished.
    InFlight,
    /// 422: the key was used for another request.
    RequestMismatch,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("Idempotency-Key is empty or longer than {KEY_LEN_MAX} characters")]
    Length,
    #[error("Idempotency-Key must be printable ASCII")]
    Charset,
    #[error(
        "Idempotency-Key holds a card number: use an opaque key such as an order id or a UUID"
    )]
    CardNumber,
}

pub fn validate_key(key: &str) -> Result<(), KeyError> {
    if key.is_empty() || key.len() > KEY_LEN_MAX {
        return Err(KeyError::Length);
    }
    if !key.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(KeyError::Charset);
    }
    if crate::domain::pan::contains_pan(key) {
        return Err(KeyError::CardNumber);
    }
    Ok(())
}

/// Hex SHA-256 of a request (method, path, body), as stored and compared.
pub fn request_hash(method: &str, path: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update(b"\n");
    h.update(path.as_bytes());
    h.update(b"\n");
    h.update(body);
    hex::encode(h.finalize())
}

pub fn decide(
    stored: Option<&Stored>,
    request_sha256: &str,
    now_ms: i64,
    lock_timeout_ms: i64,
) -> Decision {
    let Some(stored) = stored else {
        return Decision::Proceed;
    };
    if let Stored::Completed { completed_ms, .. } = stored {
        if now_ms.saturating_sub(*completed_ms) > RETENTION_MS {
            return Decision::Proceed;
        }
    }
    if stored.request_sha256() != request_sha256 {
        return Decision::RequestMismatch;
    }
    match stored {
        Stored::Completed {
            status, response, ..
        } => Decision::Replay {
            status: *status,
            response: response.clone(),
        },
        Stored::Unknown { .. } => Decision::Proceed,
        Stored::InFlight { started_ms, .. }
            if now_ms.saturating_sub(*started_ms) > lock_timeout_ms =>
        {
            Decision::Proceed
        }
        Stored::InFlight { .. } => Decision::InFlight,
    }
}

/// The payment id a create request names: derived from (merchant, key) when a key is given, so that a
/// retry after any failure names the same payment; random otherwise.
pub fn payment_id(merchant_id: &MerchantId, key: Option<&str>) -> Result<PaymentId, IdError> {
    let id = match key {
        Some(k) => format!("pay_{}", derived(&["payment", merchant_id.as_str(), k])),
        None => format!("pay_{}", uuid::Uuid::now_v7().simple()),
    };
    PaymentId::parse(&id)
}

/// The refund id of a request: derived from (merchant, key) when a key is given, so a retried request
/// names the same refund.
pub fn refund_id(merchant_id: &MerchantId, key: Option<&str>) -> String {
    match key {
        Some(k) => format!("re_{}", derived(&["refund", merchant_id.as_str(), k])),
        None => format!("re_{}", uuid::Uuid::now_v7().simple()),
    }
}

/// The command id of a request: derived from (merchant, key, what the command does) when a key is
/// given, so a retried request publishes the very command it published before.
pub fn command_id(
    merchant_id: &MerchantId,
    key: Option<&str>,
    payment_id: &PaymentId,
    kind: &str,
) -> String {
    match key {
        Some(k) => format!(
            "cmd_{}",
            derived(&[
                "command",
                merchant_id.as_str(),
                k,
                payment_id.as_str(),
                kind
            ])
        ),
        None => format!("cmd_{}", uuid::Uuid::now_v7().simple()),
    }
}

/// 32 hex characters of SHA-256 over the parts, each length-prefixed so no two lists collide.
/// A stable id from its parts (128 bits of SHA-256, hex): a retried request derives the same.
pub fn derived_id(parts: &[&str]) -> String {
    derived(parts)
}

fn derived(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.len().to_le_bytes());
        h.update(p.as_bytes());
    }
    let digest = h.finalize();
    hex::encode(&digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_table() {
        let h = request_hash("POST", "/v1/payment_intents", b"{\"amount\":100}");
        let other = request_hash("POST", "/v1/payment_intents", b"{\"amount\":200}");
        let done = Stored::Completed {
            request_sha256: h.clone(),
            completed_ms: 1_000,
            status: 201,
            response: b"{\"id\":\"pay_1\"}".to_vec(),
        };
        let failed = Stored::Completed {
            request_sha256: h.clone(),
            completed_ms: 1_000,
            status: 502,
            response: b"{}".to_vec(),
        };
        let flying = Stored::InFlight {
            request_sha256: h.clone(),
            started_ms: 1_000,
        };
        let mut cases: Vec<(&str, Option<&Stored>, &str, i64, Decision)> = vec![
            ("first use", None, &h, 2_000, Decision::Proceed),
            (
                "same body replays",
                Some(&done),
                &h,
                2_000,
                Decision::Replay {
                    status: 201,
                    response: b"{\"id\":\"pay_1\"}".to_vec(),
                },
            ),
            (
                "even a failed first response replays",
                Some(&failed),
                &h,
                2_000,
                Decision::Replay {
                    status: 502,
                    response: b"{}".to_vec(),
                },
            ),
            (
                "different body",
                Some(&done),
                &other,
                2_000,
                Decision::RequestMismatch,
            ),
            ("in flight", Some(&flying), &h, 2_000, Decision::InFlight),
            (
                "in flight, different body",
                Some(&flying),
                &other,
                2_000,
                Decision::RequestMismatch,
            ),
            (
                "stale lock is taken over",
                Some(&flying),
                &h,
                1_000 + 30_001,
                Decision::Proceed,
            ),
            (
                "kept 24 h",
                Some(&done),
                &h,
                1_000 + RETENTION_MS,
                Decision::Replay {
                    status: 201,
                    response: b"{\"id\":\"pay_1\"}".to_vec(),
                },
            ),
            (
                "expired after 24 h",
                Some(&done),
                &other,
                1_000 + RETENTION_MS + 1,
                Decision::Proceed,
            ),
        ];
        let unknown = Stored::Unknown {
            request_sha256: h.clone(),
            started_ms: 1_000,
        };
        cases.extend([
            (
                "unknown outcome runs again",
                Some(&unknown),
                h.as_str(),
                1_500,
                Decision::Proceed,
            ),
            (
                "unknown outcome, another request",
                Some(&unknown),
                other.as_str(),
                1_500,
                Decision::RequestMismatch,
            ),
        ]);
        for (name, stored, body, now, want) in cases {
            assert_eq!(decide(stored, body, now, 30_000), want, "{name}");
        }
    }

    #[test]
    fn a_key_names_method_route_and_body() {
        let body = b"{}";
        let cancel_a = request_hash("POST", "/v1/payment_intents/A/cancel", body);
        assert_ne!(
            cancel_a,
            request_hash("POST", "/v1/payment_intents/B/cancel", body)
        );
        assert_ne!(
            cancel_a,
            request_hash("POST", "/v1/payment_intents/A/confirm", body)
        );
        assert_ne!(
            cancel_a,
            request_hash("GET", "/v1/payment_intents/A/cancel", body)
        );
        assert_eq!(
            cancel_a,
            request_hash("POST", "/v1/payment_intents/A/cancel", body)
        );
    }

    #[test]
    fn ids_derived_from_a_key_are_stable_and_scoped_per_merchant() {
        let (m_a, m_b) = (
            MerchantId::parse("m_a").unwrap(),
            MerchantId::parse("m_b").unwrap(),
        );
        let id = |m: &MerchantId, key: Option<&str>| payment_id(m, key).unwrap();
        let a = id(&m_a, Some("order-1"));
        assert_eq!(a, id(&m_a, Some("order-1")));
        assert_ne!(a, id(&m_b, Some("order-1")));
        assert_ne!(a, id(&m_a, Some("order-2")));
        assert_ne!(id(&m_a, None), id(&m_a, None));
        assert_eq!(a.as_str().len(), "pay_".len() + 32);
        let confirm = command_id(&m_a, Some("k"), &a, "CONFIRM");
        assert_eq!(confirm, command_id(&m_a, Some("k"), &a, "CONFIRM"));
        assert_ne!(confirm, command_id(&m_a, Some("k"), &a, "CANCEL"));
    }

    #[test]
    fn keys_are_bounded_printable_ascii() {
        assert!(validate_key("order-1234_retry.1").is_ok());
        assert_eq!(validate_key(""), Err(KeyError::Length));
        assert_eq!(validate_key(&"k".repeat(256)), Err(KeyError::Length));
        assert!(validate_key(&"k".repeat(255)).is_ok());
        assert_eq!(validate_key("has space"), Err(KeyError::Charset));
        assert_eq!(validate_key("ключ"), Err(KeyError::Charset));
        assert_eq!(validate_key("4242424242424242"), Err(KeyError::CardNumber));
    }
}
