//! Ending a failed transaction as its class demands, and (re)creating the transactional producer:
//! bounded at start, waiting out a broker outage once running.

use super::failure::{blocking, classify, fenced_by, Failure};
use super::{EosConsumer, Loop, Patience, HEALTH_COMPONENT};
use crate::metrics as m;
use crate::processors::Processor;
use crate::runtime::kafka;
use rdkafka::producer::{FutureProducer, Producer};
use std::sync::Arc;
use std::time::Duration;
use tracing::warn;

impl<P: Processor> Loop<P> {
    /// Ends a failed transaction as its class demands. Returns the reason when the loop may go on
    /// (after a rewind), or the error that stops it (fenced, fatal, a producer that cannot be made).
    pub(super) async fn recover(
        &mut self,
        failure: Failure,
        producer: &mut FutureProducer,
    ) -> Result<String, String> {
        self.stats.transactions_aborted += 1;
        metrics::counter!(m::PROCESSOR_TRANSACTIONS, "processor" => self.name.clone(), "outcome" => "aborted").increment(1);
        // An error that looks abortable (a purged produce, say) may hide a fence: recreating
        // the producer then would fence the legitimate instance in turn.
        let failure = match (failure, fenced_by(producer)) {
            (Failure::Fatal(r), _) => Failure::Fatal(r),
            (_, Some(why)) => Failure::Fenced(why),
            (f, None) => f,
        };
        let fenced = |why: &str| {
            format!(
                "fenced: another instance uses transactional.id {} ({why}); this one stops",
                self.transactional_id
            )
        };
        let t = self.call_timeout;
        match failure {
            Failure::Abortable(reason) => {
                warn!(processor = %self.name, %reason, "aborting transaction");
                let p = producer.clone();
                if let Err(e) = blocking(move || p.abort_transaction(t)).await {
                    if let Failure::Fenced(why) = classify("abort_transaction", &e) {
                        return Err(fenced(&why));
                    }
                    warn!(processor = %self.name, error = %e, "abort failed; recreating the producer");
                    *producer = self.reset_producer().await?;
                }
                Ok(reason)
            }
            Failure::ResetProducer(reason) => {
                warn!(processor = %self.name, %reason, "transaction outcome unknown; recreating the producer");
                // It may have committed: the local state catches up from the changelog.
                if let Some(keyed) = &mut self.keyed {
                    keyed.invalidate();
                }
                *producer = self.reset_producer().await?;
                Ok(reason)
            }
            Failure::Fenced(reason) => Err(fenced(&reason)),
            Failure::Fatal(reason) => {
                let p = producer.clone();
                let _ = blocking(move || p.abort_transaction(t)).await;
                Err(reason)
            }
        }
    }

    /// A transactional producer with its transactions initialised. At start (`Patience::Bounded`),
    /// a broker that cannot be reached within the retries is a clear error: the configuration is
    /// likely wrong. Once running (`Patience::UntilShutdown`), a broker outage is waited out, not
    /// ready, with capped backoff: a processor task that stopped would never be restarted in-process.
    pub(super) async fn new_producer(&self, patience: Patience) -> Result<FutureProducer, String> {
        let producer: FutureProducer =
            kafka::transactional_producer(&self.deps.kafka, &self.transactional_id)
                .create()
                .map_err(|e| format!("producer: {e}"))?;
        let t = self.call_timeout;
        let cap = Duration::from_millis(self.deps.runtime.retry_backoff_ms_max);
        let mut backoff = self.backoff();
        loop {
            let p = producer.clone();
            let e = match blocking(move || p.init_transactions(t)).await {
                Ok(()) => return Ok(producer),
                Err(e) => e,
            };
            if let Failure::Fenced(why) = classify("init_transactions", &e) {
                return Err(format!(
                    "fenced: another instance uses transactional.id {} ({why}); this one stops",
                    self.transactional_id
                ));
            }
            let wait = match (backoff.next(), patience) {
                (Some(wait), _) => wait,
                (None, Patience::UntilShutdown) => cap,
                (None, Patience::Bounded) => {
                    return Err(format!(
                        "init_transactions for {} failed: {e}",
                        self.transactional_id
                    ))
                }
            };
            if !self
                .wait_for_broker(wait, "init_transactions", &e.to_string())
                .await
            {
                return Err(format!("shut down while waiting for the broker: {e}"));
            }
        }
    }

    /// Waits `wait` before another try of a Kafka call that failed with `error`; false when
    /// shutdown came first.
    pub(super) async fn wait_for_broker(&self, wait: Duration, call: &str, error: &str) -> bool {
        warn!(processor = %self.name, %error, wait_ms = wait.as_millis(), call, "Kafka call failed; retrying");
        metrics::counter!(m::PROCESSOR_RETRIES, "processor" => self.name.clone(), "op" => "kafka")
            .increment(1);
        tokio::select! {
            () = tokio::time::sleep(wait) => true,
            () = self.deps.shutdown.cancelled() => false,
        }
    }

    /// Rewinds to the committed offsets, waiting out a broker that cannot say what they are (not
    /// ready, capped backoff) until it is back or shutdown: like the producer, a processor task
    /// that stopped here would never be restarted in-process.
    pub(super) async fn rewind_patiently(&self, consumer: &Arc<EosConsumer>) -> Result<(), String> {
        let cap = Duration::from_millis(self.deps.runtime.retry_backoff_ms_max);
        let mut backoff = self.backoff();
        let mut waited = false;
        loop {
            let e = match self.rewind(consumer).await {
                Ok(()) => {
                    if waited {
                        self.deps.health.set(HEALTH_COMPONENT, true);
                    }
                    return Ok(());
                }
                Err(e) => e,
            };
            waited = true;
            self.deps.health.set(HEALTH_COMPONENT, false);
            let wait = backoff.next().unwrap_or(cap);
            if !self.wait_for_broker(wait, "rewind", &e).await {
                return Err(e);
            }
        }
    }

    pub(super) async fn reset_producer(&mut self) -> Result<FutureProducer, String> {
        self.stats.producer_resets += 1;
        metrics::counter!(m::PROCESSOR_PRODUCER_RESETS, "processor" => self.name.clone())
            .increment(1);
        self.deps.health.set(HEALTH_COMPONENT, false);
        let producer = self.new_producer(Patience::UntilShutdown).await?;
        self.deps.health.set(HEALTH_COMPONENT, true);
        Ok(producer)
    }
}
