//! The rows of the payout views, each written from one committed `PayoutEvent`.

use crate::events::payout::PayoutEvent;
use crate::events::symbol;
use crate::store::writer::{Cql, StoreWrite};

/// The payout's row (versioned by its sequence) and, for a batch item, its batch row.
pub fn payout_rows(e: &PayoutEvent) -> Vec<StoreWrite> {
    let mut columns = vec![
        ("payout_id", Cql::text(&e.payout_id)),
        ("merchant_id", Cql::text(&e.merchant_id)),
        ("batch_id", Cql::opt_text(e.batch_id.as_deref())),
        ("beneficiary_id", Cql::opt_text(e.beneficiary_id.as_deref())),
        ("status", Cql::Text(symbol(&e.status))),
        ("amount_minor", Cql::BigInt(e.amount_minor)),
        ("currency", Cql::text(&e.currency)),
        ("rail", Cql::opt_text(e.rail.as_deref())),
        ("utr", Cql::opt_text(e.utr.as_deref())),
        (
            "provider_reference",
            Cql::opt_text(e.provider_reference.as_deref()),
        ),
        ("reason_code", Cql::opt_text(e.reason_code.as_deref())),
        ("sequence", Cql::BigInt(e.sequence)),
        ("updated_at", Cql::Timestamp(e.occurred_at.0)),
    ];
    if e.previous_status.is_none() {
        columns.push(("created_by", Cql::opt_text(e.actor.as_deref())));
        columns.push(("created_at", Cql::Timestamp(e.occurred_at.0)));
    } else if e.actor.is_some() {
        columns.push(("decided_by", Cql::opt_text(e.actor.as_deref())));
    }
    let mut writes =
        vec![StoreWrite::upsert("payouts", &e.payout_id, columns).versioned(e.sequence)];
    if let Some(batch) = &e.batch_id {
        writes.push(
            StoreWrite::upsert(
                "payouts_by_batch",
                batch,
                vec![
                    ("batch_id", Cql::text(batch)),
                    ("payout_id", Cql::text(&e.payout_id)),
                    ("merchant_id", Cql::text(&e.merchant_id)),
                    ("status", Cql::Text(symbol(&e.status))),
                    ("amount_minor", Cql::BigInt(e.amount_minor)),
                    ("reason_code", Cql::opt_text(e.reason_code.as_deref())),
                    ("sequence", Cql::BigInt(e.sequence)),
                ],
            )
            .versioned(e.sequence),
        );
    }
    writes
}
