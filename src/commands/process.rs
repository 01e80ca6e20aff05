//! `paystream process <name>`: runs one stream processor instance under the exactly-once runtime,
//! serving its ops endpoints, until SIGTERM.

use super::CommandError;
use crate::config::Config;
use crate::events::{Catalog, Codec};
use crate::processors::balances::{self, Balances};
use crate::processors::beneficiaries::{self, Beneficiaries};
use crate::processors::connector::{self, Connector};
use crate::processors::fraud::processor::{self as fraud, Fraud};
use crate::processors::ledger::{self, Ledger};
use crate::processors::payments::config::PaymentsSetup;
use crate::processors::payments::{self, Payments};
use crate::processors::payouts::{self, Payouts};
use crate::processors::testing::copy::{self, Copy};
use crate::processors::testing::probe::{self, Probe, Tally};
use crate::processors::views::{self, Views};
use crate::runtime::eos::{self, Deps, RunStats, RuntimeError};
use crate::runtime::health::Health;
use crate::runtime::service::Service;
use crate::store::writer::StoreWriter;
use crate::store::Store;
use crate::topology::Topology;
use futures::future::BoxFuture;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tracing::info;

/// How a processor of this binary starts: built from its own section of the configuration.
type Start = fn(&Config, Deps) -> BoxFuture<'static, Result<RunStats, RuntimeError>>;

/// Every processor this binary runs, by its topology name. Each builds itself (`Build`) from its
/// section; this table only says which section that is.
const REGISTRY: &[(&str, Start)] = &[
    (payments::NAME, |c, d| {
        let setup = PaymentsSetup {
            payments: c.payments.clone(),
            connectors: c
                .connectors
                .providers
                .iter()
                .map(|p| p.name.clone())
                .collect(),
        };
        Box::pin(async move { eos::start::<Payments>(payments::NAME, &setup, d).await })
    }),
    (fraud::NAME, |c, d| {
        let config = c.fraud.clone();
        Box::pin(async move { eos::start::<Fraud>(fraud::NAME, &config, d).await })
    }),
    (connector::NAME, |c, d| {
        let config = c.connectors.clone();
        Box::pin(async move { eos::start::<Connector>(connector::NAME, &config, d).await })
    }),
    (payouts::NAME, |c, d| {
        let config = c.payouts.clone();
        Box::pin(async move { eos::start::<Payouts>(payouts::NAME, &config, d).await })
    }),
    (beneficiaries::NAME, |c, d| {
        let config = c.beneficiaries.clone();
        Box::pin(async move { eos::start::<Beneficiaries>(beneficiaries::NAME, &config, d).await })
    }),
    (balances::NAME, |c, d| {
        let config = c.balances.clone();
        Box::pin(async move { eos::start::<Balances>(balances::NAME, &config, d).await })
    }),
    (ledger::NAME, |_, d| {
        Box::pin(eos::start::<Ledger>(ledger::NAME, &(), d))
    }),
    (views::NAME, |_, d| {
        Box::pin(eos::start::<Views>(views::NAME, &(), d))
    }),
    (probe::NAME, |_, d| {
        Box::pin(eos::start::<Probe>(probe::NAME, &(), d))
    }),
    (probe::tally::NAME, |_, d| {
        Box::pin(eos::start::<Tally>(probe::tally::NAME, &(), d))
    }),
    (copy::NAME, |_, d| {
        Box::pin(eos::start::<Copy>(copy::NAME, &(), d))
    }),
];

/// Processors this binary can run, by their topology name.
pub fn processors() -> Vec<&'static str> {
    REGISTRY.iter().map(|(name, _)| *name).collect()
}

#[derive(Debug, Clone, clap::Args)]
pub struct ProcessArgs {
    /// The processor, as named in topology/processors.toml.
    pub name: String,
    /// Overrides runtime.instance_id: the stable identity of this instance.
    #[arg(long)]
    pub instance: Option<String>,
}

pub async fn process(mut config: Config, args: ProcessArgs) -> Result<RunStats, CommandError> {
    if let Some(instance) = args.instance {
        config.runtime.instance_id = instance;
        config.validate().map_err(|problems| {
            CommandError::Config(crate::config::ConfigError::Invalid {
                source_name: "--instance".into(),
                problems,
            })
        })?;
    }
    if !processors().contains(&args.name.as_str()) {
        return Err(CommandError::Failed(format!(
            "unknown processor '{}': this binary runs {}",
            args.name,
            processors().join(", ")
        )));
    }
    let service = Service::start(&config.service, &["store"])
        .await
        .map_err(CommandError::Failed)?;
    tracing::info!(processor = %args.name, instance = %config.runtime.instance_id, "starting");
    let shared = Shared::open(&config, &service.health).await?;
    shared.spec(&args.name)?;
    let deps = shared.deps(&config, &service.health, service.shutdown.clone());
    let (token, grace) = (service.shutdown.clone(), service.grace());
    let run = run_named(&args.name, deps, &config);
    let result = tokio::select! {
        r = run => r,
        () = async { token.cancelled().await; tokio::time::sleep(grace).await } => {
            Err(CommandError::Failed(format!("did not stop within service.shutdown_timeout_ms = {}", config.service.shutdown_timeout_ms)))
        }
    };
    service.stop().await;
    if let Ok(stats) = &result {
        info!(
            records_in = stats.records_in,
            records_out = stats.records_out,
            dead_lettered = stats.dead_lettered,
            transactions_committed = stats.transactions_committed,
            transactions_aborted = stats.transactions_aborted,
            producer_resets = stats.producer_resets,
            "processor stopped"
        );
    }
    result
}

pub async fn run_named(name: &str, deps: Deps, config: &Config) -> Result<RunStats, CommandError> {
    let start = REGISTRY
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, start)| *start)
        .ok_or_else(|| CommandError::Failed(format!("unknown processor '{name}'")))?;
    start(config, deps)
        .await
        .map_err(|e| CommandError::Failed(e.to_string()))
}

/// Loads a topology in `deployment`'s namespace, checked, for tests and benchmarks that run
/// processors in-process.
pub fn topology_from(
    dir: &std::path::Path,
    deployment: &crate::domain::deployment::DeploymentConfig,
) -> Result<Topology, CommandError> {
    let catalog = Catalog::bundled().map_err(CommandError::Schemas)?;
    let t = Topology::load(dir, deployment).map_err(CommandError::Topology)?;
    t.check(&catalog).map_err(CommandError::Topology)?;
    Ok(t)
}

/// What every processor instance of a process shares: the checked topology, the codec, one store session.
struct Shared {
    topology: Arc<Topology>,
    codec: Arc<Codec>,
    writer: Arc<StoreWriter>,
}

impl Shared {
    async fn open(config: &Config, health: &Arc<Health>) -> Result<Self, CommandError> {
        let (topology, _) = super::topology::load_checked(config)?;
        let codec = Arc::new(super::codec(config).await?);
        let store = Store::open(&config.store).await?;
        crate::runtime::deployment::bind(&config.kafka, &topology, &store, &codec)
            .await
            .map_err(CommandError::Failed)?;
        health.set("store", true);
        Ok(Self {
            topology: Arc::new(topology),
            codec,
            writer: Arc::new(StoreWriter::new(store)),
        })
    }

    fn spec(&self, name: &str) -> Result<crate::topology::ProcessorSpec, CommandError> {
        self.topology.processor(name).cloned().ok_or_else(|| {
            CommandError::Failed(format!(
                "processor '{name}' is not declared in {}/processors.toml",
                self.topology.dir.display()
            ))
        })
    }

    fn deps(&self, config: &Config, health: &Arc<Health>, shutdown: CancellationToken) -> Deps {
        Deps {
            kafka: config.kafka.clone(),
            runtime: config.runtime.clone(),
            topology: self.topology.clone(),
            codec: self.codec.clone(),
            writer: self.writer.clone(),
            health: health.clone(),
            shutdown,
        }
    }
}

/// A set of processors run together in one process (the main job, tests).
#[derive(Debug, Clone)]
pub struct ProcessorSet(Vec<&'static str>);

impl ProcessorSet {
    /// The whole flow: money in (state machine, fraud, connector edge), money out (beneficiaries,
    /// payouts, balances), the query views and the ledger.
    pub fn flow() -> Self {
        Self(vec![
            payments::NAME,
            fraud::NAME,
            connector::NAME,
            views::NAME,
            ledger::NAME,
            beneficiaries::NAME,
            payouts::NAME,
            balances::NAME,
        ])
    }

    /// The flow without `name` (which then runs elsewhere, e.g. as its own process in a crash test).
    pub fn flow_without(name: &str) -> Self {
        let mut s = Self::flow();
        s.0.retain(|n| *n != name);
        s
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.0.clone()
    }
}

pub type Running = Vec<(
    String,
    tokio::task::JoinHandle<Result<RunStats, CommandError>>,
)>;

/// Starts every processor of `set` as a task of this process, stopping when `stop` is cancelled.
pub async fn spawn_all(
    config: &Config,
    set: &ProcessorSet,
    health: &Arc<Health>,
    stop: CancellationToken,
) -> Result<Running, CommandError> {
    let shared = Shared::open(config, health).await?;
    let mut running = Vec::new();
    for name in &set.0 {
        shared.spec(name)?;
        let deps = shared.deps(config, health, stop.clone());
        let config = config.clone();
        let name = (*name).to_owned();
        let n2 = name.clone();
        running.push((
            name,
            tokio::spawn(async move { run_named(&n2, deps, &config).await }),
        ));
    }
    Ok(running)
}

/// Waits for every task; a task that panicked or was cancelled reports that as its error.
pub async fn join_all(running: Running) -> Vec<(String, Result<RunStats, String>)> {
    let mut out = Vec::new();
    for (name, task) in running {
        let r = match task.await {
            Ok(Ok(stats)) => Ok(stats),
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(format!("task ended abnormally: {e}")),
        };
        out.push((name, r));
    }
    out
}
