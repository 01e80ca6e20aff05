//! One transaction: decode the batch (poison to dead letters), load the view, process each record,
//! write the store, produce, send the offsets and commit; then count what committed.

use super::failure::{classify, is_abort_required, Failure};
use super::{blocking, dead_letter, EosConsumer, Loop};
use crate::domain::clock::{now_millis, SystemClock};
use crate::metrics::{self as m, Measure};
use crate::processors::{
    Context, Decode, Decoded, Effects, Io, OutRecord, ProcessError, Processor, RecordMeta,
};
use crate::store::StoreError;
use rdkafka::consumer::Consumer;
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{debug, info, warn};

impl<P: Processor> Loop<P> {
    pub(super) async fn transaction(
        &mut self,
        producer: &FutureProducer,
        consumer: &Arc<EosConsumer>,
        batch: &[OwnedMessage],
    ) -> Result<(), Failure> {
        let started = Instant::now();
        producer
            .begin_transaction()
            .map_err(|e| classify("begin_transaction", &e))?;
        let staged = self.stage(batch).await?;
        self.write_store(&staged.effects.writes).await?;
        let produced = self.produce(producer, &staged.effects.records).await?;
        let processed = started.elapsed();
        let commit_started = Instant::now();
        self.commit(producer, consumer, &staged.next_offsets, batch.len())
            .await?;
        let commit = commit_started.elapsed();
        self.count_committed(batch.len(), staged, produced, processed, commit);
        Ok(())
    }

    /// Decodes the batch (poison becomes dead letters), loads the view once and processes each
    /// record over it, in order.
    async fn stage(&mut self, batch: &[OwnedMessage]) -> Result<Staged, Failure> {
        let mut staged = Staged::default();
        let mut decoded = Vec::with_capacity(batch.len());
        let mut sources = Vec::with_capacity(batch.len());
        for msg in batch {
            staged
                .next_offsets
                .insert((msg.topic().to_owned(), msg.partition()), msg.offset() + 1);
            *staged.received.entry(msg.topic().to_owned()).or_default() += 1;
            match self.decode(msg).await? {
                Ok(d) => {
                    decoded.push(d);
                    sources.push(msg);
                }
                Err(letter) => {
                    staged.dead += 1;
                    staged.effects.extend(letter);
                }
            }
        }
        let mut view = self.load(&decoded).await?;
        for (d, msg) in decoded.iter().zip(sources) {
            match self.process(msg, d, &mut view).await? {
                Handled::Effects(effects) => {
                    if let Some(r) = effects
                        .records
                        .iter()
                        .find(|r| !self.writable.contains(&r.topic))
                    {
                        return Err(Failure::Fatal(format!("processor '{}' tried to write '{}', which processors.toml does not declare as its output", self.name, r.topic)));
                    }
                    staged.effects.extend(effects);
                }
                Handled::DeadLetter(letter) => {
                    staged.dead += 1;
                    staged.effects.extend(letter);
                }
            }
        }
        Ok(staged)
    }

    /// Produces every output inside the transaction; counts them per topic.
    async fn produce(
        &self,
        producer: &FutureProducer,
        outputs: &[OutRecord],
    ) -> Result<BTreeMap<String, u64>, Failure> {
        let mut deliveries = Vec::with_capacity(outputs.len());
        for r in outputs {
            let record = FutureRecord::to(&r.topic).key(&r.key).payload(&r.payload);
            match producer.send_result(record) {
                Ok(d) => deliveries.push(d),
                Err((e, _)) => {
                    return Err(Failure::Abortable(format!("enqueue to {}: {e}", r.topic)))
                }
            }
        }
        let mut produced: BTreeMap<String, u64> = BTreeMap::new();
        for (d, r) in deliveries.into_iter().zip(outputs) {
            match d.await {
                Ok(Ok(_)) => *produced.entry(r.topic.clone()).or_default() += 1,
                Ok(Err((e, _))) => {
                    return Err(Failure::Abortable(format!("produce to {}: {e}", r.topic)))
                }
                Err(_) => return Err(Failure::ResetProducer("delivery report lost".into())),
            }
        }
        Ok(produced)
    }

    /// Sends the next offsets with the group's metadata and commits (with the crash tests' faults).
    async fn commit(
        &mut self,
        producer: &FutureProducer,
        consumer: &Arc<EosConsumer>,
        next_offsets: &BTreeMap<(String, i32), i64>,
        records: usize,
    ) -> Result<(), Failure> {
        let mut offsets = TopicPartitionList::new();
        for ((topic, partition), next) in next_offsets {
            offsets
                .add_partition_offset(topic, *partition, Offset::Offset(*next))
                .map_err(|e| Failure::Fatal(format!("offsets: {e}")))?;
        }
        let metadata = consumer
            .group_metadata()
            .ok_or_else(|| Failure::Abortable("consumer has no group metadata yet".into()))?;
        let p = producer.clone();
        let t = self.call_timeout;
        blocking(move || p.send_offsets_to_transaction(&offsets, &metadata, t))
            .await
            .map_err(|e| classify("send_offsets_to_transaction", &e))?;
        if self.permille_hit(self.deps.runtime.faults.abort_permille) {
            return Err(Failure::Abortable(
                "injected fault: abort before commit".into(),
            ));
        }
        let stall_ms = self.deps.runtime.faults.stall_before_commit_ms;
        if stall_ms > 0 {
            info!(processor = %self.name, records, stall_ms, at_ms = now_millis(), "injected stall: transaction open before commit");
            tokio::time::sleep(Duration::from_millis(u64::from(stall_ms))).await;
        }
        let p = producer.clone();
        blocking(move || p.commit_transaction(t))
            .await
            .map_err(|e| match classify("commit_transaction", &e) {
                // A commit error that does not demand an abort leaves the outcome unknown.
                Failure::Abortable(m) if !is_abort_required(&e) => Failure::ResetProducer(m),
                other => other,
            })?;
        if stall_ms > 0 {
            info!(processor = %self.name, at_ms = now_millis(), "injected stall: transaction committed");
        }
        Ok(())
    }

    /// Counts what committed: the totals, the runtime's metrics and the processors' measures. Never
    /// before the commit, so an aborted or replayed batch counts nothing twice.
    fn count_committed(
        &mut self,
        records: usize,
        staged: Staged,
        produced: BTreeMap<String, u64>,
        processed: Duration,
        commit: Duration,
    ) {
        let records_in = u64::try_from(records).unwrap_or(u64::MAX);
        self.stats.transactions_committed += 1;
        self.stats.records_in += records_in;
        self.stats.records_out += u64::try_from(staged.effects.records.len())
            .unwrap_or(u64::MAX)
            .saturating_sub(staged.dead);
        self.stats.dead_lettered += staged.dead;
        // Counted per topic and batch, not per record: a labelled counter is a registry lookup.
        for (topic, n) in staged.received {
            metrics::counter!(m::PROCESSOR_RECEIVED, "processor" => self.name.clone(), "topic" => topic).increment(n);
        }
        for (topic, n) in produced {
            metrics::counter!(m::PROCESSOR_PRODUCED, "processor" => self.name.clone(), "topic" => topic).increment(n);
        }
        for measure in &staged.effects.measures {
            measure.record();
        }
        metrics::counter!(m::PROCESSOR_TRANSACTIONS, "processor" => self.name.clone(), "outcome" => "committed").increment(1);
        metrics::histogram!(m::PROCESSOR_BATCH_RECORDS, "processor" => self.name.clone())
            .record(u32::try_from(records).unwrap_or(u32::MAX));
        metrics::histogram!(m::PROCESSOR_PROCESSING_SECONDS, "processor" => self.name.clone())
            .record(processed);
        metrics::histogram!(m::PROCESSOR_COMMIT_SECONDS, "processor" => self.name.clone())
            .record(commit);
    }

    /// Decodes one record, or returns its dead letter.
    async fn decode(
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

    /// The batch's view, read by the processor's `load` edge with bounded retries.
    async fn load(&mut self, decoded: &[Decoded<P::Input>]) -> Result<P::View, Failure> {
        let io = Io {
            state: &self.state,
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
    async fn process(
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
    fn dead_letter(
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
    async fn write_store(
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

/// What one batch turned into before it is written, produced and committed.
#[derive(Default)]
struct Staged {
    next_offsets: BTreeMap<(String, i32), i64>,
    /// Every output and dead letter, store write and measure of the batch.
    effects: Effects,
    dead: u64,
    received: BTreeMap<String, u64>,
}

enum Handled {
    Effects(Effects),
    DeadLetter(Effects),
}
