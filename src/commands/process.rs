//! `paystream process <name>`: runs one stream processor instance under the exactly-once runtime,
//! serving its ops endpoints, until SIGTERM.

use super::CommandError;
use crate::config::Config;
use crate::events::{Catalog, Codec};
use crate::processors::copy::{self, Copy};
use crate::processors::ledger::{self, Ledger};
use crate::processors::probe::{self, Probe};
use crate::runtime::eos::{self, Deps, RunStats};
use crate::runtime::service::Service;
use crate::store::writer::StoreWriter;
use crate::store::Store;
use crate::topology::Topology;
use std::sync::Arc;
use tracing::info;

/// Processors this binary can run, by their topology name.
pub const PROCESSORS: &[&str] = &[probe::NAME, copy::NAME, ledger::NAME];

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
    if !PROCESSORS.contains(&args.name.as_str()) {
        return Err(CommandError::Failed(format!(
            "unknown processor '{}': this binary runs {}",
            args.name,
            PROCESSORS.join(", ")
        )));
    }
    let (topology, _) = super::topology::load_checked(&config)?;
    let spec = topology.processor(&args.name).cloned().ok_or_else(|| {
        CommandError::Failed(format!(
            "processor '{}' is not declared in {}/processors.toml",
            args.name,
            config.topology.dir.display()
        ))
    })?;

    let service = Service::start(&config.service, &["store"])
        .await
        .map_err(CommandError::Failed)?;
    tracing::info!(processor = %args.name, instance = %config.runtime.instance_id, "starting");
    let catalog = Catalog::bundled().map_err(CommandError::Schemas)?;
    let codec = Arc::new(Codec::from_config(config.schema_registry.as_ref(), catalog).await?);
    let store = Store::open(&config.store).await?;
    service.health.set("store", true);
    let deps = Deps {
        kafka: config.kafka.clone(),
        runtime: config.runtime.clone(),
        topology: Arc::new(topology),
        codec,
        writer: Arc::new(StoreWriter::new(store)),
        health: service.health.clone(),
        shutdown: service.shutdown.clone(),
    };
    let (token, grace) = (service.shutdown.clone(), service.grace());
    let run = run_named(&args.name, &spec, deps);
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

async fn run_named(
    name: &str,
    spec: &crate::topology::ProcessorSpec,
    deps: Deps,
) -> Result<RunStats, CommandError> {
    let first_output = |spec: &crate::topology::ProcessorSpec| {
        spec.outputs
            .first()
            .cloned()
            .ok_or_else(|| CommandError::Failed(format!("processor '{name}' declares no output")))
    };
    let stats = match name {
        probe::NAME => eos::run(Arc::new(Probe::new(&first_output(spec)?)), deps).await,
        copy::NAME => eos::run(Arc::new(Copy::new(&first_output(spec)?)), deps).await,
        ledger::NAME => eos::run(Arc::new(Ledger::new(&first_output(spec)?)), deps).await,
        other => return Err(CommandError::Failed(format!("unknown processor '{other}'"))),
    };
    stats.map_err(|e| CommandError::Failed(e.to_string()))
}

/// Loads a topology for tests and benchmarks that run processors in-process.
pub fn topology_from(dir: &std::path::Path) -> Result<Topology, CommandError> {
    let catalog = Catalog::bundled().map_err(CommandError::Schemas)?;
    let t = Topology::load(dir).map_err(CommandError::Topology)?;
    t.check(&catalog).map_err(CommandError::Topology)?;
    Ok(t)
}
