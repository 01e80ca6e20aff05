//! The codec's configuration: an optional Confluent-compatible schema registry.

use crate::domain::problem::Checks;
use serde::{Deserialize, Serialize};

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

impl SchemaRegistryConfig {
    pub fn validate(&self, c: &mut Checks<'_>) {
        c.check(
            self.url.starts_with("http://") || self.url.starts_with("https://"),
            "url",
            format!("'{}' is not an http(s) URL", self.url),
            "set it to e.g. \"http://127.0.0.1:8081\", or remove [schema_registry] to use single-object encoding",
        );
        c.within(
            self.timeout_ms,
            100..=60_000,
            "timeout_ms",
            "use a value such as 5000",
        );
    }
}
