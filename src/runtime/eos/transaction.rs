//! One transaction: decode the batch (poison to dead letters), load the view, process each record,
//! write the store, produce, send the offsets and commit; then count what committed.

use super::failure::{classify, is_abort_required, Failure};
use super::reroute::{Moved, Placement};
use super::timers::DueTimers;
use super::{blocking, EosConsumer, Loop};
use crate::domain::clock::now_millis;
use crate::metrics as m;
use crate::processors::{Effects, OutRecord, Processor, StateChange};
use rdkafka::consumer::Consumer;
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{info, warn};

impl<P: Processor> Loop<P> {
    pub(super) async fn transaction(
        &mut self,
        producer: &FutureProducer,
        consumer: &Arc<EosConsumer>,
        batch: &[OwnedMessage],
        due: &DueTimers,
    ) -> Result<(), Failure> {
        let started = Instant::now();
        producer
            .begin_transaction()
            .map_err(|e| classify("begin_transaction", &e))?;
        let mut staged = self.stage(batch, due).await?;
        if !due.keys.is_empty() {
            self.timer_offsets(consumer, due, &mut staged.next_offsets)
                .await?;
        }
        self.write_store(&staged.effects.writes).await?;
        let envelopes = self.changelog_records(&staged.effects.state)?;
        let (produced, changelog) = self
            .produce(producer, &staged.effects.records, &staged.moved, &envelopes)
            .await?;
        let processed = started.elapsed();
        let commit_started = Instant::now();
        self.commit(producer, consumer, &staged.next_offsets, batch.len())
            .await?;
        let commit = commit_started.elapsed();
        self.state_committed(&staged.effects.state, &changelog);
        self.count_committed(batch.len(), staged, produced, processed, commit);
        Ok(())
    }

    /// The changelog record of each state change: (partition, key, envelope).
    fn changelog_records<'c>(
        &self,
        changes: &'c [StateChange],
    ) -> Result<Vec<StateRecord<'c>>, Failure> {
        let Some(keyed) = &self.keyed else {
            if changes.is_empty() {
                return Ok(vec![]);
            }
            return Err(Failure::Fatal(format!(
                "processor '{}' changed keyed state but has no changelog",
                self.name
            )));
        };
        let now_ms = now_millis();
        changes
            .iter()
            .map(|c| {
                let payload = keyed.envelope(c, now_ms).map_err(Failure::Fatal)?;
                Ok((c.partition, c.key.as_str(), payload))
            })
            .collect()
    }

    /// Applies a committed batch's state changes to the local copy. A copy that cannot take them is
    /// caught up from the changelog before the next batch, which has them.
    fn state_committed(&mut self, changes: &[StateChange], changelog: &BTreeMap<i32, i64>) {
        if let Some(keyed) = &mut self.keyed {
            if let Err(e) = keyed.committed(changes, changelog) {
                warn!(processor = %self.name, error = %e, "local state copy failed; catching up from the changelog");
                keyed.invalidate();
            }
        }
    }

    /// Decodes the batch (poison becomes dead letters), loads the view once, fires the due timers and
    /// processes each record over it, in order.
    async fn stage(&mut self, batch: &[OwnedMessage], due: &DueTimers) -> Result<Staged, Failure> {
        let mut staged = Staged::default();
        let mut decoded = Vec::with_capacity(batch.len());
        let mut sources = Vec::with_capacity(batch.len());
        for msg in batch {
            staged
                .next_offsets
                .insert((msg.topic().to_owned(), msg.partition()), msg.offset() + 1);
            *staged.received.entry(msg.topic().to_owned()).or_default() += 1;
            match self.decode(msg).await? {
                Ok(d) => match self.placement(msg, &d) {
                    Placement::Here => {
                        decoded.push(d);
                        sources.push(msg);
                    }
                    Placement::Move(moved) => {
                        staged
                            .effects
                            .measures
                            .push(self.moved_measure(&moved.topic));
                        staged.moved.push(moved);
                    }
                    Placement::Misplaced(reason) => {
                        staged.dead += 1;
                        staged.effects.extend(self.dead_letter(
                            msg,
                            crate::events::dead_letter::DeadLetterKind::Unprocessable,
                            &reason,
                        )?);
                    }
                },
                Err(letter) => {
                    staged.dead += 1;
                    staged.effects.extend(letter);
                }
            }
        }
        let keyed = self.read_state(&decoded, &due.keys)?;
        let mut view = self.load(&decoded, &keyed).await?;
        let fired = self.fire(due, &keyed, &mut view).await?;
        self.check_writable(&fired)?;
        staged.effects.extend(fired);
        for (d, msg) in decoded.iter().zip(sources) {
            match self.process(msg, d, &mut view).await? {
                Handled::Effects(effects) => {
                    self.check_writable(&effects)?;
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

    fn check_writable(&self, effects: &Effects) -> Result<(), Failure> {
        match effects
            .records
            .iter()
            .find(|r| !self.writable.contains(&r.topic))
        {
            Some(r) => Err(Failure::Fatal(format!("processor '{}' tried to write '{}', which processors.toml does not declare as its output", self.name, r.topic))),
            None => Ok(()),
        }
    }

    /// Produces every output, moved input and changelog record inside the transaction, all
    /// enqueued before any delivery is awaited; returns the outputs per topic and, per changelog
    /// partition, the offset of the last state record.
    async fn produce(
        &self,
        producer: &FutureProducer,
        outputs: &[OutRecord],
        moved: &[Moved],
        state: &[StateRecord<'_>],
    ) -> Result<(BTreeMap<String, u64>, BTreeMap<i32, i64>), Failure> {
        let changelog = self.keyed.as_ref().map_or("", |k| k.changelog());
        let records = outputs
            .iter()
            .map(|r| {
                FutureRecord::to(r.topic.as_str())
                    .key(r.key.as_str())
                    .payload(r.payload.as_slice())
            })
            .chain(moved.iter().map(|r| {
                FutureRecord::to(r.topic.as_str())
                    .partition(r.partition)
                    .key(r.key.as_str())
                    .payload(r.payload.as_slice())
                    .headers(r.headers.clone())
            }))
            .chain(state.iter().map(|(partition, key, payload)| {
                FutureRecord::to(changelog)
                    .partition(*partition)
                    .key(*key)
                    .payload(payload.as_slice())
            }));
        let outputs_and_moved = outputs.len() + moved.len();
        let mut deliveries = Vec::with_capacity(outputs_and_moved + state.len());
        for record in records {
            let topic = record.topic.to_owned();
            match producer.send_result(record) {
                Ok(d) => deliveries.push((topic, d)),
                Err((e, _)) => return Err(Failure::Abortable(format!("enqueue to {topic}: {e}"))),
            }
        }
        let (mut produced, mut last) = (BTreeMap::new(), BTreeMap::new());
        for (i, (topic, d)) in deliveries.into_iter().enumerate() {
            let delivery = match d.await {
                Ok(Ok(delivery)) => delivery,
                Ok(Err((e, _))) => {
                    return Err(Failure::Abortable(format!("produce to {topic}: {e}")))
                }
                Err(_) => return Err(Failure::ResetProducer("delivery report lost".into())),
            };
            // A moved input is counted as moved (its measure), not as an output.
            if i < outputs.len() {
                *produced.entry(topic).or_default() += 1;
            } else if i >= outputs_and_moved {
                let at = last.entry(delivery.partition).or_insert(delivery.offset);
                *at = (*at).max(delivery.offset);
            }
        }
        Ok((produced, last))
    }

    /// Sends the next offsets with the group's metadata and commits (with the crash tests' faults).
    async fn commit(
        &mut self,
        producer: &FutureProducer,
        consumer: &Arc<EosConsumer>,
        next_offsets: &BTreeMap<(String, i32), i64>,
        records: usize,
    ) -> Result<(), Failure> {
        if next_offsets.is_empty() {
            // Without offsets the broker would not check the group generation: a zombie's timer
            // firing could commit.
            return Err(Failure::Abortable(
                "no input offset to send with the transaction".into(),
            ));
        }
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
}

/// A state change as a changelog record: partition, key, envelope.
type StateRecord<'a> = (i32, &'a str, Vec<u8>);

/// What one batch turned into before it is written, produced and committed.
#[derive(Default)]
struct Staged {
    next_offsets: BTreeMap<(String, i32), i64>,
    /// Every output and dead letter, store write and measure of the batch.
    effects: Effects,
    /// Inputs moved to the partition their key belongs to.
    moved: Vec<Moved>,
    dead: u64,
    received: BTreeMap<String, u64>,
}

pub(super) enum Handled {
    Effects(Effects),
    DeadLetter(Effects),
}
