//! `paystream smoke`: the foundation check. It checks and applies the topology, serves the ops endpoints, and
//! pushes demo traffic through the real components: Avro payment commands produced in one Kafka
//! transaction, read back by a read_committed consumer, decoded, written to the store as payment rows
//! and verified on read-back. It prints a summary and exits non-zero if anything was lost or differs.

use super::CommandError;
use crate::config::Config;
use crate::domain::clock::now_millis;
use crate::events::demo::demo_command;
use crate::events::payment_event::IntentStatus;
use crate::events::{Codec, PaymentCommand, PaymentEvent, WireFormat};
use crate::metrics as m;
use crate::runtime::kafka;
use crate::runtime::service::Service;
use crate::store::payments::PaymentsTable;
use crate::store::Store;
use futures::{StreamExt, TryStreamExt};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tracing::info;

pub const DEMO_TOPIC: &str = "payments.commands";
pub const DEMO_EVENTS_MAX: usize = 100_000;
const CONSUME_DEADLINE_MS: u64 = 60_000;
const STORE_CONCURRENCY: usize = 32;

#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// How many demo payment commands to push through Kafka and the store.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub demo_events: u32,
    /// Keep serving /metrics, /healthz and /readyz after the demo until SIGTERM or SIGINT.
    #[arg(long)]
    pub keep_running: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub wire_format: String,
    pub apply: String,
    pub produced: usize,
    pub produced_bytes: usize,
    pub consumed: usize,
    pub rows_verified: usize,
    pub rows_mismatched: usize,
    pub latency_p50_ms: i64,
    pub latency_p99_ms: i64,
    pub elapsed_ms: u128,
    pub ops_addr: String,
}

impl Summary {
    pub fn render(&self) -> String {
        format!(
            "paystream smoke: summary\n\
             \x20 ops endpoints     http://{}/metrics /healthz /readyz\n\
             \x20 topology          {}\n\
             \x20 wire format       {}\n\
             \x20 produced          {} PaymentCommand records to {DEMO_TOPIC} in 1 transaction ({} bytes)\n\
             \x20 consumed          {}/{} decoded by a read_committed consumer\n\
             \x20 store rows        {} written and verified on read-back, {} mismatched\n\
             \x20 produce->consume  p50 {} ms, p99 {} ms\n\
             \x20 elapsed           {} ms\n\
             \x20 result            {}",
            self.ops_addr,
            self.apply,
            self.wire_format,
            self.produced,
            self.produced_bytes,
            self.consumed,
            self.produced,
            self.rows_verified,
            self.rows_mismatched,
            self.latency_p50_ms,
            self.latency_p99_ms,
            self.elapsed_ms,
            if self.is_ok() { "OK: nothing lost, nothing differs" } else { "FAILED" }
        )
    }

    pub fn is_ok(&self) -> bool {
        self.produced > 0
            && self.consumed == self.produced
            && self.rows_verified == self.produced
            && self.rows_mismatched == 0
    }
}

pub async fn run(config: Config, args: RunArgs) -> Result<Summary, CommandError> {
    let started = Instant::now();
    let service = Service::start(&config.service, &["topology", "kafka", "store"])
        .await
        .map_err(CommandError::Failed)?;
    let health = service.health.clone();
    let ops_addr = service.ops_addr;

    let report = super::topology::apply(&config).await?;
    health.set("topology", true);
    let codec = super::codec(&config).await?;
    let store = Store::open(&config.store).await?;
    let table = PaymentsTable::prepare(&store).await?;
    health.set("store", true);

    let run_id = uuid::Uuid::now_v7().simple().to_string();
    let count = usize::try_from(args.demo_events)
        .unwrap_or(DEMO_EVENTS_MAX)
        .min(DEMO_EVENTS_MAX);
    let commands: Vec<PaymentCommand> = (0..count)
        .map(|i| demo_command(&run_id, i, now_millis()))
        .collect();

    let (first_offsets, produced_bytes) =
        produce_in_one_transaction(&config, &codec, &run_id, &commands).await?;
    health.set("kafka", true);
    let consumed = consume_committed(&config, &codec, &first_offsets, &commands).await?;

    let results = verify_rows(&table, &consumed).await?;

    let mut latencies: Vec<i64> = consumed.iter().map(|(_, l)| *l).collect();
    latencies.sort_unstable();
    let summary = Summary {
        wire_format: match codec.wire_format() {
            WireFormat::SingleObject => {
                "Avro single-object (c3 01 + CRC-64-AVRO fingerprint), bundled schemas".into()
            }
            WireFormat::Confluent => {
                "Confluent (00 + schema id) through the schema registry".into()
            }
        },
        apply: report.render(&config.store.keyspace),
        produced: commands.len(),
        produced_bytes,
        consumed: consumed.len(),
        rows_verified: results.iter().filter(|ok| **ok).count(),
        rows_mismatched: results.iter().filter(|ok| !**ok).count(),
        latency_p50_ms: percentile(&latencies, 50),
        latency_p99_ms: percentile(&latencies, 99),
        elapsed_ms: started.elapsed().as_millis(),
        ops_addr: ops_addr.to_string(),
    };
    println!("{}", summary.render());

    if args.keep_running {
        info!("demo done; serving ops endpoints until SIGTERM");
        service.shutdown.cancelled().await;
    }
    service.stop().await;
    Ok(summary)
}

/// Writes each consumed command's first event as a payments row and reads it back: true where the
/// row holds what was written.
async fn verify_rows(
    table: &PaymentsTable,
    consumed: &[(PaymentCommand, i64)],
) -> Result<Vec<bool>, CommandError> {
    futures::stream::iter(consumed.iter().map(|(cmd, _)| async move {
        let event = demo_event(cmd);
        table.upsert(&event).await?;
        let row = table.get(&event.payment_id).await?;
        let ok = row.is_some_and(|r| {
            r.amount_minor == event.amount_minor
                && r.currency == event.currency
                && r.sequence == event.sequence
                && r.last_event_id == event.event_id
                && r.merchant_id == event.merchant_id
        });
        metrics::counter!(m::DEMO_ROWS, "outcome" => if ok { "verified" } else { "mismatch" })
            .increment(1);
        Ok::<bool, CommandError>(ok)
    }))
    .buffer_unordered(STORE_CONCURRENCY)
    .try_collect()
    .await
}

/// Nearest-rank percentile of sorted values; 0 when empty.
pub fn percentile<T: Copy + Default>(sorted: &[T], p: usize) -> T {
    let rank = (p.min(100) * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied().unwrap_or_default()
}

/// The state a CREATE leaves a payment in: the first transition, derived only from the command.
fn demo_event(cmd: &PaymentCommand) -> PaymentEvent {
    PaymentEvent {
        event_id: format!("{}:1", cmd.command_id),
        payment_id: cmd.payment_id.clone(),
        merchant_id: cmd.merchant_id.clone(),
        sequence: 1,
        status: if cmd.payment_method.is_some() {
            IntentStatus::RequiresConfirmation
        } else {
            IntentStatus::RequiresPaymentMethod
        },
        previous_status: None,
        attempt_id: None,
        attempt_status: None,
        amount_minor: cmd.amount_minor.unwrap_or(0),
        amount_captured_minor: 0,
        currency: cmd.currency.clone().unwrap_or_default(),
        connector: None,
        reason_code: None,
        reason: None,
        cause_id: cmd.command_id.clone(),
        provider_fee_minor: None,
        risk: None,
        occurred_at: cmd.issued_at,
    }
}

/// Produces every command in one transaction; returns the first offset written per partition.
async fn produce_in_one_transaction(
    config: &Config,
    codec: &Codec,
    run_id: &str,
    commands: &[PaymentCommand],
) -> Result<(HashMap<i32, i64>, usize), CommandError> {
    let producer: FutureProducer = kafka::transactional_producer(
        &config.kafka,
        &config.deployment.group(&format!("demo-{run_id}")),
    )
    .create()?;
    let topic = config.deployment.topic(DEMO_TOPIC);
    let timeout = Duration::from_millis(config.kafka.request_timeout_ms);
    crate::runtime::eos::init_transactions(&producer, &config.runtime)
        .await
        .map_err(CommandError::Kafka)?;
    producer.begin_transaction()?;
    let mut bytes_total = 0usize;
    let mut encoded = Vec::with_capacity(commands.len());
    for c in commands {
        let bytes = codec.encode(c).await?;
        bytes_total += bytes.len();
        encoded.push((c.payment_id.as_str(), bytes));
    }
    let deliveries = futures::future::join_all(encoded.iter().map(|(key, bytes)| {
        producer.send(FutureRecord::to(&topic).key(*key).payload(bytes), timeout)
    }))
    .await;
    let mut first = HashMap::new();
    for d in deliveries {
        match d {
            Ok(delivery) => {
                let off = first.entry(delivery.partition).or_insert(delivery.offset);
                *off = (*off).min(delivery.offset);
            }
            Err((e, _)) => {
                let p = producer.clone();
                let _ = tokio::task::spawn_blocking(move || p.abort_transaction(timeout)).await;
                return Err(CommandError::Kafka(format!(
                    "produce to {topic} failed, transaction aborted: {e}"
                )));
            }
        }
    }
    let p = producer.clone();
    tokio::task::spawn_blocking(move || p.commit_transaction(timeout))
        .await
        .map_err(|e| CommandError::Failed(e.to_string()))??;
    metrics::counter!(m::DEMO_PRODUCED, "topic" => DEMO_TOPIC)
        .increment(u64::try_from(commands.len()).unwrap_or(0));
    info!(
        records = commands.len(),
        bytes = bytes_total,
        "demo transaction committed"
    );
    Ok((first, bytes_total))
}

/// Reads the committed records back from their first offsets until every command is seen or the
/// deadline passes. Returns each decoded command with its produce-to-consume latency.
async fn consume_committed(
    config: &Config,
    codec: &Codec,
    first_offsets: &HashMap<i32, i64>,
    commands: &[PaymentCommand],
) -> Result<Vec<(PaymentCommand, i64)>, CommandError> {
    let consumer: StreamConsumer =
        kafka::read_committed_consumer(&config.kafka, &config.deployment.group("demo")).create()?;
    let topic = config.deployment.topic(DEMO_TOPIC);
    let mut tpl = TopicPartitionList::new();
    for (partition, offset) in first_offsets {
        tpl.add_partition_offset(&topic, *partition, Offset::Offset(*offset))?;
    }
    consumer.assign(&tpl)?;
    let mut wanted: HashMap<&str, &PaymentCommand> = commands
        .iter()
        .map(|c| (c.command_id.as_str(), c))
        .collect();
    let mut out = Vec::with_capacity(commands.len());
    let deadline = tokio::time::Instant::now() + Duration::from_millis(CONSUME_DEADLINE_MS);
    while !wanted.is_empty() {
        let msg = match tokio::time::timeout_at(deadline, consumer.recv()).await {
            Err(_) => break,
            Ok(r) => r?,
        };
        let Some(payload) = msg.payload() else {
            continue;
        };
        let cmd: PaymentCommand = codec.decode(payload).await?;
        if let Some(original) = wanted.remove(cmd.command_id.as_str()) {
            if *original != cmd {
                return Err(CommandError::Failed(format!(
                    "command {} came back different from what was produced",
                    cmd.command_id
                )));
            }
            let sent = msg.timestamp().to_millis().unwrap_or(now_millis());
            out.push((cmd, (now_millis() - sent).max(0)));
            metrics::counter!(m::DEMO_CONSUMED, "topic" => DEMO_TOPIC).increment(1);
        }
    }
    if !wanted.is_empty() {
        tracing::error!(
            missing = wanted.len(),
            "committed records not seen before the deadline"
        );
    }
    for (_, latency_ms) in &out {
        // Milliseconds to seconds at the edge, for the Prometheus convention; the value is small.
        let secs = Duration::from_millis(u64::try_from(*latency_ms).unwrap_or(0)).as_secs_f64();
        metrics::histogram!(m::DEMO_LATENCY).record(secs);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_nearest_rank() {
        let v: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50), 50);
        assert_eq!(percentile(&v, 99), 99);
        assert_eq!(percentile(&[7], 99), 7);
        assert_eq!(percentile::<i64>(&[], 50), 0);
    }

    #[test]
    fn demo_commands_are_valid_events() {
        let codec = Codec::single_object(crate::events::Catalog::bundled().unwrap());
        for i in 0..12 {
            let c = demo_command("r", i, 1);
            assert_eq!(
                codec
                    .decode_sync::<PaymentCommand>(&codec.encode_sync(&c).unwrap())
                    .unwrap(),
                c
            );
            crate::domain::Money::from_wire(
                c.amount_minor.unwrap(),
                c.currency.as_deref().unwrap(),
            )
            .unwrap();
        }
    }
}
