//! Reads of processor state kept outside the process (migration 0004): keyed state, the replay
//! journal and append-only time sets. Writes go through [`super::writer::StoreWriter`] like every
//! other store write; [`rows`] builds them so the column names live next to the reads.

use super::writer::{Cql, StoreWrite, WriteStage};
use super::{Store, StoreError};
use futures::{StreamExt, TryStreamExt};
use scylla::statement::prepared::PreparedStatement;
use std::collections::BTreeMap;

pub const STATE_TABLE: &str = "processor_state";
pub const JOURNAL_TABLE: &str = "processor_journal";
pub const SETS_TABLE: &str = "state_sets";

/// Offsets per journal partition: a batch touches at most two buckets of one topic-partition.
pub const JOURNAL_BUCKET_OFFSETS: i64 = 100_000;

/// One member of a time set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetMember {
    pub at_ms: i64,
    pub member: String,
    pub value: String,
}

/// Prepared reads, one set per process.
pub struct StateReader {
    store: Store,
    get: PreparedStatement,
    journal: PreparedStatement,
    set: PreparedStatement,
}

impl StateReader {
    pub async fn prepare(store: &Store) -> Result<Self, StoreError> {
        let q = StoreError::query;
        let session = store.session();
        let get = session
            .prepare(format!(
                "SELECT value FROM {} WHERE processor = ? AND key = ?",
                store.table(STATE_TABLE)
            ))
            .await
            .map_err(|e| q("prepare state get")(&e))?;
        let journal = session
            .prepare(format!(
                "SELECT kafka_offset, effects FROM {} WHERE processor = ? AND topic = ? AND kafka_partition = ? AND bucket = ? AND kafka_offset >= ? AND kafka_offset <= ?",
                store.table(JOURNAL_TABLE)
            ))
            .await
            .map_err(|e| q("prepare journal range")(&e))?;
        let set = session
            .prepare(format!(
                "SELECT at_ms, member, value FROM {} WHERE processor = ? AND set_key = ? AND at_ms >= ? LIMIT ?",
                store.table(SETS_TABLE)
            ))
            .await
            .map_err(|e| q("prepare set members")(&e))?;
        Ok(Self {
            store: store.clone(),
            get,
            journal,
            set,
        })
    }

    /// The stored values of `keys` (absent keys are missing from the map), at most `in_flight_max`
    /// reads at once.
    pub async fn get_many(
        &self,
        processor: &str,
        keys: &[String],
        in_flight_max: usize,
    ) -> Result<BTreeMap<String, Vec<u8>>, StoreError> {
        let found: Vec<Option<(String, Vec<u8>)>> =
            futures::stream::iter(keys.iter().cloned().map(|k| async move {
                let row = self
                    .store
                    .session()
                    .execute_unpaged(&self.get, (processor, k.as_str()))
                    .await
                    .map_err(|e| StoreError::query("state get")(&e))?
                    .into_rows_result()
                    .map_err(|e| StoreError::query("state get")(&e))?
                    .maybe_first_row::<(Option<Vec<u8>>,)>()
                    .map_err(|e| StoreError::query("state get")(&e))?;
                Ok::<_, StoreError>(row.and_then(|(v,)| v).map(|v| (k, v)))
            }))
            .buffer_unordered(in_flight_max.max(1))
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().collect())
    }

    /// Journal entries of one topic-partition with offsets in `first..=last`.
    pub async fn journal_range(
        &self,
        processor: &str,
        topic: &str,
        partition: i32,
        first: i64,
        last: i64,
    ) -> Result<BTreeMap<i64, Vec<u8>>, StoreError> {
        let mut out = BTreeMap::new();
        let mut bucket = first / JOURNAL_BUCKET_OFFSETS;
        while bucket <= last / JOURNAL_BUCKET_OFFSETS {
            let mut rows = self
                .store
                .session()
                .execute_iter(
                    self.journal.clone(),
                    (processor, topic, partition, bucket, first, last),
                )
                .await
                .map_err(|e| StoreError::query("journal range")(&e))?
                .rows_stream::<(i64, Vec<u8>)>()
                .map_err(|e| StoreError::query("journal range")(&e))?;
            while let Some((offset, effects)) = rows
                .try_next()
                .await
                .map_err(|e| StoreError::query("journal range")(&e))?
            {
                out.insert(offset, effects);
            }
            bucket += 1;
        }
        Ok(out)
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

    pub fn state(processor: &str, key: &str, value: Vec<u8>, now_ms: i64) -> StoreWrite {
        StoreWrite::upsert(
            STATE_TABLE,
            key,
            vec![
                ("processor", Cql::text(processor)),
                ("key", Cql::text(key)),
                ("value", Cql::Blob(value)),
                ("updated_at", Cql::Timestamp(now_ms)),
            ],
        )
        .at_stage(WriteStage::State)
    }

    pub fn journal(
        processor: &str,
        topic: &str,
        partition: i32,
        offset: i64,
        effects: Vec<u8>,
        ttl_s: u32,
    ) -> StoreWrite {
        StoreWrite::upsert(
            JOURNAL_TABLE,
            &format!("{topic}/{partition}/{offset}"),
            vec![
                ("processor", Cql::text(processor)),
                ("topic", Cql::text(topic)),
                ("kafka_partition", Cql::Int(partition)),
                ("bucket", Cql::BigInt(offset / JOURNAL_BUCKET_OFFSETS)),
                ("kafka_offset", Cql::BigInt(offset)),
                ("effects", Cql::Blob(effects)),
            ],
        )
        .with_ttl(ttl_s)
        .at_stage(WriteStage::Journal)
    }

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
