//! The REST API and the provider webhook receiver (`paystream bridge`).
//!
//! - `POST /v1/payment_intents`, `POST /v1/payment_intents/{id}/confirm|capture|cancel`: validated,
//!   authenticated by the merchant's API key (`Authorization: Bearer <key>`), published as Avro
//!   `PaymentCommand`s; answered `202 Accepted` because the payment processor applies them
//!   asynchronously. `Idempotency-Key` is honoured per merchant (see `idempotency`).
//! - `GET /v1/payment_intents/{id}`: the latest state, only to the merchant that owns it.
//! - `POST /webhooks/{provider}`: signature verified (Standard Webhooks, ±tolerance), deduplicated on
//!   the webhook id, normalized by the connector's parser and published to the webhooks topic. It
//!   never touches payment state: the state machine decides what the webhook means.
//!
//! Every refusal is a 4xx with `{"error": {"code", "field", "message"}}`.

use super::idempotency::{self, Decision};
use super::validation::{self, Limits};
use super::webhook_signature::{self, SignedHeaders, WebhookSecret};
use crate::config::{BridgeConfig, ConnectorKind, ConnectorsConfig};
use crate::connectors;
use crate::events::payment_command::{
    CaptureMethod, PaymentCommand, PaymentCommandKind, PaymentMethod, PaymentMethodType,
};
use crate::events::provider::ProviderWebhook;
use crate::events::{Codec, Event, TimestampMillis};
use crate::metrics as m;
use crate::runtime::clock::now_millis;
use crate::store::bridge::BridgeStore;
use crate::store::payments::PaymentsTable;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tracing::warn;

/// An in-flight idempotency claim older than this belongs to a request that died.
const IDEMPOTENCY_LOCK_TIMEOUT_MS: i64 = 30_000;
const PAYMENT_ID_LEN_MAX: usize = 64;

pub struct Bridge {
    pub config: BridgeConfig,
    merchants: BTreeMap<String, String>,
    providers: BTreeMap<String, (ConnectorKind, WebhookSecret)>,
    store: BridgeStore,
    payments: PaymentsTable,
    producer: FutureProducer,
    codec: Arc<Codec>,
    commands_topic: String,
    webhooks_topic: String,
    limits: Limits,
}

pub struct Topics {
    pub commands: String,
    pub webhooks: String,
}

impl Bridge {
    pub fn new(
        config: BridgeConfig,
        connectors: &ConnectorsConfig,
        store: BridgeStore,
        payments: PaymentsTable,
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
        let merchants = config
            .merchants
            .iter()
            .map(|m| (m.api_key_sha256.to_ascii_lowercase(), m.id.clone()))
            .collect();
        Ok(Self {
            limits: config.limits(),
            config,
            merchants,
            providers,
            store,
            payments,
            producer,
            codec,
            commands_topic: topics.commands,
            webhooks_topic: topics.webhooks,
        })
    }

    async fn publish<E: Event>(&self, topic: &str, events: &[E]) -> Result<(), String> {
        let timeout = Duration::from_millis(self.config.produce_timeout_ms);
        for e in events {
            let payload = self.codec.encode(e).await.map_err(|e| e.to_string())?;
            let record = FutureRecord::to(topic).key(e.key()).payload(&payload);
            self.producer
                .send(record, timeout)
                .await
                .map_err(|(e, _)| format!("publish to {topic}: {e}"))?;
        }
        Ok(())
    }
}

pub fn router(b: Arc<Bridge>) -> Router {
    let limit = b.config.body_bytes_max;
    Router::new()
        .route("/v1/payment_intents", post(create))
        .route("/v1/payment_intents/{id}", get(read))
        .route("/v1/payment_intents/{id}/{action}", post(act))
        .route("/webhooks/{provider}", post(webhook))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(b)
}

/// A refusal: status, stable code, field and what to fix.
struct ApiError {
    status: StatusCode,
    code: &'static str,
    field: Option<&'static str>,
    message: String,
}

fn err(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        code,
        field: None,
        message: message.into(),
    }
}

impl From<validation::Invalid> for ApiError {
    fn from(i: validation::Invalid) -> Self {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: i.code,
            field: Some(i.field),
            message: i.message,
        }
    }
}

impl ApiError {
    fn body(&self) -> Vec<u8> {
        serde_json::to_vec(
            &json!({"error": {"code": self.code, "field": self.field, "message": self.message}}),
        )
        .unwrap_or_default()
    }
}

fn respond(route: &'static str, status: StatusCode, body: Vec<u8>) -> Response {
    metrics::counter!(m::BRIDGE_REQUESTS, "route" => route, "status" => status.as_u16().to_string()).increment(1);
    (status, [("content-type", "application/json")], body).into_response()
}

fn merchant(b: &Bridge, headers: &HeaderMap) -> Result<String, ApiError> {
    let key = headers
        .get("authorization")
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
    b.merchants.get(&digest).cloned().ok_or_else(|| {
        err(
            StatusCode::UNAUTHORIZED,
            "api_key_invalid",
            "the API key is not known: check it, or ask for a new one",
        )
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MethodIn {
    #[serde(rename = "type")]
    kind: String,
    card_token: Option<String>,
    card_network: Option<String>,
    card_last4: Option<String>,
    card_issuer_country: Option<String>,
    vpa: Option<String>,
    bank_code: Option<String>,
    wallet: Option<String>,
    /// Never accepted: present only to refuse it with a precise message.
    number: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CustomerIn {
    id: Option<String>,
    ip: Option<String>,
    country: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateIn {
    amount: i64,
    currency: String,
    capture_method: Option<String>,
    payment_method: Option<MethodIn>,
    customer: Option<CustomerIn>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    /// Confirm at once (create and confirm in one call).
    #[serde(default)]
    confirm: bool,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ActIn {
    payment_method: Option<MethodIn>,
    /// Capture: the amount to capture (partial capture); absent captures everything authorized.
    amount: Option<i64>,
}

fn parse_json<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        err(
            StatusCode::BAD_REQUEST,
            "body_invalid",
            format!("the body is not valid for this endpoint: {e}"),
        )
    })
}

fn method(m: MethodIn) -> Result<PaymentMethod, ApiError> {
    if m.number.is_some() {
        return Err(ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "raw_card_number",
            field: Some("payment_method.number"),
            message: "raw card numbers are never accepted: tokenize the card with the vault and send card_token".into(),
        });
    }
    let method_type = match m.kind.as_str() {
        "card" => PaymentMethodType::Card,
        "upi" => PaymentMethodType::Upi,
        "net_banking" => PaymentMethodType::NetBanking,
        "wallet" => PaymentMethodType::Wallet,
        other => {
            return Err(ApiError {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                code: "payment_method_type_invalid",
                field: Some("payment_method.type"),
                message: format!("'{other}' is not one of card, upi, net_banking, wallet"),
            })
        }
    };
    let pm = PaymentMethod {
        method_type,
        card_token: m.card_token,
        card_network: m.card_network,
        card_last4: m.card_last4,
        card_issuer_country: m.card_issuer_country,
        vpa: m.vpa,
        bank_code: m.bank_code,
        wallet: m.wallet,
    };
    validation::payment_method(&pm)?;
    Ok(pm)
}

fn command(
    kind: PaymentCommandKind,
    payment_id: &str,
    merchant_id: &str,
    key: Option<&str>,
) -> PaymentCommand {
    PaymentCommand {
        command_id: format!("cmd_{}", uuid::Uuid::now_v7().simple()),
        payment_id: payment_id.to_owned(),
        merchant_id: merchant_id.to_owned(),
        kind,
        amount_minor: None,
        currency: None,
        capture_method: None,
        payment_method: None,
        customer_id: None,
        customer_ip: None,
        customer_country: None,
        idempotency_key: key.map(str::to_owned),
        metadata: BTreeMap::new(),
        issued_at: TimestampMillis(now_millis()),
    }
}

fn accepted(payment_id: &str, cmds: &[PaymentCommand]) -> (StatusCode, Vec<u8>) {
    let body = json!({
        "id": payment_id,
        "object": "payment_intent",
        "accepted": cmds.iter().map(|c| json!({"command_id": c.command_id, "kind": crate::events::symbol(&c.kind)})).collect::<Vec<_>>(),
        "status_url": format!("/v1/payment_intents/{payment_id}"),
    });
    (
        StatusCode::ACCEPTED,
        serde_json::to_vec(&body).unwrap_or_default(),
    )
}

async fn create(State(b): State<Arc<Bridge>>, headers: HeaderMap, body: Bytes) -> Response {
    let route = "/v1/payment_intents";
    let merchant_id = match merchant(&b, &headers) {
        Ok(m) => m,
        Err(e) => return respond(route, e.status, e.body()),
    };
    let key = idem_key(&headers);
    let b2 = b.clone();
    let m2 = merchant_id.clone();
    let k2 = key.clone();
    let body2 = body.clone();
    with_idempotency(
        &b,
        route,
        &merchant_id,
        key.as_deref(),
        &body,
        move || async move {
            let b = b2;
            let input: CreateIn = parse_json(&body2)?;
            let currency = validation::amount(input.amount, &input.currency, &b.limits)?;
            validation::metadata(&input.metadata, &b.limits)?;
            let capture_method = match input.capture_method.as_deref() {
                None | Some("automatic") => CaptureMethod::Automatic,
                Some("manual") => CaptureMethod::Manual,
                Some(other) => {
                    return Err(ApiError {
                        status: StatusCode::UNPROCESSABLE_ENTITY,
                        code: "capture_method_invalid",
                        field: Some("capture_method"),
                        message: format!("'{other}' is not automatic or manual"),
                    })
                }
            };
            let pm = input.payment_method.map(method).transpose()?;
            if input.confirm && pm.is_none() {
                return Err(ApiError {
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    code: "payment_method_required",
                    field: Some("payment_method"),
                    message: "confirm: true needs a payment_method".into(),
                });
            }
            let payment_id = format!("pay_{}", uuid::Uuid::now_v7().simple());
            let mut create = command(PaymentCommandKind::Create, &payment_id, &m2, k2.as_deref());
            create.amount_minor = Some(input.amount);
            create.currency = Some(currency.code().to_owned());
            create.capture_method = Some(capture_method);
            create.payment_method = pm;
            if let Some(c) = input.customer {
                create.customer_id = c.id;
                create.customer_ip = c.ip;
                create.customer_country = c.country;
            }
            create.metadata = input.metadata;
            let mut cmds = vec![create];
            if input.confirm {
                cmds.push(command(
                    PaymentCommandKind::Confirm,
                    &payment_id,
                    &m2,
                    k2.as_deref(),
                ));
            }
            b.store
                .set_owner(&payment_id, &m2, now_millis())
                .await
                .map_err(|e| {
                    err(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "store_unavailable",
                        e.to_string(),
                    )
                })?;
            b.publish(&b.commands_topic, &cmds)
                .await
                .map_err(|e| err(StatusCode::SERVICE_UNAVAILABLE, "publish_failed", e))?;
            Ok(accepted(&payment_id, &cmds))
        },
    )
    .await
}

async fn act(
    State(b): State<Arc<Bridge>>,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let route = "/v1/payment_intents/{id}/{action}";
    let kind = match action.as_str() {
        "confirm" => PaymentCommandKind::Confirm,
        "capture" => PaymentCommandKind::Capture,
        "cancel" => PaymentCommandKind::Cancel,
        _ => {
            let e = err(
                StatusCode::NOT_FOUND,
                "unknown_action",
                "use confirm, capture or cancel",
            );
            return respond(route, e.status, e.body());
        }
    };
    let merchant_id = match merchant(&b, &headers) {
        Ok(m) => m,
        Err(e) => return respond(route, e.status, e.body()),
    };
    if let Err(e) = owned(&b, &id, &merchant_id).await {
        return respond(route, e.status, e.body());
    }
    let key = idem_key(&headers);
    let (b2, m2, k2, body2) = (b.clone(), merchant_id.clone(), key.clone(), body.clone());
    with_idempotency(
        &b,
        route,
        &merchant_id,
        key.as_deref(),
        &body,
        move || async move {
            let b = b2;
            let input: ActIn = if body2.is_empty() {
                ActIn::default()
            } else {
                parse_json(&body2)?
            };
            let mut cmd = command(kind, &id, &m2, k2.as_deref());
            if let Some(pm) = input.payment_method {
                cmd.payment_method = Some(method(pm)?);
            }
            if let Some(amount) = input.amount {
                if kind != PaymentCommandKind::Capture {
                    return Err(ApiError {
                        status: StatusCode::UNPROCESSABLE_ENTITY,
                        code: "amount_not_allowed",
                        field: Some("amount"),
                        message: "only capture takes an amount".into(),
                    });
                }
                if amount <= 0 {
                    return Err(ApiError {
                        status: StatusCode::UNPROCESSABLE_ENTITY,
                        code: "amount_out_of_range",
                        field: Some("amount"),
                        message:
                            "capture a positive amount in minor units, at most what was authorized"
                                .into(),
                    });
                }
                cmd.amount_minor = Some(amount);
            }
            let cmds = vec![cmd];
            b.publish(&b.commands_topic, &cmds)
                .await
                .map_err(|e| err(StatusCode::SERVICE_UNAVAILABLE, "publish_failed", e))?;
            Ok(accepted(&id, &cmds))
        },
    )
    .await
}

async fn owned(b: &Bridge, id: &str, merchant_id: &str) -> Result<(), ApiError> {
    if id.len() > PAYMENT_ID_LEN_MAX {
        return Err(err(
            StatusCode::NOT_FOUND,
            "payment_not_found",
            "no such payment intent",
        ));
    }
    match b.store.owner(id).await {
        Ok(Some(owner)) if owner == merchant_id => Ok(()),
        // Another merchant's payment is indistinguishable from a missing one.
        Ok(_) => Err(err(
            StatusCode::NOT_FOUND,
            "payment_not_found",
            "no such payment intent",
        )),
        Err(e) => Err(err(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            e.to_string(),
        )),
    }
}

async fn read(
    State(b): State<Arc<Bridge>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let route = "/v1/payment_intents/{id}";
    let result = async {
        let merchant_id = merchant(&b, &headers)?;
        owned(&b, &id, &merchant_id).await?;
        let row = b
            .payments
            .get(&id)
            .await
            .map_err(|e| err(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", e.to_string()))?;
        Ok::<_, ApiError>(match row {
            Some(r) => json!({
                "id": r.payment_id, "object": "payment_intent", "status": r.status.to_ascii_lowercase(),
                "amount": r.amount_minor, "amount_captured": r.amount_captured_minor, "currency": r.currency,
                "connector": r.connector, "reason_code": r.reason_code, "sequence": r.sequence,
            }),
            // Accepted but not applied yet: the payment processor has not seen the CREATE.
            None => json!({"id": id, "object": "payment_intent", "status": "accepted"}),
        })
    }
    .await;
    match result {
        Ok(body) => respond(
            route,
            StatusCode::OK,
            serde_json::to_vec(&body).unwrap_or_default(),
        ),
        Err(e) => respond(route, e.status, e.body()),
    }
}

fn idem_key(headers: &HeaderMap) -> Option<String> {
    headers
        .get("idempotency-key")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// Runs `f` at most once per (merchant, Idempotency-Key), replaying its response afterwards.
async fn with_idempotency<F, Fut>(
    b: &Bridge,
    route: &'static str,
    merchant_id: &str,
    key: Option<&str>,
    body: &[u8],
    f: F,
) -> Response
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<(StatusCode, Vec<u8>), ApiError>>,
{
    let run = |r: Result<(StatusCode, Vec<u8>), ApiError>| match r {
        Ok((status, body)) => (status, body),
        Err(e) => (e.status, e.body()),
    };
    let Some(key) = key else {
        let (status, body) = run(f().await);
        return respond(route, status, body);
    };
    if let Err(e) = idempotency::validate_key(key) {
        let e = err(
            StatusCode::BAD_REQUEST,
            "idempotency_key_invalid",
            e.to_string(),
        );
        return respond(route, e.status, e.body());
    }
    let now = now_millis();
    let hash = idempotency::body_hash(body);
    let unavailable = |e: crate::store::StoreError| {
        let e = err(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            e.to_string(),
        );
        respond(route, e.status, e.body())
    };
    let stored = match b.store.idempotency(merchant_id, key).await {
        Ok(s) => s,
        Err(e) => return unavailable(e),
    };
    match idempotency::decide(stored.as_ref(), &hash, now, IDEMPOTENCY_LOCK_TIMEOUT_MS) {
        Decision::Replay { status, response } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            metrics::counter!(m::BRIDGE_REQUESTS, "route" => route, "status" => "replayed")
                .increment(1);
            return (
                status,
                [
                    ("content-type", "application/json"),
                    ("idempotent-replayed", "true"),
                ],
                response,
            )
                .into_response();
        }
        Decision::InFlight => {
            let e = err(StatusCode::CONFLICT, "idempotency_key_in_use", "a request with this Idempotency-Key is still being processed: retry after it finishes");
            return respond(route, e.status, e.body());
        }
        Decision::BodyMismatch => {
            let e = err(StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused", "this Idempotency-Key was used with a different request body: use a new key for a new request");
            return respond(route, e.status, e.body());
        }
        Decision::Proceed => {}
    }
    let claimed = match &stored {
        None => b.store.claim(merchant_id, key, &hash, now).await,
        Some(idempotency::Stored::InFlight { started_ms, .. }) => {
            b.store
                .take_over(merchant_id, key, &hash, now, *started_ms)
                .await
        }
        Some(idempotency::Stored::Completed { .. }) => {
            // Aged out of the retention window: a new request under the old key.
            match b.store.release(merchant_id, key).await {
                Ok(()) => b.store.claim(merchant_id, key, &hash, now).await,
                Err(e) => Err(e),
            }
        }
    };
    match claimed {
        Ok(true) => {}
        Ok(false) => {
            let e = err(StatusCode::CONFLICT, "idempotency_key_in_use", "a concurrent request claimed this Idempotency-Key first: retry to get its response");
            return respond(route, e.status, e.body());
        }
        Err(e) => return unavailable(e),
    }
    let (status, response) = run(f().await);
    let outcome = if status.is_server_error() {
        // Nothing was published (or we cannot tell): free the key so the client's retry runs again.
        b.store.release(merchant_id, key).await
    } else {
        b.store
            .complete(merchant_id, key, status.as_u16(), &response, now_millis())
            .await
    };
    if let Err(e) = outcome {
        warn!(error = %e, "idempotency record not updated; the claim expires after the lock timeout");
    }
    respond(route, status, response)
}

async fn webhook(
    State(b): State<Arc<Bridge>>,
    Path(provider): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let route = "/webhooks/{provider}";
    let Some((kind, secret)) = b.providers.get(&provider) else {
        let e = err(
            StatusCode::NOT_FOUND,
            "unknown_provider",
            "no connector with this name is configured",
        );
        return respond(route, e.status, e.body());
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
            let e = err(StatusCode::UNAUTHORIZED, "signature_invalid", e.to_string());
            return respond(route, e.status, e.body());
        }
    };
    let event = match connectors::parse_webhook(*kind, &body) {
        Ok(ev) if !ev.payment_id.is_empty() && !ev.attempt_id.is_empty() => ev,
        Ok(_) => {
            outcome("invalid");
            let e = err(
                StatusCode::BAD_REQUEST,
                "webhook_invalid",
                "the webhook names no payment or attempt",
            );
            return respond(route, e.status, e.body());
        }
        Err(pe) => {
            outcome("invalid");
            let e = err(StatusCode::BAD_REQUEST, "webhook_invalid", pe.to_string());
            return respond(route, e.status, e.body());
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
        Err(e) => {
            let e = err(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                e.to_string(),
            );
            return respond(route, e.status, e.body());
        }
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
    if let Err(e) = b
        .publish(&b.webhooks_topic, std::slice::from_ref(&normalized))
        .await
    {
        let e = err(StatusCode::SERVICE_UNAVAILABLE, "publish_failed", e);
        return respond(route, e.status, e.body());
    }
    if let Err(e) = b.store.mark_webhook(&provider, &id, now).await {
        warn!(error = %e, "webhook id not remembered; a redelivery will be published and rejected as a duplicate");
    }
    outcome("accepted");
    respond(route, StatusCode::OK, br#"{"received":true}"#.to_vec())
}
