//! Every refusal of the HTTP edge is `{"error": {"code", "field", "message"}}` with a precise status:
//! the handlers' own ([`ApiError`]) and the framework's (unknown route, wrong method, body over the
//! limit, unreadable body), which [`json_refusals`] rewrites into the same shape.

use crate::metrics as m;
use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// What a failed request did: nothing, or something the bridge cannot know (a send that timed out
/// may still be delivered). An unknown outcome keeps the Idempotency-Key so that a retry resolves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    None,
    Unknown,
}

/// Seconds a client should wait before retrying a request whose outcome is unknown.
pub const RETRY_AFTER_S: u32 = 2;

/// A refusal: status, stable code, field and what to fix.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub field: Option<String>,
    pub message: String,
    pub effect: Effect,
}

pub fn err(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        code,
        field: None,
        message: message.into(),
        effect: Effect::None,
    }
}

/// A 422 naming the field.
pub fn invalid(code: &'static str, field: &str, message: impl Into<String>) -> ApiError {
    ApiError {
        field: Some(field.to_owned()),
        ..err(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }
}

/// A 503 for a request that may or may not have taken effect.
pub fn outcome_unknown(message: impl Into<String>) -> ApiError {
    ApiError {
        effect: Effect::Unknown,
        ..err(StatusCode::SERVICE_UNAVAILABLE, "outcome_unknown", message)
    }
}

pub fn store_unavailable(e: impl std::fmt::Display) -> ApiError {
    err(
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
        e.to_string(),
    )
}

impl From<super::validation::Invalid> for ApiError {
    fn from(i: super::validation::Invalid) -> Self {
        invalid(i.code, i.field, i.message)
    }
}

impl ApiError {
    pub fn body(&self) -> Vec<u8> {
        serde_json::to_vec(
            &json!({"error": {"code": self.code, "field": self.field, "message": self.message}}),
        )
        .unwrap_or_default()
    }

    pub fn respond(&self, route: &'static str) -> Response {
        let mut r = respond(route, self.status, self.body());
        if self.effect == Effect::Unknown {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_S));
        }
        r
    }
}

pub fn respond(route: &'static str, status: StatusCode, body: Vec<u8>) -> Response {
    metrics::counter!(m::BRIDGE_REQUESTS, "route" => route, "status" => status.as_u16().to_string()).increment(1);
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The refusal for a status the framework produced, in the documented shape.
fn framework_refusal(status: StatusCode, body_bytes_max: usize) -> ApiError {
    let (code, message) = match status {
        StatusCode::NOT_FOUND => (
            "route_not_found",
            "no such route: see the API reference in docs/payment-flow.md".to_owned(),
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "this route does not take that method: the Allow header lists the ones it takes"
                .to_owned(),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "body_too_large",
            format!("the body is larger than {body_bytes_max} bytes: send a smaller request"),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "content_type_unsupported",
            "send the body as JSON with `Content-Type: application/json`".to_owned(),
        ),
        s if s.is_client_error() => (
            "request_invalid",
            "the request could not be read: check the body and the headers".to_owned(),
        ),
        _ => (
            "internal_error",
            "the bridge failed to answer: retry with the same Idempotency-Key".to_owned(),
        ),
    };
    err(status, code, message)
}

/// Rewrites any error response that is not JSON (the framework's 404, 405, 413, ...) into the
/// documented shape, keeping its status and headers such as `Allow`.
pub async fn json_refusals(body_bytes_max: usize, response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let refusal = framework_refusal(status, body_bytes_max);
    metrics::counter!(m::BRIDGE_REQUESTS, "route" => "(framework)", "status" => status.as_u16().to_string()).increment(1);
    let (mut parts, _) = response.into_parts();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(refusal.body()))
}

/// A read's answer: `200` with the JSON body, or the refusal.
pub fn ok_json(route: &'static str, result: Result<serde_json::Value, ApiError>) -> Response {
    match result {
        Ok(body) => respond(
            route,
            StatusCode::OK,
            serde_json::to_vec(&body).unwrap_or_default(),
        ),
        Err(e) => e.respond(route),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn framework_refusals_become_the_documented_json() {
        let cases = [
            (StatusCode::NOT_FOUND, "route_not_found"),
            (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"),
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "content_type_unsupported",
            ),
            (StatusCode::BAD_REQUEST, "request_invalid"),
        ];
        for (status, code) in cases {
            let plain = (status, [(header::ALLOW, "GET")], "Failed to buffer").into_response();
            let r = json_refusals(16, plain).await;
            assert_eq!(r.status(), status);
            assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
            assert_eq!(r.headers()[header::ALLOW], "GET", "headers are kept");
            let body = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["error"]["code"], code, "{status}");
        }
        // JSON answers and successes pass untouched.
        let ok = (StatusCode::OK, "plain").into_response();
        let r = json_refusals(16, ok).await;
        let body = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        assert_eq!(&body[..], b"plain");
    }
}
