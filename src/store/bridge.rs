//! The bridge's tables (migration 0005): idempotency keys, intent owners and seen webhook ids.

use super::writer::lwt_applied;
use super::{Store, StoreError};
use scylla::statement::prepared::PreparedStatement;
use scylla::value::CqlTimestamp;

/// What `idempotency_keys` holds for (merchant, key). The `body_sha256` column holds the request hash
/// (method, route and body), the name kept from migration 0005.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    InFlight {
        request_sha256: String,
        started_ms: i64,
    },
    /// The request ran, but whether its commands were published is unknown.
    Unknown {
        request_sha256: String,
        started_ms: i64,
    },
    Completed {
        request_sha256: String,
        completed_ms: i64,
        status: u16,
        response: Vec<u8>,
    },
}

impl Stored {
    pub fn request_sha256(&self) -> &str {
        match self {
            Stored::InFlight { request_sha256, .. }
            | Stored::Unknown { request_sha256, .. }
            | Stored::Completed { request_sha256, .. } => request_sha256,
        }
    }
}

pub struct BridgeStore {
    store: Store,
    idem_get: PreparedStatement,
    idem_claim: PreparedStatement,
    idem_take_over: PreparedStatement,
    idem_complete: PreparedStatement,
    idem_release: PreparedStatement,
    idem_unknown: PreparedStatement,
    owner_get: PreparedStatement,
    owner_put: PreparedStatement,
    webhook_get: PreparedStatement,
    webhook_put: PreparedStatement,
}

fn q(op: &'static str) -> impl Fn(&dyn std::fmt::Display) -> StoreError {
    StoreError::query(op)
}

impl BridgeStore {
    pub async fn prepare(
        store: &Store,
        idem_ttl_s: u32,
        webhook_ttl_s: u32,
    ) -> Result<Self, StoreError> {
        let s = store.session();
        let idem = store.table("idempotency_keys");
        let owners = store.table("intent_owners");
        let hooks = store.table("webhook_events");
        let p = |cql: String| async move {
            s.prepare(cql)
                .await
                .map_err(|e| q("prepare bridge statement")(&e))
        };
        Ok(Self {
            idem_get: p(format!("SELECT body_sha256, state, status, response, started_at, completed_at FROM {idem} WHERE merchant_id = ? AND idem_key = ?")).await?,
            idem_claim: p(format!("INSERT INTO {idem} (merchant_id, idem_key, body_sha256, state, started_at) VALUES (?, ?, ?, 'in_flight', ?) IF NOT EXISTS USING TTL {idem_ttl_s}")).await?,
            idem_take_over: p(format!("UPDATE {idem} USING TTL {idem_ttl_s} SET body_sha256 = ?, state = 'in_flight', started_at = ?, status = null, response = null, completed_at = null WHERE merchant_id = ? AND idem_key = ? IF started_at = ?")).await?,
            idem_complete: p(format!("UPDATE {idem} USING TTL {idem_ttl_s} SET state = 'completed', status = ?, response = ?, completed_at = ? WHERE merchant_id = ? AND idem_key = ?")).await?,
            idem_release: p(format!("DELETE FROM {idem} WHERE merchant_id = ? AND idem_key = ?")).await?,
            idem_unknown: p(format!("UPDATE {idem} USING TTL {idem_ttl_s} SET state = 'unknown' WHERE merchant_id = ? AND idem_key = ?")).await?,
            owner_get: p(format!("SELECT merchant_id FROM {owners} WHERE payment_id = ?")).await?,
            owner_put: p(format!("INSERT INTO {owners} (payment_id, merchant_id, created_at) VALUES (?, ?, ?)")).await?,
            webhook_get: p(format!("SELECT received_at FROM {hooks} WHERE provider = ? AND event_id = ?")).await?,
            webhook_put: p(format!("INSERT INTO {hooks} (provider, event_id, received_at) VALUES (?, ?, ?) USING TTL {webhook_ttl_s}")).await?,
            store: store.clone(),
        })
    }

    pub async fn idempotency(
        &self,
        merchant: &str,
        key: &str,
    ) -> Result<Option<Stored>, StoreError> {
        type R = (
            Option<String>,
            Option<String>,
            Option<i32>,
            Option<Vec<u8>>,
            Option<CqlTimestamp>,
            Option<CqlTimestamp>,
        );
        let row = self
            .store
            .session()
            .execute_unpaged(&self.idem_get, (merchant, key))
            .await
            .map_err(|e| q("idempotency get")(&e))?
            .into_rows_result()
            .map_err(|e| q("idempotency get")(&e))?
            .maybe_first_row::<R>()
            .map_err(|e| q("idempotency get")(&e))?;
        Ok(
            row.map(|(hash, state, status, response, started, completed)| {
                let request_sha256 = hash.unwrap_or_default();
                let started_ms = started.map_or(0, |t| t.0);
                match (state.as_deref(), status, completed) {
                    (Some("completed"), Some(status), Some(done)) => Stored::Completed {
                        request_sha256,
                        completed_ms: done.0,
                        status: u16::try_from(status).unwrap_or(500),
                        response: response.unwrap_or_default(),
                    },
                    (Some("unknown"), _, _) => Stored::Unknown {
                        request_sha256,
                        started_ms,
                    },
                    _ => Stored::InFlight {
                        request_sha256,
                        started_ms,
                    },
                }
            }),
        )
    }

    /// Claims a fresh key; false when another request claimed it first.
    pub async fn claim(
        &self,
        merchant: &str,
        key: &str,
        request_sha256: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let r = self
            .store
            .session()
            .execute_unpaged(
                &self.idem_claim,
                (merchant, key, request_sha256, CqlTimestamp(now_ms)),
            )
            .await
            .map_err(|e| q("idempotency claim")(&e))?;
        lwt_applied(r, "idempotency_keys")
    }

    /// Takes over a key whose holder died or whose record aged out; false when someone else did first.
    pub async fn take_over(
        &self,
        merchant: &str,
        key: &str,
        request_sha256: &str,
        now_ms: i64,
        seen_started_ms: i64,
    ) -> Result<bool, StoreError> {
        let r = self
            .store
            .session()
            .execute_unpaged(
                &self.idem_take_over,
                (
                    request_sha256,
                    CqlTimestamp(now_ms),
                    merchant,
                    key,
                    CqlTimestamp(seen_started_ms),
                ),
            )
            .await
            .map_err(|e| q("idempotency take over")(&e))?;
        lwt_applied(r, "idempotency_keys")
    }

    pub async fn complete(
        &self,
        merchant: &str,
        key: &str,
        status: u16,
        response: &[u8],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.store
            .session()
            .execute_unpaged(
                &self.idem_complete,
                (
                    i32::from(status),
                    response,
                    CqlTimestamp(now_ms),
                    merchant,
                    key,
                ),
            )
            .await
            .map_err(|e| q("idempotency complete")(&e))?;
        Ok(())
    }

    /// Forgets a claim whose request failed before anything was published, so a retry can proceed.
    pub async fn release(&self, merchant: &str, key: &str) -> Result<(), StoreError> {
        self.store
            .session()
            .execute_unpaged(&self.idem_release, (merchant, key))
            .await
            .map_err(|e| q("idempotency release")(&e))?;
        Ok(())
    }

    /// Keeps a claim whose request may have taken effect, so that the retry runs it again instead of
    /// waiting for the lock to time out.
    pub async fn mark_unknown(&self, merchant: &str, key: &str) -> Result<(), StoreError> {
        self.store
            .session()
            .execute_unpaged(&self.idem_unknown, (merchant, key))
            .await
            .map_err(|e| q("idempotency unknown")(&e))?;
        Ok(())
    }

    pub async fn owner(&self, payment_id: &str) -> Result<Option<String>, StoreError> {
        let row = self
            .store
            .session()
            .execute_unpaged(&self.owner_get, (payment_id,))
            .await
            .map_err(|e| q("owner get")(&e))?
            .into_rows_result()
            .map_err(|e| q("owner get")(&e))?
            .maybe_first_row::<(Option<String>,)>()
            .map_err(|e| q("owner get")(&e))?;
        Ok(row.and_then(|(m,)| m))
    }

    pub async fn set_owner(
        &self,
        payment_id: &str,
        merchant: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.store
            .session()
            .execute_unpaged(
                &self.owner_put,
                (payment_id, merchant, CqlTimestamp(now_ms)),
            )
            .await
            .map_err(|e| q("owner put")(&e))?;
        Ok(())
    }

    pub async fn webhook_seen(&self, provider: &str, event_id: &str) -> Result<bool, StoreError> {
        let rows = self
            .store
            .session()
            .execute_unpaged(&self.webhook_get, (provider, event_id))
            .await
            .map_err(|e| q("webhook get")(&e))?
            .into_rows_result()
            .map_err(|e| q("webhook get")(&e))?;
        Ok(rows.rows_num() > 0)
    }

    pub async fn mark_webhook(
        &self,
        provider: &str,
        event_id: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.store
            .session()
            .execute_unpaged(
                &self.webhook_put,
                (provider, event_id, CqlTimestamp(now_ms)),
            )
            .await
            .map_err(|e| q("webhook put")(&e))?;
        Ok(())
    }
}
