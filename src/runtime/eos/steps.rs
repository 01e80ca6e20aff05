//! The steps of a transaction that call out (the codec's registry, the processor's `load`, the
//! processor, the store), each with its bounded retries and its error classified: poison becomes a
//! dead letter, retryable is retried then aborts the transaction, anything else is fatal.

use super::failure::Failure;
use super::transaction::Handled;
use super::{dead_letter, Loop};
use crate::domain::clock::{now_millis, SystemClock};
use crate::metrics::{self as m, Measure};
use crate::processors::{
    Context, Decode, Decoded, Effects, Io, KeyState, OutRecord, ProcessError, Processor, RecordMeta,
};
use crate::store::StoreError;
use rdkafka::message::{Message, OwnedMessage};
use std::collections::BTreeMap;
use tracing::{debug, warn};

impl<P: Processor> Loop<P> {
    /// Decodes one record, or returns its dead letter.
    pub(super) async fn decode(
        &mut self,
        msg: &OwnedMessage,
    ) -> Result<Result<Decoded<P::Input>, Effects>, Failure> {
        let meta = RecordMeta {
            topic: msg.topic().to_owned(),
            partition: msg.partition(),
            offset: msg.offset(),
            key: msg.key().map(<[u8]>::to_vec),
            timestamp_ms: msg.timestamp().to_millis(),
        };
        let letter =
            |this: &mut Self, kind, error: &str| this.dead_letter(msg, kind, error).map(Err);
        let Some(payload) = msg.payload() else {
            return letter(
                self,
                crate::events::dead_letter::DeadLetterKind::Undecodable,
                "record has no value (tombstone)",
            );
        };
        let schema = self
            .input_schemas
            .get(msg.topic())
            .cloned()
            .unwrap_or_default();
        let mut backoff = self.backoff();
        loop {
            match P::Input::decode(&self.deps.codec, &schema, &meta, payload) {
                Ok(input) => return Ok(Ok(Decoded { meta, input })),
                Err(e) => match dead_letter::kind_of_codec_error(&e) {
                    Some(kind) => return letter(self, kind, &e.to_string()),
                    None => {
                        // The writer schema is in a registry we could not reach or have not asked yet.
                        if let Err(fetch) = self.deps.codec.fetch_writer_for(payload).await {
                            if let Some(kind) = dead_letter::kind_of_codec_error(&fetch) {
                                return letter(self, kind, &fetch.to_string());
                            }
                            match backoff.next() {
                                Some(wait) => {
                                    metrics::counter!(m::PROCESSOR_RETRIES, "processor" => self.name.clone(), "op" => "registry").increment(1);
                                    tokio::time::sleep(wait).await;
                                }
                                None => {
                                    return Err(Failure::Abortable(format!(
                                        "schema registry: {fetch}"
                                    )))
                                }
                            }
                        }
                    }
                },
            }
        }
    }

    /// The committed keyed state of the batch's keys and of the keys with due timers, from the
    /// local copy of the changelog.
    pub(super) fn read_state(
        &self,
        decoded: &[Decoded<P::Input>],
        due: &[(i32, String)],
    ) -> Result<BTreeMap<String, KeyState>, Failure> {
        let Some(keyed) = &self.keyed else {
            return Ok(BTreeMap::new());
        };
        let keys: Vec<(i32, &str)> = decoded
            .iter()
            .filter_map(|d| P::state_key(&d.input).map(|k| (d.meta.partition, k)))
            .chain(due.iter().map(|(p, k)| (*p, k.as_str())))
            .collect();
        keyed.read(&keys).map_err(Failure::Fatal)
    }

    /// The batch's view, read by the processor's `load` edge with bounded retries.
    pub(super) async fn load(
        &mut self,
        decoded: &[Decoded<P::Input>],
        keyed: &BTreeMap<String, KeyState>,
    ) -> Result<P::View, Failure> {
        let io = Io {
            keyed,
            sets: &self.sets,
            in_flight_max: self.deps.runtime.store_writes_in_flight_max,
            clock: &SystemClock,
        };
        let mut backoff = self.backoff();
        loop {
            match self.processor.load(&io, decoded).await {
                Ok(view) => return Ok(view),
                Err(ProcessError::Retryable(reason)) => match backoff.next() {
                    Some(wait) => {
                        debug!(processor = %self.name, %reason, "load failed; retrying");
                        metrics::counter!(m::PROCESSOR_RETRIES, "processor" => self.name.clone(), "op" => "load").increment(1);
                        tokio::time::sleep(wait).await;
                    }
                    None => {
                        metrics::counter!(m::PROCESSOR_ERRORS, "processor" => self.name.clone(), "class" => "retryable").increment(1);
                        return Err(Failure::Abortable(format!(
                            "load failed after retries: {reason}"
                        )));
                    }
                },
                Err(e) => {
                    metrics::counter!(m::PROCESSOR_ERRORS, "processor" => self.name.clone(), "class" => "fatal").increment(1);
                    return Err(Failure::Fatal(format!("load: {e}")));
                }
            }
        }
    }

    /// Processes one decoded record: its effects, or a dead letter for poison.
    pub(super) async fn process(
        &mut self,
        msg: &OwnedMessage,
        d: &Decoded<P::Input>,
        view: &mut P::View,
    ) -> Result<Handled, Failure> {
        let codec = self.deps.codec.clone();
        let ctx = Context {
            record: &d.meta,
            clock: &SystemClock,
            codec: &codec,
        };
        let mut backoff = self.backoff();
        loop {
            match self.processor.process(&d.input, view, &ctx) {
                Ok(effects) => return Ok(Handled::Effects(effects)),
                Err(e) => {
                    if let Some(kind) = dead_letter::kind_of_process_error(&e) {
                        return self
                            .dead_letter(msg, kind, &e.to_string())
                            .map(Handled::DeadLetter);
                    }
                    match (&e, backoff.next()) {
                        (ProcessError::Retryable(_), Some(wait)) => {
                            metrics::counter!(m::PROCESSOR_RETRIES, "processor" => self.name.clone(), "op" => "process").increment(1);
                            tokio::time::sleep(wait).await;
                        }
                        (ProcessError::Retryable(m), None) => {
                            return Err(Failure::Abortable(m.clone()))
                        }
                        (_, _) => {
                            metrics::counter!(m::PROCESSOR_ERRORS, "processor" => self.name.clone(), "class" => "fatal").increment(1);
                            return Err(Failure::Fatal(e.to_string()));
                        }
                    }
                }
            }
        }
    }

    /// The dead letter of `msg`, and its measures (counted only if the transaction commits).
    pub(super) fn dead_letter(
        &mut self,
        msg: &OwnedMessage,
        kind: crate::events::dead_letter::DeadLetterKind,
        error: &str,
    ) -> Result<Effects, Failure> {
        let topic = self
            .dead_letter_topics
            .get(msg.topic())
            .cloned()
            .ok_or_else(|| Failure::Fatal(format!("no dead-letter topic for {}", msg.topic())))?;
        warn!(processor = %self.name, topic = msg.topic(), partition = msg.partition(), offset = msg.offset(), ?kind, error, "dead-lettering record");
        let letter = dead_letter::build(
            self.deps.codec.catalog(),
            &self.name,
            msg,
            kind,
            error,
            now_millis(),
        );
        let payload = self
            .deps
            .codec
            .encode_sync(&letter)
            .map_err(|e| Failure::Fatal(format!("cannot encode dead letter: {e}")))?;
        let key = letter
            .key
            .as_deref()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .unwrap_or_else(|| msg.topic().to_owned());
        let processor = ("processor", self.name.clone());
        Ok(Effects {
            records: vec![OutRecord {
                topic,
                key,
                payload,
            }],
            state: vec![],
            writes: vec![],
            measures: vec![
                Measure::count(
                    m::PROCESSOR_DEAD_LETTERED,
                    &[
                        processor.clone(),
                        ("topic", msg.topic().to_owned()),
                        ("kind", format!("{kind:?}")),
                    ],
                ),
                Measure::count(
                    m::PROCESSOR_ERRORS,
                    &[processor, ("class", "poison".into())],
                ),
            ],
        })
    }

    /// Store writes before the commit: a crash after them replays the same idempotent writes.
    pub(super) async fn write_store(
        &mut self,
        writes: &[crate::store::writer::StoreWrite],
    ) -> Result<(), Failure> {
        if writes.is_empty() {
            return Ok(());
        }
        let mut backoff = self.backoff();
        loop {
            let result = if self.permille_hit(self.deps.runtime.faults.store_error_permille) {
                Err(StoreError::Query {
                    op: "write",
                    reason: "injected fault".into(),
                })
            } else {
                self.deps
                    .writer
                    .execute_all(writes, self.deps.runtime.store_writes_in_flight_max)
                    .await
            };
            match result {
                Ok(()) => return Ok(()),
                Err(StoreError::Invariant(m)) => return Err(Failure::Fatal(m)),
                Err(e) => match backoff.next() {
                    Some(wait) => {
                        debug!(processor = %self.name, error = %e, "store write failed; retrying");
                        metrics::counter!(m::PROCESSOR_RETRIES, "processor" => self.name.clone(), "op" => "store").increment(1);
                        tokio::time::sleep(wait).await;
                    }
                    None => {
                        metrics::counter!(m::PROCESSOR_ERRORS, "processor" => self.name.clone(), "class" => "retryable").increment(1);
                        return Err(Failure::Abortable(format!(
                            "store writes failed after retries: {e}"
                        )));
                    }
                },
            }
        }
    }
}
