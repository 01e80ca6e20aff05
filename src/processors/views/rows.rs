//! The rows of the query views, each written from one committed `PaymentEvent`.

use crate::events::payment_event::PaymentEvent;
use crate::events::symbol;
use crate::store::writer::{Cql, StoreWrite};

/// The payment's query row, versioned by its sequence: an older event written after a newer one (a
/// replay) never takes the row back.
pub fn payment_row(e: &PaymentEvent) -> StoreWrite {
    StoreWrite::upsert(
        "payments",
        &e.payment_id,
        vec![
            ("payment_id", Cql::text(&e.payment_id)),
            ("merchant_id", Cql::text(&e.merchant_id)),
            ("status", Cql::Text(symbol(&e.status))),
            ("amount_minor", Cql::BigInt(e.amount_minor)),
            (
                "amount_captured_minor",
                Cql::BigInt(e.amount_captured_minor),
            ),
            ("currency", Cql::text(&e.currency)),
            ("connector", Cql::opt_text(e.connector.as_deref())),
            ("reason_code", Cql::opt_text(e.reason_code.as_deref())),
            ("sequence", Cql::BigInt(e.sequence)),
            ("last_event_id", Cql::text(&e.event_id)),
            ("updated_at", Cql::Timestamp(e.occurred_at.0)),
        ],
    )
    .versioned(e.sequence)
}

pub fn by_merchant_row(e: &PaymentEvent, created_ms: i64) -> StoreWrite {
    StoreWrite::upsert(
        "payments_by_merchant",
        &e.payment_id,
        vec![
            ("merchant_id", Cql::text(&e.merchant_id)),
            ("created_day", Cql::Text(day_of(created_ms))),
            ("created_at", Cql::Timestamp(created_ms)),
            ("payment_id", Cql::text(&e.payment_id)),
        ],
    )
}

/// One transition of the queryable audit trail, keyed by (payment, sequence): a replay rewrites it.
/// Absent values are left out rather than written as nulls: the row is written once, and a null
/// would only leave a tombstone for every read of the trail to skip.
pub fn event_row(e: &PaymentEvent) -> StoreWrite {
    let columns: Vec<(&'static str, Cql)> = vec![
        ("payment_id", Cql::text(&e.payment_id)),
        ("sequence", Cql::BigInt(e.sequence)),
        ("event_id", Cql::text(&e.event_id)),
        ("status", Cql::Text(symbol(&e.status))),
        ("attempt_id", Cql::opt_text(e.attempt_id.as_deref())),
        (
            "attempt_status",
            Cql::opt_text(e.attempt_status.map(|a| symbol(&a)).as_deref()),
        ),
        ("amount_minor", Cql::BigInt(e.amount_minor)),
        (
            "amount_captured_minor",
            Cql::BigInt(e.amount_captured_minor),
        ),
        ("currency", Cql::text(&e.currency)),
        ("connector", Cql::opt_text(e.connector.as_deref())),
        ("reason_code", Cql::opt_text(e.reason_code.as_deref())),
        ("cause_id", Cql::text(&e.cause_id)),
        ("occurred_at", Cql::Timestamp(e.occurred_at.0)),
    ];
    let present = columns
        .into_iter()
        .filter(|(_, v)| !matches!(v, Cql::Null))
        .collect();
    StoreWrite::upsert("payment_events", &e.event_id, present)
}

/// Who owns the payment, from its first event: a payment created over Kafka is its merchant's over
/// REST too.
pub fn owner_row(e: &PaymentEvent, created_ms: i64) -> StoreWrite {
    StoreWrite::upsert(
        "intent_owners",
        &e.payment_id,
        vec![
            ("payment_id", Cql::text(&e.payment_id)),
            ("merchant_id", Cql::text(&e.merchant_id)),
            ("created_at", Cql::Timestamp(created_ms)),
        ],
    )
}

/// `YYYY-MM-DD` (UTC) of a Unix-millisecond instant: civil-from-days, integer arithmetic only.
pub fn day_of(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = if month <= 2 { y + 1 } else { y };
    format!("{year:04}-{month:02}-{d:02}")
}
