//! `connector`: the edge where provider calls happen. For each `ProviderRequest` of a batch, `load`
//! performs the HTTP call through `connectors::transport` (bounded concurrency, per-connector timeout, the attempt id as the
//! provider's idempotency key, bounded response size); `process` turns the answer into a
//! `ProviderResponse` through the connector's pure parser and appends the call's health to the
//! connector's time set (read by routing's circuit breaker).
//!
//! A replayed batch calls the provider again with the same idempotency key, so the provider answers
//! with the first result and charges nothing twice. A timeout, a 5xx or an answer that does not parse
//! is `UNKNOWN`: the payment processor then asks once for a status check (`STATUS`), and otherwise
//! waits for the provider's webhook; nothing is guessed.

use crate::connectors::config::ConnectorsConfig;
use crate::connectors::transport::{Answer, Transport};
use crate::connectors::{self, Normalized};
use crate::domain::accounts::AccountKey;
use crate::events::provider::DeclineClass;
use crate::events::provider::{
    ProviderOperation, ProviderOutcome, ProviderRequest, ProviderResponse,
};
use crate::events::Event;
use crate::events::{symbol, TimestampMillis};
use crate::metrics::{self as m, Measure};
use crate::processors::routing::{health_set, HEALTH_SET_OWNER};
use crate::processors::{Binding, Build, Context, Decoded, Effects, Io, ProcessError, Processor};
use crate::store::state::{rows, SetMember};
use futures::future::BoxFuture;
use futures::StreamExt;
use std::collections::BTreeMap;
use std::time::Duration;

pub const NAME: &str = "connector";
const HEALTH_TTL_S: u32 = 24 * 3_600;

pub struct Connector {
    config: ConnectorsConfig,
    transport: Transport,
    outputs: Outputs,
}

/// Where answers go: a payment's (and its refunds') to the payment processor, a payout's to the
/// payout processor, a verification's to the beneficiaries processor.
#[derive(Debug, Clone)]
pub struct Outputs {
    pub responses: String,
    pub payouts: String,
    pub verifications: String,
}

impl Outputs {
    fn of(&self, r: &ProviderRequest) -> &str {
        match (r.operation, r.status_of) {
            (ProviderOperation::Payout, _) | (_, Some(ProviderOperation::Payout)) => &self.payouts,
            (ProviderOperation::VerifyBeneficiary, _) => &self.verifications,
            _ => &self.responses,
        }
    }
}

impl Connector {
    pub fn new(config: ConnectorsConfig, outputs: Outputs) -> Result<Self, String> {
        let key = AccountKey::from_hex(&config.account_key_hex)
            .map_err(|e| format!("connectors.account_key_hex: {e}"))?;
        let transport = Transport::new(config.calls_in_flight_max, config.response_bytes_max, key)?;
        Ok(Self {
            config,
            transport,
            outputs,
        })
    }
}

impl Build for Connector {
    type Config = ConnectorsConfig;

    fn build(config: &ConnectorsConfig, binding: &Binding) -> Result<Self, String> {
        let outputs = Outputs {
            responses: binding.output("responses")?,
            payouts: binding.output("payouts")?,
            verifications: binding.output("verifications")?,
        };
        Self::new(config.clone(), outputs)
    }
}

impl Processor for Connector {
    type Input = ProviderRequest;
    type View = BTreeMap<String, Answer>;
    const OUTPUTS: &'static [&'static str] = &["responses", "payouts", "verifications"];
    const INPUT_SCHEMAS: &'static [&'static str] = &[ProviderRequest::FULL_NAME];

    fn name(&self) -> &str {
        NAME
    }

    fn load<'a>(
        &'a self,
        io: &'a Io<'a>,
        batch: &'a [Decoded<ProviderRequest>],
    ) -> BoxFuture<'a, Result<Self::View, ProcessError>> {
        Box::pin(async move {
            let mut calls: Vec<BoxFuture<'a, (String, Answer)>> = Vec::new();
            for d in batch {
                let r = &d.input;
                if let Some(c) = self.config.get(&r.connector) {
                    if connectors::performs(c.kind, r.operation) {
                        calls.push(Box::pin(async move {
                            (
                                r.request_id.clone(),
                                self.transport.call(c, r, io.clock).await,
                            )
                        }));
                    }
                }
            }
            let answers: Vec<(String, Answer)> = futures::stream::iter(calls)
                .buffer_unordered(self.config.calls_in_flight_max.max(1))
                .collect()
                .await;
            Ok(answers.into_iter().collect())
        })
    }

    fn process(
        &self,
        r: &ProviderRequest,
        answers: &mut Self::View,
        ctx: &Context<'_>,
    ) -> Result<Effects, ProcessError> {
        let Some(c) = self.config.get(&r.connector) else {
            return Err(ProcessError::Invalid(format!(
                "connector '{}' is not configured (connectors.providers)",
                r.connector
            )));
        };
        if !connectors::performs(c.kind, r.operation) {
            return Err(ProcessError::Invalid(format!(
                "connector '{}' ({:?}) does not perform {}",
                r.connector,
                c.kind,
                symbol(&r.operation)
            )));
        }
        let answer = answers.get(&r.request_id).cloned().ok_or_else(|| {
            ProcessError::Fatal(format!("no call was made for request {}", r.request_id))
        })?;
        let n: Normalized = if answer.sent {
            connectors::parse(
                c.kind,
                r.operation,
                answer.status,
                &answer.body,
                &r.currency,
            )
        } else {
            // Never sent, so never executed: a definite failure, not an unknown outcome.
            let mut n = Normalized::of(
                ProviderOutcome::Failed,
                Some(String::from_utf8_lossy(&answer.body).into_owned()),
            );
            n.provider_code = Some("REQUEST_INVALID".into());
            n
        };
        let provider = [("provider", c.name.clone())];
        let measures = vec![
            Measure::count(
                m::CONNECTOR_CALLS,
                &[
                    ("provider", c.name.clone()),
                    ("outcome", symbol(&n.outcome)),
                ],
            ),
            Measure::duration(
                m::CONNECTOR_CALL_SECONDS,
                &provider,
                Duration::from_millis(u64::try_from(answer.latency_ms).unwrap_or(0)),
            ),
        ];
        let healthy = n.outcome != ProviderOutcome::Unknown;
        let topic = self.outputs.of(r).to_owned();
        let response = response_of(r, n, &answer, ctx.clock.now_millis());
        let member = SetMember {
            at_ms: answer.at_ms,
            member: r.request_id.clone(),
            value: if healthy { "ok" } else { "error" }.into(),
        };
        Ok(Effects {
            records: vec![ctx.record(&topic, &response)?],
            writes: vec![rows::set_member(
                HEALTH_SET_OWNER,
                &health_set(&r.connector),
                &member,
                HEALTH_TTL_S,
            )],
            measures,
            ..Effects::default()
        })
    }
}

/// The normalized answer to `r`.
fn response_of(
    r: &ProviderRequest,
    n: Normalized,
    answer: &Answer,
    now_ms: i64,
) -> ProviderResponse {
    ProviderResponse {
        response_id: format!("{}:resp", r.request_id),
        request_id: r.request_id.clone(),
        attempt_id: r.attempt_id.clone(),
        payment_id: r.payment_id.clone(),
        connector: r.connector.clone(),
        operation: symbol(&r.operation),
        outcome: n.outcome,
        decline_class: n.decline_class,
        retryable: n.decline_class.is_some_and(DeclineClass::is_retryable),
        provider_reference: n.provider_reference,
        provider_code: n.provider_code,
        message: n.message,
        fee_minor: n.fee_minor,
        latency_ms: answer.latency_ms,
        received_at: TimestampMillis(now_ms),
        bank_reference: n.bank_reference,
        verification: n.verification,
        request_operation: Some(r.operation),
        // The request's subject, typed (derived for a request written before v3; the decoder has
        // refused a request whose subject could not be read).
        subject: crate::contract::provider::of_request(r)
            .ok()
            .map(|s| s.to_wire()),
    }
}
