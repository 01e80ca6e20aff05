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

mod loops;
pub mod restore;
mod rss;
mod traffic;

use super::smoke::percentile;
use super::CommandError;
use crate::config::Config;
use crate::events::{Catalog, Codec};
use crate::runtime::config::RuntimeConfig;
use crate::store::writer::StoreWriter;
use crate::store::Store;
use loops::{join, Loop};
pub use rss::peak_rss_kib;
use rss::RssSampler;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use traffic::{create_topics, now_us, produce_paced, read_until};

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
    let events = usize::try_from(args.events).unwrap_or(1_000);
    // The runtime needs a store even though `copy` writes nothing: use the configured keyspace.
    super::topology::apply(&config).await?;
    let store = Store::open(&config.store).await?;
    let bench = Bench {
        prefix: format!("bench-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
        payload_len: usize::try_from(args.payload_bytes).unwrap_or(256),
        writer: Arc::new(StoreWriter::new(store)),
        codec: Arc::new(Codec::single_object(
            Catalog::bundled().map_err(CommandError::Schemas)?,
        )),
        config: &config,
        runtime: &runtime,
        args: &args,
    };
    let backlog = bench.backlog(events).await?;
    let rss = Arc::new(RssSampler::default());
    let sampler_stop = CancellationToken::new();
    tokio::spawn(rss.clone().run(sampler_stop.clone()));
    let mut rows: BTreeMap<Variant, Row> = BTreeMap::new();
    for variant in Variant::ALL {
        rss.reset();
        let events_per_s = bench.throughput(variant, &backlog, events).await?;
        let mut lat = bench.latencies(variant).await?;
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
    Ok(render(&rows, &args, &runtime, events, bench.payload_len))
}

/// One benchmark run's wiring, shared by its phases.
struct Bench<'a> {
    prefix: String,
    payload_len: usize,
    writer: Arc<StoreWriter>,
    codec: Arc<Codec>,
    config: &'a Config,
    runtime: &'a RuntimeConfig,
    args: &'a BenchArgs,
}

impl Bench<'_> {
    fn start(
        &self,
        variant: Variant,
        topics: (&str, &str),
        group: &str,
        stop: CancellationToken,
    ) -> Loop {
        loops::start(
            variant,
            self.config,
            self.runtime,
            topics,
            group,
            stop,
            (&self.writer, &self.codec),
        )
    }

    /// The backlog every loop drains: `events` records, produced before any loop starts.
    async fn backlog(&self, events: usize) -> Result<String, CommandError> {
        let backlog = format!("{}.backlog", self.prefix);
        create_topics(
            self.config,
            std::slice::from_ref(&backlog),
            self.args.partitions,
        )
        .await?;
        let produce_started = Instant::now();
        produce_paced(self.config, &backlog, events, self.payload_len, None).await?;
        eprintln!(
            "[bench] backlog of {events} x {} B produced in {} ms",
            self.payload_len,
            produce_started.elapsed().as_millis()
        );
        Ok(backlog)
    }

    /// Events per second until a read_committed reader has seen every copy of the backlog.
    async fn throughput(
        &self,
        variant: Variant,
        backlog: &str,
        events: usize,
    ) -> Result<u64, CommandError> {
        let out = format!("{}.{}.out", self.prefix, variant.name());
        create_topics(
            self.config,
            std::slice::from_ref(&out),
            self.args.partitions,
        )
        .await?;
        let group = format!("{}-{}", self.prefix, variant.name());
        let stop = CancellationToken::new();
        let started = Instant::now();
        let task = self.start(variant, (backlog, &out), &group, stop.clone());
        let seen = read_until(self.config, &out, self.args.partitions, events, None).await?;
        let elapsed = started.elapsed();
        stop.cancel();
        join(task).await?;
        let ms = u64::try_from(elapsed.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        eprintln!(
            "[bench] {}: {} events in {ms} ms",
            variant.name(),
            seen.count
        );
        Ok(u64::try_from(seen.count).unwrap_or(0).saturating_mul(1000) / ms)
    }

    /// Send-to-seen latencies of paced traffic, warm-up excluded.
    async fn latencies(&self, variant: Variant) -> Result<Vec<i64>, CommandError> {
        let args = self.args;
        let lat_in = format!("{}.{}.lat-in", self.prefix, variant.name());
        let lat_out = format!("{}.{}.lat-out", self.prefix, variant.name());
        create_topics(
            self.config,
            &[lat_in.clone(), lat_out.clone()],
            args.partitions,
        )
        .await?;
        let stop = CancellationToken::new();
        let group = format!("{}-{}-lat", self.prefix, variant.name());
        let task = self.start(variant, (&lat_in, &lat_out), &group, stop.clone());
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
            self.config,
            &lat_out,
            args.partitions,
            paced,
            Some(measure_from_us),
        );
        let producer = produce_paced(
            self.config,
            &lat_in,
            paced,
            self.payload_len,
            Some(args.latency_rate),
        );
        let (seen, produced) = tokio::join!(reader, producer);
        produced?;
        stop.cancel();
        join(task).await?;
        Ok(seen?.latencies_us)
    }
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
