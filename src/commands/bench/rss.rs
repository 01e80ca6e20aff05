//! Peak resident memory, sampled from /proc/self/status.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Highest VmRSS seen since the last reset.
#[derive(Default)]
pub(super) struct RssSampler {
    peak_kib: AtomicU64,
}

impl RssSampler {
    pub(super) fn reset(&self) {
        self.peak_kib.store(current_rss_kib(), Ordering::SeqCst);
    }

    pub(super) fn peak_kib(&self) -> u64 {
        self.peak_kib.load(Ordering::SeqCst)
    }

    pub(super) async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        while !stop.is_cancelled() {
            tick.tick().await;
            self.peak_kib.fetch_max(current_rss_kib(), Ordering::SeqCst);
        }
    }
}

fn current_rss_kib() -> u64 {
    proc_status_kib("VmRSS:")
}

/// The process's peak resident memory so far (VmHWM), in KiB; 0 where /proc is absent.
pub fn peak_rss_kib() -> u64 {
    proc_status_kib("VmHWM:")
}

fn proc_status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
