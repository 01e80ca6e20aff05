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
//! copy is a cache: deleting it costs a restore, never data. A clean shutdown leaves a checkpoint of
//! the offsets next to it, and the next start of the instance keeps the copy and only catches up;
//! a start without a checkpoint (after a crash) deletes the copy and restores from the beginning.

pub mod local;
pub mod restore;
pub mod value;

use crate::events::keyed_state::KeyedTimer;
use crate::events::{Codec, KeyedState, TimestampMillis};
use crate::metrics as m;
use crate::processors::timers::Timer;
use crate::processors::{KeyState, StateChange};
use local::{Local, Put};
use restore::Reader;
pub use restore::RestoreError;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use tracing::info;

/// The keyed state of one processor instance.
pub struct KeyedStore {
    processor: String,
    changelog: String,
    local: Local,
    checkpoint: PathBuf,
    reader: Reader,
    codec: Arc<Codec>,
    /// Partition → the changelog offset the local copy holds every committed record below. A
    /// partition stays here once revoked: its copy is still a true prefix, which a catch-up extends.
    at: BTreeMap<i32, i64>,
    owned: BTreeSet<i32>,
    /// Partitions whose copy must catch up before their records are processed.
    stale: BTreeSet<i32>,
}

/// What a clean shutdown leaves next to the local copy: the offsets it holds, per partition. An
/// instance that starts without one (it crashed) deletes the copy and restores.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Checkpoint {
    partitions: BTreeMap<i32, i64>,
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
        let checkpoint = path.with_extension("checkpoint");
        // Read once and removed at once: from here on the copy changes without a checkpoint.
        let kept: Option<Checkpoint> = std::fs::read(&checkpoint)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let _ = std::fs::remove_file(&checkpoint);
        let local = Local::open(path, cache_bytes, kept.is_some()).map_err(|e| e.to_string())?;
        if let Some(k) = &kept {
            info!(processor, partitions = ?k.partitions, "local state kept from a clean shutdown");
        }
        Ok(Self {
            processor: processor.to_owned(),
            changelog: changelog.to_owned(),
            local,
            checkpoint,
            reader,
            codec,
            at: kept.map(|k| k.partitions).unwrap_or_default(),
            owned: BTreeSet::new(),
            stale: BTreeSet::new(),
        })
    }

    pub fn changelog(&self) -> &str {
        &self.changelog
    }

    /// The partitions now owned; every one of them must catch up (the group changed).
    pub fn owned_now(&mut self, owned: BTreeSet<i32>) {
        for p in &owned {
            self.at.entry(*p).or_insert(0);
        }
        self.stale = owned.clone();
        self.owned = owned;
    }

    /// Makes the local copy durable and leaves a checkpoint of its offsets, so the next start
    /// of this instance catches up instead of restoring everything.
    pub fn close(&mut self) -> Result<(), String> {
        self.local.flush().map_err(|e| e.to_string())?;
        let c = Checkpoint {
            partitions: self.at.clone(),
        };
        let bytes = serde_json::to_vec(&c).map_err(|e| e.to_string())?;
        std::fs::write(&self.checkpoint, bytes)
            .map_err(|e| format!("{}: {e}", self.checkpoint.display()))
    }

    /// Every owned partition must catch up (a transaction's outcome is unknown).
    pub fn invalidate(&mut self) {
        self.stale = self.owned.clone();
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

    /// Up to `max` keys with a timer due at `now_ms`, on owned partitions that are caught up.
    pub fn due(&self, now_ms: i64, max: usize) -> Result<Vec<(i32, String)>, String> {
        let ready: BTreeSet<i32> = self.owned.difference(&self.stale).copied().collect();
        self.local
            .due(&ready, now_ms, max)
            .map_err(|e| e.to_string())
    }

    /// When the next timer of an owned partition is due.
    pub fn next_due(&self) -> Result<Option<i64>, String> {
        self.local.next_due(&self.owned).map_err(|e| e.to_string())
    }

    /// The committed state and timers of `keys` (partition, key).
    pub fn read(&self, keys: &[(i32, &str)]) -> Result<BTreeMap<String, KeyState>, String> {
        if let Some((p, _)) = keys.iter().find(|(p, _)| !self.owned.contains(p)) {
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
            timers: change.timers.iter().map(wire_timer).collect(),
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
        let values: Vec<Vec<u8>> = changes
            .iter()
            .map(|c| value::encode(&c.value, &c.timers))
            .collect();
        let puts: Vec<Put<'_>> = changes
            .iter()
            .zip(&values)
            .map(|(c, v)| Put {
                partition: c.partition,
                key: &c.key,
                value: Some(v),
            })
            .collect();
        self.local.apply(&puts).map_err(|e| e.to_string())?;
        // The transaction's commit marker follows its last record on each partition it wrote (one
        // marker per partition, and no one else commits to a partition this instance owns), so the
        // copy holds everything below `last + 2`.
        for (p, last) in offsets {
            let at = self.at.entry(*p).or_insert(0);
            *at = (*at).max(last.saturating_add(2));
        }
        Ok(())
    }
}

fn wire_timer(t: &Timer) -> KeyedTimer {
    KeyedTimer {
        kind: t.kind.clone(),
        due_at: TimestampMillis(t.due_at_ms),
        payload: t.payload.clone(),
    }
}

/// A changelog record's timers, as the processor set them.
pub fn timers_of(s: &KeyedState) -> Vec<Timer> {
    s.timers
        .iter()
        .map(|t| Timer {
            kind: t.kind.clone(),
            due_at_ms: t.due_at.0,
            payload: t.payload.clone(),
        })
        .collect()
}
