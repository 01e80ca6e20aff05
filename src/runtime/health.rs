//! Liveness and readiness. A service is ready when every component it registered reports ready and it
//! is not shutting down; `/readyz` shows each component so an operator sees which one is not.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

#[derive(Debug, Default)]
pub struct Health {
    components: RwLock<BTreeMap<&'static str, bool>>,
    shutting_down: AtomicBool,
}

impl Health {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Declares a component, not ready yet.
    pub fn register(&self, component: &'static str) {
        self.set(component, false);
    }

    pub fn set(&self, component: &'static str, ready: bool) {
        if let Ok(mut c) = self.components.write() {
            c.insert(component, ready);
        }
    }

    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    /// (ready, per-component state). Not ready with no components: nothing has started yet.
    pub fn readiness(&self) -> (bool, BTreeMap<&'static str, bool>) {
        let components = self
            .components
            .read()
            .map(|c| c.clone())
            .unwrap_or_default();
        let ready = !components.is_empty()
            && components.values().all(|r| *r)
            && !self.shutting_down.load(Ordering::SeqCst);
        (ready, components)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_all_components_are_and_not_shutting_down() {
        let h = Health::new();
        assert!(!h.readiness().0);
        h.register("kafka");
        h.register("store");
        h.set("kafka", true);
        assert!(!h.readiness().0);
        h.set("store", true);
        assert!(h.readiness().0);
        h.begin_shutdown();
        assert!(!h.readiness().0);
    }
}
