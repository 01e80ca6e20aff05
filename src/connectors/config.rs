//! The connectors' configuration: one entry per provider, and the bounds of provider calls.

use super::webhook_signature::WebhookSecret;
use crate::domain::problem::Checks;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The API shape a connector speaks (see `connectors`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectorKind {
    /// JSON, amounts in minor units, `Idempotency-Key` header.
    Acme,
    /// Form-encoded, amounts as decimal strings, idempotency in the body.
    Bolt,
    /// A bank-transfer API for payouts and account verification: JSON, rupee decimal strings, its
    /// own transfer ids and UTRs, asynchronous webhooks.
    Transferly,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorConfig {
    pub name: String,
    pub kind: ConnectorKind,
    pub base_url: String,
    /// Secret the provider signs its webhooks with (Standard Webhooks `whsec_` base64).
    pub webhook_secret: String,
    /// Bound of one provider call; past it the attempt is `unknown`.
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectorsConfig {
    pub providers: Vec<ConnectorConfig>,
    /// Provider calls in flight at once per connector instance.
    pub calls_in_flight_max: usize,
    /// Largest provider response body read; larger ones are an error.
    pub response_bytes_max: usize,
    /// The key beneficiary account numbers are sealed with (64 hex digits, AES-256): the bridge seals
    /// at intake, the connector edge opens for the provider call; nothing else holds it.
    pub account_key_hex: String,
}

pub const DEMO_ACME_SECRET: &str = "whsec_YWNtZS1kZW1vLXNlY3JldC1ub3QtZm9yLXByb2R1Y3Rpb24=";
pub const DEMO_BOLT_SECRET: &str = "whsec_Ym9sdC1kZW1vLXNlY3JldC1ub3QtZm9yLXByb2R1Y3Rpb24=";
pub const DEMO_TRANSFERLY_SECRET: &str = "whsec_dHJhbnNmZXJseS1kZW1vLXNlY3JldC1ub3QtZm9yLXByb2Q=";
/// The demo account key: never for production (README).
pub const DEMO_ACCOUNT_KEY_HEX: &str =
    "6163636f756e742d6b65792d64656d6f2d6e6f742d666f722d70726f64756374";

impl Default for ConnectorsConfig {
    fn default() -> Self {
        Self {
            providers: vec![
                ConnectorConfig {
                    name: "acme".into(),
                    kind: ConnectorKind::Acme,
                    base_url: "http://127.0.0.1:8091/acme".into(),
                    webhook_secret: DEMO_ACME_SECRET.into(),
                    timeout_ms: 2_000,
                },
                ConnectorConfig {
                    name: "bolt".into(),
                    kind: ConnectorKind::Bolt,
                    base_url: "http://127.0.0.1:8091/bolt".into(),
                    webhook_secret: DEMO_BOLT_SECRET.into(),
                    timeout_ms: 2_000,
                },
                ConnectorConfig {
                    name: "transferly".into(),
                    kind: ConnectorKind::Transferly,
                    base_url: "http://127.0.0.1:8091/transferly".into(),
                    webhook_secret: DEMO_TRANSFERLY_SECRET.into(),
                    timeout_ms: 2_000,
                },
            ],
            calls_in_flight_max: 64,
            response_bytes_max: 64 * 1024,
            account_key_hex: DEMO_ACCOUNT_KEY_HEX.into(),
        }
    }
}

impl ConnectorsConfig {
    pub fn get(&self, name: &str) -> Option<&ConnectorConfig> {
        self.providers.iter().find(|p| p.name == name)
    }
}

impl ConnectorsConfig {
    pub fn validate(&self, c: &mut Checks<'_>) {
        let mut names = BTreeSet::new();
        for (i, k) in self.providers.iter().enumerate() {
            c.check(
                names.insert(k.name.clone()),
                &format!("providers[{i}].name"),
                format!("'{}' is defined twice", k.name),
                "give each connector a unique name",
            );
            c.check(
                k.base_url.starts_with("http://") || k.base_url.starts_with("https://"),
                &format!("providers[{i}].base_url"),
                format!("'{}' is not an http(s) URL", k.base_url),
                "use e.g. \"http://127.0.0.1:8091/acme\"",
            );
            c.within(
                k.timeout_ms,
                100..=60_000,
                &format!("providers[{i}].timeout_ms"),
                "use 2000; past it the attempt becomes unknown and waits for a webhook",
            );
            c.check(
                WebhookSecret::parse(&k.webhook_secret).is_ok(),
                &format!("providers[{i}].webhook_secret"),
                "not a whsec_ base64 secret".into(),
                "use the secret the provider gave, e.g. whsec_<base64>",
            );
        }
        c.check(
            crate::domain::accounts::AccountKey::from_hex(&self.account_key_hex).is_ok(),
            "account_key_hex",
            "not 64 hex digits".into(),
            "generate one: openssl rand -hex 32 (keep it in a secret store)",
        );
        c.within(
            self.calls_in_flight_max,
            1..=1_024,
            "calls_in_flight_max",
            "use 64",
        );
    }
}
