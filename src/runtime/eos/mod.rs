//! The exactly-once consume-transform-produce loop, generic over a [`Processor`].
//!
//! One instance = one read_committed consumer in the processor's group (cooperative-sticky) and one
//! transactional producer with the stable id `<consumer_group>-<instance_id>` (KIP-447: one
//! producer serves every partition the instance owns). Each transaction:
//!
//! 1. collects a batch from the consumer (at most `batch_records_max` records or `batch_bytes_max`
//!    bytes, at most `batch_linger_ms` after the first, ending early when nothing more is buffered)
//!    and, for a stateful processor, the keys whose timers are due (`timers`);
//! 2. decodes each record (poison becomes a dead letter), asks the processor's `load` edge for the
//!    batch's view once, fires the due timers and processes each record over it;
//! 3. performs the store writes (idempotent, keyed by event or transaction id) with bounded retries;
//! 4. produces the outputs, the dead letters and the state changes (with their timers, to the
//!    changelog), sends the next offsets with the consumer's group metadata, and commits.
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

mod consumer;
mod failure;
mod keyed;
mod recovery;
mod reroute;
mod steps;
mod timers;
mod transaction;

use super::config::{KafkaConfig, RuntimeConfig};
use crate::domain::clock::now_millis;
use crate::events::Codec;
use crate::processors::{Binding, Build, Processor};
use crate::runtime::dead_letter;
use crate::runtime::health::Health;
use crate::runtime::kafka;
use crate::runtime::state::KeyedStore;
use crate::store::state::SetReader;
use crate::store::writer::StoreWriter;
use crate::topology::{ProcessorSpec, Topology};
use consumer::{EosConsumer, EosContext};
pub(crate) use failure::blocking;
pub use failure::{init_transactions, Backoff};
use rdkafka::consumer::Consumer;
use rdkafka::producer::Producer;
pub use reroute::REROUTED_FROM_HEADER;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

const HEALTH_COMPONENT: &str = "processor";
/// Not ready while a stateful processor restores its state.
const STATE_COMPONENT: &str = "state";

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

struct Loop<P: Processor> {
    processor: Arc<P>,
    name: String,
    deps: Deps,
    transactional_id: String,
    writable: BTreeSet<String>,
    dead_letter_topics: BTreeMap<String, String>,
    /// Input topic → the record its values carry, for `Decode`.
    input_schemas: BTreeMap<String, String>,
    call_timeout: Duration,
    stats: RunStats,
    rng: u64,
    sets: SetReader,
    /// The keyed state of a stateful processor, and the group generation it last caught up at.
    keyed: Option<KeyedStore>,
    keyed_generation: Option<u64>,
    /// Input topic → its partition count on the broker (stateful processors: where a key belongs).
    input_partitions: BTreeMap<String, i32>,
}

/// The processor's entry in `processors.toml` and its checked binding.
fn declared<P: Processor>(
    name: &str,
    topology: &Topology,
) -> Result<(ProcessorSpec, Binding), RuntimeError> {
    let fatal = |message: String| RuntimeError::Fatal {
        processor: name.to_owned(),
        message,
    };
    let spec = topology.processor(name).ok_or_else(|| {
        fatal(format!(
            "not declared in {}/processors.toml",
            topology.dir.display()
        ))
    })?;
    let binding = Binding::of(spec, topology).map_err(fatal)?;
    binding.check::<P>().map_err(fatal)?;
    Ok((spec.clone(), binding))
}

/// Builds the processor `name` from its configuration and binding, then runs it.
pub async fn start<P: Build>(
    name: &str,
    config: &P::Config,
    deps: Deps,
) -> Result<RunStats, RuntimeError> {
    let (spec, binding) = declared::<P>(name, &deps.topology)?;
    let fatal = |message: String| RuntimeError::Fatal {
        processor: name.to_owned(),
        message,
    };
    let processor = P::build(config, &binding).map_err(fatal)?;
    let processor = processor
        .prepare(deps.writer.store())
        .await
        .map_err(fatal)?;
    run_declared(Arc::new(processor), spec, binding, deps).await
}

/// How long a producer waits for its broker.
#[derive(Debug, Clone, Copy)]
enum Patience {
    Bounded,
    UntilShutdown,
}

/// Runs `processor` until shutdown (Ok) or a fatal error.
pub async fn run<P: Processor>(processor: Arc<P>, deps: Deps) -> Result<RunStats, RuntimeError> {
    let (spec, binding) = declared::<P>(processor.name(), &deps.topology)?;
    run_declared(processor, spec, binding, deps).await
}

/// Runs a processor whose entry and binding are already checked.
async fn run_declared<P: Processor>(
    processor: Arc<P>,
    spec: ProcessorSpec,
    binding: Binding,
    deps: Deps,
) -> Result<RunStats, RuntimeError> {
    let name = spec.name.clone();
    let fatal = |message: String| RuntimeError::Fatal {
        processor: name.clone(),
        message,
    };
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
    let sets = SetReader::prepare(deps.writer.store())
        .await
        .map_err(|e| fatal(format!("prepare set reads: {e}")))?;
    let keyed = match &binding.changelog {
        Some(changelog) => {
            Some(keyed::open_keyed(&spec, changelog, &transactional_id, &deps).map_err(fatal)?)
        }
        None => None,
    };
    let mut l = Loop {
        sets,
        keyed,
        keyed_generation: None,
        input_partitions: BTreeMap::new(),
        processor,
        writable: deps.topology.writable_topics(&name),
        call_timeout: Duration::from_millis(deps.runtime.kafka_call_timeout_ms),
        name: name.clone(),
        transactional_id,
        dead_letter_topics,
        input_schemas: binding.inputs,
        deps,
        stats: RunStats::default(),
        rng: u64::try_from(now_millis()).unwrap_or(1) | 1,
    };
    l.deps.health.register(HEALTH_COMPONENT);
    if l.keyed.is_some() {
        // Ready until a catch-up runs: state is restored when the first records of a new
        // assignment arrive, and readiness says "state: false" while it is.
        l.deps.health.set(STATE_COMPONENT, true);
    }
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
        let mut cc = kafka::processor_consumer(
            &self.deps.kafka,
            group,
            &self.transactional_id,
            self.deps.runtime.group_membership,
        );
        if self.keyed.is_some() {
            // Partition n of every input must go to the instance that owns changelog partition n.
            // Range assignment gives equally partitioned topics the same partitions per member;
            // cooperative-sticky balances each topic on its own.
            cc.set("partition.assignment.strategy", "range");
        }
        let consumer: Arc<EosConsumer> = Arc::new(
            cc.create_with_context(ctx)
                .map_err(|e| format!("consumer: {e}"))?,
        );
        if self.keyed.is_some() {
            self.input_partitions = self.partition_counts(&consumer, inputs).await?;
        }
        let topics: Vec<&str> = inputs.iter().map(String::as_str).collect();
        consumer
            .subscribe(&topics)
            .map_err(|e| format!("subscribe to {topics:?}: {e}"))?;
        let mut producer = self.new_producer(Patience::Bounded).await?;
        info!(processor = %self.name, transactional_id = %self.transactional_id, ?topics, "processing");

        let mut failures_in_a_row = 0u32;
        while !self.deps.shutdown.is_cancelled() {
            let batch = self.collect_batch(&consumer).await?;
            if !self.catch_up_state(&consumer).await? {
                // Shut down while waiting; nothing of the batch was processed.
                break;
            }
            let due = self.due_timers()?;
            if batch.is_empty() && due.keys.is_empty() {
                continue;
            }
            match self.transaction(&producer, &consumer, &batch, &due).await {
                Ok(()) => failures_in_a_row = 0,
                Err(failure) => {
                    failures_in_a_row += 1;
                    let reason = self.recover(failure, &mut producer).await?;
                    if failures_in_a_row >= self.deps.runtime.batch_failures_max {
                        return Err(format!(
                            "{failures_in_a_row} transactions in a row failed; last: {reason}"
                        ));
                    }
                    self.rewind_patiently(&consumer).await?;
                }
            }
        }
        info!(processor = %self.name, committed = self.stats.transactions_committed, "shutting down: no transaction open");
        if let Some(keyed) = &mut self.keyed {
            if let Err(e) = keyed.close() {
                warn!(processor = %self.name, error = %e, "local state not checkpointed: the next start restores it");
            }
        }
        consumer.unsubscribe();
        let p = producer.clone();
        let t = self.call_timeout;
        let _ = blocking(move || p.flush(t)).await;
        Ok(())
    }

    /// Each input's partition count on the broker, which must be the one `topics.toml` declares: a
    /// key's partition depends on it, and the changelog is co-partitioned with the inputs.
    async fn partition_counts(
        &self,
        consumer: &Arc<EosConsumer>,
        inputs: &[String],
    ) -> Result<BTreeMap<String, i32>, String> {
        let mut counts = BTreeMap::new();
        for topic in inputs {
            let (c, t, timeout) = (consumer.clone(), topic.clone(), self.call_timeout);
            let on_broker = blocking(move || {
                let metadata = c.fetch_metadata(Some(&t), timeout)?;
                Ok(metadata
                    .topics()
                    .iter()
                    .find(|m| m.name() == t.as_str())
                    .map_or(0, |m| m.partitions().len()))
            })
            .await
            .map_err(|e| format!("metadata of '{topic}': {e}"))?;
            let on_broker = i32::try_from(on_broker).unwrap_or(i32::MAX);
            let declared = self.deps.topology.topic(topic).map_or(0, |t| t.partitions);
            if on_broker != declared {
                return Err(format!(
                    "input '{topic}' has {on_broker} partition(s) on the broker but topics.toml declares {declared}: a key's state lives on the partition its key hashes to among the declared count. Fix: run `paystream topology apply`, or recreate the topic with {declared}"
                ));
            }
            counts.insert(topic.clone(), on_broker);
        }
        Ok(counts)
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
}
