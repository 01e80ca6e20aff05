//! `Idempotency-Key` semantics, as a pure decision over what is stored for (merchant, key).
//!
//! - same key, same body, first request completed → replay the first response (whatever it was);
//! - same key, different body → 422;
//! - same key while the first request is still in flight → 409;
//! - an in-flight record older than the lock timeout belongs to a request that died: take it over;
//! - records are kept at least 24 h; an older one counts as absent.
//!
//! Keys are scoped per merchant by the caller (the storage key is (merchant, key)). The store claims a
//! key with a conditional insert, so two concurrent first requests cannot both proceed.

use sha2::{Digest, Sha256};

pub const KEY_LEN_MAX: usize = 255;
pub const RETENTION_MS: i64 = 24 * 60 * 60 * 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    InFlight {
        body_sha256: String,
        started_ms: i64,
    },
    Completed {
        body_sha256: String,
        completed_ms: i64,
        status: u16,
        response: Vec<u8>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Claim the key and process the request.
    Proceed,
    /// Answer with the stored response.
    Replay { status: u16, response: Vec<u8> },
    /// 409: the first request with this key has not finished.
    InFlight,
    /// 422: the key was used with a different body.
    BodyMismatch,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("Idempotency-Key is empty or longer than {KEY_LEN_MAX} characters")]
    Length,
    #[error("Idempotency-Key must be printable ASCII")]
    Charset,
}

pub fn validate_key(key: &str) -> Result<(), KeyError> {
    if key.is_empty() || key.len() > KEY_LEN_MAX {
        return Err(KeyError::Length);
    }
    if !key.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return Err(KeyError::Charset);
    }
    Ok(())
}

/// Hex SHA-256 of a request body, as stored and compared.
pub fn body_hash(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

pub fn decide(
    stored: Option<&Stored>,
    body_sha256: &str,
    now_ms: i64,
    lock_timeout_ms: i64,
) -> Decision {
    match stored {
        None => Decision::Proceed,
        Some(Stored::Completed { completed_ms, .. })
            if now_ms.saturating_sub(*completed_ms) > RETENTION_MS =>
        {
            Decision::Proceed
        }
        Some(Stored::Completed { body_sha256: b, .. }) if b != body_sha256 => {
            Decision::BodyMismatch
        }
        Some(Stored::Completed {
            status, response, ..
        }) => Decision::Replay {
            status: *status,
            response: response.clone(),
        },
        Some(Stored::InFlight { body_sha256: b, .. }) if b != body_sha256 => Decision::BodyMismatch,
        Some(Stored::InFlight { started_ms, .. })
            if now_ms.saturating_sub(*started_ms) > lock_timeout_ms =>
        {
            Decision::Proceed
        }
        Some(Stored::InFlight { .. }) => Decision::InFlight,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decision_table() {
        let h = body_hash(b"{\"amount\":100}");
        let other = body_hash(b"{\"amount\":200}");
        let done = Stored::Completed {
            body_sha256: h.clone(),
            completed_ms: 1_000,
            status: 201,
            response: b"{\"id\":\"pay_1\"}".to_vec(),
        };
        let failed = Stored::Completed {
            body_sha256: h.clone(),
            completed_ms: 1_000,
            status: 502,
            response: b"{}".to_vec(),
        };
        let flying = Stored::InFlight {
            body_sha256: h.clone(),
            started_ms: 1_000,
        };
        let cases: Vec<(&str, Option<&Stored>, &str, i64, Decision)> = vec![
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
                Decision::BodyMismatch,
            ),
            ("in flight", Some(&flying), &h, 2_000, Decision::InFlight),
            (
                "in flight, different body",
                Some(&flying),
                &other,
                2_000,
                Decision::BodyMismatch,
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
        for (name, stored, body, now, want) in cases {
            assert_eq!(decide(stored, body, now, 30_000), want, "{name}");
        }
    }

    #[test]
    fn keys_are_bounded_printable_ascii() {
        assert!(validate_key("order-1234_retry.1").is_ok());
        assert_eq!(validate_key(""), Err(KeyError::Length));
        assert_eq!(validate_key(&"k".repeat(256)), Err(KeyError::Length));
        assert!(validate_key(&"k".repeat(255)).is_ok());
        assert_eq!(validate_key("has space"), Err(KeyError::Charset));
        assert_eq!(validate_key("ключ"), Err(KeyError::Charset));
    }
}
