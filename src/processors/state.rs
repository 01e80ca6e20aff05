//! Keyed processor state, as a processor sees it.
//!
//! A stateful processor (the payment state machine) owns the state of the keys of the partitions it
//! is assigned. The runtime keeps that state in the processor's compacted changelog topic and a local
//! copy of it (`runtime::state`): per batch it hands the processor the committed state of the batch's
//! keys, and every state a processor leaves is a [`StateChange`] produced to the changelog in the same
//! transaction as the outputs and the input offsets. State, outputs and offsets therefore commit or
//! abort together: a replay after an abort or a crash starts from the state before the batch and
//! recomputes the same outputs, so no journal is needed.

use super::{Context, Effects, Io, ProcessError, StateChange};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeMap;

/// The result of one input: its effects and the key's new state (`None`: unchanged).
pub struct Step<S> {
    pub effects: Effects,
    pub state: Option<S>,
}

/// The states of a batch's keys, updated as the batch goes, so that a record sees the effects of the
/// records before it.
pub struct Keyed<S> {
    states: BTreeMap<String, S>,
}

impl<S: Serialize + DeserializeOwned + Clone> Keyed<S> {
    /// The committed states the runtime read for the batch.
    pub fn load(io: &Io<'_>) -> Result<Self, ProcessError> {
        Self::parse(io.keyed)
    }

    fn parse(raw: &BTreeMap<String, Vec<u8>>) -> Result<Self, ProcessError> {
        let mut states = BTreeMap::new();
        for (k, v) in raw {
            let s: S = serde_json::from_slice(v).map_err(|e| {
                ProcessError::Fatal(format!("stored state of '{k}' does not parse: {e}"))
            })?;
            states.insert(k.clone(), s);
        }
        Ok(Self { states })
    }

    /// A view with the given states (tests).
    pub fn of(states: BTreeMap<String, S>) -> Self {
        Self { states }
    }

    pub fn get(&self, key: &str) -> Option<&S> {
        self.states.get(key)
    }

    /// Applies one input to `key`'s state through `f`; a new state becomes a [`StateChange`] on the
    /// partition of the input (the one that owns the key).
    pub fn step(
        &mut self,
        ctx: &Context<'_>,
        key: &str,
        f: impl FnOnce(Option<&S>) -> Result<Step<S>, ProcessError>,
    ) -> Result<Effects, ProcessError> {
        let step = f(self.states.get(key))?;
        let mut effects = step.effects;
        if let Some(state) = step.state {
            let value = serde_json::to_vec(&state).map_err(|e| {
                ProcessError::Fatal(format!("state of '{key}' does not serialize: {e}"))
            })?;
            effects.state.push(StateChange {
                partition: ctx.record.partition,
                key: key.to_owned(),
                value,
            });
            self.states.insert(key.to_owned(), state);
        }
        Ok(effects)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::clock::FixedClock;
    use crate::events::{Catalog, Codec};
    use crate::processors::RecordMeta;

    #[test]
    fn a_new_state_is_a_change_on_the_inputs_partition_and_seen_by_the_next_record() {
        let codec = Codec::single_object(Catalog::bundled().unwrap());
        let clock = FixedClock(1_000);
        let meta = RecordMeta::at("t", 4, 7);
        let ctx = Context {
            record: &meta,
            clock: &clock,
            codec: &codec,
        };
        let mut keyed: Keyed<u32> = Keyed::of(BTreeMap::from([("k".to_owned(), 1)]));
        let effects = keyed
            .step(&ctx, "k", |s| {
                assert_eq!(s, Some(&1));
                Ok(Step {
                    effects: Effects::default(),
                    state: Some(2),
                })
            })
            .unwrap();
        assert_eq!(
            effects.state,
            vec![StateChange {
                partition: 4,
                key: "k".into(),
                value: b"2".to_vec(),
            }]
        );
        assert_eq!(keyed.get("k"), Some(&2));

        // An input that leaves the state alone changes nothing.
        let none = keyed
            .step(&ctx, "k", |s| {
                assert_eq!(s, Some(&2));
                Ok(Step {
                    effects: Effects::default(),
                    state: None,
                })
            })
            .unwrap();
        assert!(none.state.is_empty());
    }

    #[test]
    fn a_state_that_does_not_parse_is_fatal() {
        let keyed = BTreeMap::from([("k".to_owned(), b"not json".to_vec())]);
        assert!(matches!(
            Keyed::<u32>::parse(&keyed),
            Err(ProcessError::Fatal(m)) if m.contains("'k'")
        ));
    }
}
