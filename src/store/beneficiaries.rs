//! Beneficiary rows (migration 0007): written by the beneficiaries processor, read by the payout
//! processor's `load` edge and by the REST API.

use super::{Store, StoreError};
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;

/// A beneficiary as its row holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BeneficiaryRow {
    pub beneficiary_id: String,
    pub merchant_id: String,
    pub name: Option<String>,
    pub account_kind: String,
    pub account_masked: String,
    pub account_sealed: String,
    pub account_fingerprint: String,
    pub verifying: bool,
    pub verification_status: Option<String>,
    pub verified_fingerprint: Option<String>,
    pub verification_expires_at_ms: Option<i64>,
    pub registered_name: Option<String>,
    pub name_match_score: Option<i32>,
    pub verification_reason_code: Option<String>,
    pub sequence: i64,
}

type Tuple = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<bool>,
    Option<String>,
    Option<String>,
    Option<CqlTimestamp>,
    Option<String>,
    Option<i32>,
    Option<String>,
    Option<i64>,
);

pub struct BeneficiariesTable {
    store: Store,
    get: PreparedStatement,
}

impl BeneficiariesTable {
    pub async fn prepare(store: &Store) -> Result<Self, StoreError> {
        let get = store
            .prepare(
                format!(
                    "SELECT beneficiary_id, merchant_id, name, account_kind, account_masked, account_sealed, account_fingerprint, verifying, verification_status, verified_fingerprint, verification_expires_at, registered_name, name_match_score, verification_reason_code, sequence FROM {} WHERE beneficiary_id = ?",
                    store.table("beneficiaries")
                ),
                "prepare beneficiary select",
            )
            .await?;
        Ok(Self {
            store: store.clone(),
            get,
        })
    }

    pub async fn get(&self, id: &str) -> Result<Option<BeneficiaryRow>, StoreError> {
        let t: Option<Tuple> = self
            .store
            .first_row(&self.get, (id,), "beneficiary select")
            .await?;
        Ok(t.map(row))
    }
}

fn row(t: Tuple) -> BeneficiaryRow {
    let (
        beneficiary_id,
        merchant_id,
        name,
        kind,
        masked,
        sealed,
        fingerprint,
        verifying,
        status,
        verified,
        expires,
        registered,
        score,
        reason,
        sequence,
    ) = t;
    BeneficiaryRow {
        beneficiary_id,
        merchant_id: merchant_id.unwrap_or_default(),
        name,
        account_kind: kind.unwrap_or_default(),
        account_masked: masked.unwrap_or_default(),
        account_sealed: sealed.unwrap_or_default(),
        account_fingerprint: fingerprint.unwrap_or_default(),
        verifying: verifying.unwrap_or(false),
        verification_status: status,
        verified_fingerprint: verified,
        verification_expires_at_ms: expires.map(|t| t.0),
        registered_name: registered,
        name_match_score: score,
        verification_reason_code: reason,
        sequence: sequence.unwrap_or(0),
    }
}
