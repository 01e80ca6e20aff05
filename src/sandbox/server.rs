//! The sandbox's HTTP side: Acme at `/acme/v1/charges[/{reference}]`, Bolt at
//! `/bolt/transactions[/{reference}]`, and the signed webhooks it sends to the bridge.

use super::after_charge;
use super::config::SandboxConfig;
use super::views::render;
use super::webhooks;
use super::{plan, Answer, ChargeState, Scenario};
use crate::connectors::config::ConnectorsConfig;
use crate::connectors::transferly::Transfer;
use crate::connectors::webhook_signature::WebhookSecret;
use crate::connectors::{acme, bolt};
use crate::domain::clock::now_millis;
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

/// Charges remembered per provider; the oldest are forgotten past this.
const CHARGES_MAX: usize = 200_000;
pub(super) const WEBHOOK_ATTEMPTS_MAX: u32 = 5;
const WEBHOOK_TIMEOUT_MS: u64 = 5_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Provider {
    Acme,
    Bolt,
}

impl Provider {
    pub(super) fn name(self) -> &'static str {
        match self {
            Provider::Acme => "acme",
            Provider::Bolt => "bolt",
        }
    }
}

/// What a remembered object is: a charge, or a refund of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Object {
    Charge,
    Refund,
}

#[derive(Debug, Clone)]
pub(super) struct Charge {
    pub(super) object: Object,
    /// The instrument the charge was made with (a refund: its charge's), which picks scenarios.
    pub(super) source: String,
    pub(super) id: String,
    pub(super) reference: String,
    pub(super) payment_id: String,
    pub(super) amount_minor: i64,
    pub(super) currency: String,
    pub(super) state: ChargeState,
}

#[derive(Default)]
struct Book {
    by_key: HashMap<(Provider, String), Charge>,
    /// (provider, reference) → idempotency key, for status checks.
    by_reference: HashMap<(Provider, String), String>,
    order: VecDeque<(Provider, String)>,
}

pub struct Sandbox {
    pub(super) config: SandboxConfig,
    pub(super) secrets: BTreeMap<&'static str, WebhookSecret>,
    book: Mutex<Book>,
    pub(super) http: reqwest::Client,
    seq: AtomicU64,
    /// Per charge id: the amount its refunds have taken (a provider refuses refunding more).
    pub(super) refunded: Mutex<HashMap<(Provider, String), i64>>,
    /// Transferly's transfers by request_ref, the oldest forgotten past `CHARGES_MAX`.
    transfers: Mutex<(HashMap<String, Transfer>, VecDeque<String>)>,
}

impl Sandbox {
    pub fn new(config: SandboxConfig, connectors: &ConnectorsConfig) -> Result<Arc<Self>, String> {
        let mut secrets = BTreeMap::new();
        for name in [Provider::Acme.name(), Provider::Bolt.name(), "transferly"] {
            let c = connectors
                .get(name)
                .ok_or_else(|| format!("connectors.providers has no '{name}': the sandbox signs its webhooks with that secret"))?;
            let s = WebhookSecret::parse(&c.webhook_secret)
                .map_err(|e| format!("connector {name}: {e}"))?;
            secrets.insert(name, s);
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
            refunded: Mutex::new(HashMap::new()),
            transfers: Mutex::new((HashMap::new(), VecDeque::new())),
        }))
    }

    pub(super) fn next_id(&self, prefix: &str) -> String {
        format!("{prefix}_{:x}", self.seq.fetch_add(1, Ordering::Relaxed))
    }

    pub(super) fn lookup(&self, p: Provider, key: &str) -> Option<Charge> {
        self.book
            .lock()
            .ok()?
            .by_key
            .get(&(p, key.to_owned()))
            .cloned()
    }

    pub(super) fn find_by_reference(&self, p: Provider, reference: &str) -> Option<Charge> {
        let book = self.book.lock().ok()?;
        let key = book.by_reference.get(&(p, reference.to_owned()))?;
        book.by_key.get(&(p, key.clone())).cloned()
    }

    pub(super) fn remember(&self, p: Provider, key: &str, charge: Charge) {
        self.remember_as(p, key, charge, true);
    }

    /// Remembers an object under its idempotency key, and (`findable`) under its references;
    /// the oldest are forgotten past `CHARGES_MAX`.
    fn remember_as(&self, p: Provider, key: &str, charge: Charge, findable: bool) {
        let Ok(mut book) = self.book.lock() else {
            return;
        };
        if book.order.len() >= CHARGES_MAX {
            if let Some(old) = book.order.pop_front() {
                if let Some(c) = book.by_key.remove(&old) {
                    for r in [c.reference, c.id] {
                        if book.by_reference.get(&(old.0, r.clone())) == Some(&old.1) {
                            book.by_reference.remove(&(old.0, r));
                        }
                    }
                }
            }
        }
        book.order.push_back((p, key.to_owned()));
        if findable {
            book.by_reference
                .insert((p, charge.reference.clone()), key.to_owned());
            if charge.object == Object::Charge {
                book.by_reference
                    .insert((p, charge.id.clone()), key.to_owned());
            }
        }
        book.by_key.insert((p, key.to_owned()), charge);
    }

    /// Remembers a call's answer under its idempotency key only (a capture or void of a charge,
    /// which stays findable by its own reference).
    pub(super) fn remember_call(&self, p: Provider, key: &str, answer: Charge) {
        self.remember_as(p, key, answer, false);
    }

    pub(super) fn transfer(&self, request_ref: &str) -> Option<Transfer> {
        self.transfers.lock().ok()?.0.get(request_ref).cloned()
    }

    pub(super) fn remember_transfer(&self, t: Transfer) {
        let Ok(mut guard) = self.transfers.lock() else {
            return;
        };
        let (map, order) = &mut *guard;
        if !map.contains_key(&t.request_ref) {
            if order.len() >= CHARGES_MAX {
                if let Some(old) = order.pop_front() {
                    map.remove(&old);
                }
            }
            order.push_back(t.request_ref.clone());
        }
        map.insert(t.request_ref.clone(), t);
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
        .merge(after_charge::router())
        .merge(super::transferly::router())
        .with_state(s)
}

pub(super) fn bad_request(msg: &str) -> Response {
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
        object: Object::Charge,
        source: instrument,
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
    webhooks::schedule(&s, p, &c, &plan.webhooks);
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
