//! The `paystream` binary: parses the command line, loads the config, and runs one subcommand.

use clap::{Parser, Subcommand};
use paystream::commands::{
    self, bench::BenchArgs, flow::RunArgs, loadgen::LoadgenArgs, pan_scan::PanScanArgs,
    process::ProcessArgs, smoke::RunArgs as SmokeArgs, verify::VerifyArgs, CommandError,
};
use paystream::config::Config;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "paystream",
    version,
    about = "Kafka-native, exactly-once payment processing"
)]
struct Cli {
    /// TOML config file; every field can also be set as PAYSTREAM__<SECTION>__<FIELD>.
    #[arg(long, global = true, env = "PAYSTREAM_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The main job: the whole pipeline (processors, bridge, sandbox) with demo traffic, then a
    /// ledger audit.
    Run(RunArgs),
    /// The foundation check: Avro commands through one Kafka transaction, read_committed, decoded and
    /// written to the store, all verified.
    Smoke(SmokeArgs),
    /// The HTTP bridge: REST API and provider webhooks.
    Bridge,
    /// The sandbox PSP: simulated providers Acme and Bolt.
    Sandbox,
    /// Drives the REST API with a mix of payments and prints a live summary.
    Loadgen(LoadgenArgs),
    /// Run one stream processor instance under the exactly-once runtime until SIGTERM.
    Process(ProcessArgs),
    /// Validate, create or draw the topology in topology/.
    Topology {
        #[command(subcommand)]
        action: TopologyAction,
    },
    /// Benchmarks (figures, never pass/fail).
    Bench {
        #[command(subcommand)]
        action: BenchAction,
    },
    /// The double-entry ledger.
    Ledger {
        #[command(subcommand)]
        action: LedgerAction,
    },
    /// Payout files.
    Payouts {
        #[command(subcommand)]
        action: PayoutsAction,
    },
    /// Check the Avro schemas.
    Schema {
        #[command(subcommand)]
        action: SchemaAction,
    },
    /// Look for card numbers in every topic, every table and the given logs; exit 1 on any.
    PanScan(PanScanArgs),
    /// After a (chaos) run: once drained, every created payment is final or pending with a reason,
    /// its events are 1..n with none twice, and the ledger balances; exit 1 otherwise.
    Verify(VerifyArgs),
}

#[derive(Subcommand)]
enum TopologyAction {
    /// Validate every reference (topics, schemas, keys, dead-letter topics, processors, migrations).
    Check,
    /// Create the topics and apply the keyspace migrations; idempotent.
    Apply,
    /// Print the dataflow as a Mermaid flowchart.
    Graph,
}

#[derive(Subcommand)]
enum BenchAction {
    /// Throughput, latency and memory of the exactly-once runtime against a bare transactional loop
    /// and an at-least-once loop, on the configured broker.
    Runtime(BenchArgs),
    /// Restore time and memory of keyed state: writes a changelog of `--keys` states, then restores
    /// it into a fresh local store.
    Restore(commands::bench::restore::RestoreArgs),
}

#[derive(Subcommand)]
enum PayoutsAction {
    /// Import a bulk payout file (CSV: beneficiary_id,amount,currency,mode,purpose,reference,narration)
    /// through the REST API; each row is its own payout, a bad row never sinks the others.
    Import(commands::payouts::ImportArgs),
}

#[derive(Subcommand)]
enum LedgerAction {
    /// Re-sum every posting from the store; exit 1 unless every entry and currency balances.
    Audit,
}

#[derive(Subcommand)]
enum SchemaAction {
    /// Check conventions, released versions and backward compatibility of a schemas directory.
    Check {
        #[arg(long, default_value = "schemas")]
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("paystream: {e}");
            return ExitCode::from(2);
        }
    };
    paystream::runtime::logging::init(&config.service);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("paystream: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(dispatch(cli.command, config));
    match result {
        Ok(out) => {
            if !out.is_empty() {
                println!("{}", out.trim_end());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("paystream: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one CLI verb; its text goes to stdout, its error to stderr. One arm per verb: the table
/// of what the binary does, longer than 70 lines as the list of verbs grows.
async fn dispatch(command: Command, config: Config) -> Result<String, CommandError> {
    match command {
        Command::Run(args) => commands::flow::run(config, args).await,
        Command::Bridge => commands::flow::bridge(config).await,
        Command::Sandbox => commands::flow::sandbox(config).await,
        Command::Loadgen(args) => {
            let follower = commands::loadgen::follower(&args, &config).await?;
            let summary = commands::loadgen::run(&args, true, follower).await?;
            Ok(summary.render())
        }
        Command::Smoke(args) => {
            let summary = commands::smoke::run(config, args).await?;
            if summary.is_ok() {
                Ok(String::new())
            } else {
                Err(CommandError::Failed(
                    "smoke run lost or changed data: see the summary above".into(),
                ))
            }
        }
        Command::Bench {
            action: BenchAction::Runtime(args),
        } => commands::bench::runtime(config, args).await,
        Command::Bench {
            action: BenchAction::Restore(args),
        } => commands::bench::restore::restore(config, args).await,
        Command::Ledger {
            action: LedgerAction::Audit,
        } => {
            let report = commands::ledger::audit(&config).await?;
            verdict(
                report.is_ok(),
                report.render(),
                "the ledger does not balance, or a balance differs from it: see the problems above",
            )
        }
        Command::Process(args) => commands::process::process(config, args)
            .await
            .map(|_| String::new()),
        Command::Topology {
            action: TopologyAction::Check,
        } => commands::topology::check(&config),
        Command::Topology {
            action: TopologyAction::Graph,
        } => commands::topology::graph(&config),
        Command::Topology {
            action: TopologyAction::Apply,
        } => commands::topology::apply(&config)
            .await
            .map(|r| r.render(&config.store.keyspace)),
        Command::Schema {
            action: SchemaAction::Check { dir },
        } => commands::schema::check(&dir),
        Command::Payouts {
            action: PayoutsAction::Import(args),
        } => {
            let report = commands::payouts::import(&args).await?;
            Ok(report.render())
        }
        Command::Verify(args) => {
            let report = commands::verify::run(&config, &args).await?;
            verdict(
                report.is_ok(),
                report.render(),
                "verification failed: see the report above",
            )
        }
        Command::PanScan(args) => {
            let report = commands::pan_scan::run(&config, &args).await?;
            verdict(
                report.findings.is_empty(),
                report.render(),
                "card numbers found: see the places above",
            )
        }
    }
}

/// A report's text when it passed; printed, then a failure with `why`, when it did not.
fn verdict(ok: bool, report: String, why: &str) -> Result<String, CommandError> {
    if ok {
        Ok(report)
    } else {
        println!("{report}");
        Err(CommandError::Failed(why.into()))
    }
}
