//! Keyed processor state, as a processor sees it.
//!
//! A stateful processor (the payment state machine) owns the state of the keys of the partitions it
//! is assigned. The runtime keeps that state in the processor's compacted changelog topic and a local
//! copy of it (`runtime::state`): per batch it hands the processor the committed state of the batch's
//! keys, and every state a processor leaves is a [`StateChange`] produced to the changelog in the same
//! transaction as the outputs and the input offsets. State, outputs and offsets therefore commit or
//! abort together: a replay after an abort or a crash starts from the state before the batch and
//! recomputes the same outputs, so no journal is needed.

use super::timers::{self, Timer, TimerOp};
use super::{Context, Effects, Io, KeyState, ProcessError, StateChange};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeMap;

/// The result of one input or timer: its effects, the key's new state (`None`: unchanged) and the
/// changes to its timers.
pub struct Step<S> {
    pub effects: Effects,
    pub state: Option<S>,
    pub timers: Vec<TimerOp>,
}

impl<S> Step<S> {
    /// Effects and a new state (or none), timers untouched.
    pub fn new(effects: Effects, state: Option<S>) -> Self {
        Self {
            effects,
            state,
            timers: vec![],
        }
    }

    /// The same step, also changing the key's timers.
    pub fn with_timers(mut self, ops: Vec<TimerOp>) -> Self {
        self.timers.extend(ops);
        self
    }
}

/// One key's state and timers.
#[derive(Debug, Clone)]
struct Entry<S> {
    state: S,
    timers: Vec<Timer>,
}

/// The states of a batch's keys, updated as the batch goes, so that a record sees the effects of the
/// records before it.
pub struct Keyed<S> {
    states: BTreeMap<String, Entry<S>>,
}

impl<S: Serialize + DeserializeOwned + Clone> Keyed<S> {
    /// The committed states the runtime read for the batch.
    pub fn load(io: &Io<'_>) -> Result<Self, ProcessError> {
        Self::parse(io.keyed)
    }

    fn parse(raw: &BTreeMap<String, KeyState>) -> Result<Self, ProcessError> {
        let mut states = BTreeMap::new();
        for (k, v) in raw {
            let state: S = serde_json::from_slice(&v.state).map_err(|e| {
                ProcessError::Fatal(format!("stored state of '{k}' does not parse: {e}"))
            })?;
            // Read back: the bounds a step enforced must still hold.
            timers::check_all(&v.timers, k)?;
            states.insert(
                k.clone(),
                Entry {
                    state,
                    timers: v.timers.clone(),
                },
            );
        }
        Ok(Self { states })
    }

    /// A view with the given states and no timers (tests).
    pub fn of(states: BTreeMap<String, S>) -> Self {
        Self {
            states: states
                .into_iter()
                .map(|(k, state)| {
                    let timers = vec![];
                    (k, Entry { state, timers })
                })
                .collect(),
        }
    }

    pub fn get(&self, key: &str) -> Option<&S> {
        self.states.get(key).map(|e| &e.state)
    }

    /// The timers `key` holds, in due order.
    pub fn timers(&self, key: &str) -> &[Timer] {
        self.states.get(key).map_or(&[], |e| e.timers.as_slice())
    }

    /// Applies one input to `key`'s state through `f`; a new state or new timers become a
    /// [`StateChange`] on the partition of the input (the one that owns the key).
    pub fn step(
        &mut self,
        ctx: &Context<'_>,
        key: &str,
        f: impl FnOnce(Option<&S>) -> Result<Step<S>, ProcessError>,
    ) -> Result<Effects, ProcessError> {
        let step = f(self.get(key))?;
        self.commit(ctx, key, step, false)
    }

    /// Fires `key`'s due `timer` through `f`: the timer is cleared first, so the state change this
    /// always produces no longer holds it, and `f` may set it again. A timer an earlier step of the
    /// batch cancelled is not given to `f`.
    pub fn fire(
        &mut self,
        ctx: &Context<'_>,
        key: &str,
        timer: &Timer,
        f: impl FnOnce(&S) -> Result<Step<S>, ProcessError>,
    ) -> Result<Effects, ProcessError> {
        let entry = self.states.get_mut(key).ok_or_else(|| {
            ProcessError::Fatal(format!(
                "timer '{}' is due on '{key}', which has no state",
                timer.kind
            ))
        })?;
        let held = entry.timers.iter().position(|t| t == timer);
        let step = match held {
            Some(i) => {
                entry.timers.remove(i);
                f(&entry.state)?
            }
            None => Step::new(Effects::default(), None),
        };
        self.commit(ctx, key, step, true)
    }

    fn commit(
        &mut self,
        ctx: &Context<'_>,
        key: &str,
        step: Step<S>,
        always: bool,
    ) -> Result<Effects, ProcessError> {
        let old = self.states.get(key);
        let before: &[Timer] = old.map_or(&[], |e| e.timers.as_slice());
        let mut timers = before.to_vec();
        timers::apply(&mut timers, step.timers, key)?;
        let changed = always || timers.as_slice() != before;
        let state = match (step.state, old) {
            (Some(s), _) => s,
            (None, Some(e)) if changed => e.state.clone(),
            (None, None) if changed => {
                return Err(ProcessError::Fatal(format!(
                    "a step set timers on '{key}' but left it without state"
                )))
            }
            (None, _) => return Ok(step.effects),
        };
        let value = serde_json::to_vec(&state).map_err(|e| {
            ProcessError::Fatal(format!("state of '{key}' does not serialize: {e}"))
        })?;
        let mut effects = step.effects;
        effects.state.push(StateChange {
            partition: ctx.record.partition,
            key: key.to_owned(),
            value,
            timers: timers.clone(),
        });
        self.states.insert(key.to_owned(), Entry { state, timers });
        Ok(effects)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::clock::FixedClock;
    use crate::events::{Catalog, Codec};
    use crate::processors::timers::{Timer, TimerOp};
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
                Ok(Step::new(Effects::default(), Some(2)))
            })
            .unwrap();
        assert_eq!(
            effects.state,
            vec![StateChange {
                partition: 4,
                key: "k".into(),
                value: b"2".to_vec(),
                timers: vec![],
            }]
        );
        assert_eq!(keyed.get("k"), Some(&2));

        // An input that leaves the state alone changes nothing.
        let none = keyed
            .step(&ctx, "k", |s| {
                assert_eq!(s, Some(&2));
                Ok(Step::new(Effects::default(), None))
            })
            .unwrap();
        assert!(none.state.is_empty());
    }

    #[test]
    fn a_state_that_does_not_parse_is_fatal() {
        let keyed = BTreeMap::from([(
            "k".to_owned(),
            KeyState {
                state: b"not json".to_vec(),
                timers: vec![],
            },
        )]);
        assert!(matches!(
            Keyed::<u32>::parse(&keyed),
            Err(ProcessError::Fatal(m)) if m.contains("'k'")
        ));
    }

    #[test]
    fn timers_change_with_the_state_and_a_fired_timer_is_cleared_once() {
        let codec = Codec::single_object(Catalog::bundled().unwrap());
        let clock = FixedClock(1_000);
        let meta = RecordMeta::at("t", 1, 3);
        let ctx = Context {
            record: &meta,
            clock: &clock,
            codec: &codec,
        };
        let mut keyed: Keyed<u32> = Keyed::of(BTreeMap::from([("k".to_owned(), 1)]));
        let ring = Timer::new("ring", 5_000, b"p".to_vec());
        let nag = Timer::new("nag", 2_000, vec![]);
        // A step that only sets timers writes the unchanged state with them, in due order.
        let set = keyed
            .step(&ctx, "k", |_| {
                Ok(Step::new(Effects::default(), None)
                    .with_timers(vec![TimerOp::Set(ring.clone()), TimerOp::Set(nag.clone())]))
            })
            .unwrap();
        assert_eq!(set.state[0].value, b"1".to_vec());
        assert_eq!(set.state[0].timers, vec![nag.clone(), ring.clone()]);

        // Firing clears the timer before `f` runs; `f` sees the state and may set another.
        let fired = keyed
            .fire(&ctx, "k", &nag, |s| {
                assert_eq!(*s, 1);
                Ok(Step::new(Effects::default(), Some(2))
                    .with_timers(vec![TimerOp::Cancel("ring".into())]))
            })
            .unwrap();
        assert_eq!(fired.state[0].value, b"2".to_vec());
        assert!(fired.state[0].timers.is_empty());
        assert!(keyed.timers("k").is_empty());

        // A timer already cancelled in the batch is not given to `f`, but is cleared all the same.
        let gone = keyed
            .fire(&ctx, "k", &ring, |_| panic!("a cancelled timer fired"))
            .unwrap();
        assert_eq!(gone.state.len(), 1);
        assert!(gone.state[0].timers.is_empty());

        // Timers need a state to live with.
        let orphan = keyed.step(&ctx, "new", |_| {
            Ok(Step::new(Effects::default(), None).with_timers(vec![TimerOp::Set(ring.clone())]))
        });
        assert!(matches!(orphan, Err(ProcessError::Fatal(_))));
        // A step that changes neither state nor timers writes nothing.
        let idle = keyed
            .step(&ctx, "k", |_| {
                Ok(Step::new(Effects::default(), None)
                    .with_timers(vec![TimerOp::Cancel("absent".into())]))
            })
            .unwrap();
        assert!(idle.state.is_empty());
    }
}
