//! Configuration of the payment flow: the payment processor (routing), fraud scoring, connectors,
//! the HTTP bridge and the sandbox PSP. Defaults run the local demo end to end.

use super::Problem;
use crate::events::payment_command::PaymentMethodType;
use crate::processors::fraud::{FailureMode, Rules, Velocity};
use crate::processors::routing::Rule;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PaymentsConfig {
    /// Routing rules: the matching rule with the highest priority picks the connectors.
    pub routing: Vec<Rule>,
    /// Connectors one payment may try in all (the first attempt included).
    pub cascade_max: usize,
    /// Outcomes per connector the circuit breaker looks at.
    pub breaker_window: usize,
    /// Failures (errors, timeouts; not declines) in a row that open a connector's breaker.
    pub breaker_failures_to_open: u32,
    pub breaker_open_ms: i64,
    /// How long a journaled input outcome is kept for replays (see `processors::state`).
    pub journal_ttl_s: u32,
}

impl Default for PaymentsConfig {
    fn default() -> Self {
        let rule = |id: &str, methods: Vec<PaymentMethodType>, connectors: &[(&str, u32)]| Rule {
            id: id.into(),
            methods,
            currencies: vec![],
            amount_min_minor: None,
            amount_max_minor: None,
            merchants: vec![],
            priority: 10,
            connectors: connectors
                .iter()
                .map(|(c, w)| ((*c).to_owned(), *w))
                .collect(),
        };
        Self {
            routing: vec![
                rule(
                    "cards",
                    vec![PaymentMethodType::Card],
                    &[("acme", 70), ("bolt", 30)],
                ),
                rule(
                    "upi",
                    vec![PaymentMethodType::Upi],
                    &[("bolt", 100), ("acme", 0)],
                ),
                rule(
                    "bank-and-wallet",
                    vec![PaymentMethodType::NetBanking, PaymentMethodType::Wallet],
                    &[("acme", 100), ("bolt", 0)],
                ),
            ],
            cascade_max: 2,
            breaker_window: 20,
            breaker_failures_to_open: 5,
            breaker_open_ms: 30_000,
            journal_ttl_s: 7 * 24 * 3_600,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FraudConfig {
    pub rules: Rules,
    /// The velocity window.
    pub velocity_window_ms: i64,
    /// Members of one velocity set read per payment: counts saturate here.
    pub velocity_read_max: i32,
    /// When scoring state cannot be read: `open` allows, `closed` blocks.
    pub failure_mode: FailureMode,
    /// Per-merchant override of `failure_mode`.
    pub merchant_failure_mode: BTreeMap<String, FailureMode>,
}

impl Default for FraudConfig {
    fn default() -> Self {
        Self {
            rules: Rules {
                amount_thresholds: [
                    ("INR".to_owned(), (5_000_000, 20_000_000)),
                    ("USD".to_owned(), (500_000, 2_000_000)),
                    ("EUR".to_owned(), (500_000, 2_000_000)),
                ]
                .into(),
                velocity_limit: Velocity {
                    customer: 20,
                    card: 10,
                    vpa: 10,
                    ip: 50,
                },
                velocity_score: 300,
                country_mismatch_score: 250,
                blocked_cards: BTreeSet::from(["tok_blocked".to_owned()]),
                blocked_vpas: BTreeSet::from(["fraudster@upi".to_owned()]),
                blocked_ips: BTreeSet::new(),
                blocked_customers: BTreeSet::from(["cus_blocked".to_owned()]),
                shadow: BTreeSet::new(),
                review_at: 400,
                block_at: 800,
            },
            velocity_window_ms: 3_600_000,
            velocity_read_max: 500,
            failure_mode: FailureMode::Open,
            merchant_failure_mode: BTreeMap::new(),
        }
    }
}

/// The API shape a connector speaks (see `connectors`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectorKind {
    /// JSON, amounts in minor units, `Idempotency-Key` header.
    Acme,
    /// Form-encoded, amounts as decimal strings, idempotency in the body.
    Bolt,
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
}

pub const DEMO_ACME_SECRET: &str = "whsec_YWNtZS1kZW1vLXNlY3JldC1ub3QtZm9yLXByb2R1Y3Rpb24=";
pub const DEMO_BOLT_SECRET: &str = "whsec_Ym9sdC1kZW1vLXNlY3JldC1ub3QtZm9yLXByb2R1Y3Rpb24=";

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
            ],
            calls_in_flight_max: 64,
            response_bytes_max: 64 * 1024,
        }
    }
}

impl ConnectorsConfig {
    pub fn get(&self, name: &str) -> Option<&ConnectorConfig> {
        self.providers.iter().find(|p| p.name == name)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MerchantConfig {
    pub id: String,
    /// SHA-256 (hex) of the merchant's API key: the key itself is never stored.
    pub api_key_sha256: String,
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

impl Default for BridgeConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8090)),
            merchants: vec![MerchantConfig {
                id: "m_demo".into(),
                api_key_sha256: hex::encode(sha2::Sha256::digest_str(DEMO_MERCHANT_KEY)),
            }],
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxConfig {
    pub listen: SocketAddr,
    /// Added to every answer.
    pub latency_ms: u64,
    /// Share of calls answered 503 on top of the scenarios.
    pub failure_permille: u16,
    /// Where webhooks go: the bridge's `/webhooks` base.
    pub webhook_url: String,
    /// Delay before an asynchronous webhook.
    pub webhook_delay_ms: u64,
    /// How long the "timeout" scenario sleeps (longer than a connector's `timeout_ms`).
    pub timeout_scenario_ms: u64,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8091)),
            latency_ms: 5,
            failure_permille: 0,
            webhook_url: "http://127.0.0.1:8090/webhooks".into(),
            webhook_delay_ms: 300,
            timeout_scenario_ms: 3_000,
        }
    }
}

/// Bounds of the flow sections, appended to the config's problems.
pub fn validate(c: &super::Config, problems: &mut Vec<Problem>) {
    let mut check = |ok: bool, field: &str, message: String, fix: &str| {
        super::require(problems, ok, field, message, fix)
    };
    let p = &c.payments;
    check(
        (1..=5).contains(&p.cascade_max),
        "payments.cascade_max",
        format!("{} is outside 1..=5", p.cascade_max),
        "use 2 or 3: every extra connector adds latency to a failing payment",
    );
    check(
        (1..=1_000).contains(&p.breaker_window) && p.breaker_failures_to_open >= 1,
        "payments.breaker_window",
        "the window must be 1..=1000 and breaker_failures_to_open at least 1".into(),
        "use breaker_window = 20, breaker_failures_to_open = 5",
    );
    check(
        p.journal_ttl_s >= 3_600,
        "payments.journal_ttl_s",
        format!("{} is under an hour", p.journal_ttl_s),
        "keep it longer than any outage you would replay after: 604800 (7 days)",
    );
    for r in &p.routing {
        for (name, _) in &r.connectors {
            check(
                c.connectors.get(name).is_some(),
                "payments.routing",
                format!("rule '{}' names connector '{name}', which connectors.providers does not define", r.id),
                "add the connector to [[connectors.providers]] or remove it from the rule",
            );
        }
        check(
            r.connectors.iter().any(|(_, w)| *w > 0),
            "payments.routing",
            format!("rule '{}' has no connector with a weight above 0", r.id),
            "give at least one connector a positive weight",
        );
    }
    let f = &c.fraud;
    check(
        f.velocity_window_ms >= 1_000 && (1..=10_000).contains(&f.velocity_read_max),
        "fraud.velocity_window_ms",
        "the window must be at least 1000 ms and velocity_read_max within 1..=10000".into(),
        "use velocity_window_ms = 3600000, velocity_read_max = 500",
    );
    check(
        0 < f.rules.review_at && f.rules.review_at <= f.rules.block_at,
        "fraud.rules.review_at",
        format!(
            "review_at {} must be positive and at most block_at {}",
            f.rules.review_at, f.rules.block_at
        ),
        "use review_at = 400, block_at = 800",
    );
    let mut names = BTreeSet::new();
    for (i, k) in c.connectors.providers.iter().enumerate() {
        check(
            names.insert(k.name.clone()),
            &format!("connectors.providers[{i}].name"),
            format!("'{}' is defined twice", k.name),
            "give each connector a unique name",
        );
        check(
            k.base_url.starts_with("http://") || k.base_url.starts_with("https://"),
            &format!("connectors.providers[{i}].base_url"),
            format!("'{}' is not an http(s) URL", k.base_url),
            "use e.g. \"http://127.0.0.1:8091/acme\"",
        );
        check(
            (100..=60_000).contains(&k.timeout_ms),
            &format!("connectors.providers[{i}].timeout_ms"),
            format!("{} is outside 100..=60000", k.timeout_ms),
            "use 2000; past it the attempt becomes unknown and waits for a webhook",
        );
        check(
            crate::bridge::webhook_signature::WebhookSecret::parse(&k.webhook_secret).is_ok(),
            &format!("connectors.providers[{i}].webhook_secret"),
            "not a whsec_ base64 secret".into(),
            "use the secret the provider gave, e.g. whsec_<base64>",
        );
    }
    check(
        (1..=1_024).contains(&c.connectors.calls_in_flight_max),
        "connectors.calls_in_flight_max",
        format!("{} is outside 1..=1024", c.connectors.calls_in_flight_max),
        "use 64",
    );
    let b = &c.bridge;
    check(
        (1_024..=1_048_576).contains(&b.body_bytes_max),
        "bridge.body_bytes_max",
        format!("{} is outside 1024..=1048576", b.body_bytes_max),
        "use 16384",
    );
    check(
        b.idempotency_ttl_s >= 86_400,
        "bridge.idempotency_ttl_s",
        format!("{} is under 24 h", b.idempotency_ttl_s),
        "keys must be kept at least 24 h: use 86400 or more",
    );
    check(
        (1..=3_600).contains(&b.webhook_tolerance_s),
        "bridge.webhook_tolerance_s",
        format!("{} is outside 1..=3600", b.webhook_tolerance_s),
        "use 300 (Standard Webhooks)",
    );
    check(
        1 <= b.amount_minor_min && b.amount_minor_min <= b.amount_minor_max,
        "bridge.amount_minor_min",
        format!(
            "{}..={} is not a positive range",
            b.amount_minor_min, b.amount_minor_max
        ),
        "use amount_minor_min = 1 and an amount_minor_max your risk team signs off",
    );
    for (i, m) in b.merchants.iter().enumerate() {
        check(
            m.api_key_sha256.len() == 64 && hex::decode(&m.api_key_sha256).is_ok(),
            &format!("bridge.merchants[{i}].api_key_sha256"),
            "not 64 hex digits".into(),
            "store the SHA-256 of the key: printf %s \"$KEY\" | sha256sum",
        );
    }
    check(
        c.sandbox.failure_permille <= 1_000,
        "sandbox.failure_permille",
        format!("{} is above 1000", c.sandbox.failure_permille),
        "use 0..=1000",
    );
}
