//! Reading a changelog partition into the local copy: from the offset the copy is at to the end of
//! what is committed, once no transaction is open on the partition.

use super::local::{Local, Put};
use crate::events::{Codec, KeyedState};
use crate::runtime::config::KafkaConfig;
use crate::runtime::eos::blocking;
use crate::runtime::kafka;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::info;

/// Records applied to the local copy per local transaction while restoring.
const RESTORE_CHUNK_RECORDS: usize = 10_000;
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
    committed: Arc<BaseConsumer>,
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
        let mut consumer_config = kafka::read_committed_consumer(kafka, &format!("{group}-restore"));
        consumer_config.set("enable.partition.eof", "true");
        let committed: BaseConsumer = consumer_config
            .create()
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

    /// Applies every committed record of `partition` from `from` to the end into `local`.
    pub async fn restore(
        &self,
        local: &mut Local,
        partition: i32,
        from: i64,
    ) -> Result<Restored, RestoreError> {
        let end = self.stable_end(partition).await?;
        let mut restored = Restored {
            next_offset: from.max(end),
            ..Restored::default()
        };
        if from >= end {
            return Ok(restored);
        }
        info!(topic = %self.topic, partition, from, to = end, "restoring state");
        let consumer: StreamConsumer = self
            .consumer_config
            .create()
            .map_err(|e| Fatal(format!("restore consumer: {e}")))?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&self.topic, partition, Offset::Offset(from))
            .map_err(|e| Fatal(e.to_string()))?;
        consumer
            .assign(&tpl)
            .map_err(|e| Retryable(format!("assign {}/{partition}: {e}", self.topic)))?;
        self.read_to(&consumer, local, partition, end, &mut restored)
            .await?;
        Ok(restored)
    }

    async fn read_to(
        &self,
        consumer: &StreamConsumer,
        local: &mut Local,
        partition: i32,
        end: i64,
        restored: &mut Restored,
    ) -> Result<(), RestoreError> {
        let mut chunk: Vec<(String, Option<Vec<u8>>)> = Vec::new();
        let idle = self.call_timeout;
        loop {
            let msg = match tokio::time::timeout(idle, consumer.recv()).await {
                Err(_) => {
                    return Err(Retryable(format!(
                        "{}/{partition}: nothing read for {} ms before offset {end}",
                        self.topic,
                        idle.as_millis()
                    )))
                }
                // The end of what is committed (only markers of aborted or committed transactions
                // may lie between the last record read and `end`).
                Ok(Err(KafkaError::PartitionEOF(_))) => break,
                Ok(Err(e)) => {
                    return Err(Retryable(format!("read {}/{partition}: {e}", self.topic)))
                }
                Ok(Ok(m)) => m,
            };
            let key = msg
                .key()
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .unwrap_or_default();
            let value = match msg.payload() {
                None => None,
                Some(bytes) => {
                    restored.bytes += u64::try_from(bytes.len()).unwrap_or(u64::MAX);
                    let s: KeyedState = self.codec.decode(bytes).await.map_err(|e| {
                        let m = format!("{}/{partition}@{}: {e}", self.topic, msg.offset());
                        if e.is_retryable() {
                            Retryable(m)
                        } else {
                            Fatal(m)
                        }
                    })?;
                    Some(s.state)
                }
            };
            restored.records += 1;
            chunk.push((key, value));
            if chunk.len() >= RESTORE_CHUNK_RECORDS {
                apply(local, partition, &mut chunk)?;
            }
            if msg.offset() + 1 >= end {
                break;
            }
        }
        apply(local, partition, &mut chunk)
    }
}

fn apply(
    local: &mut Local,
    partition: i32,
    chunk: &mut Vec<(String, Option<Vec<u8>>)>,
) -> Result<(), RestoreError> {
    let puts: Vec<Put<'_>> = chunk
        .iter()
        .map(|(k, v)| Put {
            partition,
            key: k,
            value: v.as_deref(),
        })
        .collect();
    local.apply(&puts).map_err(|e| Fatal(e.to_string()))?;
    chunk.clear();
    Ok(())
}
