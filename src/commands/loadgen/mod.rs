//! `paystream loadgen`: drives the REST API with a mix of payment methods and sandbox scenarios at a
//! set rate, follows every payment to a final state (or to pending with a reason), and prints a live
//! summary: counts per state, success rate, and p50/p99 latency from intent to final state.

pub mod follow;
mod mix;
mod payment;

use super::api_client::ApiClient;
use super::smoke::percentile;
use super::CommandError;
use crate::bridge::config::DEMO_MERCHANT_KEY;
use follow::Follower;
use futures::StreamExt;
pub use mix::{body_for, kind_of, Kind, MIX};
use payment::one;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Status polls start at this interval and back off by half each time, up to the maximum: polling is
/// the load generator's own cost, and it competes with the pipeline for the same cores.
const POLL_INTERVAL_MS: u64 = 50;
const POLL_INTERVAL_MS_MAX: u64 = 500;
const REQUEST_TIMEOUT_MS: u64 = 10_000;

#[derive(Debug, Clone, clap::Args)]
pub struct LoadgenArgs {
    /// Payments to create.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub payments: u32,
    /// Payments created per second.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=5_000))]
    pub rate: u32,
    /// Payments followed at once.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub concurrency: u32,
    /// How long a payment may take to settle before it is reported as still pending.
    #[arg(long, default_value_t = 30)]
    pub settle_timeout_s: u64,
    /// The bridge's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8090")]
    pub bridge_url: String,
    /// The merchant API key.
    #[arg(long, default_value = DEMO_MERCHANT_KEY)]
    pub api_key: String,
    /// `full`: every sandbox scenario; `no-timeouts`: the timeout scenario (which holds a connector
    /// batch for the whole connector timeout) replaced by plain successes.
    #[arg(long, value_enum, default_value_t = Mix::Full)]
    pub mix: Mix,
    /// How payments are followed to their final state: `events` consumes the payment events topic
    /// (read_committed), as an upstream system would; `poll` polls `GET /v1/payment_intents/{id}`.
    #[arg(long, value_enum, default_value_t = Follow::Events)]
    pub follow: Follow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Follow {
    Events,
    Poll,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mix {
    Full,
    NoTimeouts,
}

/// Where one payment ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    pub kind: &'static str,
    pub payment_id: String,
    pub status: String,
    pub reason_code: Option<String>,
    pub latency_ms: u64,
}

#[derive(Debug, Clone, Default)]
pub struct LoadSummary {
    pub created: u64,
    pub refused: u64,
    pub by_state: BTreeMap<String, u64>,
    pub pending_reasons: BTreeMap<String, u64>,
    /// Accepted but never applied within the settle timeout.
    pub lost: u64,
    pub latency_p50_ms: u64,
    pub latency_p99_ms: u64,
    pub elapsed_ms: u128,
    pub payments: Vec<Settled>,
}

impl LoadSummary {
    pub fn success_permille(&self) -> u64 {
        let ok = self.by_state.get("succeeded").copied().unwrap_or(0);
        let done: u64 = self.by_state.values().sum();
        (ok * 1_000).checked_div(done).unwrap_or(0)
    }

    pub fn render(&self) -> String {
        let states = self
            .by_state
            .iter()
            .map(|(s, n)| format!("{s}={n}"))
            .collect::<Vec<_>>()
            .join(" ");
        let pending = self
            .pending_reasons
            .iter()
            .map(|(s, n)| format!("{s}={n}"))
            .collect::<Vec<_>>()
            .join(" ");
        let per_s = (u128::from(self.created) * 1_000)
            .checked_div(self.elapsed_ms)
            .unwrap_or(0);
        format!(
            "paystream loadgen: summary\n\
             \x20 payments          {} settled ({} refused by the API) in {} ms: {per_s}/s\n\
             \x20 states            {states}\n\
             \x20 pending reasons   {}\n\
             \x20 success rate      {}.{}%\n\
             \x20 intent->final     p50 {} ms, p99 {} ms\n\
             \x20 never applied     {}",
            self.created,
            self.refused,
            self.elapsed_ms,
            if pending.is_empty() {
                "-".into()
            } else {
                pending
            },
            self.success_permille() / 10,
            self.success_permille() % 10,
            self.latency_p50_ms,
            self.latency_p99_ms,
            self.lost
        )
    }
}

fn is_final(status: &str) -> bool {
    matches!(status, "succeeded" | "failed" | "canceled" | "expired")
}

fn summarize(settled: &[Settled], refused: u64, started: Instant) -> LoadSummary {
    let mut s = LoadSummary {
        created: u64::try_from(settled.len()).unwrap_or(u64::MAX),
        refused,
        elapsed_ms: started.elapsed().as_millis(),
        ..LoadSummary::default()
    };
    let mut lat = Vec::new();
    for p in settled {
        *s.by_state.entry(p.status.clone()).or_default() += 1;
        if p.status == "accepted" {
            s.lost += 1;
        } else if !is_final(&p.status) {
            let reason = p.reason_code.clone().unwrap_or_else(|| "NONE".into());
            *s.pending_reasons.entry(reason).or_default() += 1;
        } else {
            lat.push(p.latency_ms);
        }
    }
    lat.sort_unstable();
    s.latency_p50_ms = percentile(&lat, 50);
    s.latency_p99_ms = percentile(&lat, 99);
    s
}

/// Prints the summary so far every second, until aborted.
async fn print_live(
    done: Arc<Mutex<Vec<Settled>>>,
    refused: Arc<std::sync::atomic::AtomicU64>,
    started: Instant,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tick.tick().await;
        let snapshot = done.lock().map(|d| d.clone()).unwrap_or_default();
        let s = summarize(
            &snapshot,
            refused.load(std::sync::atomic::Ordering::Relaxed),
            started,
        );
        let states = s
            .by_state
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        println!(
            "  [{:>4}s] settled {:>6}  {states}  success {}.{}%  p50 {} ms  p99 {} ms",
            started.elapsed().as_secs(),
            s.created,
            s.success_permille() / 10,
            s.success_permille() % 10,
            s.latency_p50_ms,
            s.latency_p99_ms
        );
    }
}

/// The follower `args` ask for, started at the end of the events topic before any payment.
pub async fn follower(
    args: &LoadgenArgs,
    config: &crate::config::Config,
) -> Result<Option<Arc<Follower>>, CommandError> {
    match args.follow {
        Follow::Poll => Ok(None),
        Follow::Events => {
            let codec = Arc::new(super::codec(config).await?);
            Ok(Some(Arc::new(Follower::start(config, codec).await?)))
        }
    }
}

/// Runs the load; with `live`, prints a summary line every second. With a `follower`, payments are
/// followed through their events; without, by polling.
pub async fn run(
    args: &LoadgenArgs,
    live: bool,
    follower: Option<Arc<Follower>>,
) -> Result<LoadSummary, CommandError> {
    let client = Arc::new(
        ApiClient::new(&args.bridge_url, &args.api_key, REQUEST_TIMEOUT_MS)
            .map_err(CommandError::Failed)?,
    );
    let run_id = format!("lg{}", uuid::Uuid::now_v7().simple());
    let settle = Duration::from_secs(args.settle_timeout_s);
    let started = Instant::now();
    let done: Arc<Mutex<Vec<Settled>>> = Arc::new(Mutex::new(Vec::new()));
    let refused = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let period = Duration::from_micros(1_000_000 / u64::from(args.rate.max(1)));
    let mut interval = tokio::time::interval(period);
    // Never faster than the rate: ticks missed while every slot was busy are not fired in a burst.
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let ticker = Arc::new(tokio::sync::Mutex::new(interval));

    let printer = live.then(|| tokio::spawn(print_live(done.clone(), refused.clone(), started)));

    let run_id = Arc::new(run_id);
    let mix = args.mix;
    futures::stream::iter(0..args.payments)
        .map(|i| {
            let (client, run_id, ticker, done, refused, follower) = (
                client.clone(),
                run_id.clone(),
                ticker.clone(),
                done.clone(),
                refused.clone(),
                follower.clone(),
            );
            async move {
                ticker.lock().await.tick().await;
                match one(&client, &run_id, i, settle, mix, follower.as_deref()).await {
                    Some(s) => {
                        if let Ok(mut d) = done.lock() {
                            d.push(s);
                        }
                    }
                    None => {
                        refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }
        })
        .buffer_unordered(usize::try_from(args.concurrency).unwrap_or(1).max(1))
        .collect::<Vec<()>>()
        .await;
    if let Some(p) = printer {
        p.abort();
    }
    let settled = done.lock().map(|d| d.clone()).unwrap_or_default();
    let mut s = summarize(
        &settled,
        refused.load(std::sync::atomic::Ordering::Relaxed),
        started,
    );
    s.payments = settled;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_covers_every_kind_in_proportion() {
        let total: u32 = MIX.iter().map(|k| k.weight).sum();
        assert_eq!(total, 100);
        let mut seen: BTreeMap<&str, u32> = BTreeMap::new();
        for i in 0..100 {
            *seen.entry(kind_of(i).name).or_default() += 1;
        }
        for k in MIX {
            assert_eq!(seen.get(k.name).copied(), Some(k.weight), "{}", k.name);
        }
    }
}
