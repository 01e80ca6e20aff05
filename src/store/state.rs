//! Append-only time sets kept in the store (migration 0004), read by processors' `load` edges
//! (connector health). Writes go through [`super::writer::StoreWriter`] like every other store write;
//! [`rows`] builds them so the column names live next to the reads. Keyed processor state lives in
//! changelog topics (`runtime::state`); the `processor_state` and `processor_journal` tables of
//! migration 0004 are no longer written.

use super::writer::{Cql, StoreWrite};
use super::{Store, StoreError};
use futures::TryStreamExt;
use scylla::statement::prepared::PreparedStatement;

pub const SETS_TABLE: &str = "state_sets";

/// One member of a time set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetMember {
    pub at_ms: i64,
    pub member: String,
    pub value: String,
}

/// Prepared reads of the time sets, one per processor instance.
pub struct SetReader {
    store: Store,
    set: PreparedStatement,
}

impl SetReader {
    pub async fn prepare(store: &Store) -> Result<Self, StoreError> {
        let set = store
            .session()
            .prepare(format!(
                "SELECT at_ms, member, value FROM {} WHERE processor = ? AND set_key = ? AND at_ms >= ? LIMIT ?",
                store.table(SETS_TABLE)
            ))
            .await
            .map_err(|e| StoreError::query("prepare set members")(&e))?;
        Ok(Self {
            store: store.clone(),
            set,
        })
    }

    /// The newest members of a set at or after `since_ms`, at most `limit`.
    pub async fn set_members(
        &self,
        processor: &str,
        set_key: &str,
        since_ms: i64,
        limit: i32,
    ) -> Result<Vec<SetMember>, StoreError> {
        let mut rows = self
            .store
            .session()
            .execute_iter(self.set.clone(), (processor, set_key, since_ms, limit))
            .await
            .map_err(|e| StoreError::query("set members")(&e))?
            .rows_stream::<(i64, String, Option<String>)>()
            .map_err(|e| StoreError::query("set members")(&e))?;
        let mut out = Vec::new();
        while let Some((at_ms, member, value)) = rows
            .try_next()
            .await
            .map_err(|e| StoreError::query("set members")(&e))?
        {
            out.push(SetMember {
                at_ms,
                member,
                value: value.unwrap_or_default(),
            });
        }
        Ok(out)
    }
}

/// Row builders for the writes that go with these reads.
pub mod rows {
    use super::*;

    pub fn set_member(
        processor: &str,
        set_key: &str,
        member: &SetMember,
        ttl_s: u32,
    ) -> StoreWrite {
        StoreWrite::upsert(
            SETS_TABLE,
            &format!("{set_key}/{}", member.member),
            vec![
                ("processor", Cql::text(processor)),
                ("set_key", Cql::text(set_key)),
                ("at_ms", Cql::BigInt(member.at_ms)),
                ("member", Cql::text(&member.member)),
                ("value", Cql::text(&member.value)),
            ],
        )
        .with_ttl(ttl_s)
    }
}
