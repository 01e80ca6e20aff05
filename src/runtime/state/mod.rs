//! Keyed state in Kafka (Kafka Streams' design): a stateful processor's state is a compacted changelog
//! topic, co-partitioned with its inputs and written by the same transactional producer as its outputs
//! and input offsets, so state, outputs and offsets commit or abort together.
//!
//! An instance keeps a local copy ([`local::Local`]) of the partitions it owns and tracks, per
//! partition, the changelog offset the copy is at. The copy changes only in two ways:
//! - after a transaction commits, its state changes are applied and the offset moves past them;
//! - a catch-up ([`restore::Reader`]) reads what is committed beyond the offset. It runs for every
//!   owned partition whenever the consumer group's generation changed (another instance may have
//!   owned the partition meanwhile) and after a transaction whose outcome is unknown (it may have
//!   committed). It waits until no transaction is open on the partition, so a previous owner's commit
//!   still in flight is read, never missed.
//!
//! An aborted transaction changes nothing locally, and read_committed restores never see it. The
//! copy is a cache: deleting it costs a restore, never data.

pub mod local;
pub mod restore;

use crate::events::{Codec, KeyedState, TimestampMillis};
use crate::metrics as m;
use crate::processors::StateChange;
use local::{Local, Put};
use restore::Reader;
pub use restore::RestoreError;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use tracing::info;

/// The keyed state of one processor instance.
pub struct KeyedStore {
    processor: String,
    changelog: String,
    local: Local,
    reader: Reader,
    codec: Arc<Codec>,
    /// Owned partition → the changelog offset the local copy has applied up to.
    at: BTreeMap<i32, i64>,
    /// Partitions whose copy must catch up before their records are processed.
    stale: BTreeSet<i32>,
}

impl KeyedStore {
    pub fn open(
        processor: &str,
        changelog: &str,
        path: &Path,
        cache_bytes: usize,
        reader: Reader,
        codec: Arc<Codec>,
    ) -> Result<Self, String> {
        Ok(Self {
            processor: processor.to_owned(),
            changelog: changelog.to_owned(),
            local: Local::create(path, cache_bytes).map_err(|e| e.to_string())?,
            reader,
            codec,
            at: BTreeMap::new(),
            stale: BTreeSet::new(),
        })
    }

    pub fn changelog(&self) -> &str {
        &self.changelog
    }

    /// The partitions now owned; every one of them must catch up (the group changed).
    pub fn owned_now(&mut self, owned: BTreeSet<i32>) {
        self.at.retain(|p, _| owned.contains(p));
        for p in &owned {
            self.at.entry(*p).or_insert(0);
        }
        self.stale = owned;
    }

    /// Every owned partition must catch up (a transaction's outcome is unknown).
    pub fn invalidate(&mut self) {
        self.stale = self.at.keys().copied().collect();
    }

    pub fn is_stale(&self) -> bool {
        !self.stale.is_empty()
    }

    /// Catches every stale partition up with its changelog.
    pub async fn catch_up(&mut self) -> Result<(), RestoreError> {
        let from: BTreeMap<i32, i64> = self
            .stale
            .iter()
            .map(|p| (*p, self.at.get(p).copied().unwrap_or(0)))
            .collect();
        let started = Instant::now();
        let restored = self.reader.restore(&mut self.local, &from).await?;
        let labels = [("processor", self.processor.clone())];
        metrics::histogram!(m::STATE_RESTORE_SECONDS, &labels).record(started.elapsed());
        for (p, r) in restored {
            let first = from.get(&p).copied().unwrap_or(0);
            self.at.insert(p, r.next_offset);
            self.stale.remove(&p);
            metrics::counter!(m::STATE_RESTORE_RECORDS, &labels).increment(r.records);
            metrics::counter!(m::STATE_RESTORE_BYTES, &labels).increment(r.bytes);
            if r.next_offset > first {
                info!(processor = %self.processor, partition = p, from = first, to = r.next_offset, records = r.records, bytes = r.bytes, ms = started.elapsed().as_millis(), "state restored");
            }
        }
        Ok(())
    }

    /// The committed state of `keys` (partition, key).
    pub fn read(&self, keys: &[(i32, &str)]) -> Result<BTreeMap<String, Vec<u8>>, String> {
        if let Some((p, _)) = keys.iter().find(|(p, _)| !self.at.contains_key(p)) {
            return Err(format!(
                "a record of partition {p} reached the processor, which does not own it"
            ));
        }
        self.local.get_many(keys).map_err(|e| e.to_string())
    }

    /// The changelog record of `change`: the key's state in its envelope.
    pub fn envelope(&self, change: &StateChange, now_ms: i64) -> Result<Vec<u8>, String> {
        let s = KeyedState {
            processor: self.processor.clone(),
            key: change.key.clone(),
            state: change.value.clone(),
            timers: vec![],
            written_at: TimestampMillis(now_ms),
        };
        self.codec.encode_sync(&s).map_err(|e| e.to_string())
    }

    /// Applies a committed transaction's changes; `offsets` are the changelog offsets they were
    /// written at, per partition the highest.
    pub fn committed(
        &mut self,
        changes: &[StateChange],
        offsets: &BTreeMap<i32, i64>,
    ) -> Result<(), String> {
        let puts: Vec<Put<'_>> = changes
            .iter()
            .map(|c| Put {
                partition: c.partition,
                key: &c.key,
                value: Some(&c.value),
            })
            .collect();
        self.local.apply(&puts).map_err(|e| e.to_string())?;
        for (p, last) in offsets {
            if let Some(at) = self.at.get_mut(p) {
                *at = (*at).max(last + 1);
            }
        }
        Ok(())
    }
}
