//! Every metric name, in one place, with its description. Labels are bounded sets (processor, topic,
//! outcome, provider, component); never a payment id or a raw path.

use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A measure a processor's effect makes. The runtime records it only after the transaction carrying
/// the effect commits, so an aborted or retried transaction counts nothing twice. Labels are bounded
/// values (a status, a provider name), never an id.
#[derive(Debug, Clone, PartialEq)]
pub enum Measure {
    Count {
        name: &'static str,
        labels: Vec<(&'static str, String)>,
    },
    Duration {
        name: &'static str,
        labels: Vec<(&'static str, String)>,
        value: Duration,
    },
}

impl Measure {
    /// One more of `name`.
    pub fn count(name: &'static str, labels: &[(&'static str, String)]) -> Self {
        Self::Count {
            name,
            labels: labels.to_vec(),
        }
    }

    pub fn duration(
        name: &'static str,
        labels: &[(&'static str, String)],
        value: Duration,
    ) -> Self {
        Self::Duration {
            name,
            labels: labels.to_vec(),
            value,
        }
    }

    /// Records the measure in the process's registry.
    pub fn record(&self) {
        match self {
            Self::Count { name, labels } => metrics::counter!(*name, labels).increment(1),
            Self::Duration {
                name,
                labels,
                value,
            } => metrics::histogram!(*name, labels).record(*value),
        }
    }
}

/// Records consumed by a processor. Labels: processor, topic.
pub const PROCESSOR_RECEIVED: &str = "paystream_processor_received_total";
/// Records produced by a processor. Labels: processor, topic.
pub const PROCESSOR_PRODUCED: &str = "paystream_processor_produced_total";
/// Records sent to a dead-letter topic. Labels: processor, topic, kind.
pub const PROCESSOR_DEAD_LETTERED: &str = "paystream_processor_dead_lettered_total";
/// Input records found on a partition other than the one their state key belongs to (an upstream
/// producer with another partitioner) and moved to it, counted when the move commits. Labels:
/// processor, topic.
pub const PROCESSOR_REROUTED: &str = "paystream_processor_rerouted_total";
/// Processing errors by class. Labels: processor, class (retryable, poison, fatal).
pub const PROCESSOR_ERRORS: &str = "paystream_processor_errors_total";
/// Retries of retryable failures. Labels: processor, op (store, kafka, process, registry).
pub const PROCESSOR_RETRIES: &str = "paystream_processor_retries_total";
/// Transactions ended. Labels: processor, outcome (committed, aborted).
pub const PROCESSOR_TRANSACTIONS: &str = "paystream_processor_transactions_total";
/// Input records per transaction. Labels: processor.
pub const PROCESSOR_BATCH_RECORDS: &str = "paystream_processor_batch_records";
/// Time to decode, process, write the store and produce one transaction's batch. Labels: processor.
pub const PROCESSOR_PROCESSING_SECONDS: &str = "paystream_processor_processing_seconds";
/// Time to send offsets and commit one transaction. Labels: processor.
pub const PROCESSOR_COMMIT_SECONDS: &str = "paystream_processor_commit_seconds";
/// Consumer lag from librdkafka statistics. Labels: processor, topic, partition.
pub const PROCESSOR_CONSUMER_LAG: &str = "paystream_processor_consumer_lag";
/// Rebalance events. Labels: processor, kind (assign, revoke, lost, error).
pub const PROCESSOR_REBALANCES: &str = "paystream_processor_rebalances_total";
/// Producers recreated after a fatal or indeterminate error. Labels: processor.
pub const PROCESSOR_PRODUCER_RESETS: &str = "paystream_processor_producer_resets_total";
/// Records produced by the demo job. Labels: topic.
pub const DEMO_PRODUCED: &str = "paystream_demo_produced_total";
/// Records the demo job consumed and decoded. Labels: topic.
pub const DEMO_CONSUMED: &str = "paystream_demo_consumed_total";
/// Store rows the demo job wrote and verified on read-back. Labels: outcome (verified, mismatch).
pub const DEMO_ROWS: &str = "paystream_demo_rows_total";
/// Produce-to-consume latency of demo records through a read_committed consumer.
pub const DEMO_LATENCY: &str = "paystream_demo_end_to_end_seconds";
/// 1 while a component is ready. Labels: component.
pub const COMPONENT_READY: &str = "paystream_component_ready";
/// Topology apply actions. Labels: kind (topic, migration), outcome (created, unchanged, changed).
pub const TOPOLOGY_APPLIED: &str = "paystream_topology_applied_total";
/// Payment transitions applied. Labels: status.
pub const PAYMENTS_TRANSITIONS: &str = "paystream_payments_transitions_total";
pub const REFUNDS_TRANSITIONS: &str = "paystream_refunds_transitions_total";
pub const PAYOUTS_TRANSITIONS: &str = "paystream_payouts_transitions_total";
pub const BALANCE_DECISIONS: &str = "paystream_balance_decisions_total";
pub const BENEFICIARY_VERIFICATIONS: &str = "paystream_beneficiary_verifications_total";
/// Signals the state machine refused (illegal, late, duplicate). Labels: code.
pub const PAYMENTS_SIGNALS_REJECTED: &str = "paystream_payments_signals_rejected_total";
/// Time to catch an instance's stale partitions up with their changelog. Labels: processor.
pub const STATE_RESTORE_SECONDS: &str = "paystream_state_restore_seconds";
/// Changelog records read by restores. Labels: processor.
pub const STATE_RESTORE_RECORDS: &str = "paystream_state_restore_records_total";
/// Changelog bytes read by restores. Labels: processor.
pub const STATE_RESTORE_BYTES: &str = "paystream_state_restore_bytes_total";
/// Timers fired, counted when the transaction that clears them commits. Labels: processor, kind.
pub const TIMERS_FIRED: &str = "paystream_timers_fired_total";
/// How late timers fired after their due time. Labels: processor.
pub const TIMER_LATENESS_SECONDS: &str = "paystream_timer_lateness_seconds";
/// Fraud decisions. Labels: decision, mode.
pub const FRAUD_DECISIONS: &str = "paystream_fraud_decisions_total";
/// Provider calls. Labels: provider, outcome (succeeded, declined, pending, failed, unknown).
pub const CONNECTOR_CALLS: &str = "paystream_connector_calls_total";
/// Provider call latency. Labels: provider.
pub const CONNECTOR_CALL_SECONDS: &str = "paystream_connector_call_seconds";
/// HTTP requests answered by the bridge. Labels: route (a template, never a raw path), status.
pub const BRIDGE_REQUESTS: &str = "paystream_bridge_requests_total";
/// Webhooks received. Labels: provider, outcome (accepted, duplicate, bad_signature, invalid).
pub const BRIDGE_WEBHOOKS: &str = "paystream_bridge_webhooks_total";
/// Sandbox PSP calls. Labels: provider, scenario.
pub const SANDBOX_CALLS: &str = "paystream_sandbox_calls_total";
/// Load generator: payments by final state. Labels: status.
pub const LOADGEN_PAYMENTS: &str = "paystream_loadgen_payments_total";
/// Load generator creations retried after a 5xx or a lost connection (same Idempotency-Key).
pub const LOADGEN_CREATE_RETRIES: &str = "paystream_loadgen_create_retries_total";
/// Load generator: intent-to-final-state latency.
pub const LOADGEN_LATENCY: &str = "paystream_loadgen_final_state_seconds";

const UPKEEP_INTERVAL_MS: u64 = 5_000;

/// Installs the Prometheus recorder (no listener of its own: `/metrics` is served by the ops router)
/// and describes every metric. Call once per process.
pub fn install() -> Result<PrometheusHandle, BuildError> {
    let handle = PrometheusBuilder::new()
        .set_buckets(&[
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ])?
        .set_buckets_for_metric(
            Matcher::Full(PROCESSOR_BATCH_RECORDS.to_owned()),
            &[
                1.0, 5.0, 10.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 5000.0, 10000.0,
            ],
        )?
        .install_recorder()?;
    describe();
    Ok(handle)
}

/// Keeps histogram buckets drained, as the exporter needs without its own HTTP listener.
pub fn spawn_upkeep(handle: PrometheusHandle, shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(UPKEEP_INTERVAL_MS));
        loop {
            tokio::select! {
                _ = tick.tick() => handle.run_upkeep(),
                _ = shutdown.cancelled() => break,
            }
        }
    });
}

/// One line per metric, so it grows with the list above (over 70 lines on purpose).
fn describe() {
    describe_counter!(PROCESSOR_RECEIVED, "Records consumed by a processor");
    describe_counter!(PROCESSOR_PRODUCED, "Records produced by a processor");
    describe_counter!(
        PROCESSOR_DEAD_LETTERED,
        "Records sent to a dead-letter topic"
    );
    describe_counter!(
        PROCESSOR_REROUTED,
        "Input records moved to the partition their key belongs to (another producer's partitioner)"
    );
    describe_counter!(PROCESSOR_ERRORS, "Processing errors by class");
    describe_counter!(PROCESSOR_RETRIES, "Retries of retryable failures");
    describe_counter!(PROCESSOR_TRANSACTIONS, "Transactions ended, by outcome");
    describe_histogram!(
        PROCESSOR_BATCH_RECORDS,
        Unit::Count,
        "Input records per transaction"
    );
    describe_histogram!(
        PROCESSOR_PROCESSING_SECONDS,
        Unit::Seconds,
        "Decode, process, store and produce time per transaction"
    );
    describe_histogram!(
        PROCESSOR_COMMIT_SECONDS,
        Unit::Seconds,
        "Send-offsets and commit time per transaction"
    );
    describe_gauge!(PROCESSOR_CONSUMER_LAG, "Consumer lag per partition");
    describe_counter!(PROCESSOR_REBALANCES, "Rebalance events");
    describe_counter!(
        PROCESSOR_PRODUCER_RESETS,
        "Producers recreated after fatal or indeterminate errors"
    );
    describe_counter!(DEMO_PRODUCED, "Records produced by the demo job");
    describe_counter!(
        DEMO_CONSUMED,
        "Records consumed and decoded by the demo job"
    );
    describe_counter!(
        DEMO_ROWS,
        "Store rows written and read back by the demo job"
    );
    describe_histogram!(
        DEMO_LATENCY,
        Unit::Seconds,
        "Produce-to-consume latency through read_committed"
    );
    describe_gauge!(COMPONENT_READY, "1 while a component is ready");
    describe_counter!(TOPOLOGY_APPLIED, "Topology apply actions");
    describe_counter!(PAYMENTS_TRANSITIONS, "Payment transitions applied");
    describe_counter!(REFUNDS_TRANSITIONS, "Refund transitions applied, by status");
    describe_counter!(PAYOUTS_TRANSITIONS, "Payout transitions applied, by status");
    describe_counter!(
        BALANCE_DECISIONS,
        "Funding decisions of merchant balances (reserved, queued, expired, refused)"
    );
    describe_counter!(
        BENEFICIARY_VERIFICATIONS,
        "Beneficiary verification results, by status"
    );
    describe_counter!(
        PAYMENTS_SIGNALS_REJECTED,
        "Signals refused by the payment state machine"
    );
    describe_histogram!(
        STATE_RESTORE_SECONDS,
        "Time to catch an instance's stale partitions up with their changelog"
    );
    describe_counter!(
        STATE_RESTORE_RECORDS,
        "Changelog records read by state restores"
    );
    describe_counter!(
        STATE_RESTORE_BYTES,
        "Changelog bytes read by state restores"
    );
    describe_counter!(TIMERS_FIRED, "Durable timers fired (committed)");
    describe_histogram!(
        TIMER_LATENESS_SECONDS,
        "Time from a timer's due time to the commit of its firing"
    );
    describe_counter!(FRAUD_DECISIONS, "Fraud decisions");
    describe_counter!(CONNECTOR_CALLS, "Provider calls by outcome");
    describe_histogram!(
        CONNECTOR_CALL_SECONDS,
        Unit::Seconds,
        "Provider call latency"
    );
    describe_counter!(BRIDGE_REQUESTS, "HTTP requests answered by the bridge");
    describe_counter!(BRIDGE_WEBHOOKS, "Provider webhooks received");
    describe_counter!(SANDBOX_CALLS, "Sandbox PSP calls by scenario");
    describe_counter!(LOADGEN_PAYMENTS, "Load generator payments by final state");
    describe_counter!(
        LOADGEN_CREATE_RETRIES,
        "Load generator creations retried with the same Idempotency-Key"
    );
    describe_histogram!(
        LOADGEN_LATENCY,
        Unit::Seconds,
        "Intent to final state latency seen by the load generator"
    );
}
