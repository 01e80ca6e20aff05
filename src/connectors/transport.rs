//! The HTTP transport of provider calls: one pooled client, a per-connector timeout and a bounded
//! response body. It sends what a connector built and returns what came back, unparsed.

use super::config::ConnectorConfig;
use super::{build, HttpMethod};
use crate::domain::accounts::AccountKey;
use crate::domain::clock::Clock;
use crate::events::provider::ProviderRequest;
use std::time::{Duration, Instant};

/// What came back from one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// `None`: no HTTP answer (timeout, connection refused, body too large).
    pub status: Option<u16>,
    pub body: Vec<u8>,
    pub latency_ms: i64,
    pub at_ms: i64,
    /// `false`: the request could not be built, so nothing was sent (`body` says why).
    pub sent: bool,
}

pub struct Transport {
    http: reqwest::Client,
    response_bytes_max: usize,
    key: AccountKey,
}

impl Transport {
    pub fn new(
        idle_per_host_max: usize,
        response_bytes_max: usize,
        key: AccountKey,
    ) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(idle_per_host_max)
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Self {
            http,
            response_bytes_max,
            key,
        })
    }

    pub async fn call(
        &self,
        c: &ConnectorConfig,
        r: &ProviderRequest,
        clock: &dyn Clock,
    ) -> Answer {
        let started = Instant::now();
        let at_ms = clock.now_millis();
        let done = |status: Option<u16>, body: Vec<u8>| Answer {
            status,
            body,
            latency_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
            at_ms,
            sent: true,
        };
        let req = match build(c.kind, r, &self.key) {
            Ok(req) => req,
            Err(e) => {
                return Answer {
                    sent: false,
                    ..done(None, e.to_string().into_bytes())
                }
            }
        };
        let url = format!("{}{}", c.base_url, req.path);
        let mut builder = match req.method {
            HttpMethod::Get => self.http.get(&url),
            HttpMethod::Post => self.http.post(&url),
        }
        .timeout(Duration::from_millis(c.timeout_ms))
        .header("content-type", req.content_type)
        .body(req.body);
        for (k, v) in req.headers {
            builder = builder.header(k, v);
        }
        let mut resp = match builder.send().await {
            Ok(resp) => resp,
            Err(_) => return done(None, vec![]),
        };
        let status = resp.status().as_u16();
        let mut body = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len().saturating_add(chunk.len()) > self.response_bytes_max {
                        return done(None, b"response too large".to_vec());
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(_) => return done(None, vec![]),
            }
        }
        done(Some(status), body)
    }
}
