//! The payout views (migration 0007): payouts, their batches and merchants' balances, read by the
//! REST API. Payout rows come from the views processor, balance rows from the balances processor;
//! a batch's own row (its size and the rows refused at intake) is written by the bridge.

use super::{Store, StoreError};
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;

#[derive(Debug, Clone, PartialEq, Eq)]
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

type PayoutTuple = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
);

/// One item of a batch as its row holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
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

fn q(op: &'static str) -> impl Fn(&dyn std::fmt::Display) -> StoreError {
    StoreError::query(op)
}

impl PayoutsTable {
    pub async fn prepare(store: &Store) -> Result<Self, StoreError> {
        let s = store.session();
        let p = |cql: String| async move {
            s.prepare(cql)
                .await
                .map_err(|e| q("prepare payouts statement")(&e))
        };
        Ok(Self {
            payout: p(format!("SELECT payout_id, merchant_id, batch_id, beneficiary_id, status, amount_minor, currency, rail, utr, reason_code, created_by, decided_by, sequence FROM {} WHERE payout_id = ?", store.table("payouts"))).await?,
            items: p(format!("SELECT payout_id, status, amount_minor, reason_code FROM {} WHERE batch_id = ? LIMIT {BATCH_ITEMS_MAX}", store.table("payouts_by_batch"))).await?,
            batch_get: p(format!("SELECT merchant_id, items, refused_json FROM {} WHERE batch_id = ?", store.table("payout_batches"))).await?,
            batch_put: p(format!("INSERT INTO {} (batch_id, merchant_id, items, refused_json, created_at) VALUES (?, ?, ?, ?, ?)", store.table("payout_batches"))).await?,
            balances: p(format!("SELECT currency, available_minor, reserved_minor, queued_minor, updated_at FROM {} WHERE merchant_id = ?", store.table("merchant_balances"))).await?,
            claim: p(format!("INSERT INTO {} (payout_id, merchant_id) VALUES (?, ?)", store.table("payouts"))).await?,
            store: store.clone(),
        })
    }

    pub async fn payout(&self, id: &str) -> Result<Option<PayoutRow>, StoreError> {
        let rows = self
            .store
            .session()
            .execute_unpaged(&self.payout, (id,))
            .await
            .map_err(|e| q("payout select")(&e))?
            .into_rows_result()
            .map_err(|e| q("payout select")(&e))?;
        let Some(t) = rows
            .maybe_first_row::<PayoutTuple>()
            .map_err(|e| q("payout select")(&e))?
        else {
            return Ok(None);
        };
        let (
            payout_id,
            merchant_id,
            batch_id,
            beneficiary_id,
            status,
            amount_minor,
            currency,
            rail,
            utr,
            reason_code,
            created_by,
            decided_by,
            sequence,
        ) = t;
        Ok(Some(PayoutRow {
            payout_id,
            merchant_id,
            batch_id,
            beneficiary_id,
            status,
            amount_minor,
            currency,
            rail,
            utr,
            reason_code,
            created_by,
            decided_by,
            sequence,
        }))
    }

    pub async fn batch_items(&self, batch_id: &str) -> Result<Vec<BatchItem>, StoreError> {
        let rows = self
            .store
            .session()
            .execute_unpaged(&self.items, (batch_id,))
            .await
            .map_err(|e| q("batch items")(&e))?
            .into_rows_result()
            .map_err(|e| q("batch items")(&e))?;
        let mut out = Vec::new();
        for r in rows
            .rows::<(String, Option<String>, Option<i64>, Option<String>)>()
            .map_err(|e| q("batch items")(&e))?
        {
            let (payout_id, status, amount_minor, reason_code) =
                r.map_err(|e| q("batch items")(&e))?;
            out.push(BatchItem {
                payout_id,
                status,
                amount_minor,
                reason_code,
            });
        }
        Ok(out)
    }

    /// The batch's merchant, its item count and the rows refused at intake (JSON).
    pub async fn batch(&self, batch_id: &str) -> Result<Option<(String, i32, String)>, StoreError> {
        let rows = self
            .store
            .session()
            .execute_unpaged(&self.batch_get, (batch_id,))
            .await
            .map_err(|e| q("batch select")(&e))?
            .into_rows_result()
            .map_err(|e| q("batch select")(&e))?;
        let r = rows
            .maybe_first_row::<(Option<String>, Option<i32>, Option<String>)>()
            .map_err(|e| q("batch select")(&e))?;
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
        self.store
            .session()
            .execute_unpaged(
                &self.batch_put,
                (
                    batch_id,
                    merchant_id,
                    items,
                    refused_json,
                    CqlTimestamp(now_ms),
                ),
            )
            .await
            .map_err(|e| q("batch put")(&e))?;
        Ok(())
    }

    /// Records a payout's merchant before its request is published (read-your-writes); the views
    /// write the same merchant again from the payout's events.
    pub async fn claim(&self, payout_id: &str, merchant_id: &str) -> Result<(), StoreError> {
        self.store
            .session()
            .execute_unpaged(&self.claim, (payout_id, merchant_id))
            .await
            .map_err(|e| q("payout claim")(&e))?;
        Ok(())
    }

    pub async fn balances(&self, merchant_id: &str) -> Result<Vec<BalanceRow>, StoreError> {
        let rows = self
            .store
            .session()
            .execute_unpaged(&self.balances, (merchant_id,))
            .await
            .map_err(|e| q("balances select")(&e))?
            .into_rows_result()
            .map_err(|e| q("balances select")(&e))?;
        let mut out = Vec::new();
        for r in rows
            .rows::<(
                String,
                Option<i64>,
                Option<i64>,
                Option<i64>,
                Option<CqlTimestamp>,
            )>()
            .map_err(|e| q("balances select")(&e))?
        {
            let (currency, a, r_, qd, at) = r.map_err(|e| q("balances select")(&e))?;
            out.push(BalanceRow {
                currency,
                available_minor: a.unwrap_or(0),
                reserved_minor: r_.unwrap_or(0),
                queued_minor: qd.unwrap_or(0),
                updated_at_ms: at.map(|t| t.0),
            });
        }
        Ok(out)
    }
}
