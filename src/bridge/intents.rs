//! Payment intents over REST.
//!
//! - `POST /v1/payment_intents` (with `confirm: true` to create and confirm at once),
//!   `POST /v1/payment_intents/{id}/confirm|capture|cancel`: validated, authenticated by the
//!   merchant's API key, published as exactly one Avro `PaymentCommand` (so a request takes effect
//!   whole or not at all), answered `202 Accepted` because the payment processor applies it
//!   asynchronously. With an `Idempotency-Key` the payment and command ids derive from the key, so a
//!   retry after any failure names the same payment.
//!
//! Reads and ownership are in `reads`.

use super::config::Role;
use super::errors::{err, invalid, store_unavailable, ApiError};
use super::idempotency::{self, request_hash};
use super::reads::{owned, payment_id_of};
use super::replay::{run_once, Keyed};
use super::request::{caller, parse_json, require_json};
use super::shared::Bridge;
use super::validation;
use crate::domain::clock::now_millis;
use crate::domain::ids::{MerchantId, PaymentId};
use crate::events::payment_command::{
    CaptureMethod, PaymentCommand, PaymentCommandKind, PaymentMethod, PaymentMethodType,
};
use crate::events::{symbol, TimestampMillis};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

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

/// What every intent request carries once authenticated and checked.
struct Checked {
    merchant_id: MerchantId,
    key: Option<String>,
}

/// Authentication, the Idempotency-Key's form and the body's content type, in that order.
fn check(b: &Bridge, headers: &HeaderMap, body: &[u8]) -> Result<Checked, ApiError> {
    let who = caller(b, headers)?;
    who.require(Role::Write)?;
    let merchant_id = who.merchant_id;
    let key = headers
        .get("idempotency-key")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    if let Some(k) = &key {
        idempotency::validate_key(k).map_err(|e| {
            err(
                StatusCode::BAD_REQUEST,
                "idempotency_key_invalid",
                e.to_string(),
            )
        })?;
    }
    require_json(headers, body)?;
    Ok(Checked { merchant_id, key })
}

fn method(m: MethodIn) -> Result<PaymentMethod, ApiError> {
    if m.number.is_some() {
        return Err(invalid(
            "raw_card_number",
            "payment_method.number",
            "raw card numbers are never accepted: tokenize the card with the vault and send card_token",
        ));
    }
    let method_type = match m.kind.as_str() {
        "card" => PaymentMethodType::Card,
        "upi" => PaymentMethodType::Upi,
        "net_banking" => PaymentMethodType::NetBanking,
        "wallet" => PaymentMethodType::Wallet,
        other => {
            return Err(invalid(
                "payment_method_type_invalid",
                "payment_method.type",
                format!("'{other}' is not one of card, upi, net_banking, wallet"),
            ))
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
    payment_id: &PaymentId,
    merchant_id: &MerchantId,
    key: Option<&str>,
) -> PaymentCommand {
    PaymentCommand {
        command_id: idempotency::command_id(merchant_id, key, payment_id, &symbol(&kind)),
        payment_id: payment_id.to_string(),
        merchant_id: merchant_id.to_string(),
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
        confirm: false,
    }
}

fn accepted(cmd: &PaymentCommand) -> (StatusCode, Vec<u8>) {
    let body = json!({
        "id": cmd.payment_id,
        "object": "payment_intent",
        "accepted": {"command_id": cmd.command_id, "kind": symbol(&cmd.kind), "confirm": cmd.confirm},
        "status_url": format!("/v1/payment_intents/{}", cmd.payment_id),
    });
    (
        StatusCode::ACCEPTED,
        serde_json::to_vec(&body).unwrap_or_default(),
    )
}

fn create_command(
    b: &Bridge,
    input: CreateIn,
    merchant_id: &MerchantId,
    key: Option<&str>,
) -> Result<PaymentCommand, ApiError> {
    let currency = validation::amount(input.amount, &input.currency, &b.limits)?;
    validation::metadata(&input.metadata, &b.limits)?;
    let capture_method = match input.capture_method.as_deref() {
        None | Some("automatic") => CaptureMethod::Automatic,
        Some("manual") => CaptureMethod::Manual,
        Some(other) => {
            return Err(invalid(
                "capture_method_invalid",
                "capture_method",
                format!("'{other}' is not automatic or manual"),
            ))
        }
    };
    let pm = input.payment_method.map(method).transpose()?;
    if input.confirm && pm.is_none() {
        return Err(invalid(
            "payment_method_required",
            "payment_method",
            "confirm: true needs a payment_method",
        ));
    }
    let payment_id = idempotency::payment_id(merchant_id, key).map_err(|e| {
        err(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("derived payment id: {e}"),
        )
    })?;
    let mut create = command(PaymentCommandKind::Create, &payment_id, merchant_id, key);
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
    create.confirm = input.confirm;
    Ok(create)
}

pub async fn create(State(b): State<Arc<Bridge>>, headers: HeaderMap, body: Bytes) -> Response {
    let route = "/v1/payment_intents";
    let c = match check(&b, &headers, &body) {
        Ok(c) => c,
        Err(e) => return e.respond(route),
    };
    let req = Keyed {
        route,
        merchant_id: &c.merchant_id,
        key: c.key.as_deref(),
        request_sha256: request_hash("POST", route, &body),
    };
    run_once(&b, req, || async {
        let input: CreateIn = parse_json(&body)?;
        let cmd = create_command(&b, input, &c.merchant_id, c.key.as_deref())?;
        // Read-your-writes: the merchant may act on the intent before the processor applies the
        // CREATE (which writes the owner again, from the committed event).
        b.tables
            .bridge
            .set_owner(&cmd.payment_id, c.merchant_id.as_str(), now_millis())
            .await
            .map_err(store_unavailable)?;
        b.publish(&b.topics.commands, &cmd).await?;
        Ok(accepted(&cmd))
    })
    .await
}

fn action_kind(action: &str) -> Option<PaymentCommandKind> {
    match action {
        "confirm" => Some(PaymentCommandKind::Confirm),
        "capture" => Some(PaymentCommandKind::Capture),
        "cancel" => Some(PaymentCommandKind::Cancel),
        _ => None,
    }
}

fn act_command(
    kind: PaymentCommandKind,
    input: ActIn,
    id: &PaymentId,
    merchant_id: &MerchantId,
    key: Option<&str>,
) -> Result<PaymentCommand, ApiError> {
    let mut cmd = command(kind, id, merchant_id, key);
    if let Some(pm) = input.payment_method {
        cmd.payment_method = Some(method(pm)?);
    }
    if let Some(amount) = input.amount {
        if kind != PaymentCommandKind::Capture {
            return Err(invalid(
                "amount_not_allowed",
                "amount",
                "only capture takes an amount",
            ));
        }
        if amount <= 0 {
            return Err(invalid(
                "amount_out_of_range",
                "amount",
                "capture a positive amount in minor units, at most what was authorized",
            ));
        }
        cmd.amount_minor = Some(amount);
    }
    Ok(cmd)
}

pub async fn act(
    State(b): State<Arc<Bridge>>,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let route = "/v1/payment_intents/{id}/{action}";
    let Some(kind) = action_kind(&action) else {
        return err(
            StatusCode::NOT_FOUND,
            "unknown_action",
            "use confirm, capture or cancel",
        )
        .respond(route);
    };
    let c = match check(&b, &headers, &body) {
        Ok(c) => c,
        Err(e) => return e.respond(route),
    };
    let id = match payment_id_of(&id) {
        Ok(id) => id,
        Err(e) => return e.respond(route),
    };
    if let Err(e) = owned(&b, &id, &c.merchant_id).await {
        return e.respond(route);
    }
    let path = format!("/v1/payment_intents/{id}/{action}");
    let req = Keyed {
        route,
        merchant_id: &c.merchant_id,
        key: c.key.as_deref(),
        request_sha256: request_hash("POST", &path, &body),
    };
    run_once(&b, req, || async {
        let input: ActIn = if body.is_empty() {
            ActIn::default()
        } else {
            parse_json(&body)?
        };
        let cmd = act_command(kind, input, &id, &c.merchant_id, c.key.as_deref())?;
        b.publish(&b.topics.commands, &cmd).await?;
        Ok(accepted(&cmd))
    })
    .await
}
