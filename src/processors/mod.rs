//! Processors: pure, deterministic functions of an input event and a [`Context`], returning
//! [`Effects`] (records to produce, idempotent store writes) or a classified [`ProcessError`].
//!
//! A processor does no I/O in `process`. Per batch, the runtime (`runtime::eos`) decodes the input,
//! asks the processor's `load` edge for the batch's view (stored state, time sets, provider answers),
//! calls `process` for each record in order, performs the store writes, produces the records and
//! commits the input offsets, all in one Kafka transaction.

pub mod connector;
pub mod copy;
pub mod fraud;
pub mod ledger;
pub mod payments;
pub mod probe;
pub mod routing;
pub mod state;

use crate::domain::clock::Clock;
use crate::events::{Codec, CodecError, Event};
use crate::metrics::Measure;
use crate::store::state::StateReader;
use crate::store::writer::StoreWrite;
use futures::future::BoxFuture;
use sha2::{Digest, Sha256};

/// Where an input record came from; identifies it uniquely and stably across replays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMeta {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub timestamp_ms: Option<i64>,
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
}

/// One record to produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutRecord {
    pub topic: String,
    pub key: String,
    pub payload: Vec<u8>,
}

/// Everything one input causes.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Effects {
    pub records: Vec<OutRecord>,
    pub writes: Vec<StoreWrite>,
    /// Recorded by the runtime once the transaction commits.
    pub measures: Vec<Measure>,
}

impl Effects {
    /// Appends `other`'s records, writes and measures.
    pub fn extend(&mut self, other: Effects) {
        self.records.extend(other.records);
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

/// Refuses ids the store cannot key or the topics should not carry (empty, too long, odd characters):
/// poison, dead-lettered with the field and the reason instead of stalling the processor on a write
/// Cassandra refuses.
pub fn check_ids(ids: &[(&str, &str)]) -> Result<(), CodecError> {
    for (field, value) in ids {
        crate::domain::ids::validate(value)
            .map_err(|e| CodecError::Invalid(format!("{field}: {e}")))?;
    }
    Ok(())
}

/// Refuses an input that carries a card number anywhere (an upstream producer's mistake): it must
/// not reach state, events or tables. The reason names the field, never the number.
pub fn check_no_card_number<E: Event>(event: &E) -> Result<(), CodecError> {
    match crate::domain::pan::find_in(event) {
        Some(field) => Err(CodecError::Invalid(format!(
            "a card number in {field}: paystream carries card tokens only, never a PAN"
        ))),
        None => Ok(()),
    }
}

/// What a processor's `load` edge may read.
pub struct Io<'a> {
    pub state: &'a StateReader,
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
    type Input: Send + Sync;
    /// The batch's view: what `load` read, plus the batch's own updates so that a record sees the
    /// effects of the records before it in the same batch.
    type View: Send;

    /// The name in `topology/processors.toml`.
    fn name(&self) -> &str;

    /// Decodes one input record. A codec error here is poison (dead-lettered), except a registry
    /// that cannot be reached, which is retried.
    fn decode(
        &self,
        codec: &Codec,
        record: &RecordMeta,
        payload: &[u8],
    ) -> Result<Self::Input, CodecError>;

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
}
