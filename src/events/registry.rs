//! A client for the Confluent Schema Registry REST API (also served by Apicurio Registry's `ccompat`).
//!
//! Only the two calls the codec needs: register a schema under a subject, and fetch a schema by id.
//! Subjects follow the RecordNameStrategy (subject = the record's full name), because a schema, not a
//! topic, defines an event type here (the dead-letter topics carry records from many topics).

use serde::Deserialize;
use std::time::Duration;

/// Largest registry answer accepted; a schema is a few KiB.
const RESPONSE_BYTES_MAX: usize = 1024 * 1024;

#[derive(Debug, Clone)]
pub struct RegistryClient {
    base_url: String,
    http: reqwest::Client,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Network failure, timeout or 5xx: worth a bounded retry.
    #[error("schema registry {url} unavailable: {reason}")]
    Unavailable { url: String, reason: String },
    /// 4xx: the registry refused (unknown id, incompatible schema); retrying will not help.
    #[error("schema registry {url} refused with HTTP {status}: {body}")]
    Rejected {
        url: String,
        status: u16,
        body: String,
    },
}

impl RegistryError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, RegistryError::Rejected { status: 404, .. })
    }
}

#[derive(Deserialize)]
struct IdResponse {
    id: u32,
}

#[derive(Deserialize)]
struct SchemaResponse {
    schema: String,
}

const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

impl RegistryClient {
    pub fn new(base_url: &str, timeout_ms: u64) -> Result<Self, RegistryError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(timeout_ms))
            .connect_timeout(Duration::from_millis(timeout_ms))
            .build()
            .map_err(|e| RegistryError::Unavailable {
                url: base_url.into(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            http,
        })
    }

    /// Registers `schema` under `subject` (idempotent: the same schema returns the same id).
    pub async fn register(&self, subject: &str, schema: &str) -> Result<u32, RegistryError> {
        let url = format!("{}/subjects/{subject}/versions", self.base_url);
        let body = serde_json::json!({ "schema": schema, "schemaType": "AVRO" });
        let request = self
            .http
            .post(&url)
            .header("content-type", CONTENT_TYPE)
            .json(&body);
        let IdResponse { id } = self.call(&url, request).await?;
        Ok(id)
    }

    /// The schema text registered with `id`.
    pub async fn schema_by_id(&self, id: u32) -> Result<String, RegistryError> {
        let url = format!("{}/schemas/ids/{id}", self.base_url);
        let SchemaResponse { schema } = self.call(&url, self.http.get(&url)).await?;
        Ok(schema)
    }

    async fn call<T: for<'de> Deserialize<'de>>(
        &self,
        url: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<T, RegistryError> {
        let unavailable = |reason: String| RegistryError::Unavailable {
            url: url.to_owned(),
            reason,
        };
        let response = request
            .header("accept", CONTENT_TYPE)
            .send()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        if bytes.len() > RESPONSE_BYTES_MAX {
            return Err(unavailable(format!(
                "answer of {} bytes exceeds {RESPONSE_BYTES_MAX}",
                bytes.len()
            )));
        }
        if status.is_server_error() {
            return Err(unavailable(format!("HTTP {}", status.as_u16())));
        }
        if !status.is_success() {
            let body: String = String::from_utf8_lossy(&bytes).chars().take(512).collect();
            return Err(RegistryError::Rejected {
                url: url.to_owned(),
                status: status.as_u16(),
                body,
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| unavailable(format!("malformed answer: {e}")))
    }
}
