//! Firing durable timers inside a transaction.
//!
//! Due timers are found in the local copy's timer index, for owned partitions that are caught up.
//! They are fired before the batch's records, in due order per key, through the processor's
//! `on_timer`; each firing must leave a state change that no longer holds the timer, so the commit
//! that carries the firing's effects also clears it: a timer fires exactly once. An abort leaves the
//! local copy as it was, so the same timers are due again and the replay fires them again.
//!
//! A transaction that fires timers also sends the input offsets of their partitions (their current
//! positions): the broker then checks this instance's group generation, so a zombie that lost the
//! partitions cannot commit a firing (KIP-447 fencing, as for records).

use super::failure::Failure;
use super::{blocking, EosConsumer, Loop};
use crate::domain::clock::SystemClock;
use crate::metrics::{self as m, Measure};
use crate::processors::timers::Timer;
use crate::processors::{Context, Effects, KeyState, ProcessError, Processor, RecordMeta};
use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How often an idle stateful processor looks for a changed assignment (whose partitions may hold
/// due timers) when no record and no known timer wakes it.
const STATE_WAKE_MS: u64 = 1_000;

/// The timers to fire in one transaction: due keys (partition, key) and the time they were due by.
pub(super) struct DueTimers {
    pub keys: Vec<(i32, String)>,
    pub now_ms: i64,
}

impl<P: Processor> Loop<P> {
    /// When an idle stateful processor should stop waiting for records: at the next due timer, and
    /// at least every [`STATE_WAKE_MS`]. `None` for a stateless one.
    pub(super) fn wake_at(&self) -> Option<Instant> {
        let keyed = self.keyed.as_ref()?;
        let poll = Instant::now() + Duration::from_millis(STATE_WAKE_MS);
        let next = keyed.next_due().ok().flatten().map(|due_ms| {
            let wait_ms = due_ms.saturating_sub(crate::domain::clock::now_millis());
            Instant::now() + Duration::from_millis(u64::try_from(wait_ms).unwrap_or(0))
        });
        Some(next.map_or(poll, |n| n.min(poll)))
    }

    /// The keys with a due timer, at most `batch_records_max` of them. A timer index that cannot
    /// be read is fatal (the local copy is broken; a restart rebuilds it).
    pub(super) fn due_timers(&self) -> Result<DueTimers, String> {
        let now_ms = crate::domain::clock::now_millis();
        let keys = match &self.keyed {
            Some(keyed) => keyed
                .due(now_ms, self.deps.runtime.batch_records_max)
                .map_err(|e| format!("timer index: {e}"))?,
            None => vec![],
        };
        Ok(DueTimers { keys, now_ms })
    }

    /// Fires every due timer of `due`'s keys, in due order per key, over the batch's view.
    pub(super) async fn fire(
        &mut self,
        due: &DueTimers,
        state: &BTreeMap<String, KeyState>,
        view: &mut P::View,
    ) -> Result<Effects, Failure> {
        let changelog = self
            .keyed
            .as_ref()
            .map(|k| k.changelog().to_owned())
            .unwrap_or_default();
        let mut effects = Effects::default();
        for (partition, key) in &due.keys {
            let timers = state.get(key).map(|s| s.timers.as_slice()).unwrap_or(&[]);
            for timer in timers.iter().filter(|t| t.due_at_ms <= due.now_ms) {
                let meta = RecordMeta::of_timer(&changelog, *partition, key, timer);
                let fired = self.fire_one(&meta, key, timer, view).await?;
                effects.extend(fired);
                let labels = [("processor", self.name.clone())];
                let late_ms = due.now_ms.saturating_sub(timer.due_at_ms).max(0);
                effects.measures.push(Measure::duration(
                    m::TIMER_LATENESS_SECONDS,
                    &labels,
                    Duration::from_millis(u64::try_from(late_ms).unwrap_or(0)),
                ));
                effects.measures.push(Measure::count(
                    m::TIMERS_FIRED,
                    &[labels[0].clone(), ("kind", timer.kind.clone())],
                ));
            }
        }
        Ok(effects)
    }

    /// One firing, with bounded retries; its effects must clear the timer.
    async fn fire_one(
        &mut self,
        meta: &RecordMeta,
        key: &str,
        timer: &Timer,
        view: &mut P::View,
    ) -> Result<Effects, Failure> {
        let codec = self.deps.codec.clone();
        let ctx = Context {
            record: meta,
            clock: &SystemClock,
            codec: &codec,
        };
        let mut backoff = self.backoff();
        loop {
            match self.processor.on_timer(key, timer, view, &ctx) {
                Ok(effects) => {
                    let cleared = effects
                        .state
                        .iter()
                        .rev()
                        .find(|c| c.key == key)
                        .is_some_and(|c| !c.timers.contains(timer));
                    if !cleared {
                        return Err(Failure::Fatal(format!(
                            "processor '{}' fired timer '{}' of '{key}' without clearing it",
                            self.name, timer.kind
                        )));
                    }
                    return Ok(effects);
                }
                Err(ProcessError::Retryable(reason)) => match backoff.next() {
                    Some(wait) => {
                        metrics::counter!(m::PROCESSOR_RETRIES, "processor" => self.name.clone(), "op" => "timer").increment(1);
                        tokio::time::sleep(wait).await;
                    }
                    None => return Err(Failure::Abortable(reason)),
                },
                // A timer is no input record: there is nothing to dead-letter, so any other
                // error is the processor's bug.
                Err(e) => {
                    metrics::counter!(m::PROCESSOR_ERRORS, "processor" => self.name.clone(), "class" => "fatal").increment(1);
                    return Err(Failure::Fatal(format!(
                        "timer '{}' of '{key}': {e}",
                        timer.kind
                    )));
                }
            }
        }
    }

    /// Adds the current position of every input partition a firing touched and the batch did not,
    /// so the commit is fenced by the group generation like any other.
    pub(super) async fn timer_offsets(
        &self,
        consumer: &Arc<EosConsumer>,
        due: &DueTimers,
        next_offsets: &mut BTreeMap<(String, i32), i64>,
    ) -> Result<(), Failure> {
        let mut wanted = TopicPartitionList::new();
        for (partition, _) in &due.keys {
            for topic in self.input_schemas.keys() {
                if !next_offsets.contains_key(&(topic.clone(), *partition)) {
                    wanted.add_partition(topic, *partition);
                }
            }
        }
        if wanted.count() == 0 {
            return Ok(());
        }
        let positions = consumer
            .position()
            .map_err(|e| Failure::Abortable(format!("positions: {e}")))?;
        let mut unknown = TopicPartitionList::new();
        for e in wanted.elements() {
            match positions
                .find_partition(e.topic(), e.partition())
                .map(|p| p.offset())
            {
                Some(Offset::Offset(o)) => {
                    next_offsets.insert((e.topic().to_owned(), e.partition()), o);
                }
                _ => {
                    unknown.add_partition(e.topic(), e.partition());
                }
            }
        }
        if unknown.count() == 0 {
            return Ok(());
        }
        // Nothing consumed from them yet since the assignment: their committed offsets are the
        // position (one round trip, only right after an assignment).
        let (c, t) = (consumer.clone(), self.call_timeout);
        let committed = blocking(move || c.committed_offsets(unknown, t))
            .await
            .map_err(|e| Failure::Abortable(format!("committed offsets: {e}")))?;
        for e in committed.elements() {
            if let Offset::Offset(o) = e.offset() {
                next_offsets.insert((e.topic().to_owned(), e.partition()), o);
            }
        }
        Ok(())
    }
}
