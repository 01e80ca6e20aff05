//! `POST /webhooks/{provider}`: signature verified (Standard Webhooks, within the tolerance), refused
//! if it carries a card number, deduplicated on the webhook id, normalized by the connector's parser
//! and published to the webhooks topic. It never touches payment state: the state machine decides
//! what the webhook means.

use super::api::{card_number_at, Bridge};
use super::errors::{err, respond, store_unavailable};
use crate::connectors;
use crate::connectors::webhook_signature::{self, SignedHeaders};
use crate::domain::clock::now_millis;
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
    let Some((kind, secret)) = b.providers.get(&provider) else {
        return err(
            StatusCode::NOT_FOUND,
            "unknown_provider",
            "no connector with this name is configured",
        )
        .respond(route);
    };
    let outcome = |o: &'static str| {
        metrics::counter!(m::BRIDGE_WEBHOOKS, "provider" => provider.clone(), "outcome" => o)
            .increment(1);
    };
    let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let signed = SignedHeaders {
        id: h("webhook-id"),
        timestamp: h("webhook-timestamp"),
        signature: h("webhook-signature"),
    };
    let id = match webhook_signature::verify(
        std::slice::from_ref(secret),
        signed,
        &body,
        now_millis() / 1_000,
        b.config.webhook_tolerance_s,
    ) {
        Ok(id) => id.to_owned(),
        Err(e) => {
            outcome("bad_signature");
            return err(StatusCode::UNAUTHORIZED, "signature_invalid", e.to_string())
                .respond(route);
        }
    };
    // Provider text is untrusted too: a card number in it is refused, never published or stored.
    if pan::contains_pan(&String::from_utf8_lossy(&body)) {
        outcome("invalid");
        return card_number_at("(webhook body)").respond(route);
    }
    let event = match connectors::parse_webhook(*kind, &body) {
        Ok(ev) if !ev.payment_id.is_empty() && !ev.attempt_id.is_empty() => ev,
        Ok(_) => {
            outcome("invalid");
            return err(
                StatusCode::BAD_REQUEST,
                "webhook_invalid",
                "the webhook names no payment or attempt",
            )
            .respond(route);
        }
        Err(pe) => {
            outcome("invalid");
            return err(StatusCode::BAD_REQUEST, "webhook_invalid", pe.to_string()).respond(route);
        }
    };
    match b.store.webhook_seen(&provider, &id).await {
        Ok(true) => {
            outcome("duplicate");
            return respond(
                route,
                StatusCode::OK,
                br#"{"received":true,"duplicate":true}"#.to_vec(),
            );
        }
        Ok(false) => {}
        Err(e) => return store_unavailable(e).respond(route),
    }
    let now = now_millis();
    let normalized = ProviderWebhook {
        webhook_id: id.clone(),
        connector: provider.clone(),
        payment_id: event.payment_id,
        attempt_id: Some(event.attempt_id),
        provider_reference: event.result.provider_reference,
        event_type: event.event_type,
        outcome: event.result.outcome,
        decline_class: event.result.decline_class,
        amount_minor: event.amount_minor,
        currency: event.currency,
        provider_timestamp: TimestampMillis(event.created_ms),
        received_at: TimestampMillis(now),
        body_sha256: hex::encode(Sha256::digest(&body)),
    };
    // Publish first, then remember the id: a crash in between re-publishes on the provider's retry,
    // and the state machine rejects that duplicate. The other order could lose the webhook.
    // A publish whose outcome is unknown is answered 503 too: the provider's retry is deduplicated
    // by the state machine if the first copy was delivered after all.
    if let Err(e) = b.publish(&b.webhooks_topic, &normalized).await {
        return e.respond(route);
    }
    if let Err(e) = b.store.mark_webhook(&provider, &id, now).await {
        warn!(error = %e, "webhook id not remembered; a redelivery will be published and rejected as a duplicate");
    }
    outcome("accepted");
    respond(route, StatusCode::OK, br#"{"received":true}"#.to_vec())
}
