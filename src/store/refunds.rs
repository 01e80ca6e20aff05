//! The refund views (migration 0006): refunds by payment, and each refund's owner.

use super::{Store, StoreError};
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;
use scylla::DeserializeRow;

/// A refund as the views hold it: read by column name ([`COLUMNS`]), so a column renamed in the
/// migration fails the read with its name instead of shifting the others.
#[derive(Debug, Clone, PartialEq, Eq, DeserializeRow)]
pub struct RefundRow {
    pub payment_id: String,
    pub refund_id: String,
    pub status: Option<String>,
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
    pub reason_code: Option<String>,
    pub reason: Option<String>,
    pub created_by: Option<String>,
    pub decided_by: Option<String>,
    pub metadata_json: Option<String>,
    pub sequence: Option<i64>,
    pub updated_at: Option<CqlTimestamp>,
}

/// Most refunds one payment's list is read with (the processor bounds them lower).
pub const REFUNDS_READ_MAX: i32 = 256;

/// The columns of a [`RefundRow`], as the migration names them.
const COLUMNS: &str = "payment_id, refund_id, status, amount_minor, currency, reason_code, reason, created_by, decided_by, metadata_json, sequence, updated_at";

pub struct RefundsTable {
    store: Store,
    one: PreparedStatement,
    list: PreparedStatement,
    owner_get: PreparedStatement,
    owner_put: PreparedStatement,
}

impl RefundsTable {
    pub async fn prepare(store: &Store) -> Result<Self, StoreError> {
        let refunds = store.table("refunds_by_payment");
        let owners = store.table("refund_owners");
        let p = |cql: String| store.prepare(cql, "prepare refunds statement");
        Ok(Self {
            one: p(format!(
                "SELECT {COLUMNS} FROM {refunds} WHERE payment_id = ? AND refund_id = ?"
            ))
            .await?,
            list: p(format!(
                "SELECT {COLUMNS} FROM {refunds} WHERE payment_id = ? LIMIT {REFUNDS_READ_MAX}"
            ))
            .await?,
            owner_get: p(format!(
                "SELECT payment_id, merchant_id FROM {owners} WHERE refund_id = ?"
            ))
            .await?,
            owner_put: p(format!(
                "INSERT INTO {owners} (refund_id, payment_id, merchant_id) VALUES (?, ?, ?)"
            ))
            .await?,
            store: store.clone(),
        })
    }

    /// One refund of a payment; `None` until the views have its first event.
    pub async fn get(
        &self,
        payment_id: &str,
        refund_id: &str,
    ) -> Result<Option<RefundRow>, StoreError> {
        self.store
            .first_row(&self.one, (payment_id, refund_id), "refund select")
            .await
    }

    /// Every refund of a payment, by refund id.
    pub async fn list(&self, payment_id: &str) -> Result<Vec<RefundRow>, StoreError> {
        self.store
            .all_rows(&self.list, (payment_id,), "refunds list")
            .await
    }

    /// The payment and merchant of a refund.
    pub async fn owner(&self, refund_id: &str) -> Result<Option<(String, String)>, StoreError> {
        self.store
            .first_row(&self.owner_get, (refund_id,), "refund owner get")
            .await
    }

    /// Records a refund's owner before its request is published (read-your-writes), as the views do
    /// again from its first event: the same row either way.
    pub async fn set_owner(
        &self,
        refund_id: &str,
        payment_id: &str,
        merchant_id: &str,
    ) -> Result<(), StoreError> {
        self.store
            .write(
                &self.owner_put,
                (refund_id, payment_id, merchant_id),
                "refund owner put",
            )
            .await
    }
}
