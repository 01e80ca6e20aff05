//! Following payments as an upstream system would: by consuming `payments.events` read_committed,
//! not by polling the REST API (whose reads load the store and whose poll interval blurs latency).
//!
//! The follower starts at the end of every partition, before the first payment is created, and
//! keeps each payment's latest status; a payment's follower waits on it.

use crate::commands::CommandError;
use crate::config::Config;
use crate::events::payment_event::PaymentEvent;
use crate::events::{symbol, Codec};
use crate::runtime::kafka;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

const METADATA_TIMEOUT_MS: u64 = 10_000;
/// Payments tracked at once; events of further payments nobody waits for are ignored.
const WATCHES_MAX: usize = 2_000_000;

/// A payment's latest status as its events tell it (`succeeded`, `processing`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub status: String,
    pub reason_code: Option<String>,
    pub sequence: i64,
}

type Watches = Arc<Mutex<HashMap<String, watch::Sender<Option<Seen>>>>>;

/// The payments the load generator follows, fed by a task consuming the events topic.
pub struct Follower {
    watches: Watches,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Follower {
    /// Starts at the current end of `config`'s payment events topic.
    pub async fn start(config: &Config, codec: Arc<Codec>) -> Result<Self, CommandError> {
        let topic =
            crate::commands::process::topology_from(&config.topology.dir, &config.deployment)
                .map_err(|e| CommandError::Failed(e.to_string()))?
                .processor(crate::processors::payments::NAME)
                .and_then(|p| p.outputs.get("events").cloned())
                .ok_or_else(|| {
                    CommandError::Failed("no payments events topic in the topology".into())
                })?;
        let group = config
            .deployment
            .group(&format!("loadgen-{}", uuid::Uuid::now_v7().simple()));
        let consumer: StreamConsumer = kafka::read_committed_consumer(&config.kafka, &group)
            .create()
            .map_err(|e| CommandError::Failed(format!("events consumer: {e}")))?;
        let ends = end_offsets(&consumer, &topic)?;
        consumer
            .assign(&ends)
            .map_err(|e| CommandError::Failed(format!("assign {topic}: {e}")))?;
        let watches: Watches = Arc::default();
        let task = tokio::spawn(feed(consumer, codec, watches.clone()));
        Ok(Self { watches, task })
    }

    /// The payment's status as it changes; the current value may already be set.
    pub fn watch(&self, payment_id: &str) -> watch::Receiver<Option<Seen>> {
        match self.watches.lock() {
            Ok(mut w) => w
                .entry(payment_id.to_owned())
                .or_insert_with(|| watch::channel(None).0)
                .subscribe(),
            Err(_) => watch::channel(None).1,
        }
    }

    /// Forgets a payment that is done.
    pub fn forget(&self, payment_id: &str) {
        if let Ok(mut w) = self.watches.lock() {
            w.remove(payment_id);
        }
    }
}

/// Every partition of `topic` at its last stable offset.
fn end_offsets(consumer: &StreamConsumer, topic: &str) -> Result<TopicPartitionList, CommandError> {
    let timeout = Duration::from_millis(METADATA_TIMEOUT_MS);
    let failed = |e: rdkafka::error::KafkaError| CommandError::Failed(format!("{topic}: {e}"));
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(failed)?;
    let mut tpl = TopicPartitionList::new();
    for t in metadata.topics() {
        for p in t.partitions() {
            let (_, end) = consumer
                .fetch_watermarks(topic, p.id(), timeout)
                .map_err(failed)?;
            tpl.add_partition_offset(topic, p.id(), Offset::Offset(end))
                .map_err(failed)?;
        }
    }
    Ok(tpl)
}

async fn feed(consumer: StreamConsumer, codec: Arc<Codec>, watches: Watches) {
    loop {
        let Ok(msg) = consumer.recv().await else {
            continue;
        };
        let Some(payload) = msg.payload() else {
            continue;
        };
        let Ok(e) = codec.decode::<PaymentEvent>(payload).await else {
            continue;
        };
        let seen = Seen {
            status: symbol(&e.status).to_lowercase(),
            reason_code: e.reason_code.clone(),
            sequence: e.sequence,
        };
        if let Ok(mut w) = watches.lock() {
            if w.len() >= WATCHES_MAX && !w.contains_key(&e.payment_id) {
                continue;
            }
            let tx = w
                .entry(e.payment_id.clone())
                .or_insert_with(|| watch::channel(None).0);
            // A payment's events are on one partition, in sequence order: the newest wins.
            tx.send_if_modified(|cur| {
                let newer = cur.as_ref().is_none_or(|c| c.sequence < seen.sequence);
                if newer {
                    *cur = Some(seen.clone());
                }
                newer
            });
        }
    }
}
