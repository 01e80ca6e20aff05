//! `paystream bench runtime`: what exactly-once costs on this broker.
//!
//! Three loops copy the same records from an input topic to an output topic, each in its own
//! consumer group, with the same batch bounds:
//! - `eos-runtime`: the exactly-once runtime (`runtime::eos`) running the trivial `copy` processor;
//! - `bare-txn`: a bare rdkafka transactional copy loop (begin, send, send offsets, commit), the floor
//!   cost of exactly-once on this broker;
//! - `at-least-once`: produce, wait for delivery, then commit offsets; no transactions.
//!
//! Throughput: a backlog of `--events` records, drained from the start; events/s is the count over
//! the time until a read_committed reader has seen every output. Latency: records produced at
//! `--latency-rate` per second for `--latency-seconds` (after one second of warm-up traffic that is not
//! counted), each carrying its send time; latency is the time until a read_committed reader sees the copy. Peak RSS is sampled from /proc/self/status per loop.

use super::smoke::percentile;
use super::CommandError;
use crate::config::Config;
use crate::events::{Catalog, Codec};
use crate::processors::copy::{self, Copy};
use crate::runtime::eos::{self, Deps};
use crate::runtime::health::Health;
use crate::runtime::kafka;
use crate::store::writer::StoreWriter;
use crate::store::Store;
use crate::topology::{CleanupPolicy, ProcessorSpec, TopicSpec, Topology};
use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio_util::sync::CancellationToken;

const KEYS: usize = 1_000;
const PHASE_DEADLINE_S: u64 = 600;
const WARMUP_S: u32 = 1;
const WARMUP_S_US: u64 = 1_000_000;

#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Backlog size for the throughput phase.
    #[arg(long, default_value_t = 200_000, value_parser = clap::value_parser!(u32).range(1_000..=5_000_000))]
    pub events: u32,
    /// Partitions of every benchmark topic.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(i32).range(1..=64))]
    pub partitions: i32,
    /// Record value size in bytes.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(16..=65_536))]
    pub payload_bytes: u32,
    /// Overrides runtime.batch_records_max for every loop.
    #[arg(long)]
    pub batch_records: Option<usize>,
    /// Records per second in the latency phase.
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub latency_rate: u32,
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=300))]
    pub latency_seconds: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Variant {
    EosRuntime,
    BareTxn,
    AtLeastOnce,
}

impl Variant {
    const ALL: [Variant; 3] = [Variant::EosRuntime, Variant::BareTxn, Variant::AtLeastOnce];
    fn name(self) -> &'static str {
        match self {
            Variant::EosRuntime => "eos-runtime",
            Variant::BareTxn => "bare-txn",
            Variant::AtLeastOnce => "at-least-once",
        }
    }
}

#[derive(Debug, Default, Clone)]
struct Row {
    events_per_s: u64,
    p50_us: i64,
    p99_us: i64,
    max_us: i64,
    peak_rss_kib: u64,
}

pub async fn runtime(config: Config, args: BenchArgs) -> Result<String, CommandError> {
    let mut runtime = config.runtime.clone();
    if let Some(b) = args.batch_records {
        runtime.batch_records_max = b;
    }
    let mut checked = config.clone();
    checked.runtime = runtime.clone();
    checked.validate().map_err(|problems| {
        CommandError::Config(crate::config::ConfigError::Invalid {
            source_name: "--batch-records".into(),
            problems,
        })
    })?;
    let prefix = format!("bench-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let events = usize::try_from(args.events).unwrap_or(1_000);
    let payload_len = usize::try_from(args.payload_bytes).unwrap_or(256);

    // The runtime needs a store even though `copy` writes nothing: use the configured keyspace.
    super::topology::apply(&config).await?;
    let store = Store::open(&config.store).await?;
    let writer = Arc::new(StoreWriter::new(store));
    let codec = Arc::new(Codec::single_object(
        Catalog::bundled().map_err(CommandError::Schemas)?,
    ));

    let backlog = format!("{prefix}.backlog");
    create_topics(&config, std::slice::from_ref(&backlog), args.partitions).await?;
    let produce_started = Instant::now();
    produce_paced(&config, &backlog, events, payload_len, None).await?;
    let produce_s = produce_started.elapsed();
    eprintln!(
        "[bench] backlog of {events} x {payload_len} B produced in {} ms",
        produce_s.as_millis()
    );

    let rss = Arc::new(RssSampler::default());
    let sampler_stop = CancellationToken::new();
    tokio::spawn(rss.clone().run(sampler_stop.clone()));

    let mut rows: BTreeMap<Variant, Row> = BTreeMap::new();
    for variant in Variant::ALL {
        rss.reset();
        let out = format!("{prefix}.{}.out", variant.name());
        create_topics(&config, std::slice::from_ref(&out), args.partitions).await?;
        let group = format!("{prefix}-{}", variant.name());
        let stop = CancellationToken::new();
        let started = Instant::now();
        let task = start(
            variant,
            &config,
            &runtime,
            &backlog,
            &out,
            &group,
            stop.clone(),
            &writer,
            &codec,
        );
        let seen = read_until(&config, &out, args.partitions, events, None).await?;
        let elapsed = started.elapsed();
        stop.cancel();
        join(task).await?;
        let ms = u64::try_from(elapsed.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let events_per_s = u64::try_from(seen.count).unwrap_or(0).saturating_mul(1000) / ms;
        eprintln!(
            "[bench] {}: {} events in {ms} ms",
            variant.name(),
            seen.count
        );

        let lat_in = format!("{prefix}.{}.lat-in", variant.name());
        let lat_out = format!("{prefix}.{}.lat-out", variant.name());
        create_topics(&config, &[lat_in.clone(), lat_out.clone()], args.partitions).await?;
        let stop = CancellationToken::new();
        let task = start(
            variant,
            &config,
            &runtime,
            &lat_in,
            &lat_out,
            &format!("{group}-lat"),
            stop.clone(),
            &writer,
            &codec,
        );
        // One extra second of warm-up traffic, excluded from the percentiles: on fresh topics the
        // clients' metadata and fetch sessions take about half a second to settle.
        let paced = usize::try_from(
            args.latency_rate
                .saturating_mul(args.latency_seconds + WARMUP_S),
        )
        .unwrap_or(1);
        // Let the loop join its group before the clock starts.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let measure_from_us = now_us() + WARMUP_S_US;
        let reader = read_until(
            &config,
            &lat_out,
            args.partitions,
            paced,
            Some(measure_from_us),
        );
        let producer = produce_paced(
            &config,
            &lat_in,
            paced,
            payload_len,
            Some(args.latency_rate),
        );
        let (seen, produced) = tokio::join!(reader, producer);
        produced?;
        let mut lat = seen?.latencies_us;
        stop.cancel();
        join(task).await?;
        lat.sort_unstable();
        rows.insert(
            variant,
            Row {
                events_per_s,
                p50_us: percentile(&lat, 50),
                p99_us: percentile(&lat, 99),
                max_us: lat.last().copied().unwrap_or(0),
                peak_rss_kib: rss.peak_kib(),
            },
        );
    }
    sampler_stop.cancel();
    Ok(render(&rows, &args, &runtime, events, payload_len))
}

fn ms(us: i64) -> String {
    format!("{}.{}", us / 1000, (us % 1000) / 100)
}

fn render(
    rows: &BTreeMap<Variant, Row>,
    args: &BenchArgs,
    rt: &crate::runtime::config::RuntimeConfig,
    events: usize,
    payload: usize,
) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "paystream bench runtime: {events} events x {payload} B, {} partitions, batch <= {} records / {} ms; latency at {}/s for {} s",
        args.partitions, rt.batch_records_max, rt.batch_linger_ms, args.latency_rate, args.latency_seconds
    );
    let _ = writeln!(
        s,
        "| loop | events/s | p50 ms | p99 ms | max ms | peak RSS MiB |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|");
    for (v, r) in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            v.name(),
            r.events_per_s,
            ms(r.p50_us),
            ms(r.p99_us),
            ms(r.max_us),
            r.peak_rss_kib / 1024
        );
    }
    if let (Some(eos), Some(bare)) = (rows.get(&Variant::EosRuntime), rows.get(&Variant::BareTxn)) {
        let pct = eos.events_per_s.saturating_mul(100) / bare.events_per_s.max(1);
        let _ = writeln!(s, "runtime / bare transactional throughput: {pct}%");
    }
    if let (Some(bare), Some(alo)) = (rows.get(&Variant::BareTxn), rows.get(&Variant::AtLeastOnce))
    {
        let pct = bare.events_per_s.saturating_mul(100) / alo.events_per_s.max(1);
        let _ = writeln!(s, "bare transactional / at-least-once throughput: {pct}%");
    }
    s
}

async fn join(task: tokio::task::JoinHandle<Result<(), String>>) -> Result<(), CommandError> {
    match task.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(CommandError::Failed(e)),
        Err(e) => Err(CommandError::Failed(format!(
            "benchmark loop panicked: {e}"
        ))),
    }
}

#[allow(clippy::too_many_arguments)] // the benchmark's wiring, called twice per variant
fn start(
    variant: Variant,
    config: &Config,
    runtime: &crate::runtime::config::RuntimeConfig,
    input: &str,
    output: &str,
    group: &str,
    stop: CancellationToken,
    writer: &Arc<StoreWriter>,
    codec: &Arc<Codec>,
) -> tokio::task::JoinHandle<Result<(), String>> {
    let (kafka, runtime, input, output, group) = (
        config.kafka.clone(),
        runtime.clone(),
        input.to_owned(),
        output.to_owned(),
        group.to_owned(),
    );
    match variant {
        Variant::EosRuntime => {
            let dlq = format!("{input}.dlq");
            let topology = bench_topology(config, &input, &output, &dlq, &group);
            let deps = Deps {
                kafka,
                runtime,
                topology: Arc::new(topology),
                codec: codec.clone(),
                writer: writer.clone(),
                health: Health::new(),
                shutdown: stop,
            };
            tokio::spawn(async move {
                eos::run(Arc::new(Copy::new(&output)), deps)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            })
        }
        Variant::BareTxn => {
            tokio::spawn(bare_loop(kafka, runtime, input, output, group, stop, true))
        }
        Variant::AtLeastOnce => {
            tokio::spawn(bare_loop(kafka, runtime, input, output, group, stop, false))
        }
    }
}

/// A topology with just the benchmark's `copy` processor and its topics.
fn bench_topology(config: &Config, input: &str, output: &str, dlq: &str, group: &str) -> Topology {
    let topic = |name: &str, dead_letter: Option<&str>| TopicSpec {
        name: name.to_owned(),
        doc: "benchmark".into(),
        partitions: 1,
        key: "payment_id".into(),
        value_schema: "io.paystream.payments.PaymentCommand".into(),
        cleanup_policy: CleanupPolicy::Delete,
        retention_ms: 3_600_000,
        dead_letter: dead_letter.map(str::to_owned),
    };
    Topology {
        dir: config.topology.dir.clone(),
        topics: vec![
            topic(input, Some(dlq)),
            topic(output, None),
            topic(dlq, None),
        ],
        processors: vec![ProcessorSpec {
            name: copy::NAME.into(),
            doc: "benchmark".into(),
            consumer_group: group.to_owned(),
            inputs: vec![input.to_owned()],
            outputs: [("out".to_owned(), output.to_owned())].into(),
        }],
        sources: vec![],
        keyspace: crate::topology::KeyspaceSpec {
            uses_lwt: false,
            durable_writes: true,
        },
        migrations: vec![],
    }
}

/// The floor: the same batching with nothing but rdkafka calls. `transactional = false` is the
/// at-least-once loop (deliver, then commit offsets).
async fn bare_loop(
    kafka_config: crate::runtime::config::KafkaConfig,
    rt: crate::runtime::config::RuntimeConfig,
    input: String,
    output: String,
    group: String,
    stop: CancellationToken,
    transactional: bool,
) -> Result<(), String> {
    let consumer: Arc<StreamConsumer> = Arc::new(
        kafka::read_committed_consumer(&kafka_config, &group)
            .create()
            .map_err(|e| e.to_string())?,
    );
    consumer.subscribe(&[&input]).map_err(|e| e.to_string())?;
    let timeout = Duration::from_millis(rt.kafka_call_timeout_ms);
    let producer: FutureProducer = if transactional {
        let p: FutureProducer =
            kafka::transactional_producer(&kafka_config, &format!("{group}-bare"))
                .create()
                .map_err(|e| e.to_string())?;
        let p2 = p.clone();
        tokio::task::spawn_blocking(move || p2.init_transactions(timeout))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        p
    } else {
        kafka::producer(&kafka_config)
            .create()
            .map_err(|e| e.to_string())?
    };
    while !stop.is_cancelled() {
        let mut batch: Vec<OwnedMessage> = Vec::new();
        tokio::select! {
            _ = stop.cancelled() => break,
            r = consumer.recv() => batch.push(r.map_err(|e| e.to_string())?.detach()),
        }
        let deadline = tokio::time::Instant::now() + Duration::from_millis(rt.batch_linger_ms);
        while batch.len() < rt.batch_records_max {
            match tokio::time::timeout_at(deadline, consumer.recv()).await {
                Ok(r) => batch.push(r.map_err(|e| e.to_string())?.detach()),
                Err(_) => break,
            }
        }
        if transactional {
            producer.begin_transaction().map_err(|e| e.to_string())?;
        }
        let mut deliveries = Vec::with_capacity(batch.len());
        let mut offsets: BTreeMap<i32, i64> = BTreeMap::new();
        for m in &batch {
            offsets.insert(m.partition(), m.offset() + 1);
            let mut r = FutureRecord::to(&output).payload(m.payload().unwrap_or_default());
            if let Some(k) = m.key() {
                r = r.key(k);
            }
            deliveries.push(producer.send_result(r).map_err(|(e, _)| e.to_string())?);
        }
        for d in deliveries {
            d.await
                .map_err(|e| e.to_string())?
                .map_err(|(e, _)| e.to_string())?;
        }
        let mut tpl = TopicPartitionList::new();
        for (p, o) in &offsets {
            tpl.add_partition_offset(&input, *p, Offset::Offset(*o))
                .map_err(|e| e.to_string())?;
        }
        if transactional {
            let metadata = consumer.group_metadata().ok_or("no group metadata")?;
            let p = producer.clone();
            tokio::task::spawn_blocking(move || {
                p.send_offsets_to_transaction(&tpl, &metadata, timeout)?;
                p.commit_transaction(timeout)
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        } else {
            consumer
                .commit(&tpl, CommitMode::Async)
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

async fn create_topics(
    config: &Config,
    names: &[String],
    partitions: i32,
) -> Result<(), CommandError> {
    let admin = crate::runtime::admin::admin_client(&config.kafka)?;
    let topics: Vec<NewTopic> = names
        .iter()
        .map(|n| {
            NewTopic::new(
                n,
                partitions,
                TopicReplication::Fixed(config.kafka.topic_replication_factor),
            )
        })
        .collect();
    for r in admin
        .create_topics(topics.iter(), &AdminOptions::new())
        .await
        .map_err(|e| CommandError::Kafka(e.to_string()))?
    {
        r.map_err(|(t, e)| CommandError::Kafka(format!("create {t}: {e}")))?;
    }
    Ok(())
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| u64::try_from(d.as_micros()).ok())
        .unwrap_or(0)
}

/// Produces `n` records; the first 8 bytes of each value are its send time in µs. `rate` paces it.
async fn produce_paced(
    config: &Config,
    topic: &str,
    n: usize,
    len: usize,
    rate: Option<u32>,
) -> Result<(), CommandError> {
    let producer: FutureProducer = kafka::producer(&config.kafka).create()?;
    let mut pending = Vec::with_capacity(n.min(100_000));
    let started = Instant::now();
    let filler = vec![b'x'; len.saturating_sub(8)];
    for i in 0..n {
        if let Some(r) = rate {
            let due = Duration::from_micros(
                u64::try_from(i).unwrap_or(0).saturating_mul(1_000_000) / u64::from(r.max(1)),
            );
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
        let mut value = now_us().to_be_bytes().to_vec();
        value.extend_from_slice(&filler);
        let key = format!("key_{}", i % KEYS);
        pending.push(
            producer
                .send_result(FutureRecord::to(topic).key(&key).payload(&value))
                .map_err(|(e, _)| CommandError::Kafka(e.to_string()))?,
        );
        if pending.len() >= 10_000 {
            for d in pending.drain(..) {
                d.await
                    .map_err(|e| CommandError::Failed(e.to_string()))?
                    .map_err(|(e, _)| CommandError::Kafka(e.to_string()))?;
            }
        }
    }
    for d in pending {
        d.await
            .map_err(|e| CommandError::Failed(e.to_string()))?
            .map_err(|(e, _)| CommandError::Kafka(e.to_string()))?;
    }
    Ok(())
}

struct Seen {
    count: usize,
    latencies_us: Vec<i64>,
}

/// Reads `topic` with read_committed until `n` records arrived.
/// Partitions are assigned, not subscribed, so no group join delays the first records.
/// With `latency_from_us`, records the age of every record sent at or after that time.
async fn read_until(
    config: &Config,
    topic: &str,
    partitions: i32,
    n: usize,
    latency_from_us: Option<u64>,
) -> Result<Seen, CommandError> {
    let consumer: StreamConsumer =
        kafka::read_committed_consumer(&config.kafka, &format!("{topic}-reader-{}", now_us()))
            .create()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let mut seen = Seen {
        count: 0,
        latencies_us: Vec::with_capacity(if latency_from_us.is_some() { n } else { 0 }),
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(PHASE_DEADLINE_S);
    while seen.count < n {
        let m = tokio::time::timeout_at(deadline, consumer.recv())
            .await
            .map_err(|_| {
                CommandError::Failed(format!(
                    "only {} of {n} records on {topic} within {PHASE_DEADLINE_S} s",
                    seen.count
                ))
            })??;
        seen.count += 1;
        if let Some(from) = latency_from_us {
            let sent = m
                .payload()
                .and_then(|p| p.get(..8))
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            if sent >= from {
                seen.latencies_us
                    .push(i64::try_from(now_us().saturating_sub(sent)).unwrap_or(i64::MAX));
            }
        }
    }
    Ok(seen)
}

/// Highest VmRSS seen since the last reset.
#[derive(Default)]
struct RssSampler {
    peak_kib: AtomicU64,
}

impl RssSampler {
    fn reset(&self) {
        self.peak_kib.store(current_rss_kib(), Ordering::SeqCst);
    }

    fn peak_kib(&self) -> u64 {
        self.peak_kib.load(Ordering::SeqCst)
    }

    async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        while !stop.is_cancelled() {
            tick.tick().await;
            self.peak_kib.fetch_max(current_rss_kib(), Ordering::SeqCst);
        }
    }
}

fn current_rss_kib() -> u64 {
    proc_status_kib("VmRSS:")
}

/// The process's peak resident memory so far (VmHWM), in KiB; 0 where /proc is absent.
pub fn peak_rss_kib() -> u64 {
    proc_status_kib("VmHWM:")
}

fn proc_status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
