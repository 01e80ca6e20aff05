//! The bridge's shared parts: its configuration and clients, the router, and what every API request
//! goes through before a handler sees it (API key, content type, JSON, card numbers).
//!
//! Routes: payment intents in [`super::intents`], provider webhooks in [`super::webhooks`]. Every
//! refusal is a 4xx with `{"error": {"code", "field", "message"}}` ([`super::errors`]), the
//! framework's own included.

use super::config::BridgeConfig;
use super::config::Role;
use super::errors::{err, invalid, outcome_unknown, ApiError};
use super::validation::Limits;
use super::{beneficiaries, intents, payout_batches, payouts, reads, refunds, webhooks};
use crate::connectors::config::{ConnectorKind, ConnectorsConfig};
use crate::connectors::webhook_signature::WebhookSecret;
use crate::domain::accounts::AccountKey;
use crate::domain::ids::MerchantId;
use crate::domain::pan;
use crate::events::{Codec, Event};
use crate::store::beneficiaries::BeneficiariesTable;
use crate::store::bridge::BridgeStore;
use crate::store::payments::PaymentsTable;
use crate::store::payouts::PayoutsTable;
use crate::store::refunds::RefundsTable;
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub struct Bridge {
    pub config: BridgeConfig,
    /// SHA-256 (hex) of an API key → who calls with it.
    callers: BTreeMap<String, Caller>,
    pub(super) providers: BTreeMap<String, (ConnectorKind, WebhookSecret)>,
    pub(super) store: BridgeStore,
    pub(super) payments: PaymentsTable,
    pub(super) refunds: RefundsTable,
    pub(super) beneficiaries: BeneficiariesTable,
    pub(super) payouts: PayoutsTable,
    /// Seals account numbers at intake: the bridge never stores or publishes one in the clear.
    pub(super) account_key: AccountKey,
    producer: FutureProducer,
    codec: Arc<Codec>,
    pub(super) commands_topic: String,
    pub(super) webhooks_topic: String,
    pub(super) refunds_topic: String,
    pub(super) beneficiaries_topic: String,
    pub(super) payouts_topic: String,
    pub(super) payout_webhooks_topic: String,
    pub(super) limits: Limits,
}

/// Who calls: the merchant, the key's id (never the key) and what the key may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub merchant_id: MerchantId,
    /// `key_` and the first 16 hex digits of the key's SHA-256: names the key in the audit trail.
    pub key_id: String,
    pub roles: Vec<Role>,
}

impl Caller {
    /// Refuses a key without `role`, naming what it lacks.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.roles.contains(&role) {
            return Ok(());
        }
        Err(err(
            StatusCode::FORBIDDEN,
            "role_required",
            format!(
                "this API key ({}) lacks the '{}' role this request needs",
                self.key_id,
                role.as_str()
            ),
        ))
    }
}

pub struct Topics {
    pub commands: String,
    pub webhooks: String,
    pub refunds: String,
    pub beneficiaries: String,
    pub payouts: String,
    pub payout_webhooks: String,
}

/// The tables the bridge reads and writes.
pub struct Tables {
    pub bridge: BridgeStore,
    pub payments: PaymentsTable,
    pub refunds: RefundsTable,
    pub beneficiaries: BeneficiariesTable,
    pub payouts: PayoutsTable,
}

impl Bridge {
    pub fn new(
        config: BridgeConfig,
        connectors: &ConnectorsConfig,
        tables: Tables,
        producer: FutureProducer,
        codec: Arc<Codec>,
        topics: Topics,
    ) -> Result<Self, String> {
        let mut providers = BTreeMap::new();
        for c in &connectors.providers {
            let secret = WebhookSecret::parse(&c.webhook_secret)
                .map_err(|e| format!("connectors.providers '{}': {e}", c.name))?;
            providers.insert(c.name.clone(), (c.kind, secret));
        }
        let callers = config
            .merchants
            .iter()
            .map(|m| {
                let digest = m.api_key_sha256.to_ascii_lowercase();
                let caller = Caller {
                    merchant_id: m.id.clone(),
                    key_id: format!("key_{}", digest.get(..16).unwrap_or(&digest)),
                    roles: m.roles.clone(),
                };
                (digest, caller)
            })
            .collect();
        Ok(Self {
            limits: Limits::of(&config),
            config,
            callers,
            providers,
            store: tables.bridge,
            payments: tables.payments,
            refunds: tables.refunds,
            beneficiaries: tables.beneficiaries,
            payouts: tables.payouts,
            account_key: AccountKey::from_hex(&connectors.account_key_hex)
                .map_err(|e| format!("connectors.account_key_hex: {e}"))?,
            producer,
            codec,
            commands_topic: topics.commands,
            webhooks_topic: topics.webhooks,
            refunds_topic: topics.refunds,
            beneficiaries_topic: topics.beneficiaries,
            payouts_topic: topics.payouts,
            payout_webhooks_topic: topics.payout_webhooks,
        })
    }

    /// Publishes one event, waiting at most `produce_timeout_ms` for the broker's acknowledgement.
    /// A record the producer refused to queue was not sent; any other failure (a timeout above all)
    /// leaves the record possibly delivered later: its outcome is unknown.
    pub(super) async fn publish<E: Event>(&self, topic: &str, event: &E) -> Result<(), ApiError> {
        let bound = Duration::from_millis(self.config.produce_timeout_ms);
        let payload = self.codec.encode(event).await.map_err(|e| {
            err(
                StatusCode::SERVICE_UNAVAILABLE,
                "encode_failed",
                e.to_string(),
            )
        })?;
        let record = FutureRecord::to(topic).key(event.key()).payload(&payload);
        match tokio::time::timeout(bound, self.producer.send(record, bound)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _))) => Err(err(
                StatusCode::SERVICE_UNAVAILABLE,
                "publish_refused",
                format!("the Kafka producer queue is full; nothing was published to {topic}: retry"),
            )),
            Ok(Err((e, _))) => Err(outcome_unknown(format!(
                "publishing to {topic} failed ({e}); it may still take effect: retry with the same Idempotency-Key, or read the payment intent"
            ))),
            Err(_) => Err(outcome_unknown(format!(
                "the broker did not acknowledge within {} ms; the request may still take effect: retry with the same Idempotency-Key, or read the payment intent",
                self.config.produce_timeout_ms
            ))),
        }
    }
}

pub fn router(b: Arc<Bridge>) -> Router {
    let limit = b.config.body_bytes_max;
    Router::new()
        .route("/v1/payment_intents", post(intents::create))
        .route("/v1/payment_intents/{id}", get(reads::read))
        .route("/v1/payment_intents/{id}/events", get(reads::events))
        .route("/v1/payment_intents/{id}/refunds", get(refunds::list))
        .route("/v1/payment_intents/{id}/{action}", post(intents::act))
        .route("/v1/refunds", post(refunds::create))
        .route("/v1/refunds/{id}", get(refunds::read))
        .route("/v1/refunds/{id}/{action}", post(refunds::decide))
        .route("/v1/beneficiaries", post(beneficiaries::create))
        .route(
            "/v1/beneficiaries/{id}",
            get(beneficiaries::read).post(beneficiaries::update),
        )
        .route("/v1/beneficiaries/{id}/verify", post(beneficiaries::verify))
        .route("/v1/payouts", post(payouts::create))
        .route("/v1/payouts/{id}", get(payouts::read))
        .route("/v1/payouts/{id}/{action}", post(payouts::decide))
        .route("/v1/payout_batches", post(payout_batches::create))
        .route("/v1/payout_batches/{id}", get(payout_batches::read))
        .route("/v1/balance", get(payouts::balance))
        .route("/webhooks/{provider}", post(webhooks::receive))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(b)
        .layer(axum::middleware::map_response(move |r| {
            super::errors::json_refusals(limit, r)
        }))
}

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
