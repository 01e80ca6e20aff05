//! Processors: pure, deterministic functions of an input event, its key's state and a [`Context`],
//! returning [`Effects`] (records to produce, state changes, idempotent store writes, measures) or a
//! classified [`ProcessError`].
//!
//! A processor does no I/O in `process`. Per batch, the runtime (`runtime::eos`) decodes the input
//! (its type's [`Decode`]), reads the keyed state of the batch's keys from its local copy of the
//! changelog, asks the processor's `load` edge for the batch's view (that state, time sets), calls
//! `process` for each record in order, performs the store writes, produces the records and the state
//! changes (to the changelog) and commits the input offsets, all in one Kafka transaction, and then
//! records the measures. A processor builds itself ([`Build`]) from its own configuration section and its
//! [`Binding`] in `processors.toml`, checked at start against what it declares.

pub mod balances;
pub mod beneficiaries;
#[cfg(test)]
mod binding_tests;
pub mod connector;
mod decode;
pub mod fraud;
pub mod ledger;
pub mod payments;
pub mod payouts;
pub mod routing;
pub mod state;
#[cfg(test)]
mod state_formats;
/// Test and benchmark processors, apart from the production ones.
pub mod testing;
pub mod timers;
pub mod verification;
pub mod views;

use crate::domain::clock::Clock;
use crate::events::{Codec, CodecError, Event};
use crate::metrics::Measure;
use crate::store::state::SetReader;
use crate::store::writer::StoreWrite;
use crate::store::Store;
use crate::topology::{ProcessorSpec, Topology};
pub use decode::{Decode, MoneyEvent, Raw};
use futures::future::BoxFuture;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use timers::Timer;

/// Where an input record came from; identifies it uniquely and stably across replays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMeta {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub timestamp_ms: Option<i64>,
}

impl RecordMeta {
    /// A record at `topic`/`partition`@`offset`, without key or timestamp.
    pub fn at(topic: &str, partition: i32, offset: i64) -> Self {
        Self {
            topic: topic.to_owned(),
            partition,
            offset,
            key: None,
            timestamp_ms: None,
        }
    }

    /// The record a due timer stands for: the changelog partition that owns `key`, with the
    /// timer's kind and key in the topic and its due time as the offset, so that
    /// [`Context::derived_id`] is the same on every replay of the firing and differs between timers.
    pub fn of_timer(changelog: &str, partition: i32, key: &str, timer: &Timer) -> Self {
        Self {
            topic: format!("{changelog}#timer:{}:{key}", timer.kind),
            partition,
            offset: timer.due_at_ms,
            key: Some(key.as_bytes().to_vec()),
            timestamp_ms: Some(timer.due_at_ms),
        }
    }
}

/// What a processor sees besides its input and its batch view: time, ids and the codec.
pub struct Context<'a> {
    pub record: &'a RecordMeta,
    pub clock: &'a dyn Clock,
    pub codec: &'a Codec,
}

impl Context<'_> {
    /// An id derived from the input record's coordinates and `purpose`: the same on every replay, so
    /// store rows keyed by it are rewritten, never duplicated.
    pub fn derived_id(&self, purpose: &str) -> String {
        let mut h = Sha256::new();
        h.update(self.record.topic.as_bytes());
        h.update(self.record.partition.to_be_bytes());
        h.update(self.record.offset.to_be_bytes());
        h.update(purpose.as_bytes());
        let digest = h.finalize();
        format!("{purpose}_{}", hex::encode(&digest[..12]))
    }

    /// Encodes `event` for `topic`, keyed by the event's transaction id.
    pub fn record<E: Event>(&self, topic: &str, event: &E) -> Result<OutRecord, ProcessError> {
        let payload = self.codec.encode_sync(event).map_err(|e| match e {
            CodecError::RegistryUnavailable(m) => ProcessError::Retryable(m),
            other => ProcessError::Fatal(format!("cannot encode {}: {other}", E::FULL_NAME)),
        })?;
        Ok(OutRecord {
            topic: topic.to_owned(),
            key: event.key().to_owned(),
            payload,
        })
    }

    /// Encodes `event` for `topic`, keyed by `key` instead of its transaction id: a topic that
    /// repartitions records by another of their fields (a journal entry by merchant).
    pub fn record_keyed<E: Event>(
        &self,
        topic: &str,
        key: &str,
        event: &E,
    ) -> Result<OutRecord, ProcessError> {
        let mut r = self.record(topic, event)?;
        r.key = key.to_owned();
        Ok(r)
    }
}

/// One record to produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutRecord {
    pub topic: String,
    pub key: String,
    pub payload: Vec<u8>,
}

/// A new state for one key, produced to the changelog partition of the input that caused it (the
/// partition that owns the key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChange {
    pub partition: i32,
    pub key: String,
    /// The state as the processor serializes it.
    pub value: Vec<u8>,
    /// Every timer the key holds from now on, in due order.
    pub timers: Vec<Timer>,
}

/// One key's committed state and timers, as the runtime reads them for a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyState {
    /// The state as the processor serialized it.
    pub state: Vec<u8>,
    pub timers: Vec<Timer>,
}

/// Everything one input causes.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Effects {
    pub records: Vec<OutRecord>,
    /// Keyed state, committed with the records (stateful processors).
    pub state: Vec<StateChange>,
    pub writes: Vec<StoreWrite>,
    /// Recorded by the runtime once the transaction commits.
    pub measures: Vec<Measure>,
}

impl Effects {
    /// Appends `other`'s records, state changes, writes and measures.
    pub fn extend(&mut self, other: Effects) {
        self.records.extend(other.records);
        self.state.extend(other.state);
        self.writes.extend(other.writes);
        self.measures.extend(other.measures);
    }
}

/// A processor's failure, classified where it crosses into the runtime.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcessError {
    /// The input can never be processed (invalid content): dead-letter it with the reason and move on.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// A transient condition: retry with bounded backoff, then fail the transaction.
    #[error("retryable: {0}")]
    Retryable(String),
    /// A bug or a broken invariant: stop the processor with this message.
    #[error("fatal: {0}")]
    Fatal(String),
}

/// One decoded input of a batch.
#[derive(Debug, Clone)]
pub struct Decoded<I> {
    pub meta: RecordMeta,
    pub input: I,
}

/// A processor's topics, as `processors.toml` binds them: outputs by role, inputs with the record
/// each carries.
#[derive(Debug, Clone)]
pub struct Binding {
    pub processor: String,
    /// Role → topic.
    pub outputs: BTreeMap<String, String>,
    /// Input topic → the full name of the Avro record its values carry.
    pub inputs: BTreeMap<String, String>,
    /// The changelog of its keyed state.
    pub changelog: Option<String>,
}

impl Binding {
    /// Binds `spec`'s topics, resolving each input's value schema in `topology`.
    pub fn of(spec: &ProcessorSpec, topology: &Topology) -> Result<Self, String> {
        let mut inputs = BTreeMap::new();
        for t in &spec.inputs {
            let schema = topology
                .topic(t)
                .map(|s| s.value_schema.clone())
                .ok_or_else(|| format!("input topic '{t}' is not in topics.toml"))?;
            inputs.insert(t.clone(), schema);
        }
        Ok(Self {
            processor: spec.name.clone(),
            outputs: spec.outputs.clone(),
            inputs,
            changelog: spec.changelog.clone(),
        })
    }

    /// The topic bound to `role`.
    pub fn output(&self, role: &str) -> Result<String, String> {
        self.outputs
            .get(role)
            .cloned()
            .ok_or_else(|| self.unbound(role))
    }

    fn unbound(&self, role: &str) -> String {
        format!(
            "processor '{}' needs output '{role}' in processors.toml: add {role} = \"<topic>\" to its outputs",
            self.processor
        )
    }

    /// Checks that the roles are exactly those `P` writes and that it reads every input's record:
    /// the topology graph then tells the truth.
    pub fn check<P: Processor>(&self) -> Result<(), String> {
        let declared: BTreeSet<&str> = self.outputs.keys().map(String::as_str).collect();
        let written: BTreeSet<&str> = P::OUTPUTS.iter().copied().collect();
        if let Some(extra) = declared.difference(&written).next() {
            return Err(format!(
                "processor '{}' declares output '{extra}' in processors.toml but never writes it: remove it (it writes {:?})",
                self.processor,
                P::OUTPUTS
            ));
        }
        if let Some(missing) = written.difference(&declared).next() {
            return Err(self.unbound(missing));
        }
        match (P::STATEFUL, &self.changelog) {
            (true, None) => {
                return Err(format!(
                    "processor '{}' keeps keyed state: name its changelog in processors.toml (changelog = \"<topic>\")",
                    self.processor
                ))
            }
            (false, Some(c)) => {
                return Err(format!(
                    "processor '{}' keeps no keyed state but names changelog '{c}': remove it",
                    self.processor
                ))
            }
            _ => {}
        }
        if P::INPUT_SCHEMAS.is_empty() {
            return Ok(());
        }
        for (topic, schema) in &self.inputs {
            if !P::INPUT_SCHEMAS.contains(&schema.as_str()) {
                return Err(format!(
                    "processor '{}' reads topic '{topic}', which carries {schema}; it reads only {:?}: remove the input",
                    self.processor,
                    P::INPUT_SCHEMAS
                ));
            }
        }
        Ok(())
    }
}

/// A processor built from its own configuration and its binding. `Config` is the processor's section
/// (or `()`): the processor knows nothing of the rest of the configuration.
pub trait Build: Processor + Sized {
    type Config;
    fn build(config: &Self::Config, binding: &Binding) -> Result<Self, String>;

    /// Prepares, once before it runs, the store reads its `load` edge makes beyond its keyed state
    /// (the payout processor's beneficiary rows); the runtime knows none of them.
    fn prepare(self, _store: &Store) -> BoxFuture<'_, Result<Self, String>> {
        Box::pin(async move { Ok(self) })
    }
}

/// What a processor's `load` edge may read.
pub struct Io<'a> {
    /// The committed state and timers of the batch's keys and of the keys whose timers are due
    /// (stateful processors).
    pub keyed: &'a BTreeMap<String, KeyState>,
    /// Append-only time sets in the store.
    pub sets: &'a SetReader,
    /// Reads in flight at once.
    pub in_flight_max: usize,
    pub clock: &'a dyn Clock,
}

/// The `load` of a processor that needs no view.
pub fn no_view<'a>() -> BoxFuture<'a, Result<(), ProcessError>> {
    Box::pin(async { Ok(()) })
}

/// A stream processor. `process` is pure: no I/O, no global state, no wall clock but the context's.
/// I/O happens in `load`, once per batch, before any `process` call.
pub trait Processor: Send + Sync + 'static {
    type Input: Decode;
    /// The batch's view: what `load` read, plus the batch's own updates so that a record sees the
    /// effects of the records before it in the same batch.
    type View: Send;

    /// The output roles it writes, bound by name from `processors.toml`.
    const OUTPUTS: &'static [&'static str];
    /// The Avro records it reads (full names); empty: any bytes.
    const INPUT_SCHEMAS: &'static [&'static str];
    /// Whether it keeps keyed state; `processors.toml` then names its changelog.
    const STATEFUL: bool = false;

    /// The key of the state `input` reads and writes (stateful processors only).
    fn state_key(_input: &Self::Input) -> Option<&str> {
        None
    }

    /// The name in `topology/processors.toml`.
    fn name(&self) -> &str;

    /// Reads what the batch needs. A `Retryable` error is retried with bounded backoff and then aborts
    /// the transaction; `Invalid` and `Fatal` stop the processor (a read cannot be poison).
    fn load<'a>(
        &'a self,
        io: &'a Io<'a>,
        batch: &'a [Decoded<Self::Input>],
    ) -> BoxFuture<'a, Result<Self::View, ProcessError>>;

    fn process(
        &self,
        input: &Self::Input,
        view: &mut Self::View,
        ctx: &Context<'_>,
    ) -> Result<Effects, ProcessError>;

    /// Handles `key`'s due `timer` (stateful processors that set timers). Its effects must clear the
    /// timer (`Keyed::fire` does) and commit in the same transaction, so it fires once. The
    /// context's record is the timer's: see [`RecordMeta::of_timer`].
    fn on_timer(
        &self,
        key: &str,
        timer: &Timer,
        _view: &mut Self::View,
        _ctx: &Context<'_>,
    ) -> Result<Effects, ProcessError> {
        Err(ProcessError::Fatal(format!(
            "processor '{}' has a due timer '{}' on key '{key}' but handles no timers",
            self.name(),
            timer.kind
        )))
    }
}
