//! A small client of paystream's own REST API, for the commands that drive it (the load generator,
//! the demo's money-out phase, `paystream payouts import`).

use serde_json::Value;
use std::time::Duration;

pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl ApiClient {
    pub fn new(base: &str, key: &str, timeout_ms: u64) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(timeout_ms))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            key: key.to_owned(),
        })
    }

    /// A POST with an Idempotency-Key: its status and JSON body.
    pub async fn post(&self, path: &str, idem: &str, body: &Value) -> Result<(u16, Value), String> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .header("Idempotency-Key", idem)
            .json(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status().as_u16();
        Ok((status, r.json().await.unwrap_or(Value::Null)))
    }

    pub async fn get(&self, path: &str) -> Result<Value, String> {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())
    }
}
