//! The keyed state side of the loop: opening a stateful processor's store and catching it up with
//! its changelog before a batch.

use super::Backoff;
use super::{Deps, EosConsumer, Loop, STATE_COMPONENT};
use crate::metrics as m;
use crate::processors::Processor;
use crate::runtime::state::restore::Reader;
use crate::runtime::state::{KeyedStore, RestoreError};
use crate::topology::ProcessorSpec;
use rdkafka::consumer::Consumer;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tracing::warn;

/// The keyed state of a stateful processor instance: its changelog reader and a fresh local copy.
pub(super) fn open_keyed(
    spec: &ProcessorSpec,
    changelog: &str,
    transactional_id: &str,
    deps: &Deps,
) -> Result<KeyedStore, String> {
    let call_timeout = Duration::from_millis(deps.runtime.kafka_call_timeout_ms);
    let reader = Reader::new(
        &deps.kafka,
        &spec.consumer_group,
        changelog,
        deps.codec.clone(),
        call_timeout,
    )?;
    let path = deps
        .runtime
        .state_dir
        .join(format!("{transactional_id}.redb"));
    KeyedStore::open(
        &spec.name,
        changelog,
        &path,
        deps.runtime.state_cache_bytes,
        reader,
        deps.codec.clone(),
    )
}

impl<P: Processor> Loop<P> {
    /// Catches the local state up with the changelog where it may be behind: every owned partition
    /// after the group changed, every one after a transaction of unknown outcome. Not ready meanwhile;
    /// a broker that cannot serve the restore is waited out (capped backoff) until shutdown, which
    /// returns false. A changelog record that cannot be read stops the processor.
    pub(super) async fn catch_up_state(
        &mut self,
        consumer: &Arc<EosConsumer>,
    ) -> Result<bool, String> {
        let Some(keyed) = &mut self.keyed else {
            return Ok(true);
        };
        let generation = consumer.context().generation.load(Ordering::SeqCst);
        if self.keyed_generation != Some(generation) {
            let owned = consumer
                .assignment()
                .map_err(|e| format!("assignment: {e}"))?
                .elements()
                .iter()
                .map(|e| e.partition())
                .collect();
            keyed.owned_now(owned);
            self.keyed_generation = Some(generation);
        }
        let cap = Duration::from_millis(self.deps.runtime.retry_backoff_ms_max);
        let mut backoff = Backoff::new(&self.deps.runtime);
        while keyed.is_stale() {
            self.deps.health.set(STATE_COMPONENT, false);
            match keyed.catch_up().await {
                Ok(()) => {}
                Err(RestoreError::Fatal(reason)) => return Err(format!("restore: {reason}")),
                Err(RestoreError::Retryable(reason)) => {
                    let wait = backoff.next().unwrap_or(cap);
                    warn!(processor = %self.name, %reason, wait_ms = wait.as_millis(), "state restore failed; retrying");
                    metrics::counter!(m::PROCESSOR_RETRIES, "processor" => self.name.clone(), "op" => "restore").increment(1);
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = self.deps.shutdown.cancelled() => return Ok(false),
                    }
                }
            }
        }
        self.deps.health.set(STATE_COMPONENT, true);
        Ok(true)
    }
}
