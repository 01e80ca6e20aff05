//! The demo mix: every kind of payment the load generator sends (method, sandbox scenario, capture
//! mode), its weight, and the request body that asks for it.

use serde_json::{json, Value};

/// One kind of demo payment: its weight in the mix, its method and what the test expects.
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    pub name: &'static str,
    pub weight: u32,
    pub method: &'static str,
    pub reference: &'static str,
    pub manual_capture: bool,
    pub amount_minor: i64,
}

const fn kind(
    name: &'static str,
    weight: u32,
    method: &'static str,
    reference: &'static str,
) -> Kind {
    Kind {
        name,
        weight,
        method,
        reference,
        manual_capture: false,
        amount_minor: 49_900,
    }
}

/// On the default fraud blocklist.
pub const BLOCKED_CARD: &str = "tok_blocked";

/// The traffic mix (weights sum to 100).
pub const MIX: &[Kind] = &[
    kind("card_success", 36, "card", "tok_visa_success"),
    Kind {
        manual_capture: true,
        ..kind("card_partial_capture", 5, "card", "tok_visa_success")
    },
    kind("upi_success", 15, "upi", "success@upi"),
    kind("netbanking_success", 5, "net_banking", "HDFC"),
    kind("wallet_success", 5, "wallet", "paytm"),
    kind(
        "card_insufficient_funds",
        5,
        "card",
        "tok_insufficient_funds",
    ),
    kind("card_do_not_honor", 3, "card", "tok_do_not_honor"),
    kind("wallet_acme_down_failover", 4, "wallet", "acme_down"),
    kind("upi_pending_success", 5, "upi", "pending_success@upi"),
    kind("upi_pending_failure", 3, "upi", "pending_failure@upi"),
    kind("card_timeout", 2, "card", "tok_timeout"),
    kind("card_server_error", 2, "card", "tok_server_error"),
    kind("card_duplicate_webhook", 2, "card", "tok_duplicate_webhook"),
    kind("card_out_of_order_webhook", 2, "card", "tok_out_of_order"),
    kind("card_late_webhook", 2, "card", "tok_late_webhook"),
    kind("fraud_blocked_card", 2, "card", BLOCKED_CARD),
    Kind {
        amount_minor: 6_000_000,
        ..kind("fraud_review_amount", 2, "card", "tok_visa_success")
    },
];

/// The mix's kind for payment number `i`: deterministic, spread evenly.
pub fn kind_of(i: u32) -> Kind {
    let total: u32 = MIX.iter().map(|k| k.weight).sum();
    // A stride coprime with 100 interleaves the kinds instead of sending them in blocks.
    let slot = i.wrapping_mul(37) % total.max(1);
    let mut acc = 0;
    for k in MIX {
        acc += k.weight;
        if slot < acc {
            return *k;
        }
    }
    MIX[0]
}

/// Customers (each with its own card token and VPA) the demo cycles through. A customer comes back
/// once every this many payments: at the demo's rates that stays under the default velocity limits
/// even in a 100 000-payment run, so fraud reviews come from the review scenario, not from the
/// load generator reusing identities.
const CUSTOMERS: u32 = 99_991;

pub fn body_for(k: &Kind, i: u32) -> Value {
    let mut method = json!({"type": k.method});
    match k.method {
        "card" => {
            // One token per customer (as a vault would issue), keeping the scenario word.
            let token = if k.reference == BLOCKED_CARD {
                k.reference.to_owned()
            } else {
                format!("{}_{}", k.reference, i % CUSTOMERS)
            };
            method["card_token"] = json!(token);
            method["card_issuer_country"] = json!("IN");
        }
        "upi" => {
            method["vpa"] = json!(k
                .reference
                .replacen('@', &format!(".{}@", i % CUSTOMERS), 1))
        }
        "net_banking" => method["bank_code"] = json!(k.reference),
        _ => method["wallet"] = json!(k.reference),
    }
    json!({
        "amount": k.amount_minor,
        "currency": "INR",
        "capture_method": if k.manual_capture { "manual" } else { "automatic" },
        "payment_method": method,
        "customer": {"id": format!("cus_{}", i % CUSTOMERS), "ip": format!("198.51.{}.{}", (i / 250) % 250, i % 250), "country": "IN"},
        "metadata": {"order_id": format!("ord_{i}")},
        "confirm": true,
    })
}
