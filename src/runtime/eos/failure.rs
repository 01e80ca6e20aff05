//! How a failed transaction is classified and recovered, and the bounded backoff of retries.

use crate::runtime::config::RuntimeConfig;
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, Producer};
use rdkafka::types::RDKafkaErrorCode;
use std::time::Duration;
use tracing::error;

/// How a failed transaction is recovered.
#[derive(Debug)]
pub(super) enum Failure {
    /// Abort, rewind to the committed offsets, try again.
    Abortable(String),
    /// The transaction's fate is unknown or the producer is unusable: recreate it, then rewind.
    ResetProducer(String),
    /// Another instance with our transactional id exists: we are the zombie.
    Fenced(String),
    /// A bug or broken invariant.
    Fatal(String),
}

pub(super) fn classify(op: &str, e: &KafkaError) -> Failure {
    let msg = format!("{op}: {e}");
    match e {
        KafkaError::Transaction(re) => {
            if is_fence(re.code()) {
                Failure::Fenced(msg)
            } else if re.is_fatal() {
                Failure::ResetProducer(msg)
            } else if re.txn_requires_abort() {
                Failure::Abortable(msg)
            } else {
                // Retriable or unclassified: the outcome is not known. Re-initialising settles it.
                Failure::ResetProducer(msg)
            }
        }
        _ => Failure::Abortable(msg),
    }
}

/// The producer's fatal error, when it says another instance fenced this one.
pub(super) fn fenced_by(producer: &FutureProducer) -> Option<String> {
    producer
        .client()
        .fatal_error()
        .and_then(|(code, msg)| is_fence(code).then(|| format!("{code:?}: {msg}")))
}

/// Codes that say another instance with our transactional id took over.
pub(super) fn is_fence(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::ProducerFenced
            | RDKafkaErrorCode::InvalidProducerEpoch
            | RDKafkaErrorCode::Fenced
    )
}

pub(super) fn is_abort_required(e: &KafkaError) -> bool {
    matches!(e, KafkaError::Transaction(re) if re.txn_requires_abort())
}

/// librdkafka's transactional calls block: run them on the blocking pool, off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, KafkaError> + Send + 'static,
) -> Result<T, KafkaError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => {
            error!(error = %e, "blocking Kafka call panicked or was cancelled");
            Err(KafkaError::Canceled)
        }
    }
}

/// Initialises a one-shot command's transactional producer (smoke, the benchmarks) with the
/// runtime's bounded retries: a broker that has just restarted answers with a timeout or
/// "coordinator not available" until it has loaded its transaction state. Fencing stops at once. The
/// processors use their own, shutdown-aware loop (`recovery::new_producer`).
pub async fn init_transactions(producer: &FutureProducer, r: &RuntimeConfig) -> Result<(), String> {
    let timeout = Duration::from_millis(r.kafka_call_timeout_ms);
    let mut backoff = Backoff::new(r);
    loop {
        let p = producer.clone();
        let e = match blocking(move || p.init_transactions(timeout)).await {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        let wait = match (classify("init_transactions", &e), backoff.next()) {
            (Failure::Fenced(m) | Failure::Fatal(m), _) => return Err(m),
            (_, Some(wait)) => wait,
            (_, None) => return Err(format!("init_transactions failed after retries: {e}")),
        };
        tracing::warn!(error = %e, wait_ms = wait.as_millis(), "init_transactions failed; retrying");
        tokio::time::sleep(wait).await;
    }
}

/// Bounded exponential backoff: `retries_max` waits, doubling from the initial to the maximum.
pub struct Backoff {
    next_ms: u64,
    max_ms: u64,
    left: u32,
}

impl Backoff {
    pub fn new(r: &RuntimeConfig) -> Self {
        Self {
            next_ms: r.retry_backoff_ms_initial,
            max_ms: r.retry_backoff_ms_max,
            left: r.retries_max,
        }
    }
}

impl Iterator for Backoff {
    type Item = Duration;
    fn next(&mut self) -> Option<Duration> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let wait = self.next_ms.min(self.max_ms);
        self.next_ms = self.next_ms.saturating_mul(2);
        Some(Duration::from_millis(wait))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_bounded_and_capped() {
        let r = RuntimeConfig {
            retries_max: 5,
            retry_backoff_ms_initial: 100,
            retry_backoff_ms_max: 300,
            ..RuntimeConfig::default()
        };
        let waits: Vec<u64> = Backoff::new(&r)
            .map(|d| u64::try_from(d.as_millis()).unwrap())
            .collect();
        assert_eq!(waits, vec![100, 200, 300, 300, 300]);
    }

    #[test]
    fn non_transactional_errors_abort() {
        // Transactional error codes come only from a real broker: tests/eos.rs exercises them.
        assert!(matches!(
            classify("produce", &KafkaError::Canceled),
            Failure::Abortable(_)
        ));
        assert!(!is_abort_required(&KafkaError::Canceled));
    }
}
