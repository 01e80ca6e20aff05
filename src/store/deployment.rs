//! The keyspace's half of a deployment's identity (migration 0008): the id minted when the
//! deployment was first applied, and whether its topics hold it yet. The first writer wins (a
//! conditional insert), so concurrent first starts agree on one id.

use super::writer::lwt_applied;
use super::{Store, StoreError};

/// Where the binding of keyspace and topics stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    /// The id is minted here; the topics may not hold it yet.
    Binding,
    /// The topics held the id when it was last checked.
    Bound,
}

impl Binding {
    fn as_str(self) -> &'static str {
        match self {
            Binding::Binding => "binding",
            Binding::Bound => "bound",
        }
    }
}

/// The keyspace's identity row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredIdentity {
    pub deployment_id: String,
    pub binding: Binding,
    pub created_at_ms: i64,
}

/// Reads and writes the one identity row of the keyspace.
pub struct DeploymentTable {
    store: Store,
}

impl DeploymentTable {
    pub fn new(store: &Store) -> Self {
        Self {
            store: store.clone(),
        }
    }

    fn table(&self) -> String {
        self.store.table("deployment_identity")
    }

    /// The row of deployment `name`, if any. Read with SERIAL consistency, as the conditional writes
    /// are, so a claim that just won is seen.
    pub async fn read(&self, name: &str) -> Result<Option<StoredIdentity>, StoreError> {
        let mut statement = scylla::statement::unprepared::Statement::new(format!(
            "SELECT deployment_id, state, created_at FROM {} WHERE name = ?",
            self.table()
        ));
        statement.set_consistency(scylla::statement::Consistency::Serial);
        let q = StoreError::query("deployment identity read");
        let rows = self
            .store
            .session()
            .query_unpaged(statement, (name,))
            .await
            .map_err(|e| q(&e))?
            .into_rows_result()
            .map_err(|e| q(&e))?;
        let row = rows
            .maybe_first_row::<(String, String, scylla::value::CqlTimestamp)>()
            .map_err(|e| q(&e))?;
        row.map(|(deployment_id, state, created_at)| {
            let binding = match state.as_str() {
                "binding" => Binding::Binding,
                "bound" => Binding::Bound,
                other => {
                    return Err(StoreError::Invariant(format!(
                        "deployment_identity of '{name}' is in state '{other}'"
                    )))
                }
            };
            Ok(StoredIdentity {
                deployment_id,
                binding,
                created_at_ms: created_at.0,
            })
        })
        .transpose()
    }

    /// Mints `candidate` as the deployment's id unless one exists; returns the row that holds.
    pub async fn claim(
        &self,
        name: &str,
        candidate: &str,
        now_ms: i64,
    ) -> Result<StoredIdentity, StoreError> {
        let cql = format!(
            "INSERT INTO {} (name, deployment_id, state, created_at) VALUES (?, ?, ?, ?) IF NOT EXISTS",
            self.table()
        );
        let q = StoreError::query("deployment identity claim");
        let result = self
            .store
            .session()
            .query_unpaged(
                cql,
                (
                    name,
                    candidate,
                    Binding::Binding.as_str(),
                    scylla::value::CqlTimestamp(now_ms),
                ),
            )
            .await
            .map_err(|e| q(&e))?;
        lwt_applied(result, "deployment_identity")?;
        self.read(name).await?.ok_or_else(|| {
            StoreError::Invariant(format!(
                "deployment_identity of '{name}' missing right after its claim"
            ))
        })
    }

    /// Records that the topics hold `deployment_id`.
    pub async fn mark_bound(&self, name: &str, deployment_id: &str) -> Result<(), StoreError> {
        let cql = format!(
            "UPDATE {} SET state = ? WHERE name = ? IF deployment_id = ?",
            self.table()
        );
        let result = self
            .store
            .session()
            .query_unpaged(cql, (Binding::Bound.as_str(), name, deployment_id))
            .await
            .map_err(|e| StoreError::query("deployment identity bind")(&e))?;
        if lwt_applied(result, "deployment_identity")? {
            Ok(())
        } else {
            Err(StoreError::Invariant(format!(
                "deployment_identity of '{name}' no longer holds id {deployment_id}"
            )))
        }
    }
}
