//! What every API request goes through before a handler sees it: the API key and its role, the
//! Idempotency-Key's form, the content type, JSON parsing, and card numbers refused anywhere.

use super::config::Role;
use super::errors::{err, invalid, ApiError};
use super::shared::{Bridge, Caller};
use crate::domain::ids::MerchantId;
use crate::domain::pan;
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

/// The merchant whose API key authorizes the request.
pub(super) fn merchant(b: &Bridge, headers: &HeaderMap) -> Result<MerchantId, ApiError> {
    caller(b, headers).map(|c| c.merchant_id)
}

/// Who the request's API key names.
pub(super) fn caller(b: &Bridge, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let key = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            err(
                StatusCode::UNAUTHORIZED,
                "api_key_missing",
                "send `Authorization: Bearer <your API key>`",
            )
        })?;
    let digest = hex::encode(Sha256::digest(key.trim().as_bytes()));
    b.callers.get(&digest).cloned().ok_or_else(|| {
        err(
            StatusCode::UNAUTHORIZED,
            "api_key_invalid",
            "the API key is not known: check it, or ask for a new one",
        )
    })
}

/// Authentication, the key's `role`, the Idempotency-Key's form and the content type, in that
/// order: who calls, and the key their request is remembered by.
pub(super) fn authorized(
    b: &Bridge,
    headers: &HeaderMap,
    body: &[u8],
    role: Role,
) -> Result<(Caller, Option<String>), ApiError> {
    let who = caller(b, headers)?;
    who.require(role)?;
    let key = headers
        .get("idempotency-key")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    if let Some(k) = &key {
        super::idempotency::validate_key(k).map_err(|e| {
            err(
                StatusCode::BAD_REQUEST,
                "idempotency_key_invalid",
                e.to_string(),
            )
        })?;
    }
    require_json(headers, body)?;
    Ok((who, key))
}

/// A JSON body's content type is `application/json` (parameters such as `charset` allowed); an empty
/// body needs none.
pub(super) fn require_json(headers: &HeaderMap, body: &[u8]) -> Result<(), ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().trim());
    match content_type {
        Some(t) if t.eq_ignore_ascii_case("application/json") => Ok(()),
        None if body.is_empty() => Ok(()),
        Some(other) => Err(err(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content_type_unsupported",
            format!("Content-Type '{other}' is not accepted: send the body as JSON with `Content-Type: application/json`"),
        )),
        None => Err(err(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content_type_unsupported",
            "no Content-Type: send the body as JSON with `Content-Type: application/json`",
        )),
    }
}

/// The refusal of a card number found at `field`; it never repeats the number.
pub(super) fn card_number_at(field: &str) -> ApiError {
    invalid(
        "raw_card_number",
        field,
        "a card number was sent: send the card vault token (card_token) instead; paystream never accepts a PAN, in any field, key or text",
    )
}

/// Parses a JSON body into `T`, after refusing any card number anywhere in it (values, keys, digits
/// inside longer text).
pub(super) fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        err(
            StatusCode::BAD_REQUEST,
            "body_invalid",
            format!("the body is not valid JSON: {e}"),
        )
    })?;
    if let Some(field) = pan::find_in_json(&value) {
        return Err(card_number_at(&field));
    }
    serde_json::from_value(value).map_err(|e| {
        err(
            StatusCode::BAD_REQUEST,
            "body_invalid",
            format!("the body is not valid for this endpoint: {e}"),
        )
    })
}
