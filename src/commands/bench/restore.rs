//! `paystream bench restore`: how long an instance takes to restore keyed state from a changelog,
//! and the memory it needs. Writes `--keys` states of `--state-bytes` each to a fresh changelog
//! topic (one record per key, as a compacted changelog holds), then restores every partition into a
//! fresh local store, as an instance does when it is assigned them.

use super::rss::{peak_rss_kib, RssSampler};
use super::traffic::{create_topics, realistic_bytes};
use crate::commands::CommandError;
use crate::config::Config;
use crate::events::{Catalog, Codec, KeyedState, TimestampMillis};
use crate::runtime::kafka;
use crate::runtime::state::local::Local;
use crate::runtime::state::restore::{Reader, Restored};
use rdkafka::producer::{FutureProducer, FutureRecord};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Deliveries awaited at once while writing the changelog.
const IN_FLIGHT_MAX: usize = 50_000;

#[derive(Debug, Clone, clap::Args)]
pub struct RestoreArgs {
    /// Keys (payments) in state.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub keys: u32,
    /// Size of one key's state, in bytes (a payment's is about 600).
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u32).range(16..=65_536))]
    pub state_bytes: u32,
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(i32).range(1..=64))]
    pub partitions: i32,
    /// Restore this changelog (written by an earlier run) instead of writing one: the process then
    /// only restores, so its peak memory is the restore's.
    #[arg(long)]
    pub topic: Option<String>,
}

pub async fn restore(config: Config, args: RestoreArgs) -> Result<String, CommandError> {
    let codec = Arc::new(Codec::single_object(
        Catalog::bundled().map_err(CommandError::Schemas)?,
    ));
    let keys = usize::try_from(args.keys).unwrap_or(1);
    let state_len = usize::try_from(args.state_bytes).unwrap_or(600);
    let written = Instant::now();
    let topic = match &args.topic {
        Some(t) => t.clone(),
        None => {
            let t = format!(
                "bench-restore-{}",
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            );
            create_topics(&config, std::slice::from_ref(&t), args.partitions).await?;
            write_changelog(&config, &codec, &t, keys, state_len).await?;
            t
        }
    };
    let write_s = written.elapsed();

    let path = config.runtime.state_dir.join(format!("{topic}.redb"));
    let mut local = Local::create(&path, config.runtime.state_cache_bytes)
        .map_err(|e| CommandError::Failed(e.to_string()))?;
    let reader = Reader::new(
        &config.kafka,
        "bench-restore",
        &topic,
        codec,
        Duration::from_millis(config.runtime.kafka_call_timeout_ms),
    )
    .map_err(CommandError::Failed)?;
    let rss = Arc::new(RssSampler::default());
    rss.reset();
    let stop = CancellationToken::new();
    tokio::spawn(rss.clone().run(stop.clone()));
    let from: BTreeMap<i32, i64> = (0..args.partitions).map(|p| (p, 0)).collect();
    let started = Instant::now();
    let restored = reader
        .restore(&mut local, &from)
        .await
        .map_err(|e| CommandError::Failed(e.to_string()))?;
    let took = started.elapsed();
    stop.cancel();

    let mut stored = 0;
    for p in 0..args.partitions {
        stored += local
            .len(p)
            .map_err(|e| CommandError::Failed(e.to_string()))?;
    }
    let file_mib = std::fs::metadata(&path).map_or(0, |m| m.len()) >> 20;
    drop(local);
    let _ = std::fs::remove_file(&path);
    let head = format!(
        "paystream bench restore: {topic}: {keys} keys of {state_len} bytes in {} partitions (written in {} ms)",
        args.partitions,
        write_s.as_millis()
    );
    let store = format!(
        "{stored} keys, file {file_mib} MiB, cache limit {} MiB",
        config.runtime.state_cache_bytes >> 20
    );
    Ok(report(&head, &restored, took, &store, rss.peak_kib()))
}

fn report(
    head: &str,
    restored: &BTreeMap<i32, Restored>,
    took: Duration,
    store: &str,
    restore_peak_kib: u64,
) -> String {
    let records: u64 = restored.values().map(|r| r.records).sum();
    let bytes: u64 = restored.values().map(|r| r.bytes).sum();
    let ms = took.as_millis().max(1);
    format!(
        "{head}\n\
         \x20 restored          {records} records, {} MiB in {ms} ms: {} records/s, {} MiB/s\n\
         \x20 local store       {store}\n\
         \x20 peak RSS          {} MiB during the restore ({} MiB process peak, writing included)",
        bytes >> 20,
        u128::from(records) * 1_000 / ms,
        (u128::from(bytes) * 1_000 / ms) >> 20,
        restore_peak_kib / 1024,
        peak_rss_kib() / 1024,
    )
}

/// One `KeyedState` record per key, as a compacted changelog holds after compaction.
async fn write_changelog(
    config: &Config,
    codec: &Codec,
    topic: &str,
    keys: usize,
    state_len: usize,
) -> Result<(), CommandError> {
    let producer: FutureProducer = kafka::producer(&config.kafka).create()?;
    let mut pending = Vec::with_capacity(IN_FLIGHT_MAX);
    for i in 0..keys {
        let key = format!("pay_{i:012}");
        let envelope = KeyedState {
            processor: "bench".into(),
            key: key.clone(),
            state: realistic_bytes(i, state_len),
            timers: vec![],
            written_at: TimestampMillis(0),
        };
        let payload = codec.encode_sync(&envelope)?;
        let record = FutureRecord::to(topic).key(&key).payload(&payload);
        match producer.send_result(record) {
            Ok(d) => pending.push(d),
            Err((e, _)) => return Err(CommandError::Kafka(format!("produce: {e}"))),
        }
        if pending.len() >= IN_FLIGHT_MAX {
            for d in pending.drain(..) {
                let _ = d.await;
            }
        }
    }
    for d in pending {
        let _ = d.await;
    }
    Ok(())
}
