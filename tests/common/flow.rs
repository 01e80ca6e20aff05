//! The whole payment pipeline in-process in a deployment of the test's own (its keyspace, topics and
//! groups, all named by `deployment.name`), driven over its REST API: the harness of the end-to-end
//! tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use paystream::commands::flow::Pipeline;
use paystream::commands::process::ProcessorSet;
use paystream::config::Config;
use paystream::events::payment_event::PaymentEvent;
use paystream::events::{Catalog, Codec};
use paystream::runtime::health::Health;
use paystream::store::ledger::audit;
use paystream::store::Store;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

pub const KEY: &str = paystream::bridge::config::DEMO_MERCHANT_KEY;

pub struct Flow {
    pub config: Config,
    pub pipeline: Pipeline,
    pub shutdown: CancellationToken,
    pub base: String,
    pub http: reqwest::Client,
    /// Scratch space of the test (logs of child processes).
    pub dir: tempfile::TempDir,
}

pub async fn start(abort_permille: u16) -> Flow {
    start_with(abort_permille, None).await
}

/// With `external`, that processor is left out of the in-process pipeline (the test runs it).
pub async fn start_with(abort_permille: u16, external: Option<&str>) -> Flow {
    start_configured(abort_permille, external, |_| {}).await
}

/// The second merchant of [`start_configured`]'s `with_other_merchant`.
pub const OTHER_MERCHANT: &str = "m_other";
pub const OTHER_KEY: &str = "sk_test_other";

/// Adds [`OTHER_MERCHANT`] with the API key [`OTHER_KEY`].
pub fn with_other_merchant(c: &mut Config) {
    use sha2::Digest;
    c.bridge
        .merchants
        .push(paystream::bridge::config::MerchantConfig {
            id: paystream::domain::ids::MerchantId::parse(OTHER_MERCHANT).unwrap(),
            api_key_sha256: hex::encode(sha2::Sha256::digest(OTHER_KEY.as_bytes())),
            roles: vec![paystream::bridge::config::Role::Write],
        });
}

/// [`start_with`], with `tweak` applied to the config before anything starts.
pub async fn start_configured(
    abort_permille: u16,
    external: Option<&str>,
    tweak: impl FnOnce(&mut Config),
) -> Flow {
    start_named("flow", abort_permille, external, tweak).await
}

/// Topics of a test that writes card numbers onto its commands topic on purpose (as a faulty
/// upstream producer would) are named `pan_<id>.*`: `scripts/test`'s PAN scan allows exactly
/// `pan_*.payments.commands`, and finds a card number anywhere else.
pub const PAN_INJECTING: &str = "pan";

/// [`start_configured`] in the deployment `<name>_<unique id>`.
pub async fn start_named(
    name: &str,
    abort_permille: u16,
    external: Option<&str>,
    tweak: impl FnOnce(&mut Config),
) -> Flow {
    let mut config = super::config();
    config.set_deployment(&super::unique(name));
    let dir = tempfile::tempdir().unwrap();
    config.topology.dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("topology");
    config.bridge.listen = "127.0.0.1:0".parse().unwrap();
    config.sandbox.listen = "127.0.0.1:0".parse().unwrap();
    config.sandbox.webhook_delay_ms = 300;
    config.runtime.batch_linger_ms = 20;
    config.runtime.faults.abort_permille = abort_permille;
    config.runtime.batch_failures_max = 50;
    for p in &mut config.connectors.providers {
        p.timeout_ms = 1_000;
    }
    config.sandbox.timeout_scenario_ms = 1_500;
    tweak(&mut config);
    paystream::commands::topology::apply(&config).await.unwrap();
    let health = Health::new();
    let shutdown = CancellationToken::new();
    let set = match external {
        Some(name) => ProcessorSet::flow_without(name),
        None => ProcessorSet::flow(),
    };
    let pipeline = Pipeline::start_with(&config, &health, &shutdown, &set)
        .await
        .unwrap();
    Flow {
        base: format!("http://{}", pipeline.bridge_addr),
        config,
        pipeline,
        shutdown,
        http: reqwest::Client::new(),
        dir,
    }
}

impl Flow {
    pub async fn post(
        &self,
        path: &str,
        key: Option<&str>,
        idem: Option<&str>,
        body: &Value,
    ) -> (u16, Value) {
        let mut r = self.http.post(format!("{}{path}", self.base)).json(body);
        if let Some(k) = key {
            r = r.bearer_auth(k);
        }
        if let Some(i) = idem {
            r = r.header("Idempotency-Key", i);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, id: &str) -> Value {
        self.get_path(&format!("/v1/payment_intents/{id}")).await
    }

    /// A GET as the demo merchant, its JSON body.
    pub async fn get_path(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn create(&self, method: Value, amount: i64, manual: bool) -> String {
        let idem = super::unique("idem");
        let (status, body) = self
            .post(
                "/v1/payment_intents",
                Some(KEY),
                Some(&idem),
                &json!({
                    "amount": amount, "currency": "INR", "confirm": true,
                    "capture_method": if manual { "manual" } else { "automatic" },
                    "payment_method": method,
                    "customer": {"id": super::unique("cus"), "ip": "198.51.100.7", "country": "IN"},
                }),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// Polls until `done` holds for the payment, or fails after `timeout`.
    pub async fn wait(&self, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let v = self.get(id).await;
            if done(&v) {
                return v;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{id} never reached {what}: {v}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn wait_status(&self, id: &str, status: &str) -> Value {
        self.wait(id, status, |v| v["status"] == status).await
    }

    /// The flow's deployment's name of the topic `topics.toml` calls `name`.
    pub fn topic(&self, name: &str) -> String {
        self.config.deployment.topic(name)
    }

    pub async fn read<T: paystream::events::Event + serde::de::DeserializeOwned>(
        &self,
        topic: &str,
        expected: usize,
    ) -> Vec<T> {
        let codec = Codec::single_object(Catalog::bundled().unwrap());
        let records = super::eos::read_committed(
            &self.config,
            &self.topic(topic),
            expected,
            // Generous: an aborted transaction's records arrive only with its retry.
            Duration::from_secs(60),
            Duration::from_secs(2),
        )
        .await
        .iter()
        .map(|b| codec.decode_sync(b).unwrap())
        .collect::<Vec<T>>();
        assert!(
            records.len() >= expected,
            "{topic}: {} record(s) arrived, at least {expected} expected",
            records.len()
        );
        records
    }

    pub async fn stop(self) {
        self.stop_with_stats().await;
    }

    /// Stops the pipeline; every processor must have ended cleanly. Returns each one's totals.
    pub async fn stop_with_stats(self) -> Vec<(String, paystream::runtime::eos::RunStats)> {
        let stats = self.pipeline.stop().await;
        let mut out = Vec::new();
        for (name, r) in stats {
            match r {
                Ok(s) => out.push((name, s)),
                Err(e) => panic!("processor {name} failed: {e}"),
            }
        }
        drop(self.shutdown);
        super::drop_keyspace(&self.config).await;
        out
    }
}

pub fn card(token: &str) -> Value {
    json!({"type": "card", "card_token": token, "card_issuer_country": "IN"})
}

pub fn upi(vpa: &str) -> Value {
    json!({"type": "upi", "vpa": vpa})
}

/// Every payment's events carry sequences 1..=n, each exactly once and in that order on the topic
/// (`events` as read, in offset order): nothing lost, nothing duplicated, nothing out of order after
/// an abort or a crash.
pub fn assert_trail(events: &[PaymentEvent]) -> BTreeMap<String, Vec<PaymentEvent>> {
    let mut by: BTreeMap<String, Vec<PaymentEvent>> = BTreeMap::new();
    for e in events {
        by.entry(e.payment_id.clone()).or_default().push(e.clone());
    }
    for (id, es) in by.iter_mut() {
        let seqs: Vec<i64> = es.iter().map(|e| e.sequence).collect();
        let want: Vec<i64> = (1..=i64::try_from(es.len()).unwrap()).collect();
        assert_eq!(
            seqs, want,
            "payment {id}: an event is duplicated, missing or out of order"
        );
    }
    by
}

pub async fn assert_ledger_balanced(config: &Config) -> paystream::store::ledger::AuditReport {
    let store = Store::open(&config.store).await.unwrap();
    let report = audit(&store).await.unwrap();
    assert!(report.is_balanced(), "{}", report.render());
    report
}

/// The ledger balances, is not empty, and what providers owe (the receivables) is exactly what was
/// captured: a skipped or doubled capture posting fails, an empty ledger fails.
pub async fn assert_ledger_holds_captures(config: &Config, captured_minor: i64) {
    let report = assert_ledger_balanced(config).await;
    assert!(report.postings > 0, "the ledger is empty");
    let receivable: i64 = report
        .balances
        .iter()
        .filter(|((account, _), _)| {
            account.starts_with("provider:") && account.ends_with(":receivable")
        })
        .map(|(_, b)| *b)
        .sum();
    assert_eq!(
        receivable,
        captured_minor,
        "provider receivables equal the captured amounts:\n{}",
        report.render()
    );
}

/// The sum of `amount_captured` over `ids`, read over REST (each payment already final).
pub async fn captured_total(f: &Flow, ids: &[&String]) -> i64 {
    let mut total = 0;
    for id in ids {
        total += f.get(id).await["amount_captured"].as_i64().unwrap_or(0);
    }
    total
}

/// One event as a trail pattern writes it: `STATUS/ATTEMPT_STATUS/REASON_CODE`, `-` for none.
pub fn step_of(e: &PaymentEvent) -> String {
    use paystream::events::symbol;
    format!(
        "{}/{}/{}",
        symbol(&e.status),
        e.attempt_status.map_or("-".to_owned(), |a| symbol(&a)),
        e.reason_code.as_deref().unwrap_or("-")
    )
}

/// The steps every confirmed payment starts with, up to its first attempt.
pub const CONFIRMED: [&str; 3] = [
    "REQUIRES_CONFIRMATION/-/-",
    "PROCESSING/-/-",
    "PROCESSING/STARTED/-",
];

/// A confirmed payment's whole trail: [`CONFIRMED`], then `rest`.
pub fn confirmed(rest: &[&'static str]) -> Vec<&'static str> {
    CONFIRMED.iter().chain(rest).copied().collect()
}

/// Whether `steps` match `pattern` exactly; a pattern step ending in `?` may be absent (a provider's
/// "pending" answer can lose the race against its own final webhook, and is then rejected as late).
fn matches_pattern(steps: &[String], pattern: &[&str]) -> bool {
    match (steps.split_first(), pattern.split_first()) {
        (_, Some((p, rest))) if p.ends_with('?') => {
            let p = p.trim_end_matches('?');
            (steps.first().is_some_and(|s| s == p) && matches_pattern(&steps[1..], rest))
                || matches_pattern(steps, rest)
        }
        (Some((s, srest)), Some((p, prest))) => s == p && matches_pattern(srest, prest),
        (None, None) => true,
        _ => false,
    }
}

/// The connector of a payment's first attempt, from its events.
pub fn first_connector<'a>(events: &'a [PaymentEvent], id: &str) -> Option<&'a str> {
    events
        .iter()
        .filter(|e| e.payment_id == id && e.attempt_id.is_some())
        .min_by_key(|e| e.sequence)
        .and_then(|e| e.connector.as_deref())
}

/// The least number of events the patterns allow.
pub fn required_events(expected: &BTreeMap<String, Vec<&'static str>>) -> usize {
    expected
        .values()
        .map(|p| p.iter().filter(|s| !s.ends_with('?')).count())
        .sum()
}

/// Each payment's events are exactly its expected trail (kinds, count, final state and reason), with
/// sequences 1..n, and no payment is missing or extra.
pub fn assert_trails(events: &[PaymentEvent], expected: &BTreeMap<String, Vec<&'static str>>) {
    let by = assert_trail(events);
    let seen: Vec<&String> = by.keys().collect();
    let wanted: Vec<&String> = expected.keys().collect();
    assert_eq!(
        seen, wanted,
        "the payments with events are exactly the expected ones"
    );
    for (id, pattern) in expected {
        let steps: Vec<String> = by[id].iter().map(step_of).collect();
        assert!(
            matches_pattern(&steps, pattern),
            "payment {id}: trail {steps:?} is not {pattern:?}"
        );
    }
}
