//! The one typed configuration of every paystream command.
//!
//! Sources, later ones winning: built-in defaults (which match `scripts/stack`), a TOML file (`--config`
//! or `PAYSTREAM_CONFIG`), then environment variables `PAYSTREAM__<SECTION>__<FIELD>`, e.g.
//! `PAYSTREAM__KAFKA__BOOTSTRAP_SERVERS=broker:9092`. Unknown fields are errors, and `validate` checks
//! every bound before anything starts. The value is passed explicitly; there are no globals.

pub mod flow;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
pub use flow::{
    BridgeConfig, ConnectorConfig, ConnectorKind, ConnectorsConfig, FraudConfig, PaymentsConfig,
    SandboxConfig,
};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub const ENV_PREFIX: &str = "PAYSTREAM__";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub kafka: KafkaConfig,
    /// Absent: events use Avro single-object encoding against the bundled schemas.
    pub schema_registry: Option<SchemaRegistryConfig>,
    pub store: StoreConfig,
    pub service: ServiceConfig,
    pub topology: TopologyConfig,
    pub runtime: RuntimeConfig,
    pub payments: PaymentsConfig,
    pub fraud: FraudConfig,
    pub connectors: ConnectorsConfig,
    pub bridge: BridgeConfig,
    pub sandbox: SandboxConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    pub bootstrap_servers: String,
    pub client_id: String,
    /// Replication factor of the topics `topology apply` creates: 1 on a dev node, 3 in production.
    pub topic_replication_factor: i32,
    pub request_timeout_ms: u64,
    /// Upper bound of one Kafka transaction; the broker aborts a transaction older than this.
    pub transaction_timeout_ms: u64,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            bootstrap_servers: "127.0.0.1:9092".into(),
            client_id: "paystream".into(),
            topic_replication_factor: 1,
            request_timeout_ms: 10_000,
            transaction_timeout_ms: 60_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchemaRegistryConfig {
    /// Base URL of a Confluent-compatible API, e.g. `http://127.0.0.1:8081` or Apicurio's
    /// `http://127.0.0.1:8080/apis/ccompat/v7`.
    pub url: String,
    pub timeout_ms: u64,
}

impl Default for SchemaRegistryConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8081".into(),
            timeout_ms: 5_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreFlavor {
    /// Apache Cassandra: the local stack.
    Cassandra,
    /// ScyllaDB: docker-compose and production. Keyspaces get `tablets = {'enabled': false}` for LWT.
    Scylla,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    pub contact_points: Vec<String>,
    pub keyspace: String,
    pub flavor: StoreFlavor,
    pub replication_factor: u16,
    pub request_timeout_ms: u64,
    pub connect_timeout_ms: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            contact_points: vec!["127.0.0.1:9042".into()],
            keyspace: "paystream".into(),
            flavor: StoreFlavor::Cassandra,
            replication_factor: 1,
            request_timeout_ms: 5_000,
            connect_timeout_ms: 10_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceConfig {
    /// Where `/metrics`, `/healthz` and `/readyz` are served. Port 0 picks a free port.
    pub ops_listen: SocketAddr,
    pub log_format: LogFormat,
    /// A tracing filter such as `info` or `paystream=debug,rdkafka=warn`; `RUST_LOG` overrides it.
    pub log_filter: String,
    /// How long a SIGTERM may take to finish in-flight work before the process exits anyway.
    pub shutdown_timeout_ms: u64,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            ops_listen: SocketAddr::from(([127, 0, 0, 1], 9464)),
            log_format: LogFormat::Pretty,
            log_filter: "info,scylla=warn".into(),
            shutdown_timeout_ms: 30_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TopologyConfig {
    /// Directory holding `topics.toml`, `processors.toml`, `keyspace.toml` and `migrations/`.
    pub dir: PathBuf,
}

impl Default for TopologyConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("topology"),
        }
    }
}

/// The exactly-once processing loop (see `runtime::processor`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// Stable identity of this instance (a StatefulSet pod ordinal, say). The transactional id is
    /// `<consumer_group>-<instance_id>`: a restarted instance fences its previous incarnation.
    pub instance_id: String,
    /// A transaction ends after this many input records…
    pub batch_records_max: usize,
    /// …or this long after its first record, whichever comes first.
    pub batch_linger_ms: u64,
    /// Bound of one blocking transactional call (init, send offsets, commit, abort).
    pub kafka_call_timeout_ms: u64,
    /// Bounded exponential backoff for retryable errors (store writes, retriable Kafka errors).
    pub retries_max: u32,
    pub retry_backoff_ms_initial: u64,
    pub retry_backoff_ms_max: u64,
    /// Consecutive failed transactions before the processor stops with an error instead of looping.
    pub batch_failures_max: u32,
    /// Store writes in flight at once within a transaction (writes to one key stay in order).
    pub store_writes_in_flight_max: usize,
    /// How the instance is a member of its consumer group.
    pub group_membership: GroupMembership,
    /// Fault injection, for the crash tests only: leave at 0 in production.
    pub faults: FaultConfig,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            instance_id: "0".into(),
            batch_records_max: 2_000,
            batch_linger_ms: 50,
            kafka_call_timeout_ms: 10_000,
            retries_max: 6,
            retry_backoff_ms_initial: 50,
            retry_backoff_ms_max: 2_000,
            batch_failures_max: 10,
            store_writes_in_flight_max: 64,
            group_membership: GroupMembership::Dynamic,
            faults: FaultConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupMembership {
    /// Leaves the group on shutdown, so its partitions move at once; a crashed instance's partitions
    /// wait for its session to time out.
    Dynamic,
    /// KIP-345: `group.instance.id = <group>-<instance_id>`. A restarted instance takes its partitions
    /// back without a rebalance, but a stopped one keeps them until its session times out.
    Static,
}

/// Injected failures, in thousandths of transactions or writes. Zero (the default) injects nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FaultConfig {
    /// Abort this share of transactions just before commit, as an abortable error would.
    pub abort_permille: u16,
    /// Fail this share of store writes with a retryable error.
    pub store_error_permille: u16,
    /// Hold every transaction open this long just before its commit (its store writes done, its
    /// records and offsets sent), logging when it opens and when it commits: a crash test kills
    /// inside that window and can prove it did.
    pub stall_before_commit_ms: u32,
}

/// Records a problem with `field` unless `ok`.
fn require(problems: &mut Vec<Problem>, ok: bool, field: &str, message: String, fix: &str) {
    if !ok {
        problems.push(Problem {
            field: field.into(),
            message,
            fix: fix.into(),
        });
    }
}

/// A configuration problem: where it is, what is wrong, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub field: String,
    pub message: String,
    pub fix: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: cannot be read: {reason}. Fix: pass an existing TOML file with --config, or none to use the defaults")]
    Unreadable { path: PathBuf, reason: String },
    #[error("{0}. Fix: correct or remove that key (every field is listed in config/paystream.example.toml)")]
    Parse(String),
    #[error("{source_name}: {}", render_problems(.problems))]
    Invalid {
        source_name: String,
        problems: Vec<Problem>,
    },
}

fn render_problems(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("field `{}`: {}. Fix: {}", p.field, p.message, p.fix))
        .collect::<Vec<_>>()
        .join("; ")
}

impl Config {
    /// Loads defaults, then `path` if given, then the `PAYSTREAM__` environment overlay, and validates.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        let source_name = match path {
            Some(p) => {
                if let Err(e) = std::fs::metadata(p) {
                    return Err(ConfigError::Unreadable {
                        path: p.to_owned(),
                        reason: e.to_string(),
                    });
                }
                figment = figment.merge(Toml::file_exact(p));
                format!("config file {} (with {ENV_PREFIX}* overrides)", p.display())
            }
            None => format!("defaults with {ENV_PREFIX}* overrides"),
        };
        figment = figment.merge(Env::prefixed(ENV_PREFIX).split("__"));
        let config: Config = figment
            .extract()
            .map_err(|e| ConfigError::Parse(describe_figment(&e)))?;
        config.validate().map_err(|problems| ConfigError::Invalid {
            source_name,
            problems,
        })?;
        Ok(config)
    }

    /// Every bound the configuration must respect, all reported at once.
    pub fn validate(&self) -> Result<(), Vec<Problem>> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, field: &str, message: String, fix: &str| {
            require(&mut problems, ok, field, message, fix)
        };
        let k = &self.kafka;
        check(
            !k.bootstrap_servers.trim().is_empty()
                && k.bootstrap_servers
                    .split(',')
                    .all(|s| s.trim().rsplit_once(':').is_some()),
            "kafka.bootstrap_servers",
            format!(
                "'{}' is not a comma-separated list of host:port",
                k.bootstrap_servers
            ),
            "set it to e.g. \"127.0.0.1:9092\"",
        );
        check(
            (1..=5).contains(&k.topic_replication_factor),
            "kafka.topic_replication_factor",
            format!("{} is outside 1..=5", k.topic_replication_factor),
            "use 1 for a single broker, 3 in production",
        );
        check(
            (1_000..=300_000).contains(&k.request_timeout_ms),
            "kafka.request_timeout_ms",
            format!("{} is outside 1000..=300000", k.request_timeout_ms),
            "use a value such as 10000",
        );
        check(
            (1_000..=900_000).contains(&k.transaction_timeout_ms),
            "kafka.transaction_timeout_ms",
            format!(
                "{} is outside 1000..=900000 (the broker's transaction.max.timeout.ms)",
                k.transaction_timeout_ms
            ),
            "use a value such as 60000",
        );
        if let Some(r) = &self.schema_registry {
            check(
                r.url.starts_with("http://") || r.url.starts_with("https://"),
                "schema_registry.url",
                format!("'{}' is not an http(s) URL", r.url),
                "set it to e.g. \"http://127.0.0.1:8081\", or remove [schema_registry] to use single-object encoding",
            );
            check(
                (100..=60_000).contains(&r.timeout_ms),
                "schema_registry.timeout_ms",
                format!("{} is outside 100..=60000", r.timeout_ms),
                "use a value such as 5000",
            );
        }
        let s = &self.store;
        check(
            !s.contact_points.is_empty()
                && s.contact_points
                    .iter()
                    .all(|c| c.rsplit_once(':').is_some()),
            "store.contact_points",
            format!(
                "{:?} is not a non-empty list of host:port",
                s.contact_points
            ),
            "set it to e.g. [\"127.0.0.1:9042\"]",
        );
        check(
            !s.keyspace.is_empty()
                && s.keyspace.len() <= 48
                && s.keyspace
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                && s.keyspace.starts_with(|c: char| c.is_ascii_lowercase()),
            "store.keyspace",
            format!("'{}' is not a valid CQL keyspace name", s.keyspace),
            "use lower-case letters, digits and _, starting with a letter, at most 48 characters",
        );
        check(
            (1..=5).contains(&s.replication_factor),
            "store.replication_factor",
            format!("{} is outside 1..=5", s.replication_factor),
            "use 1 for a single node, 3 in production",
        );
        check(
            (100..=120_000).contains(&s.request_timeout_ms),
            "store.request_timeout_ms",
            format!("{} is outside 100..=120000", s.request_timeout_ms),
            "use a value such as 5000",
        );
        check(
            (100..=120_000).contains(&s.connect_timeout_ms),
            "store.connect_timeout_ms",
            format!("{} is outside 100..=120000", s.connect_timeout_ms),
            "use a value such as 10000",
        );
        check(
            (100..=600_000).contains(&self.service.shutdown_timeout_ms),
            "service.shutdown_timeout_ms",
            format!(
                "{} is outside 100..=600000",
                self.service.shutdown_timeout_ms
            ),
            "use a value such as 30000",
        );
        let r = &self.runtime;
        check(
            !r.instance_id.is_empty()
                && r.instance_id.len() <= 64
                && r.instance_id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "runtime.instance_id",
            format!(
                "'{}' is not 1..=64 letters, digits, '-' or '_'",
                r.instance_id
            ),
            "use a stable name such as the pod ordinal (\"0\", \"1\", …)",
        );
        check(
            (1..=100_000).contains(&r.batch_records_max),
            "runtime.batch_records_max",
            format!("{} is outside 1..=100000", r.batch_records_max),
            "use a value such as 2000",
        );
        check(
            (1..=60_000).contains(&r.batch_linger_ms),
            "runtime.batch_linger_ms",
            format!("{} is outside 1..=60000", r.batch_linger_ms),
            "use a value such as 50",
        );
        check(
            (1_000..=300_000).contains(&r.kafka_call_timeout_ms),
            "runtime.kafka_call_timeout_ms",
            format!("{} is outside 1000..=300000", r.kafka_call_timeout_ms),
            "use a value such as 10000",
        );
        check(
            r.retries_max <= 20,
            "runtime.retries_max",
            format!("{} exceeds 20", r.retries_max),
            "use a value such as 6",
        );
        check(
            r.retry_backoff_ms_initial >= 1
                && r.retry_backoff_ms_initial <= r.retry_backoff_ms_max
                && r.retry_backoff_ms_max <= 60_000,
            "runtime.retry_backoff_ms_initial",
            format!(
                "{}..{} is not a range within 1..=60000",
                r.retry_backoff_ms_initial, r.retry_backoff_ms_max
            ),
            "use e.g. retry_backoff_ms_initial = 50 and retry_backoff_ms_max = 2000",
        );
        check(
            (1..=1_000).contains(&r.batch_failures_max),
            "runtime.batch_failures_max",
            format!("{} is outside 1..=1000", r.batch_failures_max),
            "use a value such as 10",
        );
        check(
            (1..=4_096).contains(&r.store_writes_in_flight_max),
            "runtime.store_writes_in_flight_max",
            format!("{} is outside 1..=4096", r.store_writes_in_flight_max),
            "use a value such as 64",
        );
        check(
            r.faults.abort_permille <= 1000 && r.faults.store_error_permille <= 1000,
            "runtime.faults",
            "permille values must be within 0..=1000".into(),
            "use 0 outside crash tests",
        );
        check(
            u64::from(r.faults.stall_before_commit_ms) * 2 < self.kafka.transaction_timeout_ms,
            "runtime.faults.stall_before_commit_ms",
            format!(
                "{} ms is not below half of kafka.transaction_timeout_ms ({} ms)",
                r.faults.stall_before_commit_ms, self.kafka.transaction_timeout_ms
            ),
            "use 0 outside crash tests, a few hundred ms in them",
        );
        check(
            tracing_subscriber::EnvFilter::try_new(&self.service.log_filter).is_ok(),
            "service.log_filter",
            format!("'{}' is not a tracing filter", self.service.log_filter),
            "use e.g. \"info\" or \"paystream=debug,rdkafka=warn\"",
        );
        flow::validate(self, &mut problems);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

/// Figment's errors name the key and its source (file or env var); keep that, drop the noise.
fn describe_figment(e: &figment::Error) -> String {
    e.clone()
        .into_iter()
        .map(|err| {
            let path = err.path.join(".");
            let source = err
                .metadata
                .as_ref()
                .map(|m| match &m.source {
                    Some(figment::Source::File(path)) => format!("config file {}", path.display()),
                    Some(figment::Source::Custom(c)) => c.clone(),
                    Some(other) => other.to_string(),
                    None => m.name.to_string(),
                })
                .unwrap_or_else(|| "configuration".into());
            if path.is_empty() {
                format!("{source}: {}", err.kind)
            } else {
                format!("{source}: field `{path}`: {}", err.kind)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

impl fmt::Display for StoreFlavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StoreFlavor::Cassandra => "cassandra",
            StoreFlavor::Scylla => "scylla",
        })
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment::Error; tests only.
mod tests {
    use super::*;
    use std::io::Write;

    fn write_toml(body: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(body.as_bytes()).unwrap();
        f
    }

    #[test]
    fn defaults_are_valid_and_match_the_local_stack() {
        let c = Config::default();
        c.validate().unwrap();
        assert_eq!(c.kafka.bootstrap_servers, "127.0.0.1:9092");
        assert_eq!(c.store.contact_points, vec!["127.0.0.1:9042".to_string()]);
    }

    #[test]
    fn example_file_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/paystream.example.toml");
        figment::Jail::expect_with(|_| {
            let c = Config::load(Some(&path)).map_err(|e| e.to_string())?;
            // The example documents the defaults: it must say exactly what the code does.
            assert_eq!(c, Config::default());
            Ok(())
        });
    }

    #[test]
    fn unknown_field_names_file_and_field() {
        let f = write_toml("[kafka]\nbootstrap_server = \"x:1\"\n");
        figment::Jail::expect_with(|_| {
            let err = Config::load(Some(f.path())).unwrap_err().to_string();
            assert!(err.contains("bootstrap_server"), "{err}");
            assert!(err.contains(&f.path().display().to_string()), "{err}");
            assert!(err.contains("Fix:"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn env_overlay_wins_and_is_validated() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("PAYSTREAM__STORE__KEYSPACE", "ks_test");
            assert_eq!(
                Config::load(None)
                    .map_err(|e| e.to_string())?
                    .store
                    .keyspace,
                "ks_test"
            );
            jail.set_env("PAYSTREAM__KAFKA__TOPIC_REPLICATION_FACTOR", "0");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("kafka.topic_replication_factor"), "{err}");
            assert!(err.contains("Fix:"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn every_bad_value_is_reported_with_its_field() {
        let mut c = Config::default();
        c.kafka.bootstrap_servers = "nohost".into();
        c.store.keyspace = "Bad-Name".into();
        c.schema_registry = Some(SchemaRegistryConfig {
            url: "ftp://x".into(),
            timeout_ms: 5,
        });
        let fields: Vec<String> = c
            .validate()
            .unwrap_err()
            .into_iter()
            .map(|p| p.field)
            .collect();
        assert_eq!(
            fields,
            [
                "kafka.bootstrap_servers",
                "schema_registry.url",
                "schema_registry.timeout_ms",
                "store.keyspace"
            ]
        );
    }

    #[test]
    fn missing_file_is_a_clear_error() {
        let err = Config::load(Some(Path::new("/nonexistent/paystream.toml")))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/nonexistent/paystream.toml") && err.contains("Fix:"),
            "{err}"
        );
    }
}
