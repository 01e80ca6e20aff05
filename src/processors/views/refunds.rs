//! The rows of the refund views, each written from one committed `RefundEvent`.

use crate::events::refund::{RefundAction, RefundEvent, RefundStatus};
use crate::events::symbol;
use crate::store::writer::{Cql, StoreWrite};

/// The rows one refund event writes: the refund's row (versioned by its sequence; the columns of its
/// creation only from the first event) and, from the first event, its owner.
pub fn refund_rows(e: &RefundEvent) -> Vec<StoreWrite> {
    let mut columns = vec![
        ("payment_id", Cql::text(&e.payment_id)),
        ("refund_id", Cql::text(&e.refund_id)),
        ("status", Cql::Text(symbol(&e.status))),
        ("amount_minor", Cql::BigInt(e.amount_minor)),
        ("reason_code", Cql::opt_text(e.reason_code.as_deref())),
        (
            "provider_reference",
            Cql::opt_text(e.provider_reference.as_deref()),
        ),
        ("sequence", Cql::BigInt(e.sequence)),
        ("updated_at", Cql::Timestamp(e.occurred_at.0)),
    ];
    let first = e.previous_status.is_none();
    if first {
        let metadata = serde_json::to_string(&e.metadata).unwrap_or_else(|_| "{}".into());
        columns.extend([
            ("merchant_id", Cql::text(&e.merchant_id)),
            ("currency", Cql::text(&e.currency)),
            ("reason", Cql::opt_text(e.reason.as_deref())),
            ("created_by", Cql::opt_text(e.actor.as_deref())),
            ("metadata_json", Cql::Text(metadata)),
            ("created_at", Cql::Timestamp(e.occurred_at.0)),
        ]);
    }
    if decided(e) {
        columns.push(("decided_by", Cql::opt_text(e.actor.as_deref())));
    }
    let mut writes = vec![
        StoreWrite::upsert("refunds_by_payment", &e.payment_id, columns).versioned(e.sequence),
    ];
    if first {
        writes.push(StoreWrite::upsert(
            "refund_owners",
            &e.refund_id,
            vec![
                ("refund_id", Cql::text(&e.refund_id)),
                ("payment_id", Cql::text(&e.payment_id)),
                ("merchant_id", Cql::text(&e.merchant_id)),
            ],
        ));
    }
    writes
}

/// An approver's decision (or the merchant's cancel) of a refund that required approval.
fn decided(e: &RefundEvent) -> bool {
    e.previous_status == Some(RefundStatus::PendingApproval)
        && e.cause_id.as_deref().is_some_and(|c| {
            [
                RefundAction::Approve,
                RefundAction::Reject,
                RefundAction::Cancel,
            ]
            .iter()
            .any(|a| c.ends_with(&format!(":{}", symbol(a).to_ascii_lowercase())))
        })
}
