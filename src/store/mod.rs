//! ScyllaDB / Apache Cassandra access through the scylla driver: one session per process, prepared
//! statements, token-aware routing (the driver's default policy; shard-aware on ScyllaDB).
//!
//! Writes are idempotent by construction: primary keys come from the event or transaction id, so a
//! replay after a crash rewrites the same rows with the same values.

pub mod balance_check;
pub mod beneficiaries;
pub mod bridge;
pub mod config;
pub mod deployment;
pub mod ledger;
pub mod migrate;
pub mod payments;
pub mod payouts;
pub mod refunds;
pub mod state;
pub mod writer;

use config::StoreConfig;
use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::deserialize::row::DeserializeRow;
use scylla::serialize::row::SerializeRow;
use scylla::statement::prepared::PreparedStatement;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot connect to the CQL database at {contact_points}: {reason}. Fix: start it (scripts/stack up) or correct store.contact_points")]
    Connect {
        contact_points: String,
        reason: String,
    },
    /// A statement failed: timeouts and unavailability are worth a bounded retry.
    #[error("CQL {op} failed: {reason}")]
    Query { op: &'static str, reason: String },
    #[error("migration {file}: {problem}. Fix: {fix}")]
    Migration {
        file: String,
        problem: String,
        fix: String,
    },
    /// A stored row breaks an invariant on read-back: never retried, always reported.
    #[error("store invariant broken: {0}")]
    Invariant(String),
}

impl StoreError {
    pub(crate) fn query(op: &'static str) -> impl Fn(&dyn std::fmt::Display) -> StoreError {
        move |e| StoreError::Query {
            op,
            reason: e.to_string(),
        }
    }
}

/// A connected session bound to the paystream keyspace.
#[derive(Clone)]
pub struct Store {
    session: Arc<Session>,
    keyspace: String,
}

impl Store {
    /// Connects without selecting a keyspace (it may not exist yet: see [`migrate::apply`]).
    pub async fn connect(config: &StoreConfig) -> Result<Session, StoreError> {
        let profile = ExecutionProfile::builder()
            .request_timeout(Some(Duration::from_millis(config.request_timeout_ms)))
            .build();
        SessionBuilder::new()
            .known_nodes(&config.contact_points)
            .connection_timeout(Duration::from_millis(config.connect_timeout_ms))
            .default_execution_profile_handle(profile.into_handle())
            .build()
            .await
            .map_err(|e| StoreError::Connect {
                contact_points: config.contact_points.join(","),
                reason: e.to_string(),
            })
    }

    /// Connects and checks the keyspace exists (`paystream topology apply` creates it). Statements name
    /// their tables `keyspace.table` ([`Store::table`]) rather than relying on `USE`, which servers flag
    /// as ambiguous for prepared statements.
    pub async fn open(config: &StoreConfig) -> Result<Store, StoreError> {
        let session = Self::connect(config).await?;
        let q = StoreError::query;
        let found = session
            .query_unpaged(
                "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?",
                (config.keyspace.as_str(),),
            )
            .await
            .map_err(|e| q("look up keyspace")(&e))?
            .into_rows_result()
            .map_err(|e| q("look up keyspace")(&e))?
            .rows_num();
        if found == 0 {
            return Err(StoreError::Query {
                op: "open keyspace",
                reason: format!(
                    "keyspace '{}' does not exist. Fix: run `paystream topology apply`",
                    config.keyspace
                ),
            });
        }
        Ok(Store {
            session: Arc::new(session),
            keyspace: config.keyspace.clone(),
        })
    }

    /// `keyspace.table`, for statements.
    pub fn table(&self, name: &str) -> String {
        format!("{}.{name}", self.keyspace)
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Prepares a statement; `op` names it in errors.
    pub async fn prepare(
        &self,
        cql: String,
        op: &'static str,
    ) -> Result<PreparedStatement, StoreError> {
        self.session
            .prepare(cql)
            .await
            .map_err(|e| StoreError::query(op)(&e))
    }

    /// Runs a prepared read and returns its first row, typed; `op` names it in errors.
    pub async fn first_row<T, V>(
        &self,
        statement: &PreparedStatement,
        values: V,
        op: &'static str,
    ) -> Result<Option<T>, StoreError>
    where
        V: SerializeRow,
        T: for<'f> DeserializeRow<'f, 'f>,
    {
        let q = StoreError::query(op);
        let rows = self
            .session
            .execute_unpaged(statement, values)
            .await
            .map_err(|e| q(&e))?
            .into_rows_result()
            .map_err(|e| q(&e))?;
        rows.maybe_first_row::<T>().map_err(|e| q(&e))
    }

    /// Runs a prepared read (bounded by its own LIMIT) and returns every row, typed.
    pub async fn all_rows<T, V>(
        &self,
        statement: &PreparedStatement,
        values: V,
        op: &'static str,
    ) -> Result<Vec<T>, StoreError>
    where
        V: SerializeRow,
        T: for<'f> DeserializeRow<'f, 'f>,
    {
        let q = StoreError::query(op);
        let rows = self
            .session
            .execute_unpaged(statement, values)
            .await
            .map_err(|e| q(&e))?
            .into_rows_result()
            .map_err(|e| q(&e))?;
        let typed = rows.rows::<T>().map_err(|e| q(&e))?;
        typed.map(|r| r.map_err(|e| q(&e))).collect()
    }

    /// Runs a prepared write.
    pub async fn write<V: SerializeRow>(
        &self,
        statement: &PreparedStatement,
        values: V,
        op: &'static str,
    ) -> Result<(), StoreError> {
        self.session
            .execute_unpaged(statement, values)
            .await
            .map_err(|e| StoreError::query(op)(&e))?;
        Ok(())
    }

    pub fn keyspace(&self) -> &str {
        &self.keyspace
    }
}
