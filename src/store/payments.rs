//! The `payments` table: the latest state of each payment, written from its `PaymentEvent`s.

use super::{Store, StoreError};
use crate::events::payment_event::PaymentEvent;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;

/// A row of `payments`, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRow {
    pub payment_id: String,
    pub merchant_id: String,
    pub status: String,
    pub amount_minor: i64,
    pub amount_captured_minor: i64,
    pub currency: String,
    pub sequence: i64,
    pub last_event_id: String,
    pub connector: Option<String>,
    pub reason_code: Option<String>,
}

type PaymentTuple = (
    String,
    String,
    String,
    i64,
    i64,
    String,
    i64,
    String,
    Option<String>,
    Option<String>,
);

/// A row of `payment_events`: one transition of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentEventRow {
    pub sequence: i64,
    pub event_id: String,
    pub status: String,
    pub attempt_id: Option<String>,
    pub attempt_status: Option<String>,
    pub amount_minor: i64,
    pub amount_captured_minor: i64,
    pub currency: String,
    pub connector: Option<String>,
    pub reason_code: Option<String>,
    pub occurred_at_ms: i64,
}

type EventTuple = (
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    i64,
    i64,
    String,
    Option<String>,
    Option<String>,
    CqlTimestamp,
);

/// Most transitions one payment's trail is read with; a payment has a handful.
pub const EVENTS_READ_MAX: i32 = 1_000;

pub struct PaymentsTable {
    store: Store,
    upsert: PreparedStatement,
    select: PreparedStatement,
    events: PreparedStatement,
}

impl PaymentsTable {
    pub async fn prepare(store: &Store) -> Result<Self, StoreError> {
        let q = StoreError::query;
        let upsert = store
            .session()
            .prepare(format!(
                "INSERT INTO {} (payment_id, merchant_id, status, amount_minor, amount_captured_minor, currency, connector, reason_code, sequence, last_event_id, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?",
                store.table("payments")
            ))
            .await
            .map_err(|e| q("prepare payments upsert")(&e))?;
        let select = store
            .session()
            .prepare(format!(
                "SELECT payment_id, merchant_id, status, amount_minor, amount_captured_minor, currency, sequence, last_event_id, connector, reason_code FROM {} WHERE payment_id = ?",
                store.table("payments")
            ))
            .await
            .map_err(|e| q("prepare payments select")(&e))?;
        let events = store
            .session()
            .prepare(format!(
                "SELECT sequence, event_id, status, attempt_id, attempt_status, amount_minor, amount_captured_minor, currency, connector, reason_code, occurred_at FROM {} WHERE payment_id = ? ORDER BY sequence ASC LIMIT {EVENTS_READ_MAX}",
                store.table("payment_events")
            ))
            .await
            .map_err(|e| q("prepare payment_events select")(&e))?;
        Ok(Self {
            store: store.clone(),
            upsert,
            select,
            events,
        })
    }

    /// Writes the state an event leaves the payment in. Every column comes from the event, so writing the
    /// same event again (a replay) leaves the row identical; the write's timestamp is the event's
    /// sequence, so an older event written after a newer one changes nothing.
    pub async fn upsert(&self, e: &PaymentEvent) -> Result<(), StoreError> {
        let status = crate::events::symbol(&e.status);
        let values = (
            e.payment_id.as_str(),
            e.merchant_id.as_str(),
            status,
            e.amount_minor,
            e.amount_captured_minor,
            e.currency.as_str(),
            e.connector.as_deref(),
            e.reason_code.as_deref(),
            e.sequence,
            e.event_id.as_str(),
            CqlTimestamp(e.occurred_at.0),
            // Versioned by sequence, as the payment processor writes it (`views::rows::payment_row`).
            super::writer::VERSION_BASE.saturating_add(e.sequence),
        );
        self.store
            .session()
            .execute_unpaged(&self.upsert, values)
            .await
            .map_err(|e| StoreError::query("payments upsert")(&e))?;
        Ok(())
    }

    pub async fn get(&self, payment_id: &str) -> Result<Option<PaymentRow>, StoreError> {
        let q = StoreError::query;
        let rows = self
            .store
            .session()
            .execute_unpaged(&self.select, (payment_id,))
            .await
            .map_err(|e| q("payments select")(&e))?
            .into_rows_result()
            .map_err(|e| q("payments select")(&e))?;
        let row = rows
            .maybe_first_row::<PaymentTuple>()
            .map_err(|e| q("payments select")(&e))?;
        Ok(row.map(
            |(
                payment_id,
                merchant_id,
                status,
                amount_minor,
                amount_captured_minor,
                currency,
                sequence,
                last_event_id,
                connector,
                reason_code,
            )| PaymentRow {
                payment_id,
                merchant_id,
                status,
                amount_minor,
                amount_captured_minor,
                currency,
                sequence,
                last_event_id,
                connector,
                reason_code,
            },
        ))
    }

    /// The payment's transitions in sequence order, as the payment processor wrote them.
    pub async fn events(&self, payment_id: &str) -> Result<Vec<PaymentEventRow>, StoreError> {
        let q = StoreError::query;
        let rows = self
            .store
            .session()
            .execute_unpaged(&self.events, (payment_id,))
            .await
            .map_err(|e| q("payment_events select")(&e))?
            .into_rows_result()
            .map_err(|e| q("payment_events select")(&e))?;
        let mut out = Vec::new();
        for r in rows
            .rows::<EventTuple>()
            .map_err(|e| q("payment_events select")(&e))?
        {
            let (
                seq,
                event_id,
                status,
                attempt_id,
                attempt_status,
                amount,
                captured,
                currency,
                connector,
                reason_code,
                at,
            ) = r.map_err(|e| q("payment_events row")(&e))?;
            out.push(PaymentEventRow {
                sequence: seq,
                event_id,
                status,
                attempt_id,
                attempt_status,
                amount_minor: amount,
                amount_captured_minor: captured,
                currency,
                connector,
                reason_code,
                occurred_at_ms: at.0,
            });
        }
        Ok(out)
    }
}
