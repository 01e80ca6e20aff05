//! The runtime's configuration: the Kafka clients, the exactly-once loop and the process lifecycle
//! (ops endpoints, logging, shutdown). The top-level `Config` composes these sections.

use crate::domain::problem::Checks;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

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

/// The exactly-once processing loop (see `runtime::processor`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// Stable identity of this instance (a StatefulSet pod ordinal, say). The transactional id is
    /// `<consumer_group>-<instance_id>`: a restarted instance fences its previous incarnation.
    pub instance_id: String,
    /// A transaction ends after this many input records…
    pub batch_records_max: usize,
    /// …or this many bytes of input values…
    pub batch_bytes_max: usize,
    /// …or this long after its first record…
    pub batch_linger_ms: u64,
    /// …or when no further record arrives within this long: nothing more is buffered, so light load
    /// gets short hops and heavy load (records always buffered) big transactions.
    pub batch_idle_ms: u64,
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
    /// Where stateful processors keep the local copy of their changelogs (one file per processor
    /// instance, deleted and restored at start: a cache, never the only copy).
    pub state_dir: std::path::PathBuf,
    /// Memory the local state copy may use for its page cache; beyond it state is read from disk.
    pub state_cache_bytes: usize,
    /// Fault injection, for the crash tests only: leave at 0 in production.
    pub faults: FaultConfig,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            instance_id: "0".into(),
            batch_records_max: 2_000,
            batch_bytes_max: 8 << 20,
            batch_linger_ms: 50,
            batch_idle_ms: 2,
            kafka_call_timeout_ms: 10_000,
            retries_max: 6,
            retry_backoff_ms_initial: 50,
            retry_backoff_ms_max: 2_000,
            batch_failures_max: 10,
            store_writes_in_flight_max: 64,
            group_membership: GroupMembership::Dynamic,
            state_dir: std::env::temp_dir().join("paystream-state"),
            state_cache_bytes: 64 << 20,
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

impl KafkaConfig {
    pub fn validate(&self, c: &mut Checks<'_>) {
        c.check(
            !self.bootstrap_servers.trim().is_empty()
                && self
                    .bootstrap_servers
                    .split(',')
                    .all(|s| s.trim().rsplit_once(':').is_some()),
            "bootstrap_servers",
            format!(
                "'{}' is not a comma-separated list of host:port",
                self.bootstrap_servers
            ),
            "set it to e.g. \"127.0.0.1:9092\"",
        );
        c.within(
            self.topic_replication_factor,
            1..=5,
            "topic_replication_factor",
            "use 1 for a single broker, 3 in production",
        );
        c.within(
            self.request_timeout_ms,
            1_000..=300_000,
            "request_timeout_ms",
            "use a value such as 10000",
        );
        c.check(
            (1_000..=900_000).contains(&self.transaction_timeout_ms),
            "transaction_timeout_ms",
            format!(
                "{} is outside 1000..=900000 (the broker's transaction.max.timeout.ms)",
                self.transaction_timeout_ms
            ),
            "use a value such as 60000",
        );
    }
}

impl ServiceConfig {
    pub fn validate(&self, c: &mut Checks<'_>) {
        c.within(
            self.shutdown_timeout_ms,
            100..=600_000,
            "shutdown_timeout_ms",
            "use a value such as 30000",
        );
        c.check(
            tracing_subscriber::EnvFilter::try_new(&self.log_filter).is_ok(),
            "log_filter",
            format!("'{}' is not a tracing filter", self.log_filter),
            "use e.g. \"info\" or \"paystream=debug,rdkafka=warn\"",
        );
    }
}

impl RuntimeConfig {
    /// `transaction_timeout_ms` is the Kafka section's: an injected stall must stay well inside it.
    pub fn validate(&self, transaction_timeout_ms: u64, c: &mut Checks<'_>) {
        c.check(
            crate::domain::ids::validate(&self.instance_id).is_ok(),
            "instance_id",
            format!(
                "'{}' is not 1..={} letters, digits, '_', '.', ':' or '-'",
                self.instance_id,
                crate::domain::ids::ID_LEN_MAX
            ),
            "use a stable name such as the pod ordinal (\"0\", \"1\", …)",
        );
        self.validate_batch(c);
        c.within(
            self.kafka_call_timeout_ms,
            1_000..=300_000,
            "kafka_call_timeout_ms",
            "use a value such as 10000",
        );
        c.check(
            self.retries_max <= 20,
            "retries_max",
            format!("{} exceeds 20", self.retries_max),
            "use a value such as 6",
        );
        c.check(
            self.retry_backoff_ms_initial >= 1
                && self.retry_backoff_ms_initial <= self.retry_backoff_ms_max
                && self.retry_backoff_ms_max <= 60_000,
            "retry_backoff_ms_initial",
            format!(
                "{}..{} is not a range within 1..=60000",
                self.retry_backoff_ms_initial, self.retry_backoff_ms_max
            ),
            "use e.g. retry_backoff_ms_initial = 50 and retry_backoff_ms_max = 2000",
        );
        c.within(
            self.batch_failures_max,
            1..=1_000,
            "batch_failures_max",
            "use a value such as 10",
        );
        c.within(
            self.store_writes_in_flight_max,
            1..=4_096,
            "store_writes_in_flight_max",
            "use a value such as 64",
        );
        self.validate_state(c);
        self.faults.validate(transaction_timeout_ms, c);
    }
}

impl RuntimeConfig {
    /// The bounds of one transaction's batch.
    fn validate_batch(&self, c: &mut Checks<'_>) {
        c.within(
            self.batch_records_max,
            1..=100_000,
            "batch_records_max",
            "use a value such as 2000",
        );
        c.within(
            self.batch_linger_ms,
            1..=60_000,
            "batch_linger_ms",
            "use a value such as 50",
        );
        c.within(
            self.batch_bytes_max,
            1_024..=256 << 20,
            "batch_bytes_max",
            "use a value such as 8388608 (8 MiB)",
        );
        c.check(
            self.batch_idle_ms >= 1 && self.batch_idle_ms <= self.batch_linger_ms,
            "batch_idle_ms",
            format!(
                "{} is not within 1..=batch_linger_ms ({})",
                self.batch_idle_ms, self.batch_linger_ms
            ),
            "use a value such as 2",
        );
    }

    /// Where the local copies of keyed state live, and their memory.
    fn validate_state(&self, c: &mut Checks<'_>) {
        c.within(
            self.state_cache_bytes,
            1 << 20..=64 << 30,
            "state_cache_bytes",
            "use a value such as 67108864 (64 MiB)",
        );
        c.check(
            !self.state_dir.as_os_str().is_empty(),
            "state_dir",
            "is empty".into(),
            "name a writable directory, e.g. \"/var/lib/paystream/state\"",
        );
    }
}

impl FaultConfig {
    fn validate(&self, transaction_timeout_ms: u64, c: &mut Checks<'_>) {
        c.check(
            self.abort_permille <= 1000 && self.store_error_permille <= 1000,
            "faults",
            "permille values must be within 0..=1000".into(),
            "use 0 outside crash tests",
        );
        c.check(
            u64::from(self.stall_before_commit_ms) * 2 < transaction_timeout_ms,
            "faults.stall_before_commit_ms",
            format!(
                "{} ms is not below half of kafka.transaction_timeout_ms ({transaction_timeout_ms} ms)",
                self.stall_before_commit_ms
            ),
            "use 0 outside crash tests, a few hundred ms in them",
        );
    }
}
