//! Reading a changelog partition into the local copy: from the offset the copy is at to the end of
//! what is committed, once no transaction is open on the partition.

use super::local::{Local, Put};
use crate::events::{Codec, KeyedState};
use crate::runtime::config::KafkaConfig;
use crate::runtime::eos::blocking;
use crate::runtime::kafka;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Records applied to the local copy per local transaction while restoring.
const RESTORE_CHUNK_RECORDS: usize = 10_000;
/// How often the end offsets are asked again while a transaction is open on the partition.
const OPEN_TRANSACTION_POLL_MS: u64 = 100;

/// What one restore read.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Restored {
    pub records: u64,
    pub bytes: u64,
    /// The changelog offset the local copy is now at.
    pub next_offset: i64,
}

/// The clients a restore uses: one read_committed consumer that reads and asks the last stable
/// offset, one read_uncommitted client that asks the high watermark.
pub struct Reader {
    topic: String,
    committed: Arc<StreamConsumer>,
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
        let mut c = kafka::read_committed_consumer(kafka, &format!("{group}-restore"));
        c.set("enable.partition.eof", "true");
        let committed: StreamConsumer = c
            .create()
            .map_err(|e| format!("restore consumer: {e}"))?;
        let mut u = kafka::read_committed_consumer(kafka, &format!("{group}-restore"));
        u.set("isolation.level", "read_uncommitted");
        let uncommitted: BaseConsumer = u
            .create()
            .map_err(|e| format!("watermark client: {e}"))?;
        Ok(Self {
            topic: topic.to_owned(),
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
    async fn stable_end(&self, partition: i32) -> Result<i64, String> {
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
            .map_err(|e| format!("end offsets of {}/{partition}: {e}", self.topic))?;
            if lso >= hw {
                return Ok(lso);
            }
            if started.elapsed() > self.open_transaction_wait {
                return Err(format!(
                    "{}/{partition} has had a transaction open for over {} ms (stable offset {lso}, high watermark {hw})",
                    self.topic,
                    self.open_transaction_wait.as_millis()
                ));
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
    ) -> Result<Restored, String> {
        let end = self.stable_end(partition).await?;
        let mut restored = Restored {
            next_offset: from.max(end),
            ..Restored::default()
        };
        if from >= end {
            return Ok(restored);
        }
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&self.topic, partition, Offset::Offset(from))
            .map_err(|e| e.to_string())?;
        self.committed
            .assign(&tpl)
            .map_err(|e| format!("assign {}/{partition}: {e}", self.topic))?;
        let result = self.read_to(local, partition, end, &mut restored).await;
        let _ = self.committed.unassign();
        result.map(|()| restored)
    }

    async fn read_to(
        &self,
        local: &mut Local,
        partition: i32,
        end: i64,
        restored: &mut Restored,
    ) -> Result<(), String> {
        let mut chunk: Vec<(String, Option<Vec<u8>>)> = Vec::new();
        let idle = self.call_timeout;
        loop {
            let msg = match tokio::time::timeout(idle, self.committed.recv()).await {
                Err(_) => {
                    return Err(format!(
                        "{}/{partition}: nothing read for {} ms before offset {end}",
                        self.topic,
                        idle.as_millis()
                    ))
                }
                Ok(Err(KafkaError::PartitionEOF(p))) if p == partition => break,
                // Left over from an earlier restore of another partition.
                Ok(Err(KafkaError::PartitionEOF(_))) => continue,
                Ok(Err(e)) => return Err(format!("read {}/{partition}: {e}", self.topic)),
                Ok(Ok(m)) if m.partition() != partition => continue,
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
                        format!("{}/{partition}@{}: {e}", self.topic, msg.offset())
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
) -> Result<(), String> {
    let puts: Vec<Put<'_>> = chunk
        .iter()
        .map(|(k, v)| Put {
            partition,
            key: k,
            value: v.as_deref(),
        })
        .collect();
    local.apply(&puts).map_err(|e| e.to_string())?;
    chunk.clear();
    Ok(())
}
