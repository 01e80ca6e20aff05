//! What every handler of the bridge shares: the [`Bridge`] (its configuration, API keys, provider
//! secrets, the tables it reads and writes, the topics it publishes to, the producer) and who calls
//! ([`Caller`]). Handlers take it from here; the router ([`super::router`]) takes the handlers.

use super::config::BridgeConfig;
use super::config::Role;
use super::errors::{err, outcome_unknown, ApiError};
use super::validation::Limits;
use crate::connectors::config::{ConnectorKind, ConnectorsConfig};
use crate::connectors::webhook_signature::WebhookSecret;
use crate::domain::accounts::AccountKey;
use crate::domain::ids::MerchantId;
use crate::events::{Codec, Event};
use crate::store::beneficiaries::BeneficiariesTable;
use crate::store::bridge::BridgeStore;
use crate::store::payments::PaymentsTable;
use crate::store::payouts::PayoutsTable;
use crate::store::refunds::RefundsTable;
use axum::http::StatusCode;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub struct Bridge {
    pub config: BridgeConfig,
    /// SHA-256 (hex) of an API key → who calls with it.
    pub(super) callers: BTreeMap<String, Caller>,
    pub(super) providers: BTreeMap<String, (ConnectorKind, WebhookSecret)>,
    pub(super) tables: Tables,
    /// Seals account numbers at intake: the bridge never stores or publishes one in the clear.
    pub(super) account_key: AccountKey,
    producer: FutureProducer,
    codec: Arc<Codec>,
    pub(super) topics: Topics,
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

/// The topics the bridge publishes to, one per kind of request.
pub struct Topics {
    pub commands: String,
    pub webhooks: String,
    pub refunds: String,
    pub beneficiaries: String,
    pub payouts: String,
    pub payout_decisions: String,
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
            tables,
            account_key: AccountKey::from_hex(&connectors.account_key_hex)
                .map_err(|e| format!("connectors.account_key_hex: {e}"))?,
            producer,
            codec,
            topics,
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
