//! `POST /webhooks/{provider}`: signature verified (Standard Webhooks, within the tolerance), refused
//! if it carries a card number, deduplicated on the webhook id, normalized by the connector's parser
//! and published to the webhooks topic. It never touches payment state: the state machine decides
//! what the webhook means.

use super::errors::{err, invalid, respond, store_unavailable, ApiError};
use super::request::card_number_at;
use super::shared::Bridge;
use crate::connectors::config::ConnectorKind;
use crate::connectors::webhook_signature::{self, SignedHeaders, WebhookSecret};
use crate::connectors::{self, WebhookEvent};
use crate::contract::provider::{self, Subject};
use crate::domain::clock::now_millis;
use crate::domain::ids::{AttemptId, IdError, PaymentId, PayoutId, RefundId};
use crate::domain::pan;
use crate::events::provider::ProviderWebhook;
use crate::events::TimestampMillis;
use crate::metrics as m;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tracing::warn;

pub async fn receive(
    State(b): State<Arc<Bridge>>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let route = "/webhooks/{provider}";
    let (label, answer) = match handle(&b, &provider, &headers, &body).await {
        Ok((label, answer)) => (Some(label), Ok(answer)),
        Err((label, e)) => (label, Err(e)),
    };
    if let Some(label) = label {
        metrics::counter!(m::BRIDGE_WEBHOOKS, "provider" => provider, "outcome" => label)
            .increment(1);
    }
    match answer {
        Ok(body) => respond(route, StatusCode::OK, body),
        Err(e) => e.respond(route),
    }
}

/// The answer, or the refusal, with the outcome label it is counted under (none for a provider
/// that is not configured or a store or broker that is not there).
type Handled = Result<(&'static str, Vec<u8>), (Option<&'static str>, ApiError)>;

/// Verifies, parses, deduplicates and publishes one webhook.
async fn handle(b: &Bridge, provider: &str, headers: &HeaderMap, body: &[u8]) -> Handled {
    let Some((kind, secret)) = b.providers.get(provider) else {
        let e = err(
            StatusCode::NOT_FOUND,
            "unknown_provider",
            "no connector with this name is configured",
        );
        return Err((None, e));
    };
    let id = verified(b, secret, headers, body).map_err(|e| (Some("bad_signature"), e))?;
    let (event, subject) = parsed(*kind, body).map_err(|e| (Some("invalid"), e))?;
    match b.tables.bridge.webhook_seen(provider, &id).await {
        Ok(true) => {
            return Ok((
                "duplicate",
                br#"{"received":true,"duplicate":true}"#.to_vec(),
            ))
        }
        Ok(false) => {}
        Err(e) => return Err((None, store_unavailable(e))),
    }
    let now = now_millis();
    let normalized = normalized(provider, &id, event, &subject, body, now);
    // Publish first, then remember the id: a crash in between re-publishes on the provider's retry,
    // and the state machine rejects that duplicate. The other order could lose the webhook.
    // A publish whose outcome is unknown is answered 503 too: the provider's retry is deduplicated
    // by the state machine if the first copy was delivered after all.
    // A transfer's webhook goes to the payout processor, a charge's or refund's to the payments'.
    let topic = match kind {
        ConnectorKind::Transferly => &b.topics.payout_webhooks,
        ConnectorKind::Acme | ConnectorKind::Bolt => &b.topics.webhooks,
    };
    b.publish(topic, &normalized).await.map_err(|e| (None, e))?;
    if let Err(e) = b.tables.bridge.mark_webhook(provider, &id, now).await {
        warn!(error = %e, "webhook id not remembered; a redelivery will be published and rejected as a duplicate");
    }
    Ok(("accepted", br#"{"received":true}"#.to_vec()))
}

/// The webhook id, once the Standard Webhooks signature holds within the tolerance.
fn verified(
    b: &Bridge,
    secret: &WebhookSecret,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<String, ApiError> {
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let signed = SignedHeaders {
        id: h("webhook-id"),
        timestamp: h("webhook-timestamp"),
        signature: h("webhook-signature"),
    };
    webhook_signature::verify(
        std::slice::from_ref(secret),
        signed,
        body,
        now_millis() / 1_000,
        b.config.webhook_tolerance_s,
    )
    .map(str::to_owned)
    .map_err(|e| err(StatusCode::UNAUTHORIZED, "signature_invalid", e.to_string()))
}

/// The connector's reading of the body. Provider text is untrusted too: a card number in it is
/// refused, never published or stored.
fn parsed(kind: ConnectorKind, body: &[u8]) -> Result<(WebhookEvent, Subject), ApiError> {
    if pan::contains_pan(&String::from_utf8_lossy(body)) {
        return Err(card_number_at("(webhook body)"));
    }
    match connectors::parse_webhook(kind, body) {
        Ok(ev) if !ev.payment_id.is_empty() && !ev.attempt_id.is_empty() => {
            let subject = subject_of(kind, &ev)?;
            Ok((ev, subject))
        }
        Ok(_) => Err(err(
            StatusCode::BAD_REQUEST,
            "webhook_invalid",
            "the webhook names no payment or attempt",
        )),
        Err(pe) => Err(err(
            StatusCode::BAD_REQUEST,
            "webhook_invalid",
            pe.to_string(),
        )),
    }
}

/// What the webhook reports on, by the id rule of the processor it goes to, applied here: a webhook
/// the processor would dead-letter is refused with a 4xx, so the provider retries or alerts instead
/// of believing it was delivered. A charge's or refund's payment id must leave room for the ids
/// derived from it (the payment processor's rule); a transfer's carries the payout id.
fn subject_of(kind: ConnectorKind, ev: &WebhookEvent) -> Result<Subject, ApiError> {
    let refuse = |field: &str, e: IdError| {
        invalid(
            "webhook_invalid",
            field,
            format!("the webhook's {field} cannot be an id here: {e}"),
        )
    };
    let payment = || PaymentId::parse(&ev.payment_id).map_err(|e| refuse("payment_id", e));
    Ok(match kind {
        ConnectorKind::Transferly => {
            let payout = PayoutId::parse(&ev.payment_id).map_err(|e| refuse("payment_id", e))?;
            AttemptId::parse(&ev.attempt_id).map_err(|e| refuse("attempt_id", e))?;
            Subject::Payout { payout }
        }
        ConnectorKind::Acme | ConnectorKind::Bolt if provider::reports_refund(&ev.event_type) => {
            Subject::Refund {
                payment: payment()?,
                refund: RefundId::parse(&ev.attempt_id).map_err(|e| refuse("attempt_id", e))?,
            }
        }
        ConnectorKind::Acme | ConnectorKind::Bolt => Subject::Attempt {
            payment: payment()?,
            attempt: AttemptId::parse(&ev.attempt_id).map_err(|e| refuse("attempt_id", e))?,
        },
    })
}

fn normalized(
    provider: &str,
    id: &str,
    event: WebhookEvent,
    subject: &Subject,
    body: &[u8],
    now_ms: i64,
) -> ProviderWebhook {
    ProviderWebhook {
        webhook_id: id.to_owned(),
        connector: provider.to_owned(),
        payment_id: event.payment_id,
        attempt_id: Some(event.attempt_id),
        provider_reference: event.result.provider_reference,
        event_type: event.event_type,
        outcome: event.result.outcome,
        decline_class: event.result.decline_class,
        amount_minor: event.amount_minor,
        currency: event.currency,
        provider_timestamp: TimestampMillis(event.created_ms),
        received_at: TimestampMillis(now_ms),
        body_sha256: hex::encode(Sha256::digest(body)),
        bank_reference: event.result.bank_reference,
        provider_code: event.result.provider_code,
        subject: Some(subject.to_wire()),
    }
}
