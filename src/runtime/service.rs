//! What every long-running command starts with and ends with: shutdown on SIGTERM/SIGINT, the
//! Prometheus recorder, readiness, and the ops endpoints (`/metrics`, `/healthz`, `/readyz`).

use super::config::ServiceConfig;
use super::ops;
use crate::metrics as m;
use crate::runtime::health::Health;
use crate::runtime::shutdown;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub struct Service {
    /// Cancelled by SIGTERM or SIGINT: the command's work watches it.
    pub shutdown: CancellationToken,
    pub health: Arc<Health>,
    pub ops_addr: SocketAddr,
    /// Separate from `shutdown`, so `/metrics` keeps answering while the work drains.
    ops_stop: CancellationToken,
    ops_task: JoinHandle<()>,
    grace: Duration,
}

impl Service {
    /// Starts the ops endpoints with `components` registered as not ready.
    pub async fn start(
        config: &ServiceConfig,
        components: &[&'static str],
    ) -> Result<Service, String> {
        let shutdown = CancellationToken::new();
        shutdown::cancel_on_signal(shutdown.clone());
        let handle = m::install().map_err(|e| format!("metrics recorder: {e}"))?;
        let ops_stop = CancellationToken::new();
        m::spawn_upkeep(handle.clone(), ops_stop.clone());
        let health = Health::new();
        for c in components {
            health.register(c);
        }
        let (ops_addr, ops_task) = ops::serve(config.ops_listen, handle, health.clone(), ops_stop.clone())
            .await
            .map_err(|e| format!("cannot serve ops endpoints on {}: {e}. Fix: free the port or set service.ops_listen", config.ops_listen))?;
        tracing::info!(%ops_addr, "ops endpoints serving");
        Ok(Service {
            shutdown,
            health,
            ops_addr,
            ops_stop,
            ops_task,
            grace: Duration::from_millis(config.shutdown_timeout_ms),
        })
    }

    /// How long the work may take to stop after `shutdown` is cancelled.
    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// Not ready any more, then the ops endpoints stop (bounded by the grace period).
    pub async fn stop(self) {
        self.health.begin_shutdown();
        self.ops_stop.cancel();
        if tokio::time::timeout(self.grace, self.ops_task)
            .await
            .is_err()
        {
            tracing::warn!(
                grace_ms = self.grace.as_millis(),
                "ops server did not stop in time"
            );
        }
    }
}
