//! The payout views (migration 0007): payouts, their batches and merchants' balances, read by the
//! REST API. Payout rows come from the views processor, balance rows from the balances processor;
//! a batch's own row (its size and the rows refused at intake) is written by the bridge.

use super::{Store, StoreError};
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;
use scylla::DeserializeRow;

/// A payout as the views hold it, read by column name ([`PAYOUT_COLUMNS`]).
#[derive(Debug, Clone, PartialEq, Eq, DeserializeRow)]
pub struct PayoutRow {
    pub payout_id: String,
    pub merchant_id: Option<String>,
    pub batch_id: Option<String>,
    pub beneficiary_id: Option<String>,
    pub status: Option<String>,
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
    pub rail: Option<String>,
    pub utr: Option<String>,
    pub reason_code: Option<String>,
    pub created_by: Option<String>,
    pub decided_by: Option<String>,
    pub sequence: Option<i64>,
}

/// The columns of a [`PayoutRow`], as the migration names them.
const PAYOUT_COLUMNS: &str = "payout_id, merchant_id, batch_id, beneficiary_id, status, amount_minor, currency, rail, utr, reason_code, created_by, decided_by, sequence";

/// One item of a batch as its row holds it.
#[derive(Debug, Clone, PartialEq, Eq, DeserializeRow)]
pub struct BatchItem {
    pub payout_id: String,
    pub status: Option<String>,
    pub amount_minor: Option<i64>,
    pub reason_code: Option<String>,
}

/// A merchant's balance in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceRow {
    pub currency: String,
    pub available_minor: i64,
    pub reserved_minor: i64,
    pub queued_minor: i64,
    pub updated_at_ms: Option<i64>,
}

/// Most items one batch holds, and so is read with.
pub const BATCH_ITEMS_MAX: usize = 1_000;

pub struct PayoutsTable {
    store: Store,
    payout: PreparedStatement,
    items: PreparedStatement,
    batch_get: PreparedStatement,
    batch_put: PreparedStatement,
    balances: PreparedStatement,
    claim: PreparedStatement,
}

impl PayoutsTable {
    pub async fn prepare(store: &Store) -> Result<Self, StoreError> {
        let p = |cql: String| store.prepare(cql, "prepare payouts statement");
        let (payouts, by_batch, batches) = (
            store.table("payouts"),
            store.table("payouts_by_batch"),
            store.table("payout_batches"),
        );
        Ok(Self {
            payout: p(format!("SELECT {PAYOUT_COLUMNS} FROM {payouts} WHERE payout_id = ?")).await?,
            items: p(format!("SELECT payout_id, status, amount_minor, reason_code FROM {by_batch} WHERE batch_id = ? LIMIT {BATCH_ITEMS_MAX}")).await?,
            batch_get: p(format!("SELECT merchant_id, items, refused_json FROM {batches} WHERE batch_id = ?")).await?,
            batch_put: p(format!("INSERT INTO {batches} (batch_id, merchant_id, items, refused_json, created_at) VALUES (?, ?, ?, ?, ?)")).await?,
            balances: p(format!("SELECT currency, available_minor, reserved_minor, queued_minor, updated_at FROM {} WHERE merchant_id = ?", store.table("merchant_balances"))).await?,
            claim: p(format!("INSERT INTO {payouts} (payout_id, merchant_id) VALUES (?, ?)")).await?,
            store: store.clone(),
        })
    }

    pub async fn payout(&self, id: &str) -> Result<Option<PayoutRow>, StoreError> {
        self.store
            .first_row(&self.payout, (id,), "payout select")
            .await
    }

    pub async fn batch_items(&self, batch_id: &str) -> Result<Vec<BatchItem>, StoreError> {
        self.store
            .all_rows(&self.items, (batch_id,), "batch items")
            .await
    }

    /// The batch's merchant, its item count and the rows refused at intake (JSON).
    pub async fn batch(&self, batch_id: &str) -> Result<Option<(String, i32, String)>, StoreError> {
        let r: Option<(Option<String>, Option<i32>, Option<String>)> = self
            .store
            .first_row(&self.batch_get, (batch_id,), "batch select")
            .await?;
        Ok(r.map(|(m, n, refused)| {
            (
                m.unwrap_or_default(),
                n.unwrap_or(0),
                refused.unwrap_or_else(|| "[]".into()),
            )
        }))
    }

    pub async fn put_batch(
        &self,
        batch_id: &str,
        merchant_id: &str,
        items: i32,
        refused_json: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let values = (
            batch_id,
            merchant_id,
            items,
            refused_json,
            CqlTimestamp(now_ms),
        );
        self.store.write(&self.batch_put, values, "batch put").await
    }

    /// Records a payout's merchant before its request is published (read-your-writes); the views
    /// write the same merchant again from the payout's events.
    pub async fn claim(&self, payout_id: &str, merchant_id: &str) -> Result<(), StoreError> {
        self.store
            .write(&self.claim, (payout_id, merchant_id), "payout claim")
            .await
    }

    pub async fn balances(&self, merchant_id: &str) -> Result<Vec<BalanceRow>, StoreError> {
        type Row = (
            String,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<CqlTimestamp>,
        );
        let rows: Vec<Row> = self
            .store
            .all_rows(&self.balances, (merchant_id,), "balances select")
            .await?;
        Ok(rows
            .into_iter()
            .map(|(currency, available, reserved, queued, at)| BalanceRow {
                currency,
                available_minor: available.unwrap_or(0),
                reserved_minor: reserved.unwrap_or(0),
                queued_minor: queued.unwrap_or(0),
                updated_at_ms: at.map(|t| t.0),
            })
            .collect())
    }
}
