//! The payment flow's long-running pieces: `paystream bridge`, `paystream sandbox`, and `paystream run`
//! (the main job: every processor, the bridge and the sandbox in one process, driven by the load
//! generator, then a ledger audit).

use super::loadgen::{self, LoadSummary, LoadgenArgs};
use super::process::{self, ProcessorSet};
use super::CommandError;
use crate::bridge::router;
use crate::bridge::shared::{self, Bridge};
use crate::config::Config;
use crate::runtime::eos::RunStats;
use crate::runtime::health::Health;
use crate::runtime::kafka;
use crate::runtime::service::Service;
use crate::sandbox::server::{self as sandbox_server, Sandbox};
use crate::store::beneficiaries::BeneficiariesTable;
use crate::store::bridge::BridgeStore;
use crate::store::payments::PaymentsTable;
use crate::store::payouts::PayoutsTable;
use crate::store::refunds::RefundsTable;
use crate::store::Store;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::info;

async fn bind(listen: SocketAddr, what: &str) -> Result<tokio::net::TcpListener, CommandError> {
    tokio::net::TcpListener::bind(listen).await.map_err(|e| {
        CommandError::Failed(format!("{what}: cannot listen on {listen}: {e}. Fix: free the port or change the listen address in the config"))
    })
}

/// Serves `router` on `listener` until `shutdown`.
fn serve_on(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    shutdown: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
    })
}

/// Serves `router` on `listen` until `shutdown`; returns the bound address.
pub async fn serve(
    listen: SocketAddr,
    router: axum::Router,
    shutdown: CancellationToken,
    what: &str,
) -> Result<(SocketAddr, JoinHandle<()>), CommandError> {
    let listener = bind(listen, what).await?;
    let addr = listener.local_addr()?;
    info!(%addr, "{what} listening");
    Ok((addr, serve_on(listener, router, shutdown)))
}

/// The whole pipeline in this process: the flow's processors, the bridge and the sandbox, with the
/// connectors pointed at the sandbox and the sandbox's webhooks at the bridge.
pub struct Pipeline {
    pub bridge_addr: SocketAddr,
    pub sandbox_addr: SocketAddr,
    /// The config as wired (connector URLs, webhook URL).
    pub config: Config,
    stop: CancellationToken,
    processors: process::Running,
    servers: Vec<JoinHandle<()>>,
}

impl Pipeline {
    /// Starts the pipeline; it stops when `shutdown` is cancelled or [`Pipeline::stop`] is called.
    pub async fn start(
        config: &Config,
        health: &Arc<Health>,
        shutdown: &CancellationToken,
    ) -> Result<Pipeline, CommandError> {
        Self::start_with(config, health, shutdown, &ProcessorSet::flow()).await
    }

    /// [`Pipeline::start`] with only the processors of `set` in this process.
    pub async fn start_with(
        config: &Config,
        health: &Arc<Health>,
        shutdown: &CancellationToken,
        set: &ProcessorSet,
    ) -> Result<Pipeline, CommandError> {
        let mut config = config.clone();
        let stop = shutdown.child_token();
        let bridge_listener = bind(config.bridge.listen, "bridge").await?;
        let sandbox_listener = bind(config.sandbox.listen, "sandbox").await?;
        let bridge_addr = bridge_listener.local_addr()?;
        let sandbox_addr = sandbox_listener.local_addr()?;
        config.sandbox.webhook_url = format!("http://{bridge_addr}/webhooks");
        for p in &mut config.connectors.providers {
            p.base_url = format!("http://{sandbox_addr}/{}", p.name);
        }
        let sandbox = Sandbox::new(config.sandbox.clone(), &config.connectors)
            .map_err(CommandError::Failed)?;
        let b = build_bridge(&config).await?;
        let servers = vec![
            serve_on(
                sandbox_listener,
                sandbox_server::router(sandbox),
                stop.clone(),
            ),
            serve_on(bridge_listener, router::router(b), stop.clone()),
        ];
        health.set("sandbox", true);
        health.set("bridge", true);
        let processors = process::spawn_all(&config, set, health, stop.clone()).await?;
        Ok(Pipeline {
            bridge_addr,
            sandbox_addr,
            config,
            stop,
            processors,
            servers,
        })
    }

    /// Stops everything; each processor's totals or error.
    pub async fn stop(self) -> Vec<(String, Result<RunStats, String>)> {
        self.stop.cancel();
        let stats = process::join_all(self.processors).await;
        for s in self.servers {
            let _ = s.await;
        }
        stats
    }
}

pub async fn build_bridge(config: &Config) -> Result<Arc<Bridge>, CommandError> {
    let (topology, _) = super::topology::load_checked(config)?;
    let codec = Arc::new(super::codec(config).await?);
    let store = Store::open(&config.store).await?;
    let bridge_store = BridgeStore::prepare(
        &store,
        config.bridge.idempotency_ttl_s,
        config.bridge.webhook_dedup_ttl_s,
    )
    .await?;
    let tables = shared::Tables {
        bridge: bridge_store,
        payments: PaymentsTable::prepare(&store).await?,
        refunds: RefundsTable::prepare(&store).await?,
        beneficiaries: BeneficiariesTable::prepare(&store).await?,
        payouts: PayoutsTable::prepare(&store).await?,
    };
    let producer = kafka::producer(&config.kafka).create()?;
    let source = topology
        .sources
        .iter()
        .find(|s| s.name == "bridge")
        .ok_or_else(|| {
            CommandError::Failed("topology/processors.toml declares no 'bridge' source".into())
        })?;
    let pick = |schema: &str| {
        source
            .outputs
            .iter()
            .find(|t| topology.topic(t).is_some_and(|s| s.value_schema == schema))
            .cloned()
            .ok_or_else(|| {
                CommandError::Failed(format!(
                    "the bridge source declares no topic carrying {schema}"
                ))
            })
    };
    // Both webhook topics carry the same record: they are told apart by name.
    let pick_webhooks = |name: &str| {
        let name = topology.topic_name(name);
        source
            .outputs
            .iter()
            .find(|t| **t == name)
            .cloned()
            .ok_or_else(|| {
                CommandError::Failed(format!("the bridge source declares no topic '{name}'"))
            })
    };
    let topics = shared::Topics {
        commands: pick("io.paystream.payments.PaymentCommand")?,
        webhooks: pick_webhooks("providers.webhooks")?,
        refunds: pick("io.paystream.refunds.RefundRequest")?,
        beneficiaries: pick("io.paystream.payouts.BeneficiaryCommand")?,
        payouts: pick("io.paystream.payouts.PayoutRequest")?,
        payout_decisions: pick("io.paystream.payouts.PayoutDecision")?,
        payout_webhooks: pick_webhooks("payouts.webhooks")?,
    };
    Bridge::new(
        config.bridge.clone(),
        &config.connectors,
        tables,
        producer,
        codec,
        topics,
    )
    .map(Arc::new)
    .map_err(CommandError::Failed)
}

/// `paystream bridge`: the REST API and webhook receiver, until SIGTERM.
pub async fn bridge(config: Config) -> Result<String, CommandError> {
    let service = Service::start(&config.service, &["bridge"])
        .await
        .map_err(CommandError::Failed)?;
    let b = build_bridge(&config).await?;
    let (addr, task) = serve(
        config.bridge.listen,
        router::router(b),
        service.shutdown.clone(),
        "bridge",
    )
    .await?;
    service.health.set("bridge", true);
    println!("paystream bridge: listening on http://{addr}");
    let _ = task.await;
    service.stop().await;
    Ok(String::new())
}

/// `paystream sandbox`: the simulated providers, until SIGTERM.
pub async fn sandbox(config: Config) -> Result<String, CommandError> {
    let service = Service::start(&config.service, &["sandbox"])
        .await
        .map_err(CommandError::Failed)?;
    let s =
        Sandbox::new(config.sandbox.clone(), &config.connectors).map_err(CommandError::Failed)?;
    let (addr, task) = serve(
        config.sandbox.listen,
        sandbox_server::router(s),
        service.shutdown.clone(),
        "sandbox",
    )
    .await?;
    service.health.set("sandbox", true);
    println!("paystream sandbox: acme at http://{addr}/acme, bolt at http://{addr}/bolt");
    let _ = task.await;
    service.stop().await;
    Ok(String::new())
}

/// How long `run` waits for the processors to finish the traffic's backlog before it audits.
const DRAIN_LIMIT: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub load: LoadgenArgs,
    #[command(flatten)]
    pub money_out: super::money_out::MoneyOutArgs,
    /// Keep the pipeline and /metrics running after the traffic until SIGTERM or SIGINT.
    #[arg(long)]
    pub keep_running: bool,
}

/// The money-out phase after the payments load: refunds of its captured payments, verifications,
/// payouts and a bulk file, through the same bridge.
async fn money_out_phase(
    args: &RunArgs,
    load: &LoadSummary,
) -> Result<super::money_out::MoneyOutSummary, CommandError> {
    let client =
        super::api_client::ApiClient::new(&args.load.bridge_url, &args.load.api_key, 10_000)
            .map_err(CommandError::Failed)?;
    let succeeded: Vec<String> = load
        .payments
        .iter()
        .filter(|p| p.status == "succeeded")
        .map(|p| p.payment_id.clone())
        .collect();
    let run_id = format!("run{}", uuid::Uuid::now_v7().simple());
    super::money_out::run(&client, &run_id, &succeeded, &args.money_out).await
}

/// `paystream run`: the whole pipeline with demo traffic.
pub async fn run(config: Config, mut args: RunArgs) -> Result<String, CommandError> {
    let service = Service::start(&config.service, &["topology", "bridge", "sandbox"])
        .await
        .map_err(CommandError::Failed)?;
    let applied = super::topology::apply(&config).await?;
    service.health.set("topology", true);
    println!("paystream run: {}", applied.render(&config.store.keyspace));

    let pipeline = Pipeline::start(&config, &service.health, &service.shutdown).await?;
    println!(
        "paystream run: processors {} running; bridge http://{}, sandbox http://{}, metrics http://{}/metrics",
        ProcessorSet::flow().names().join(", "),
        pipeline.bridge_addr,
        pipeline.sandbox_addr,
        service.ops_addr
    );

    args.load.bridge_url = format!("http://{}", pipeline.bridge_addr);
    let follower = loadgen::follower(&args.load, &config).await?;
    let summary: LoadSummary = loadgen::run(&args.load, true, follower).await?;
    println!("{}", summary.render());
    let money_out = money_out_phase(&args, &summary).await?;
    println!("{}", money_out.render());
    // Audit (and let a benchmark count) this run's work only once every processor has caught up.
    let drained =
        super::drain::wait_drained(&config, &ProcessorSet::flow().names(), DRAIN_LIMIT).await?;
    println!(
        "paystream run: every processor had caught up with its inputs {} ms after the last payment settled (checked every {} ms)",
        drained.as_millis(),
        super::drain::POLL_MS
    );
    let audit = super::ledger::audit(&config).await?;
    println!("{}", audit.render());
    println!(
        "paystream run: peak memory (RSS) of this process, every processor + bridge + sandbox + load generator: {} MiB",
        super::bench::peak_rss_kib() / 1024
    );

    if args.keep_running {
        println!("paystream run: still serving; SIGTERM or Ctrl-C stops");
        service.shutdown.cancelled().await;
    }
    let stats = pipeline.stop().await;
    service.stop().await;
    let failed: Vec<String> = stats
        .iter()
        .filter_map(|(n, r)| r.as_ref().err().map(|e| format!("{n}: {e}")))
        .collect();
    if !failed.is_empty() {
        return Err(CommandError::Failed(format!(
            "processors failed: {}",
            failed.join("; ")
        )));
    }
    if !audit.ledger.is_balanced() {
        return Err(CommandError::Failed(
            "the ledger does not balance: see the audit above".into(),
        ));
    }
    if !audit.balances.is_ok() {
        return Err(CommandError::Failed(
            "a merchant's balance differs from its ledger: see the audit above".into(),
        ));
    }
    if money_out.unsettled > 0 {
        return Err(CommandError::Failed(format!(
            "{} refunds or payouts never reached a final state: see the summary above",
            money_out.unsettled
        )));
    }
    if summary.lost > 0 {
        return Err(CommandError::Failed(format!(
            "{} payments never reached a state: see the summary above",
            summary.lost
        )));
    }
    Ok("paystream run: OK: every payment reached a state and the ledger balances".into())
}
