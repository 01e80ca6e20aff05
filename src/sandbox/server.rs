//! The sandbox's HTTP side: Acme at `/acme/v1/charges[/{reference}]`, Bolt at
//! `/bolt/transactions[/{reference}]`, and the signed webhooks it sends to the bridge.

use super::config::SandboxConfig;
use super::{plan, Answer, ChargeState, Scenario};
use crate::connectors::config::ConnectorsConfig;
use crate::connectors::webhook_signature::WebhookSecret;
use crate::connectors::{acme, bolt};
use crate::domain::clock::now_millis;
use crate::events::provider::DeclineClass;
use crate::metrics as m;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::{debug, warn};

/// Charges remembered per provider; the oldest are forgotten past this.
const CHARGES_MAX: usize = 200_000;
const WEBHOOK_ATTEMPTS_MAX: u32 = 5;
const WEBHOOK_TIMEOUT_MS: u64 = 5_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Provider {
    Acme,
    Bolt,
}

impl Provider {
    fn name(self) -> &'static str {
        match self {
            Provider::Acme => "acme",
            Provider::Bolt => "bolt",
        }
    }
}

#[derive(Debug, Clone)]
struct Charge {
    id: String,
    reference: String,
    payment_id: String,
    amount_minor: i64,
    currency: String,
    state: ChargeState,
}

#[derive(Default)]
struct Book {
    by_key: HashMap<(Provider, String), Charge>,
    /// (provider, reference) → idempotency key, for status checks.
    by_reference: HashMap<(Provider, String), String>,
    order: VecDeque<(Provider, String)>,
}

pub struct Sandbox {
    config: SandboxConfig,
    secrets: BTreeMap<&'static str, WebhookSecret>,
    book: Mutex<Book>,
    http: reqwest::Client,
    seq: AtomicU64,
}

impl Sandbox {
    pub fn new(config: SandboxConfig, connectors: &ConnectorsConfig) -> Result<Arc<Self>, String> {
        let mut secrets = BTreeMap::new();
        for p in [Provider::Acme, Provider::Bolt] {
            let c = connectors
                .get(p.name())
                .ok_or_else(|| format!("connectors.providers has no '{}': the sandbox signs its webhooks with that secret", p.name()))?;
            let s = WebhookSecret::parse(&c.webhook_secret)
                .map_err(|e| format!("connector {}: {e}", p.name()))?;
            secrets.insert(p.name(), s);
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(WEBHOOK_TIMEOUT_MS))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Arc::new(Self {
            config,
            secrets,
            book: Mutex::new(Book::default()),
            http,
            seq: AtomicU64::new(now_millis().unsigned_abs()),
        }))
    }

    fn next_id(&self, prefix: &str) -> String {
        format!("{prefix}_{:x}", self.seq.fetch_add(1, Ordering::Relaxed))
    }

    fn lookup(&self, p: Provider, key: &str) -> Option<Charge> {
        self.book
            .lock()
            .ok()?
            .by_key
            .get(&(p, key.to_owned()))
            .cloned()
    }

    fn find_by_reference(&self, p: Provider, reference: &str) -> Option<Charge> {
        let book = self.book.lock().ok()?;
        let key = book.by_reference.get(&(p, reference.to_owned()))?;
        book.by_key.get(&(p, key.clone())).cloned()
    }

    fn remember(&self, p: Provider, key: &str, charge: Charge) {
        if let Ok(mut book) = self.book.lock() {
            if book.order.len() >= CHARGES_MAX {
                if let Some(old) = book.order.pop_front() {
                    if let Some(c) = book.by_key.remove(&old) {
                        book.by_reference.remove(&(old.0, c.reference));
                    }
                }
            }
            book.order.push_back((p, key.to_owned()));
            book.by_reference
                .insert((p, charge.reference.clone()), key.to_owned());
            book.by_key.insert((p, key.to_owned()), charge);
        }
    }

    fn failure_hit(&self) -> bool {
        let permille = u64::from(self.config.failure_permille);
        permille > 0
            && self
                .seq
                .fetch_add(1, Ordering::Relaxed)
                .wrapping_mul(2_654_435_761)
                % 1_000
                < permille
    }
}

pub fn router(s: Arc<Sandbox>) -> Router {
    Router::new()
        .route("/acme/v1/charges", post(acme_charge))
        .route("/acme/v1/charges/{reference}", get(acme_status))
        .route("/bolt/transactions", post(bolt_charge))
        .route("/bolt/transactions/{reference}", get(bolt_status))
        .with_state(s)
}

fn decline_code(p: Provider, d: DeclineClass) -> &'static str {
    match (p, d) {
        (Provider::Acme, DeclineClass::InsufficientFunds) => "insufficient_funds",
        (Provider::Acme, DeclineClass::InvalidPaymentMethod) => "invalid_card",
        (Provider::Acme, DeclineClass::DoNotHonor) => "do_not_honor",
        (Provider::Acme, DeclineClass::RiskDecline) => "fraudulent",
        (Provider::Acme, DeclineClass::IssuerUnavailable) => "issuer_unavailable",
        (Provider::Acme, DeclineClass::ProviderError) => "processing_error",
        (Provider::Acme, DeclineClass::RateLimited) => "rate_limited",
        (Provider::Acme, DeclineClass::Expired) => "expired_card",
        (Provider::Acme, DeclineClass::Other) => "generic_decline",
        (Provider::Bolt, DeclineClass::InsufficientFunds) => "NSF",
        (Provider::Bolt, DeclineClass::InvalidPaymentMethod) => "CARD_INVALID",
        (Provider::Bolt, DeclineClass::DoNotHonor) => "DNH",
        (Provider::Bolt, DeclineClass::RiskDecline) => "RISK",
        (Provider::Bolt, DeclineClass::IssuerUnavailable) => "ISSUER_DOWN",
        (Provider::Bolt, DeclineClass::ProviderError) => "SYSTEM",
        (Provider::Bolt, DeclineClass::RateLimited) => "THROTTLED",
        (Provider::Bolt, DeclineClass::Expired) => "EXPIRED",
        (Provider::Bolt, DeclineClass::Other) => "OTHER",
    }
}

/// Acme's fee: 2 %; Bolt's: 1.5 %. Integer minor units, rounded down.
fn fee_minor(p: Provider, amount: i64) -> i64 {
    match p {
        Provider::Acme => amount / 50,
        Provider::Bolt => amount.saturating_mul(3) / 200,
    }
}

fn acme_view(c: &Charge, state: ChargeState) -> acme::Charge {
    let (status, code) = match state {
        ChargeState::Succeeded => ("succeeded", None),
        ChargeState::Pending => ("pending", None),
        ChargeState::Declined(d) => ("declined", Some(decline_code(Provider::Acme, d).to_owned())),
        ChargeState::Failed => ("failed", Some("processing_error".to_owned())),
    };
    acme::Charge {
        id: c.id.clone(),
        status: status.into(),
        decline_code: code,
        fee: (state == ChargeState::Succeeded).then(|| fee_minor(Provider::Acme, c.amount_minor)),
        message: None,
        reference: Some(c.reference.clone()),
        payment_id: Some(c.payment_id.clone()),
        amount: Some(c.amount_minor),
        currency: Some(c.currency.clone()),
    }
}

fn bolt_view(c: &Charge, state: ChargeState) -> bolt::Txn {
    let (s, code) = match state {
        ChargeState::Succeeded => ("CAPTURED", None),
        ChargeState::Pending => ("PROCESSING", None),
        ChargeState::Declined(d) => ("REJECTED", Some(decline_code(Provider::Bolt, d))),
        ChargeState::Failed => ("ERROR", Some("SYSTEM")),
    };
    bolt::Txn {
        reference: c.id.clone(),
        state: s.into(),
        reason: code.map(|c| bolt::Reason { code: c.into() }),
        charges: (state == ChargeState::Succeeded)
            .then(|| bolt::to_decimal(fee_minor(Provider::Bolt, c.amount_minor), &c.currency).ok())
            .flatten(),
        merchant_ref: Some(c.reference.clone()),
        order: Some(c.payment_id.clone()),
        amount: bolt::to_decimal(c.amount_minor, &c.currency).ok(),
        currency: Some(c.currency.clone()),
    }
}

fn render(p: Provider, c: &Charge, state: ChargeState) -> Response {
    let body = match p {
        Provider::Acme => serde_json::to_vec(&acme_view(c, state)),
        Provider::Bolt => serde_json::to_vec(&bolt::Answer {
            txn: bolt_view(c, state),
        }),
    };
    match body {
        Ok(b) => (StatusCode::OK, [("content-type", "application/json")], b).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

fn bad_request(msg: &str) -> Response {
    (StatusCode::BAD_REQUEST, format!("{{\"error\":\"{msg}\"}}")).into_response()
}

/// An authorization, parsed from either provider's shape.
struct ChargeIn {
    key: String,
    reference: String,
    payment_id: String,
    amount_minor: i64,
    currency: String,
    instrument: String,
}

/// The shared path of both providers once the request is parsed.
async fn charge(s: Arc<Sandbox>, p: Provider, input: ChargeIn) -> Response {
    let ChargeIn {
        key,
        reference,
        payment_id,
        amount_minor,
        currency,
        instrument,
    } = input;
    tokio::time::sleep(Duration::from_millis(s.config.latency_ms)).await;
    // A repeated key gets the charge's current state: nothing is charged twice.
    if let Some(c) = s.lookup(p, &key) {
        metrics::counter!(m::SANDBOX_CALLS, "provider" => p.name(), "scenario" => "idempotent_replay").increment(1);
        return render(p, &c, c.state);
    }
    if s.failure_hit() {
        metrics::counter!(m::SANDBOX_CALLS, "provider" => p.name(), "scenario" => "injected_failure").increment(1);
        return (StatusCode::SERVICE_UNAVAILABLE, "injected failure").into_response();
    }
    let scenario = Scenario::of(&instrument, p.name());
    metrics::counter!(m::SANDBOX_CALLS, "provider" => p.name(), "scenario" => scenario.label())
        .increment(1);
    let plan = plan(scenario);
    let c = Charge {
        id: s.next_id(match p {
            Provider::Acme => "ch",
            Provider::Bolt => "bt",
        }),
        reference,
        payment_id,
        amount_minor,
        currency,
        state: plan.settled,
    };
    s.remember(p, &key, c.clone());
    for (n, (mult, state)) in plan.webhooks.iter().enumerate() {
        let delay = Duration::from_millis(s.config.webhook_delay_ms.saturating_mul(*mult));
        // The same event id for a repeated state: a true duplicate delivery.
        let event_no = if n > 0 && plan.webhooks.get(n - 1).map(|w| w.1) == Some(*state) {
            n - 1
        } else {
            n
        };
        let event_id = format!("evt_{}_{event_no}", c.id);
        // An out-of-order "pending" claims to be older than the success before it.
        let created_ms = now_millis().saturating_add(i64::try_from(delay.as_millis()).unwrap_or(0))
            - if *state == ChargeState::Pending {
                60_000
            } else {
                0
            };
        tokio::spawn(send_webhook(
            s.clone(),
            p,
            c.clone(),
            *state,
            event_id,
            created_ms,
            delay,
        ));
    }
    match plan.answer {
        Answer::State(state) => render(p, &c, state),
        Answer::Hang => {
            tokio::time::sleep(Duration::from_millis(s.config.timeout_scenario_ms)).await;
            render(p, &c, ChargeState::Pending)
        }
        Answer::ServerError => {
            (StatusCode::SERVICE_UNAVAILABLE, "upstream unavailable").into_response()
        }
    }
}

async fn send_webhook(
    s: Arc<Sandbox>,
    p: Provider,
    c: Charge,
    state: ChargeState,
    event_id: String,
    created_ms: i64,
    delay: Duration,
) {
    tokio::time::sleep(delay).await;
    let body = match p {
        Provider::Acme => serde_json::to_vec(&acme::Webhook {
            id: event_id.clone(),
            kind: format!("charge.{}", acme_view(&c, state).status),
            created: created_ms,
            data: acme_view(&c, state),
        }),
        Provider::Bolt => serde_json::to_vec(&bolt::Webhook {
            event_id: event_id.clone(),
            event: "txn.update".into(),
            ts_ms: created_ms,
            txn: bolt_view(&c, state),
        }),
    };
    let Ok(body) = body else { return };
    let Some(secret) = s.secrets.get(p.name()) else {
        return;
    };
    let url = format!("{}/{}", s.config.webhook_url, p.name());
    for attempt in 1..=WEBHOOK_ATTEMPTS_MAX {
        let ts = now_millis() / 1_000;
        let signature = secret.sign(&event_id, ts, &body);
        let sent = s
            .http
            .post(&url)
            .header("content-type", "application/json")
            .header("webhook-id", &event_id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", signature)
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {
                debug!(provider = p.name(), %event_id, "webhook delivered");
                return;
            }
            Ok(r) if r.status().is_client_error() => {
                warn!(provider = p.name(), %event_id, status = r.status().as_u16(), "webhook refused");
                return;
            }
            other => {
                debug!(provider = p.name(), %event_id, attempt, ok = other.is_ok(), "webhook delivery failed; retrying");
                tokio::time::sleep(Duration::from_millis(
                    200u64.saturating_mul(u64::from(attempt)),
                ))
                .await;
            }
        }
    }
    warn!(provider = p.name(), %event_id, "webhook undeliverable after {WEBHOOK_ATTEMPTS_MAX} attempts");
}

async fn acme_charge(State(s): State<Arc<Sandbox>>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(key) = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
    else {
        return bad_request("Idempotency-Key header is required");
    };
    let Ok(req) = serde_json::from_slice::<acme::ChargeRequest>(&body) else {
        return bad_request("body is not a charge request");
    };
    if req.amount <= 0 {
        return bad_request("amount must be positive");
    }
    let input = ChargeIn {
        key,
        reference: req.reference,
        payment_id: req.payment_id,
        amount_minor: req.amount,
        currency: req.currency,
        instrument: req.source,
    };
    charge(s, Provider::Acme, input).await
}

async fn bolt_charge(
    State(s): State<Arc<Sandbox>>,
    axum::Form(form): axum::Form<HashMap<String, String>>,
) -> Response {
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    let key = field("idem_key");
    if key.is_empty() {
        return bad_request("idem_key is required");
    }
    let currency = field("currency");
    let Ok(amount) = bolt::from_decimal(&field("amount"), &currency) else {
        return bad_request("amount is not a decimal amount of the currency");
    };
    let input = ChargeIn {
        key,
        reference: field("merchant_ref"),
        payment_id: field("order"),
        amount_minor: amount,
        currency,
        instrument: field("instrument"),
    };
    charge(s, Provider::Bolt, input).await
}

async fn acme_status(State(s): State<Arc<Sandbox>>, Path(reference): Path<String>) -> Response {
    match s.find_by_reference(Provider::Acme, &reference) {
        Some(c) => render(Provider::Acme, &c, c.state),
        None => (StatusCode::NOT_FOUND, "{\"error\":\"no such charge\"}").into_response(),
    }
}

async fn bolt_status(State(s): State<Arc<Sandbox>>, Path(reference): Path<String>) -> Response {
    match s.find_by_reference(Provider::Bolt, &reference) {
        Some(c) => render(Provider::Bolt, &c, c.state),
        None => (StatusCode::NOT_FOUND, "{\"error\":\"no such txn\"}").into_response(),
    }
}
