//! Reading a changelog partition into the local copy: from the offset the copy is at to the end of
//! what is committed, once no transaction is open on the partition.

use super::local::{Local, Put};
use crate::events::{Codec, KeyedState};
use crate::runtime::config::KafkaConfig;
use crate::runtime::eos::blocking;
use crate::runtime::kafka::{self, ReadsToEnd};
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::ClientConfig;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// Records applied to the local copy per local transaction while restoring.
const RESTORE_CHUNK_RECORDS: usize = 1_000;
/// How often the end offsets are asked again while a transaction is open on the partition.
const OPEN_TRANSACTION_POLL_MS: u64 = 100;

/// Why a restore failed: the broker (wait and try again) or the data (stop).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    #[error("{0}")]
    Retryable(String),
    #[error("{0}")]
    Fatal(String),
}

use RestoreError::{Fatal, Retryable};

/// What one restore read.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Restored {
    pub records: u64,
    pub bytes: u64,
    /// The changelog offset the local copy is now at.
    pub next_offset: i64,
}

/// The clients a restore uses: a read_committed consumer per restore (fresh, so no event of an
/// earlier restore is left in its queue), one read_committed client that asks the last stable offset
/// and one read_uncommitted client that asks the high watermark.
pub struct Reader {
    topic: String,
    consumer_config: ClientConfig,
    committed: Arc<BaseConsumer<ReadsToEnd>>,
    uncommitted: Arc<BaseConsumer>,
    codec: Arc<Codec>,
    call_timeout: Duration,
    /// How long a transaction someone else holds open may delay a restore: past the broker's
    /// transaction timeout it would have been aborted, so something is wrong.
    open_transaction_wait: Duration,
}

impl Reader {
    pub fn new(
        kafka: &KafkaConfig,
        group: &str,
        topic: &str,
        codec: Arc<Codec>,
        call_timeout: Duration,
    ) -> Result<Self, String> {
        let mut consumer_config =
            kafka::read_committed_consumer(kafka, &format!("{group}-restore"));
        consumer_config
            .set("enable.partition.eof", "true")
            .set("queued.max.messages.kbytes", "4096");
        let committed: BaseConsumer<ReadsToEnd> = consumer_config
            .create_with_context(ReadsToEnd)
            .map_err(|e| format!("watermark client: {e}"))?;
        let mut u = kafka::read_committed_consumer(kafka, &format!("{group}-restore"));
        u.set("isolation.level", "read_uncommitted");
        let uncommitted: BaseConsumer = u.create().map_err(|e| format!("watermark client: {e}"))?;
        Ok(Self {
            topic: topic.to_owned(),
            consumer_config,
            committed: Arc::new(committed),
            uncommitted: Arc::new(uncommitted),
            codec,
            call_timeout,
            open_transaction_wait: Duration::from_millis(kafka.transaction_timeout_ms)
                .saturating_add(call_timeout),
        })
    }

    /// The last stable offset of `partition`, once it equals the high watermark (no transaction
    /// open): a previous owner's transaction still being completed must land before the restore.
    async fn stable_end(&self, partition: i32) -> Result<i64, RestoreError> {
        let started = Instant::now();
        loop {
            let (c, u, topic, t) = (
                self.committed.clone(),
                self.uncommitted.clone(),
                self.topic.clone(),
                self.call_timeout,
            );
            let (lso, hw) = blocking(move || {
                let (_, lso) = c.fetch_watermarks(&topic, partition, t)?;
                let (_, hw) = u.fetch_watermarks(&topic, partition, t)?;
                Ok::<_, KafkaError>((lso, hw))
            })
            .await
            .map_err(|e| Retryable(format!("end offsets of {}/{partition}: {e}", self.topic)))?;
            if lso >= hw {
                return Ok(lso);
            }
            if started.elapsed() > self.open_transaction_wait {
                return Err(Retryable(format!(
                    "{}/{partition} has had a transaction open for over {} ms (stable offset {lso}, high watermark {hw})",
                    self.topic,
                    self.open_transaction_wait.as_millis()
                )));
            }
            tokio::time::sleep(Duration::from_millis(OPEN_TRANSACTION_POLL_MS)).await;
        }
    }

    /// Applies every committed record of each partition in `from` (partition → first offset to read)
    /// up to its end into `local`, reading all of them with one consumer.
    pub async fn restore(
        &self,
        local: &mut Local,
        from: &BTreeMap<i32, i64>,
    ) -> Result<BTreeMap<i32, Restored>, RestoreError> {
        let mut restored = BTreeMap::new();
        let mut ends = BTreeMap::new();
        let mut starts = BTreeMap::new();
        // One round trip per partition and watermark: asked for every partition at once.
        let stable_ends =
            futures::future::try_join_all(from.keys().map(|p| self.stable_end(*p))).await?;
        for ((p, first), end) in from.iter().zip(stable_ends) {
            let mut first = *first;
            if first > end {
                // The changelog is shorter than the copy: it was recreated. The copy is void.
                warn!(topic = %self.topic, partition = p, copy_at = first, end, "changelog behind the local copy; restoring from scratch");
                local.clear(*p).map_err(|e| Fatal(e.to_string()))?;
                first = 0;
            }
            restored.insert(
                *p,
                Restored {
                    next_offset: first.max(end),
                    ..Restored::default()
                },
            );
            if first < end {
                info!(topic = %self.topic, partition = p, from = first, to = end, "restoring state");
                ends.insert(*p, end);
                starts.insert(*p, first);
            }
        }
        if ends.is_empty() {
            return Ok(restored);
        }
        let consumer: StreamConsumer<ReadsToEnd> = self
            .consumer_config
            .create_with_context(ReadsToEnd)
            .map_err(|e| Fatal(format!("restore consumer: {e}")))?;
        let mut tpl = TopicPartitionList::new();
        for (p, first) in &starts {
            tpl.add_partition_offset(&self.topic, *p, Offset::Offset(*first))
                .map_err(|e| Fatal(e.to_string()))?;
        }
        consumer
            .assign(&tpl)
            .map_err(|e| Retryable(format!("assign {}: {e}", self.topic)))?;
        self.read_to(&consumer, local, ends, &mut restored).await?;
        Ok(restored)
    }

    /// Reads until every partition of `ends` reached its end (or said it is at it).
    async fn read_to(
        &self,
        consumer: &StreamConsumer<ReadsToEnd>,
        local: &mut Local,
        mut ends: BTreeMap<i32, i64>,
        restored: &mut BTreeMap<i32, Restored>,
    ) -> Result<(), RestoreError> {
        let mut chunk: Vec<(i32, String, Option<Vec<u8>>)> = Vec::new();
        let idle = self.call_timeout;
        while !ends.is_empty() {
            let msg = match tokio::time::timeout(idle, consumer.recv()).await {
                Err(_) => {
                    return Err(Retryable(format!(
                        "{}: nothing read for {} ms before the ends {ends:?}",
                        self.topic,
                        idle.as_millis()
                    )))
                }
                // The end of what is committed (only markers of aborted or committed transactions
                // may lie between the last record read and the end).
                Ok(Err(KafkaError::PartitionEOF(p))) => {
                    ends.remove(&p);
                    continue;
                }
                Ok(Err(e)) => return Err(Retryable(format!("read {}: {e}", self.topic))),
                Ok(Ok(m)) => m,
            };
            let p = msg.partition();
            let Some(end) = ends.get(&p).copied() else {
                continue;
            };
            let value = match msg.payload() {
                None => None,
                Some(bytes) => Some(self.state_of(bytes, p, msg.offset()).await?),
            };
            if let Some(r) = restored.get_mut(&p) {
                r.records += 1;
                r.bytes += u64::try_from(msg.payload_len()).unwrap_or(u64::MAX);
            }
            let key = msg
                .key()
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .unwrap_or_default();
            chunk.push((p, key, value));
            if chunk.len() >= RESTORE_CHUNK_RECORDS {
                apply(local, &mut chunk)?;
            }
            if msg.offset() + 1 >= end {
                ends.remove(&p);
            }
        }
        apply(local, &mut chunk)
    }

    /// The processor's state and timers in a changelog record, as the local copy stores them.
    async fn state_of(&self, bytes: &[u8], p: i32, offset: i64) -> Result<Vec<u8>, RestoreError> {
        let s: KeyedState = self.codec.decode(bytes).await.map_err(|e| {
            let m = format!("{}/{p}@{offset}: {e}", self.topic);
            if e.is_retryable() {
                Retryable(m)
            } else {
                Fatal(m)
            }
        })?;
        Ok(super::value::encode(&s.state, &super::timers_of(&s)))
    }
}

fn apply(
    local: &mut Local,
    chunk: &mut Vec<(i32, String, Option<Vec<u8>>)>,
) -> Result<(), RestoreError> {
    let puts: Vec<Put<'_>> = chunk
        .iter()
        .map(|(partition, k, v)| Put {
            partition: *partition,
            key: k,
            value: v.as_deref(),
        })
        .collect();
    local.apply_bulk(&puts).map_err(|e| Fatal(e.to_string()))?;
    chunk.clear();
    Ok(())
}
