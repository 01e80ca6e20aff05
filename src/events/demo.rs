//! Deterministic demo traffic: a varied payment command per index, for `paystream smoke`, the
//! benchmarks and tests.

use super::payment_command::{
    CaptureMethod, PaymentCommand, PaymentCommandKind, PaymentMethod, PaymentMethodType,
};
use super::TimestampMillis;
use std::collections::BTreeMap;

/// A varied, deterministic demo command: methods, currencies and capture modes rotate with `i`.
pub fn demo_command(run_id: &str, i: usize, now_ms: i64) -> PaymentCommand {
    let method = match i % 4 {
        0 => PaymentMethod {
            card_token: Some(format!("tok_demo_{i}")),
            card_network: Some("VISA".into()),
            card_last4: Some("4242".into()),
            card_issuer_country: Some("IN".into()),
            ..PaymentMethod::of(PaymentMethodType::Card)
        },
        1 => PaymentMethod {
            vpa: Some(format!("cust{i}@okbank")),
            ..PaymentMethod::of(PaymentMethodType::Upi)
        },
        2 => PaymentMethod {
            bank_code: Some("HDFC".into()),
            ..PaymentMethod::of(PaymentMethodType::NetBanking)
        },
        _ => PaymentMethod {
            wallet: Some("paytm".into()),
            ..PaymentMethod::of(PaymentMethodType::Wallet)
        },
    };
    let (currency, amount) = match i % 3 {
        0 => ("INR", 49_900),
        1 => ("USD", 1_999),
        _ => ("JPY", 1_200),
    };
    let step = i64::try_from(i % 1000).unwrap_or(0);
    PaymentCommand {
        command_id: format!("cmd_{run_id}_{i}"),
        payment_id: format!("pay_{run_id}_{i}"),
        merchant_id: format!("m_demo_{}", i % 5),
        kind: PaymentCommandKind::Create,
        amount_minor: Some(amount + step),
        currency: Some(currency.into()),
        capture_method: Some(if i % 2 == 0 {
            CaptureMethod::Automatic
        } else {
            CaptureMethod::Manual
        }),
        payment_method: Some(method),
        customer_id: Some(format!("cus_{}", i % 50)),
        customer_ip: Some("203.0.113.10".into()),
        customer_country: Some("IN".into()),
        idempotency_key: Some(format!("idem_{run_id}_{i}")),
        metadata: BTreeMap::from([("order_id".to_owned(), format!("ord_{i}"))]),
        issued_at: TimestampMillis(now_ms),
        confirm: false,
    }
}
