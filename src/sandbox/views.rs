//! How a charge looks in each provider's API: its decline codes, fees, and JSON bodies.

use super::server::{Charge, Object, Provider};
use super::ChargeState;
use crate::connectors::{acme, bolt};
use crate::events::provider::DeclineClass;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

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

pub(super) fn acme_view(c: &Charge, state: ChargeState) -> acme::Charge {
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
        fee: (state == ChargeState::Succeeded && c.object == Object::Charge)
            .then(|| fee_minor(Provider::Acme, c.amount_minor)),
        message: None,
        reference: Some(c.reference.clone()),
        payment_id: Some(c.payment_id.clone()),
        amount: Some(c.amount_minor),
        currency: Some(c.currency.clone()),
    }
}

pub(super) fn bolt_view(c: &Charge, state: ChargeState) -> bolt::Txn {
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
        charges: (state == ChargeState::Succeeded && c.object == Object::Charge)
            .then(|| bolt::to_decimal(fee_minor(Provider::Bolt, c.amount_minor), &c.currency).ok())
            .flatten(),
        merchant_ref: Some(c.reference.clone()),
        order: Some(c.payment_id.clone()),
        amount: bolt::to_decimal(c.amount_minor, &c.currency).ok(),
        currency: Some(c.currency.clone()),
    }
}

pub(super) fn render(p: Provider, c: &Charge, state: ChargeState) -> Response {
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
