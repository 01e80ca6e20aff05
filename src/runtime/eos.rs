//! The exactly-once consume-transform-produce loop, generic over a [`Processor`].
//!
//! One instance = one read_committed consumer in the processor's group (cooperative-sticky) and one
//! transactional producer with the stable id `<consumer_group>-<instance_id>` (KIP-447: one
//! producer serves every partition the instance owns). Each transaction:
//!
//! 1. collects a batch from the consumer (at most `batch_records_max` records, at most
//!    `batch_linger_ms` after the first);
//! 2. decodes each record (poison becomes a dead letter), asks the processor's `load` edge for the
//!    batch's view once, and processes each record over it;
//! 3. performs the store writes (idempotent, keyed by event or transaction id; staged data, journal,
//!    state) with bounded retries;
//! 4. produces the outputs and dead letters, sends the next offsets with the consumer's group
//!    metadata, and commits.
//!
//! A transaction never spans a poll of the consumer, so a rebalance (which librdkafka delivers only
//! while polling) always finds no transaction open: revoked partitions' buffered records are dropped
//! and their new owner starts from the committed offsets. Failures:
//! - abortable (including a generation change caught by `send_offsets_to_transaction`): abort, then
//!   seek every assigned partition back to its committed offset;
//! - indeterminate (a commit that failed or timed out without saying "abort") and fatal: the producer is
//!   recreated, whose `init_transactions` settles the open transaction, then the consumer rewinds;
//! - fenced: another instance owns this transactional id, so this one is the zombie and stops
//!   (recreating the producer would fence the legitimate instance in turn);
//! - `batch_failures_max` consecutive failed transactions: stop with the last error, never loop forever.

use super::config::{KafkaConfig, RuntimeConfig};
use crate::domain::clock::{now_millis, SystemClock};
use crate::events::Codec;
use crate::metrics as m;
use crate::processors::{
    Context, Decoded, Effects, Io, OutRecord, ProcessError, Processor, RecordMeta,
};
use crate::runtime::dead_letter;
use crate::runtime::health::Health;
use crate::runtime::kafka;
use crate::store::state::StateReader;
use crate::store::writer::StoreWriter;
use crate::store::StoreError;
use crate::topology::Topology;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

const HEALTH_COMPONENT: &str = "processor";

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("processor '{processor}' stopped: {message}")]
    Fatal { processor: String, message: String },
}

/// Totals of one run, for tests and the benchmark.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RunStats {
    pub transactions_committed: u64,
    pub transactions_aborted: u64,
    pub records_in: u64,
    pub records_out: u64,
    pub dead_lettered: u64,
    pub producer_resets: u64,
}

/// Everything the loop needs besides the processor.
pub struct Deps {
    pub kafka: KafkaConfig,
    pub runtime: RuntimeConfig,
    pub topology: Arc<Topology>,
    pub codec: Arc<Codec>,
    pub writer: Arc<StoreWriter>,
    pub health: Arc<Health>,
    pub shutdown: CancellationToken,
}

/// Rebalance bookkeeping shared with librdkafka's callbacks.
struct EosContext {
    processor: String,
    generation: AtomicU64,
    health: Arc<Health>,
}

impl ClientContext for EosContext {
    fn stats(&self, statistics: Statistics) {
        for (topic, t) in &statistics.topics {
            for (partition, p) in &t.partitions {
                if *partition >= 0 && p.consumer_lag >= 0 {
                    let lag = u32::try_from(p.consumer_lag).unwrap_or(u32::MAX);
                    metrics::gauge!(m::PROCESSOR_CONSUMER_LAG, "processor" => self.processor.clone(), "topic" => topic.clone(), "partition" => partition.to_string()).set(lag);
                }
            }
        }
    }
}

impl ConsumerContext for EosContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        let kind = match rebalance {
            Rebalance::Revoke(tpl) if consumer.assignment_lost() => {
                // Not ready until the group hands out partitions again.
                self.health.set(HEALTH_COMPONENT, false);
                warn!(processor = %self.processor, partitions = tpl.count(), "assignment lost");
                "lost"
            }
            Rebalance::Revoke(tpl) => {
                info!(processor = %self.processor, partitions = tpl.count(), "partitions revoked");
                "revoke"
            }
            Rebalance::Assign(tpl) => {
                info!(processor = %self.processor, partitions = tpl.count(), "partitions assigned");
                "assign"
            }
            Rebalance::Error(e) => {
                warn!(processor = %self.processor, error = %e, "rebalance error");
                "error"
            }
        };
        metrics::counter!(m::PROCESSOR_REBALANCES, "processor" => self.processor.clone(), "kind" => kind).increment(1);
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if matches!(rebalance, Rebalance::Assign(_)) {
            self.health.set(HEALTH_COMPONENT, true);
        }
    }
}

type EosConsumer = StreamConsumer<EosContext>;

/// How a failed transaction is recovered.
#[derive(Debug)]
enum Failure {
    /// Abort, rewind to the committed offsets, try again.
    Abortable(String),
    /// The transaction's fate is unknown or the producer is unusable: recreate it, then rewind.
    ResetProducer(String),
    /// Another instance with our transactional id exists: we are the zombie.
    Fenced(String),
    /// A bug or broken invariant.
    Fatal(String),
}

fn classify(op: &str, e: &KafkaError) -> Failure {
    let msg = format!("{op}: {e}");
    match e {
        KafkaError::Transaction(re) => {
            if is_fence(re.code()) {
                Failure::Fenced(msg)
            } else if re.is_fatal() {
                Failure::ResetProducer(msg)
            } else if re.txn_requires_abort() {
                Failure::Abortable(msg)
            } else {
                // Retriable or unclassified: the outcome is not known. Re-initialising settles it.
                Failure::ResetProducer(msg)
            }
        }
        _ => Failure::Abortable(msg),
    }
}

struct Loop<P: Processor> {
    processor: Arc<P>,
    name: String,
    deps: Deps,
    transactional_id: String,
    writable: BTreeSet<String>,
    dead_letter_topics: BTreeMap<String, String>,
    call_timeout: Duration,
    stats: RunStats,
    rng: u64,
    state: StateReader,
}

/// Runs `processor` until shutdown (Ok) or a fatal error.
pub async fn run<P: Processor>(processor: Arc<P>, deps: Deps) -> Result<RunStats, RuntimeError> {
    let name = processor.name().to_owned();
    let fatal = |message: String| RuntimeError::Fatal {
        processor: name.clone(),
        message,
    };
    let spec = deps.topology.processor(&name).cloned().ok_or_else(|| {
        fatal(format!(
            "not declared in {}/processors.toml",
            deps.topology.dir.display()
        ))
    })?;
    let mut dead_letter_topics = BTreeMap::new();
    for input in &spec.inputs {
        let dlq = deps.topology.topic(input).and_then(|t| t.dead_letter.clone()).ok_or_else(|| {
            fatal(format!("input topic '{input}' has no dead_letter topic: poison records would have nowhere to go"))
        })?;
        dead_letter_topics.insert(input.clone(), dlq);
    }
    // The group is unique per processor and deployment (topology check enforces it), so two deployments
    // sharing a cluster never fence each other.
    let transactional_id = format!("{}-{}", spec.consumer_group, deps.runtime.instance_id);
    let state = StateReader::prepare(deps.writer.store())
        .await
        .map_err(|e| fatal(format!("prepare state reads: {e}")))?;
    let mut l = Loop {
        state,
        processor,
        writable: deps.topology.writable_topics(&name),
        call_timeout: Duration::from_millis(deps.runtime.kafka_call_timeout_ms),
        name: name.clone(),
        transactional_id,
        dead_letter_topics,
        deps,
        stats: RunStats::default(),
        rng: u64::try_from(now_millis()).unwrap_or(1) | 1,
    };
    l.deps.health.register(HEALTH_COMPONENT);
    let result = l.run(&spec.consumer_group, &spec.inputs).await;
    l.deps.health.set(HEALTH_COMPONENT, false);
    result.map(|()| l.stats.clone()).map_err(fatal)
}

impl<P: Processor> Loop<P> {
    async fn run(&mut self, group: &str, inputs: &[String]) -> Result<(), String> {
        let ctx = EosContext {
            processor: self.name.clone(),
            generation: AtomicU64::new(0),
            health: self.deps.health.clone(),
        };
        let cc = kafka::processor_consumer(
            &self.deps.kafka,
            group,
            &self.transactional_id,
            self.deps.runtime.group_membership,
        );
        let consumer: Arc<EosConsumer> = Arc::new(
            cc.create_with_context(ctx)
                .map_err(|e| format!("consumer: {e}"))?,
        );
        let topics: Vec<&str> = inputs.iter().map(String::as_str).collect();
        consumer
            .subscribe(&topics)
            .map_err(|e| format!("subscribe to {topics:?}: {e}"))?;
        let mut producer = self.new_producer().await?;
        info!(processor = %self.name, transactional_id = %self.transactional_id, ?topics, "processing");

        let mut failures_in_a_row = 0u32;
        while !self.deps.shutdown.is_cancelled() {
            let batch = self.collect_batch(&consumer).await?;
            if batch.is_empty() {
                continue;
            }
            match self.transaction(&producer, &consumer, &batch).await {
                Ok(()) => failures_in_a_row = 0,
                Err(failure) => {
                    failures_in_a_row += 1;
                    self.stats.transactions_aborted += 1;
                    metrics::counter!(m::PROCESSOR_TRANSACTIONS, "processor" => self.name.clone(), "outcome" => "aborted").increment(1);
                    // An error that looks abortable (a purged produce, say) may hide a fence: recreating
                    // the producer then would fence the legitimate instance in turn.
                    let failure = match (failure, fenced_by(&producer)) {
                        (Failure::Fatal(r), _) => Failure::Fatal(r),
                        (_, Some(why)) => Failure::Fenced(why),
                        (f, None) => f,
                    };
                    let reason = match failure {
                        Failure::Abortable(reason) => {
                            warn!(processor = %self.name, %reason, "aborting transaction");
                            let p = producer.clone();
                            let t = self.call_timeout;
                            match blocking(move || p.abort_transaction(t)).await {
                                Ok(()) => {}
                                Err(e) => {
                                    if let Failure::Fenced(why) = classify("abort_transaction", &e)
                                    {
                                        return Err(format!("fenced: another instance uses transactional.id {} ({why}); this one stops", self.transactional_id));
                                    }
                                    warn!(processor = %self.name, error = %e, "abort failed; recreating the producer");
                                    producer = self.reset_producer().await?;
                                }
                            }
                            reason
                        }
                        Failure::ResetProducer(reason) => {
                            warn!(processor = %self.name, %reason, "transaction outcome unknown; recreating the producer");
                            producer = self.reset_producer().await?;
                            reason
                        }
                        Failure::Fenced(reason) => {
                            return Err(format!("fenced: another instance uses transactional.id {} ({reason}); this one stops", self.transactional_id));
                        }
                        Failure::Fatal(reason) => {
                            let p = producer.clone();
                            let t = self.call_timeout;
                            let _ = blocking(move || p.abort_transaction(t)).await;
                            return Err(reason);
                        }
                    };
                    if failures_in_a_row >= self.deps.runtime.batch_failures_max {
                        return Err(format!(
                            "{failures_in_a_row} transactions in a row failed; last: {reason}"
                        ));
                    }
                    self.rewind(&consumer).await?;
                }
            }
        }
        info!(processor = %self.name, committed = self.stats.transactions_committed, "shutting down: no transaction open");
        consumer.unsubscribe();
        let p = producer.clone();
        let t = self.call_timeout;
        let _ = blocking(move || p.flush(t)).await;
        Ok(())
    }

    async fn new_producer(&self) -> Result<FutureProducer, String> {
        let producer: FutureProducer =
            kafka::transactional_producer(&self.deps.kafka, &self.transactional_id)
                .create()
                .map_err(|e| format!("producer: {e}"))?;
        let p = producer.clone();
        let t = self.call_timeout;
        // Bounded: init can fail while the coordinator is still settling a previous incarnation.
        let mut backoff = self.backoff();
        loop {
            let p2 = p.clone();
            match blocking(move || p2.init_transactions(t)).await {
                Ok(()) => return Ok(producer),
                Err(e) => match backoff.next() {
                    Some(wait) => {
                        warn!(processor = %self.name, error = %e, "init_transactions failed; retrying");
                        metrics::counter!(m::PROCESSOR_RETRIES, "processor" => self.name.clone(), "op" => "kafka").increment(1);
                        tokio::time::sleep(wait).await;
                    }
                    None => {
                        return Err(format!(
                            "init_transactions for {} failed: {e}",
                            self.transactional_id
                        ))
                    }
                },
            }
        }
    }

    async fn reset_producer(&mut self) -> Result<FutureProducer, String> {
        self.stats.producer_resets += 1;
        metrics::counter!(m::PROCESSOR_PRODUCER_RESETS, "processor" => self.name.clone())
            .increment(1);
        self.new_producer().await
    }

    /// Seeks every assigned partition back to its committed offset (the beginning when none).
    async fn rewind(&self, consumer: &Arc<EosConsumer>) -> Result<(), String> {
        let c = consumer.clone();
        let t = self.call_timeout;
        blocking(move || {
            let assignment = c.assignment()?;
            if assignment.count() == 0 {
                return Ok(());
            }
            let committed = c.committed_offsets(assignment, t)?;
            let mut seek = TopicPartitionList::new();
            for e in committed.elements() {
                let offset = match e.offset() {
                    Offset::Offset(o) => Offset::Offset(o),
                    _ => Offset::Beginning,
                };
                seek.add_partition_offset(e.topic(), e.partition(), offset)?;
            }
            c.seek_partitions(seek, t)?;
            Ok::<(), KafkaError>(())
        })
        .await
        .map_err(|e| format!("rewind to committed offsets: {e}"))?;
        debug!(processor = %self.name, "rewound to committed offsets");
        Ok(())
    }

    /// Up to `batch_records_max` records, ending `batch_linger_ms` after the first. Records of
    /// partitions revoked meanwhile are dropped: their new owner reads them from the committed offset.
    async fn collect_batch(
        &self,
        consumer: &Arc<EosConsumer>,
    ) -> Result<Vec<OwnedMessage>, String> {
        let generation = consumer.context().generation.load(Ordering::SeqCst);
        let mut batch = Vec::new();
        let first = tokio::select! {
            _ = self.deps.shutdown.cancelled() => return Ok(batch),
            r = consumer.recv() => r.map(|m| m.detach()),
        };
        match first {
            Ok(m) => batch.push(m),
            Err(e) => {
                if let KafkaError::MessageConsumptionFatal(code) = e {
                    // Fenced static member (another instance with our id) or a broken client: stop.
                    return Err(format!("consumer failed fatally: {code}"));
                }
                warn!(processor = %self.name, error = %e, "consumer error");
                metrics::counter!(m::PROCESSOR_ERRORS, "processor" => self.name.clone(), "class" => "retryable").increment(1);
                tokio::time::sleep(Duration::from_millis(
                    self.deps.runtime.retry_backoff_ms_initial,
                ))
                .await;
                return Ok(batch);
            }
        }
        let deadline =
            tokio::time::Instant::now() + Duration::from_millis(self.deps.runtime.batch_linger_ms);
        while batch.len() < self.deps.runtime.batch_records_max {
            match tokio::time::timeout_at(deadline, consumer.recv()).await {
                Ok(Ok(m)) => batch.push(m.detach()),
                Ok(Err(e)) => {
                    warn!(processor = %self.name, error = %e, "consumer error");
                    break;
                }
                Err(_) => break,
            }
        }
        if consumer.context().generation.load(Ordering::SeqCst) != generation {
            let owned: BTreeSet<(String, i32)> = consumer
                .assignment()
                .map(|a| {
                    a.elements()
                        .iter()
                        .map(|e| (e.topic().to_owned(), e.partition()))
                        .collect()
                })
                .unwrap_or_default();
            let before = batch.len();
            batch.retain(|m| owned.contains(&(m.topic().to_owned(), m.partition())));
            if batch.len() != before {
                info!(processor = %self.name, dropped = before - batch.len(), "dropped buffered records of revoked partitions");
            }
        }
        Ok(batch)
    }

    fn backoff(&self) -> Backoff {
        Backoff::new(&self.deps.runtime)
    }

    /// A pseudo-random draw in 0..1000 for fault injection (xorshift; no crate needed for a test knob).
    fn permille_hit(&mut self, permille: u16) -> bool {
        if permille == 0 {
            return false;
        }
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng % 1000 < u64::from(permille)
    }

    async fn transaction(
        &mut self,
        producer: &FutureProducer,
        consumer: &Arc<EosConsumer>,
        batch: &[OwnedMessage],
    ) -> Result<(), Failure> {
        let started = Instant::now();
        producer
            .begin_transaction()
            .map_err(|e| classify("begin_transaction", &e))?;

        let mut next_offsets: BTreeMap<(String, i32), i64> = BTreeMap::new();
        let mut outputs: Vec<OutRecord> = Vec::with_capacity(batch.len());
        let mut writes = Vec::new();
        let mut dead = 0u64;
        // Counted per topic and batch, not per record: a labelled counter is a registry lookup.
        let mut received: BTreeMap<&str, u64> = BTreeMap::new();
        let mut decoded = Vec::with_capacity(batch.len());
        let mut sources = Vec::with_capacity(batch.len());
        for msg in batch {
            next_offsets.insert((msg.topic().to_owned(), msg.partition()), msg.offset() + 1);
            *received.entry(msg.topic()).or_default() += 1;
            match self.decode(msg).await? {
                Ok(d) => {
                    decoded.push(d);
                    sources.push(msg);
                }
                Err(letter) => {
                    dead += 1;
                    outputs.push(letter);
                }
            }
        }

        let mut view = self.load(&decoded).await?;
        for (d, msg) in decoded.iter().zip(sources) {
            match self.process(msg, d, &mut view).await? {
                Handled::Effects(effects) => {
                    for r in &effects.records {
                        if !self.writable.contains(&r.topic) {
                            return Err(Failure::Fatal(format!("processor '{}' tried to write '{}', which processors.toml does not declare as its output", self.name, r.topic)));
                        }
                    }
                    outputs.extend(effects.records);
                    writes.extend(effects.writes);
                }
                Handled::DeadLetter(record) => {
                    dead += 1;
                    outputs.push(record);
                }
            }
        }

        self.write_store(&writes).await?;

        let mut deliveries = Vec::with_capacity(outputs.len());
        for r in &outputs {
            let record = FutureRecord::to(&r.topic).key(&r.key).payload(&r.payload);
            match producer.send_result(record) {
                Ok(d) => deliveries.push(d),
                Err((e, _)) => {
                    return Err(Failure::Abortable(format!("enqueue to {}: {e}", r.topic)))
                }
            }
        }
        let mut produced: BTreeMap<&str, u64> = BTreeMap::new();
        for (d, r) in deliveries.into_iter().zip(&outputs) {
            match d.await {
                Ok(Ok(_)) => *produced.entry(r.topic.as_str()).or_default() += 1,
                Ok(Err((e, _))) => {
                    return Err(Failure::Abortable(format!("produce to {}: {e}", r.topic)))
                }
                Err(_) => return Err(Failure::ResetProducer("delivery report lost".into())),
            }
        }
        let processed = started.elapsed();

        let commit_started = Instant::now();
        let mut offsets = TopicPartitionList::new();
        for ((topic, partition), next) in &next_offsets {
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
            info!(processor = %self.name, records = batch.len(), stall_ms, at_ms = now_millis(), "injected stall: transaction open before commit");
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

        let records_in = u64::try_from(batch.len()).unwrap_or(u64::MAX);
        self.stats.transactions_committed += 1;
        self.stats.records_in += records_in;
        self.stats.records_out += u64::try_from(outputs.len())
            .unwrap_or(u64::MAX)
            .saturating_sub(dead);
        self.stats.dead_lettered += dead;
        for (topic, n) in received {
            metrics::counter!(m::PROCESSOR_RECEIVED, "processor" => self.name.clone(), "topic" => topic.to_owned()).increment(n);
        }
        for (topic, n) in produced {
            metrics::counter!(m::PROCESSOR_PRODUCED, "processor" => self.name.clone(), "topic" => topic.to_owned()).increment(n);
        }
        metrics::counter!(m::PROCESSOR_TRANSACTIONS, "processor" => self.name.clone(), "outcome" => "committed").increment(1);
        metrics::histogram!(m::PROCESSOR_BATCH_RECORDS, "processor" => self.name.clone())
            .record(u32::try_from(batch.len()).unwrap_or(u32::MAX));
        metrics::histogram!(m::PROCESSOR_PROCESSING_SECONDS, "processor" => self.name.clone())
            .record(processed);
        metrics::histogram!(m::PROCESSOR_COMMIT_SECONDS, "processor" => self.name.clone())
            .record(commit_started.elapsed());
        Ok(())
    }

    /// Decodes one record, or returns its dead letter.
    async fn decode(
        &mut self,
        msg: &OwnedMessage,
    ) -> Result<Result<Decoded<P::Input>, OutRecord>, Failure> {
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
        let mut backoff = self.backoff();
        loop {
            match self.processor.decode(&self.deps.codec, &meta, payload) {
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

    fn dead_letter(
        &mut self,
        msg: &OwnedMessage,
        kind: crate::events::dead_letter::DeadLetterKind,
        error: &str,
    ) -> Result<OutRecord, Failure> {
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
        metrics::counter!(m::PROCESSOR_DEAD_LETTERED, "processor" => self.name.clone(), "topic" => msg.topic().to_owned(), "kind" => format!("{kind:?}")).increment(1);
        metrics::counter!(m::PROCESSOR_ERRORS, "processor" => self.name.clone(), "class" => "poison").increment(1);
        Ok(OutRecord {
            topic,
            key,
            payload,
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

enum Handled {
    Effects(Effects),
    DeadLetter(OutRecord),
}

/// The producer's fatal error, when it says another instance fenced this one.
fn fenced_by(producer: &FutureProducer) -> Option<String> {
    producer
        .client()
        .fatal_error()
        .and_then(|(code, msg)| is_fence(code).then(|| format!("{code:?}: {msg}")))
}

/// Codes that say another instance with our transactional id took over.
fn is_fence(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::ProducerFenced
            | RDKafkaErrorCode::InvalidProducerEpoch
            | RDKafkaErrorCode::Fenced
    )
}

fn is_abort_required(e: &KafkaError) -> bool {
    matches!(e, KafkaError::Transaction(re) if re.txn_requires_abort())
}

/// librdkafka's transactional calls block: run them on the blocking pool, off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, KafkaError> + Send + 'static,
) -> Result<T, KafkaError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => {
            error!(error = %e, "blocking Kafka call panicked or was cancelled");
            Err(KafkaError::Canceled)
        }
    }
}

/// Bounded exponential backoff: `retries_max` waits, doubling from the initial to the maximum.
pub struct Backoff {
    next_ms: u64,
    max_ms: u64,
    left: u32,
}

impl Backoff {
    pub fn new(r: &RuntimeConfig) -> Self {
        Self {
            next_ms: r.retry_backoff_ms_initial,
            max_ms: r.retry_backoff_ms_max,
            left: r.retries_max,
        }
    }
}

impl Iterator for Backoff {
    type Item = Duration;
    fn next(&mut self) -> Option<Duration> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let wait = self.next_ms.min(self.max_ms);
        self.next_ms = self.next_ms.saturating_mul(2);
        Some(Duration::from_millis(wait))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_bounded_and_capped() {
        let r = RuntimeConfig {
            retries_max: 5,
            retry_backoff_ms_initial: 100,
            retry_backoff_ms_max: 300,
            ..RuntimeConfig::default()
        };
        let waits: Vec<u64> = Backoff::new(&r)
            .map(|d| u64::try_from(d.as_millis()).unwrap())
            .collect();
        assert_eq!(waits, vec![100, 200, 300, 300, 300]);
    }

    #[test]
    fn non_transactional_errors_abort() {
        // Transactional error codes come only from a real broker: tests/eos.rs exercises them.
        assert!(matches!(
            classify("produce", &KafkaError::Canceled),
            Failure::Abortable(_)
        ));
        assert!(!is_abort_required(&KafkaError::Canceled));
    }
}
