//! Creates the keyspace and applies `topology/migrations` in order, once each.
//!
//! Each applied migration is recorded in `schema_migrations` with the SHA-256 of its file. A recorded
//! migration whose file has since changed is an error, not a silent skip: migrations are append-only.
//! Statements are `IF NOT EXISTS`, so a crash between a statement and its record is repaired by a re-run.

use super::config::{StoreConfig, StoreFlavor};
use super::StoreError;
use crate::domain::clock::now_millis;
use crate::topology::{KeyspaceSpec, Migration};
use scylla::client::session::Session;
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MigrationAction {
    Applied,
    AlreadyApplied,
}

/// The `CREATE KEYSPACE` statement for a flavor. ScyllaDB needs tablets off for LWT; Cassandra rejects
/// the option, so it is only added on the ScyllaDB path.
pub fn keyspace_cql(config: &StoreConfig, spec: &KeyspaceSpec) -> String {
    let mut cql = format!(
        "CREATE KEYSPACE IF NOT EXISTS {} WITH replication = {{'class': 'NetworkTopologyStrategy', 'replication_factor': {}}} AND durable_writes = {}",
        config.keyspace, config.replication_factor, spec.durable_writes
    );
    if config.flavor == StoreFlavor::Scylla && spec.uses_lwt {
        cql.push_str(" AND tablets = {'enabled': false}");
    }
    cql
}

/// The record of an applied migration, as a literal statement. Literal on purpose: the driver prepares
/// any statement with bound values, and a prepared statement under `USE` (which the unqualified DDL of
/// the migration files needs) draws a server warning. The values are ours: a number, a file-name stem
/// and a hex digest, with quotes doubled all the same.
fn record_cql(version: i32, name: &str, checksum: &str, applied_at_ms: i64) -> String {
    let quote = |s: &str| s.replace('\'', "''");
    format!(
        "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ({version}, '{}', '{}', {applied_at_ms})",
        quote(name),
        quote(checksum)
    )
}

pub async fn apply(
    session: &Session,
    config: &StoreConfig,
    spec: &KeyspaceSpec,
    migrations: &[Migration],
) -> Result<Vec<(Migration, MigrationAction)>, StoreError> {
    prepare(session, config, spec).await?;
    let applied = applied(session).await?;
    let mut out = Vec::with_capacity(migrations.len());
    for m in migrations {
        let version = i32::try_from(m.version).map_err(|_| StoreError::Migration {
            file: m.file.clone(),
            problem: "version does not fit in an int".into(),
            fix: "use a 4-digit version".into(),
        })?;
        if let Some(checksum) = applied.get(&version) {
            if *checksum != m.checksum {
                return Err(StoreError::Migration {
                    file: m.file.clone(),
                    problem: format!(
                        "was applied with checksum {checksum}, but the file now hashes to {}",
                        m.checksum
                    ),
                    fix: "restore the applied file and put the change in a new migration".into(),
                });
            }
            out.push((m.clone(), MigrationAction::AlreadyApplied));
            continue;
        }
        run(session, m, version).await?;
        out.push((m.clone(), MigrationAction::Applied));
    }
    Ok(out)
}

/// The keyspace and the table of applied migrations, created if missing, and the session in it.
async fn prepare(
    session: &Session,
    config: &StoreConfig,
    spec: &KeyspaceSpec,
) -> Result<(), StoreError> {
    let q = StoreError::query;
    session
        .query_unpaged(keyspace_cql(config, spec), ())
        .await
        .map_err(|e| q("create keyspace")(&e))?;
    session
        .use_keyspace(&config.keyspace, false)
        .await
        .map_err(|e| q("use keyspace")(&e))?;
    session
        .query_unpaged(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, name text, checksum text, applied_at timestamp)",
            (),
        )
        .await
        .map_err(|e| q("create schema_migrations")(&e))?;
    session
        .await_schema_agreement()
        .await
        .map_err(|e| q("schema agreement")(&e))?;
    Ok(())
}

/// Version → checksum of every migration applied so far.
async fn applied(session: &Session) -> Result<HashMap<i32, String>, StoreError> {
    let q = StoreError::query;
    let rows = session
        .query_unpaged("SELECT version, checksum FROM schema_migrations", ())
        .await
        .map_err(|e| q("read schema_migrations")(&e))?
        .into_rows_result()
        .map_err(|e| q("read schema_migrations")(&e))?;
    let mut applied: HashMap<i32, String> = HashMap::new();
    for row in rows
        .rows::<(i32, String)>()
        .map_err(|e| q("read schema_migrations")(&e))?
    {
        let (version, checksum) = row.map_err(|e| q("read schema_migrations")(&e))?;
        applied.insert(version, checksum);
    }
    Ok(applied)
}

/// Runs one migration's statements, waits for schema agreement and records it.
async fn run(session: &Session, m: &Migration, version: i32) -> Result<(), StoreError> {
    let q = StoreError::query;
    for statement in &m.statements {
        session.query_unpaged(statement.as_str(), ()).await.map_err(|e| StoreError::Migration {
            file: m.file.clone(),
            problem: format!("statement `{statement}` failed: {e}"),
            fix: "correct the statement; statements already run are IF NOT EXISTS and will be skipped".into(),
        })?;
    }
    session
        .await_schema_agreement()
        .await
        .map_err(|e| q("schema agreement")(&e))?;
    session
        .query_unpaged(record_cql(version, &m.name, &m.checksum, now_millis()), ())
        .await
        .map_err(|e| q("record migration")(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_record_quotes_its_literals() {
        assert_eq!(
            record_cql(2, "o'brien", "ab", 5),
            "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (2, 'o''brien', 'ab', 5)"
        );
    }

    #[test]
    fn tablets_are_turned_off_only_on_scylla_with_lwt() {
        let spec = KeyspaceSpec {
            uses_lwt: true,
            durable_writes: true,
        };
        let mut config = StoreConfig::default();
        assert!(!keyspace_cql(&config, &spec).contains("tablets"));
        config.flavor = StoreFlavor::Scylla;
        assert!(keyspace_cql(&config, &spec).ends_with("AND tablets = {'enabled': false}"));
        let no_lwt = KeyspaceSpec {
            uses_lwt: false,
            durable_writes: true,
        };
        assert!(!keyspace_cql(&config, &no_lwt).contains("tablets"));
    }
}
