//! The HTTP bridge's configuration: listen address, merchants and request bounds.

use crate::domain::ids::MerchantId;
use crate::domain::problem::Checks;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MerchantConfig {
    pub id: MerchantId,
    /// SHA-256 (hex) of the merchant's API key: the key itself is never stored.
    pub api_key_sha256: String,
    /// What the key may do. A merchant may have several keys (one entry each): the key that creates
    /// a refund can never be the one that approves it.
    #[serde(default = "default_roles")]
    pub roles: Vec<Role>,
}

/// What an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Create and act on payments, refunds and payouts; read them.
    Write,
    /// Approve or reject what waits for approval (maker-checker); read.
    Approver,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Write => "write",
            Role::Approver => "approver",
        }
    }
}

fn default_roles() -> Vec<Role> {
    vec![Role::Write]
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BridgeConfig {
    pub listen: SocketAddr,
    pub merchants: Vec<MerchantConfig>,
    /// Largest accepted request body.
    pub body_bytes_max: usize,
    /// Accepted amounts, in minor units of the payment's currency.
    pub amount_minor_min: i64,
    pub amount_minor_max: i64,
    /// Metadata bounds.
    pub metadata_keys_max: usize,
    pub metadata_value_len_max: usize,
    /// How long an Idempotency-Key is remembered (at least 24 h).
    pub idempotency_ttl_s: u32,
    /// A webhook whose timestamp is further than this from now is refused.
    pub webhook_tolerance_s: i64,
    /// How long a webhook id is remembered for deduplication.
    pub webhook_dedup_ttl_s: u32,
    /// Bound of one Kafka produce from a request.
    pub produce_timeout_ms: u64,
}

/// SHA-256 of `sk_test_demo`, the demo merchant's key (README).
pub const DEMO_MERCHANT_KEY: &str = "sk_test_demo";
/// The demo merchant, whose key is `DEMO_MERCHANT_KEY`.
pub const DEMO_MERCHANT_ID: &str = "m_demo";
/// The demo merchant's approver key (README): approves what the write key created.
pub const DEMO_APPROVER_KEY: &str = "sk_test_demo_approver";

impl Default for BridgeConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8090)),
            // A valid id by construction; `parse` only because an id has no const constructor.
            merchants: MerchantId::parse(DEMO_MERCHANT_ID)
                .into_iter()
                .flat_map(|id| {
                    [
                        (DEMO_MERCHANT_KEY, Role::Write),
                        (DEMO_APPROVER_KEY, Role::Approver),
                    ]
                    .map(|(key, role)| MerchantConfig {
                        id: id.clone(),
                        api_key_sha256: hex::encode(sha2::Sha256::digest_str(key)),
                        roles: vec![role],
                    })
                })
                .collect(),
            body_bytes_max: 16 * 1024,
            amount_minor_min: 1,
            amount_minor_max: 10_000_000_000,
            metadata_keys_max: 20,
            metadata_value_len_max: 500,
            idempotency_ttl_s: 24 * 3_600,
            webhook_tolerance_s: 300,
            webhook_dedup_ttl_s: 7 * 24 * 3_600,
            produce_timeout_ms: 5_000,
        }
    }
}

/// `Digest::digest` for a `&str`, so defaults read cleanly.
trait DigestStr {
    fn digest_str(s: &str) -> Vec<u8>;
}

impl DigestStr for sha2::Sha256 {
    fn digest_str(s: &str) -> Vec<u8> {
        use sha2::Digest;
        sha2::Sha256::digest(s.as_bytes()).to_vec()
    }
}

impl BridgeConfig {
    pub fn validate(&self, c: &mut Checks<'_>) {
        c.within(
            self.body_bytes_max,
            1_024..=1_048_576,
            "body_bytes_max",
            "use 16384",
        );
        c.check(
            self.idempotency_ttl_s >= 86_400,
            "idempotency_ttl_s",
            format!("{} is under 24 h", self.idempotency_ttl_s),
            "keys must be kept at least 24 h: use 86400 or more",
        );
        c.within(
            self.webhook_tolerance_s,
            1..=3_600,
            "webhook_tolerance_s",
            "use 300 (Standard Webhooks)",
        );
        c.check(
            1 <= self.amount_minor_min && self.amount_minor_min <= self.amount_minor_max,
            "amount_minor_min",
            format!(
                "{}..={} is not a positive range",
                self.amount_minor_min, self.amount_minor_max
            ),
            "use amount_minor_min = 1 and an amount_minor_max your risk team signs off",
        );
        for (i, m) in self.merchants.iter().enumerate() {
            c.check(
                m.api_key_sha256.len() == 64 && hex::decode(&m.api_key_sha256).is_ok(),
                &format!("merchants[{i}].api_key_sha256"),
                "not 64 hex digits".into(),
                "store the SHA-256 of the key: printf %s \"$KEY\" | sha256sum",
            );
            c.check(
                !m.roles.is_empty(),
                &format!("merchants[{i}].roles"),
                "a key with no role can do nothing".into(),
                "give it roles = [\"write\"], [\"approver\"] or both",
            );
        }
    }
}
