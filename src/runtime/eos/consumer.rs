//! The consumer side of the loop: rebalance callbacks, batches that never span a rebalance, and the
//! rewind to committed offsets after a failed transaction.

use super::{blocking, Loop, HEALTH_COMPONENT};
use crate::metrics as m;
use crate::processors::Processor;
use crate::runtime::health::Health;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tracing::{debug, info, warn};

/// Rebalance bookkeeping shared with librdkafka's callbacks.
pub(super) struct EosContext {
    pub(super) processor: String,
    pub(super) generation: AtomicU64,
    pub(super) health: Arc<Health>,
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

pub(super) type EosConsumer = StreamConsumer<EosContext>;

impl<P: Processor> Loop<P> {
    /// Seeks every assigned partition back to its committed offset (the beginning when none).
    pub(super) async fn rewind(&self, consumer: &Arc<EosConsumer>) -> Result<(), String> {
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

    /// The first record of a batch; `None` at shutdown, at the wake time or after a retryable
    /// consumer error (waited out briefly).
    async fn first_record(
        &self,
        consumer: &Arc<EosConsumer>,
    ) -> Result<Option<OwnedMessage>, String> {
        let wake = self.wake_at();
        let woken = async move {
            match wake {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let first = tokio::select! {
            _ = self.deps.shutdown.cancelled() => return Ok(None),
            // A timer may be due, or the assignment changed: the caller looks.
            () = woken => return Ok(None),
            r = consumer.recv() => r.map(|m| m.detach()),
        };
        match first {
            Ok(m) => Ok(Some(m)),
            Err(KafkaError::MessageConsumptionFatal(code)) => {
                // Fenced static member (another instance with our id) or a broken client: stop.
                Err(format!("consumer failed fatally: {code}"))
            }
            Err(e) => {
                warn!(processor = %self.name, error = %e, "consumer error");
                metrics::counter!(m::PROCESSOR_ERRORS, "processor" => self.name.clone(), "class" => "retryable").increment(1);
                tokio::time::sleep(Duration::from_millis(
                    self.deps.runtime.retry_backoff_ms_initial,
                ))
                .await;
                Ok(None)
            }
        }
    }

    /// Records up to `batch_records_max` or `batch_bytes_max`, ending `batch_linger_ms` after the first
    /// or as soon as none arrives within `batch_idle_ms` (the consumer has nothing more buffered).
    /// Empty when a stateful processor's wake time ([`Loop::wake_at`]) comes first.
    /// Records of partitions revoked meanwhile are dropped: their new owner reads them from the
    /// committed offset.
    pub(super) async fn collect_batch(
        &self,
        consumer: &Arc<EosConsumer>,
    ) -> Result<Vec<OwnedMessage>, String> {
        let generation = consumer.context().generation.load(Ordering::SeqCst);
        let mut batch = Vec::new();
        match self.first_record(consumer).await? {
            Some(m) => batch.push(m),
            None => return Ok(batch),
        }
        let r = &self.deps.runtime;
        let deadline = tokio::time::Instant::now() + Duration::from_millis(r.batch_linger_ms);
        let idle = Duration::from_millis(r.batch_idle_ms);
        let mut bytes = batch
            .first()
            .and_then(|m| m.payload())
            .map_or(0, <[u8]>::len);
        while batch.len() < r.batch_records_max && bytes < r.batch_bytes_max {
            let until = deadline.min(tokio::time::Instant::now() + idle);
            match tokio::time::timeout_at(until, consumer.recv()).await {
                Ok(Ok(m)) => {
                    bytes = bytes.saturating_add(m.payload_len());
                    batch.push(m.detach());
                }
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
}
