//! Executes processors' store writes: typed column values become prepared `INSERT`s, cached per
//! (table, columns). An `INSERT` is an upsert, so replaying a write whose primary key comes from the
//! event rewrites the same row. `InsertIfNotExists` (LWT) is for the rare read-modify-write that needs it.

use super::{Store, StoreError};
use futures::{StreamExt, TryStreamExt};
use scylla::statement::prepared::PreparedStatement;
use scylla::value::{CqlTimestamp, CqlValue};
use std::collections::HashMap;
use std::sync::Mutex;

/// A CQL column value, as processors write them. No floats: money is `BigInt` minor units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cql {
    Text(String),
    BigInt(i64),
    Int(i32),
    Bool(bool),
    /// Milliseconds since the epoch.
    Timestamp(i64),
    Blob(Vec<u8>),
    Null,
}

impl Cql {
    pub fn text(s: &str) -> Cql {
        Cql::Text(s.to_owned())
    }

    pub fn opt_text(s: Option<&str>) -> Cql {
        s.map_or(Cql::Null, Cql::text)
    }

    fn to_value(&self) -> Option<CqlValue> {
        match self {
            Cql::Text(s) => Some(CqlValue::Text(s.clone())),
            Cql::BigInt(v) => Some(CqlValue::BigInt(*v)),
            Cql::Int(v) => Some(CqlValue::Int(*v)),
            Cql::Bool(v) => Some(CqlValue::Boolean(*v)),
            Cql::Timestamp(ms) => Some(CqlValue::Timestamp(CqlTimestamp(*ms))),
            Cql::Blob(b) => Some(CqlValue::Blob(b.clone())),
            Cql::Null => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Plain `INSERT`: last write wins, idempotent for a given key and values.
    Upsert,
    /// `INSERT … IF NOT EXISTS` (Paxos): the first write wins; later ones report `NotApplied`.
    InsertIfNotExists,
}

/// One row write. `key` orders writes: writes with the same table and key run in sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreWrite {
    pub table: &'static str,
    pub key: String,
    pub columns: Vec<(&'static str, Cql)>,
    pub mode: WriteMode,
    /// Seconds until the row expires; `None`: never.
    pub ttl_s: Option<u32>,
    /// The write's version (`USING TIMESTAMP` [`VERSION_BASE`] + version): a cell is only ever
    /// overwritten by a write with a higher one, so a view written with its event's sequence never
    /// goes back to an older state, whatever order replays arrive in. `None`: the server's clock.
    pub version: Option<i64>,
}

/// Where versioned writes' timestamps start: 2^52 microseconds, a server clock reading of the year
/// 2112. So a versioned write still overwrites a row the server's clock stamped (written before the
/// table was versioned), and versions order among themselves. Every writer of a versioned table must
/// version (a delete too, `USING TIMESTAMP`).
pub const VERSION_BASE: i64 = 1 << 52;

impl StoreWrite {
    pub fn upsert(table: &'static str, key: &str, columns: Vec<(&'static str, Cql)>) -> Self {
        Self {
            table,
            key: key.to_owned(),
            columns,
            mode: WriteMode::Upsert,
            ttl_s: None,
            version: None,
        }
    }

    /// The row expires `ttl_s` seconds after the write.
    pub fn with_ttl(mut self, ttl_s: u32) -> Self {
        self.ttl_s = Some(ttl_s);
        self
    }

    /// Written with `version` as its timestamp (see [`StoreWrite::version`]); every write of the
    /// same rows must then be versioned alike.
    pub fn versioned(mut self, version: i64) -> Self {
        self.version = Some(version);
        self
    }

    pub fn insert_if_not_exists(
        table: &'static str,
        key: &str,
        columns: Vec<(&'static str, Cql)>,
    ) -> Self {
        Self {
            table,
            key: key.to_owned(),
            columns,
            mode: WriteMode::InsertIfNotExists,
            ttl_s: None,
            version: None,
        }
    }

    fn cql(&self, keyspace: &str) -> String {
        let names: Vec<&str> = self.columns.iter().map(|(n, _)| *n).collect();
        let marks = vec!["?"; names.len()].join(", ");
        let lwt = if self.mode == WriteMode::InsertIfNotExists {
            " IF NOT EXISTS"
        } else {
            ""
        };
        let using: Vec<String> = [
            self.ttl_s.map(|t| format!("TTL {t}")),
            // Bound, not inlined, so one prepared statement serves every version.
            self.version.map(|_| "TIMESTAMP ?".to_owned()),
        ]
        .into_iter()
        .flatten()
        .collect();
        let using = if using.is_empty() {
            String::new()
        } else {
            format!(" USING {}", using.join(" AND "))
        };
        format!(
            "INSERT INTO {keyspace}.{} ({}) VALUES ({marks}){lwt}{using}",
            self.table,
            names.join(", ")
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    Applied,
    /// An `InsertIfNotExists` found the row already there.
    NotApplied,
}

pub struct StoreWriter {
    store: Store,
    prepared: Mutex<HashMap<String, PreparedStatement>>,
}

impl StoreWriter {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            prepared: Mutex::new(HashMap::new()),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    async fn statement(&self, cql: String) -> Result<PreparedStatement, StoreError> {
        if let Some(p) = self.prepared.lock().ok().and_then(|m| m.get(&cql).cloned()) {
            return Ok(p);
        }
        let prepared = self
            .store
            .session()
            .prepare(cql.as_str())
            .await
            .map_err(|e| StoreError::query("prepare")(&e))?;
        if let Ok(mut m) = self.prepared.lock() {
            m.insert(cql, prepared.clone());
        }
        Ok(prepared)
    }

    pub async fn execute(&self, w: &StoreWrite) -> Result<WriteOutcome, StoreError> {
        let statement = self.statement(w.cql(self.store.keyspace())).await?;
        let mut values: Vec<Option<CqlValue>> =
            w.columns.iter().map(|(_, v)| v.to_value()).collect();
        if let Some(v) = w.version {
            values.push(Some(CqlValue::BigInt(VERSION_BASE.saturating_add(v))));
        }
        let result = self
            .store
            .session()
            .execute_unpaged(&statement, values)
            .await
            .map_err(|e| StoreError::query("write")(&e))?;
        if w.mode == WriteMode::Upsert {
            return Ok(WriteOutcome::Applied);
        }
        Ok(if lwt_applied(result, w.table)? {
            WriteOutcome::Applied
        } else {
            WriteOutcome::NotApplied
        })
    }

    /// Executes every write: at most `in_flight_max` keys at once, and writes of one (table, key) in
    /// order.
    pub async fn execute_all(
        &self,
        writes: &[StoreWrite],
        in_flight_max: usize,
    ) -> Result<(), StoreError> {
        let mut groups: Vec<Vec<StoreWrite>> = Vec::new();
        let mut index: HashMap<(&str, &str), usize> = HashMap::new();
        for w in writes {
            let slot = *index.entry((w.table, w.key.as_str())).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
            if let Some(g) = groups.get_mut(slot) {
                g.push(w.clone());
            }
        }
        futures::stream::iter(groups.into_iter().map(|group| self.execute_in_order(group)))
            .buffer_unordered(in_flight_max.max(1))
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    async fn execute_in_order(&self, group: Vec<StoreWrite>) -> Result<(), StoreError> {
        for w in &group {
            self.execute(w).await?;
        }
        Ok(())
    }
}

/// `[applied]` of a conditional statement on `table`. The result shape differs between Cassandra and
/// ScyllaDB, so the column is found by name.
pub(crate) fn lwt_applied(
    result: scylla::response::query_result::QueryResult,
    table: &str,
) -> Result<bool, StoreError> {
    let rows = result
        .into_rows_result()
        .map_err(|e| StoreError::query("lwt result")(&e))?;
    let index = rows
        .column_specs()
        .iter()
        .position(|c| c.name() == "[applied]")
        .ok_or_else(|| {
            StoreError::Invariant(format!("LWT on {table} returned no [applied] column"))
        })?;
    let row = rows
        .first_row::<scylla::value::Row>()
        .map_err(|e| StoreError::query("lwt result")(&e))?;
    match row.columns.get(index) {
        Some(Some(CqlValue::Boolean(applied))) => Ok(*applied),
        other => Err(StoreError::Invariant(format!(
            "LWT on {table} returned [applied] = {other:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_qualified_and_lwt_only_when_asked() {
        let cols = vec![("a", Cql::text("x")), ("b", Cql::BigInt(1))];
        assert_eq!(
            StoreWrite::upsert("t", "k", cols.clone()).cql("ks"),
            "INSERT INTO ks.t (a, b) VALUES (?, ?)"
        );
        assert_eq!(
            StoreWrite::insert_if_not_exists("t", "k", cols).cql("ks"),
            "INSERT INTO ks.t (a, b) VALUES (?, ?) IF NOT EXISTS"
        );
        assert_eq!(
            StoreWrite::upsert("t", "k", vec![("a", Cql::Blob(vec![1]))])
                .with_ttl(60)
                .cql("ks"),
            "INSERT INTO ks.t (a) VALUES (?) USING TTL 60"
        );
        assert_eq!(
            StoreWrite::upsert("t", "k", vec![("a", Cql::BigInt(1))])
                .with_ttl(60)
                .versioned(7)
                .cql("ks"),
            "INSERT INTO ks.t (a) VALUES (?) USING TTL 60 AND TIMESTAMP ?"
        );
    }
}
