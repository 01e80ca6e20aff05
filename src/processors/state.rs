//! Keyed processor state outside the process, with a replay journal.
//!
//! A stateful processor (the payment state machine) owns the state of the keys of the partitions it is
//! assigned. State is stored in `processor_state` (one row per key) and written before the Kafka commit.
//! If the transaction then aborts (or the process dies), the inputs are replayed against state that
//! already includes them. Recomputing would be wrong (a replayed "capture" would be seen as a
//! duplicate), so every input that changes state first journals what it did: its output records and
//! the state it left. A replayed input found in the journal re-emits exactly those records and takes
//! that state; nothing is recomputed. Write order (data, journal, state) is enforced by
//! [`WriteStage`](crate::store::writer::WriteStage): state is never ahead of the journal explaining it.
//!
//! The journal is read once per batch and topic-partition (one range query), not per record.

use super::{Context, Decoded, Effects, Io, OutRecord, ProcessError};
use crate::metrics::Measure;
use crate::store::state::rows;
use crate::store::writer::StoreWrite;
use base64::Engine as _;
use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// What one input did, as journaled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Journaled {
    records: Vec<JournaledRecord>,
    /// The key's state after the input (JSON of the processor's state type).
    state: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct JournaledRecord {
    topic: String,
    key: String,
    payload_b64: String,
}

/// The result of one input: its effects and the key's new state (`None`: unchanged).
pub struct Step<S> {
    pub effects: Effects,
    pub state: Option<S>,
}

/// The states of a batch's keys, plus the batch's journal.
pub struct Keyed<S> {
    processor: &'static str,
    states: BTreeMap<String, S>,
    journal: BTreeMap<(String, i32, i64), Vec<u8>>,
    journal_ttl_s: u32,
    /// Inputs answered from the journal (replays), for tests and metrics.
    pub replayed: u64,
}

fn store_err(e: crate::store::StoreError) -> ProcessError {
    ProcessError::Retryable(e.to_string())
}

impl<S: Serialize + DeserializeOwned + Clone> Keyed<S> {
    /// Reads the stored state of every key the batch touches, and the journal of its offsets.
    pub async fn load<I>(
        io: &Io<'_>,
        processor: &'static str,
        batch: &[Decoded<I>],
        key_of: fn(&I) -> Option<String>,
        journal_ttl_s: u32,
    ) -> Result<Self, ProcessError> {
        let keys: BTreeSet<String> = batch.iter().filter_map(|d| key_of(&d.input)).collect();
        let keys: Vec<String> = keys.into_iter().collect();
        let raw = io
            .state
            .get_many(processor, &keys, io.in_flight_max)
            .await
            .map_err(store_err)?;
        let mut states = BTreeMap::new();
        for (k, v) in raw {
            let s: S = serde_json::from_slice(&v).map_err(|e| {
                ProcessError::Fatal(format!("stored state of '{k}' does not parse: {e}"))
            })?;
            states.insert(k, s);
        }
        let mut ranges: BTreeMap<(&str, i32), (i64, i64)> = BTreeMap::new();
        for d in batch {
            let r = ranges
                .entry((d.meta.topic.as_str(), d.meta.partition))
                .or_insert((d.meta.offset, d.meta.offset));
            r.0 = r.0.min(d.meta.offset);
            r.1 = r.1.max(d.meta.offset);
        }
        let reads: Vec<BoxFuture<'_, _>> = ranges
            .into_iter()
            .map(|((topic, partition), (first, last))| -> BoxFuture<'_, _> {
                Box::pin(async move {
                    let found = io
                        .state
                        .journal_range(processor, topic, partition, first, last)
                        .await?;
                    Ok::<_, crate::store::StoreError>((topic, partition, found))
                })
            })
            .collect();
        let found: Vec<_> = futures::stream::iter(reads)
            .buffer_unordered(io.in_flight_max.max(1))
            .try_collect()
            .await
            .map_err(store_err)?;
        let mut journal = BTreeMap::new();
        for (topic, partition, entries) in found {
            for (offset, effects) in entries {
                journal.insert((topic.to_owned(), partition, offset), effects);
            }
        }
        Ok(Self {
            processor,
            states,
            journal,
            journal_ttl_s,
            replayed: 0,
        })
    }

    /// A view with the given states and no journal (tests).
    pub fn of(processor: &'static str, states: BTreeMap<String, S>) -> Self {
        Self {
            processor,
            states,
            journal: BTreeMap::new(),
            journal_ttl_s: 3_600,
            replayed: 0,
        }
    }

    pub fn get(&self, key: &str) -> Option<&S> {
        self.states.get(key)
    }

    /// Applies one input to `key`'s state through `f`, unless the journal shows this input already ran:
    /// then its journaled records and state are returned and `f` is not called.
    pub fn step(
        &mut self,
        ctx: &Context<'_>,
        key: &str,
        f: impl FnOnce(Option<&S>) -> Result<Step<S>, ProcessError>,
    ) -> Result<Effects, ProcessError> {
        let coordinates = (
            ctx.record.topic.clone(),
            ctx.record.partition,
            ctx.record.offset,
        );
        if let Some(raw) = self.journal.get(&coordinates) {
            let raw = raw.clone();
            return self.replay(ctx, key, &coordinates, &raw);
        }
        let step = f(self.states.get(key))?;
        let mut effects = step.effects;
        if let Some(state) = step.state {
            let json = serde_json::to_string(&state).map_err(|e| {
                ProcessError::Fatal(format!("state of '{key}' does not serialize: {e}"))
            })?;
            effects
                .writes
                .push(self.journal_row(ctx, &effects.records, &json)?);
            let now_ms = ctx.clock.now_millis();
            effects
                .writes
                .push(rows::state(self.processor, key, json.into_bytes(), now_ms));
            self.states.insert(key.to_owned(), state);
        }
        Ok(effects)
    }

    /// The journaled outcome of an input that already ran: its records and state, as they were.
    fn replay(
        &mut self,
        ctx: &Context<'_>,
        key: &str,
        coordinates: &(String, i32, i64),
        raw: &[u8],
    ) -> Result<Effects, ProcessError> {
        let j: Journaled = serde_json::from_slice(raw).map_err(|e| {
            ProcessError::Fatal(format!("journal entry {coordinates:?} does not parse: {e}"))
        })?;
        let state: S = serde_json::from_str(&j.state).map_err(|e| {
            ProcessError::Fatal(format!(
                "journaled state {coordinates:?} does not parse: {e}"
            ))
        })?;
        let mut records = Vec::with_capacity(j.records.len());
        for r in j.records {
            let payload = B64.decode(&r.payload_b64).map_err(|e| {
                ProcessError::Fatal(format!("journaled record {coordinates:?}: {e}"))
            })?;
            records.push(OutRecord {
                topic: r.topic,
                key: r.key,
                payload,
            });
        }
        let now_ms = ctx.clock.now_millis();
        let state_row = rows::state(self.processor, key, j.state.into_bytes(), now_ms);
        self.states.insert(key.to_owned(), state);
        self.replayed += 1;
        Ok(Effects {
            records,
            writes: vec![state_row],
            measures: vec![Measure::count(
                crate::metrics::PROCESSOR_JOURNAL_REPLAYS,
                &[("processor", self.processor.to_owned())],
            )],
        })
    }

    /// The journal row of this input: its records and the state it left.
    fn journal_row(
        &self,
        ctx: &Context<'_>,
        records: &[OutRecord],
        state_json: &str,
    ) -> Result<StoreWrite, ProcessError> {
        let journaled = Journaled {
            records: records
                .iter()
                .map(|r| JournaledRecord {
                    topic: r.topic.clone(),
                    key: r.key.clone(),
                    payload_b64: B64.encode(&r.payload),
                })
                .collect(),
            state: state_json.to_owned(),
        };
        let entry = serde_json::to_vec(&journaled)
            .map_err(|e| ProcessError::Fatal(format!("journal entry: {e}")))?;
        Ok(rows::journal(
            self.processor,
            &ctx.record.topic,
            ctx.record.partition,
            ctx.record.offset,
            entry,
            self.journal_ttl_s,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::clock::FixedClock;
    use crate::events::{Catalog, Codec};
    use crate::processors::RecordMeta;
    use crate::store::writer::WriteStage;

    fn meta(offset: i64) -> RecordMeta {
        RecordMeta {
            topic: "t".into(),
            partition: 0,
            offset,
            key: None,
            timestamp_ms: None,
        }
    }

    fn out(n: u8) -> OutRecord {
        OutRecord {
            topic: "o".into(),
            key: "k".into(),
            payload: vec![n],
        }
    }

    #[test]
    fn a_journaled_input_is_replayed_not_recomputed() {
        let codec = Codec::single_object(Catalog::bundled().unwrap());
        let clock = FixedClock(1_000);
        let m = meta(7);
        let ctx = Context {
            record: &m,
            clock: &clock,
            codec: &codec,
        };
        let mut first: Keyed<u32> = Keyed::of("p", BTreeMap::new());
        let effects = first
            .step(&ctx, "k", |s| {
                assert_eq!(s, None);
                Ok(Step {
                    effects: Effects {
                        records: vec![out(1)],
                        ..Effects::default()
                    },
                    state: Some(1),
                })
            })
            .unwrap();
        let stages: Vec<WriteStage> = effects.writes.iter().map(|w| w.stage).collect();
        assert_eq!(stages, vec![WriteStage::Journal, WriteStage::State]);
        let journal_blob = match &effects.writes[0].columns[5].1 {
            crate::store::writer::Cql::Blob(b) => b.clone(),
            other => panic!("{other:?}"),
        };

        // The replay sees state 1 already stored (the write landed, the commit did not).
        let mut replay: Keyed<u32> = Keyed::of("p", BTreeMap::from([("k".to_owned(), 1)]));
        replay.journal.insert(("t".into(), 0, 7), journal_blob);
        let again = replay
            .step(&ctx, "k", |_| {
                panic!("a journaled input must not be recomputed")
            })
            .unwrap();
        assert_eq!(again.records, vec![out(1)]);
        assert_eq!(replay.get("k"), Some(&1));
        assert_eq!(replay.replayed, 1);

        // An input that leaves state alone is not journaled.
        let m2 = meta(8);
        let ctx2 = Context { record: &m2, ..ctx };
        let none = replay
            .step(&ctx2, "k", |s| {
                assert_eq!(s, Some(&1));
                Ok(Step {
                    effects: Effects::default(),
                    state: None,
                })
            })
            .unwrap();
        assert!(none.writes.is_empty());
    }
}
