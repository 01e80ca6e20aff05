//! The signed webhooks the sandbox sends to the bridge: scheduled per scenario (late, repeated,
//! out of order), signed with the connector's secret, retried a bounded number of times.

use super::server::{Charge, Object, Provider, Sandbox, WEBHOOK_ATTEMPTS_MAX};
use super::views::{acme_view, bolt_view};
use super::ChargeState;
use crate::connectors::{acme, bolt};
use crate::domain::clock::now_millis;
use std::sync::Arc;
use std::time::Duration;
use tracing::{debug, warn};

/// Sends the plan's webhooks, each after its delay, in the background.
pub(super) fn schedule(s: &Arc<Sandbox>, p: Provider, c: &Charge, webhooks: &[(u64, ChargeState)]) {
    for (n, (mult, state)) in webhooks.iter().enumerate() {
        let delay = Duration::from_millis(s.config.webhook_delay_ms.saturating_mul(*mult));
        // The same event id for a repeated state: a true duplicate delivery.
        let event_no = if n > 0 && webhooks.get(n - 1).map(|w| w.1) == Some(*state) {
            n - 1
        } else {
            n
        };
        let event_id = format!("evt_{}_{event_no}", c.id);
        // An out-of-order "pending" claims to be older than the success before it.
        let created_ms = now_millis().saturating_add(i64::try_from(delay.as_millis()).unwrap_or(0))
            - if *state == ChargeState::Pending {
                60_000
            } else {
                0
            };
        tokio::spawn(send_webhook(
            s.clone(),
            p,
            c.clone(),
            *state,
            event_id,
            created_ms,
            delay,
        ));
    }
}

async fn send_webhook(
    s: Arc<Sandbox>,
    p: Provider,
    c: Charge,
    state: ChargeState,
    event_id: String,
    created_ms: i64,
    delay: Duration,
) {
    tokio::time::sleep(delay).await;
    let body = match p {
        Provider::Acme => serde_json::to_vec(&acme::Webhook {
            id: event_id.clone(),
            kind: format!(
                "{}.{}",
                match c.object {
                    Object::Charge => "charge",
                    Object::Refund => "refund",
                },
                acme_view(&c, state).status
            ),
            created: created_ms,
            data: acme_view(&c, state),
        }),
        Provider::Bolt => serde_json::to_vec(&bolt::Webhook {
            event_id: event_id.clone(),
            event: match c.object {
                Object::Charge => "txn.update",
                Object::Refund => "refund.update",
            }
            .into(),
            ts_ms: created_ms,
            txn: bolt_view(&c, state),
        }),
    };
    let Ok(body) = body else { return };
    let Some(secret) = s.secrets.get(p.name()) else {
        return;
    };
    let url = format!("{}/{}", s.config.webhook_url, p.name());
    for attempt in 1..=WEBHOOK_ATTEMPTS_MAX {
        let ts = now_millis() / 1_000;
        let signature = secret.sign(&event_id, ts, &body);
        let sent = s
            .http
            .post(&url)
            .header("content-type", "application/json")
            .header("webhook-id", &event_id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", signature)
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {
                debug!(provider = p.name(), %event_id, "webhook delivered");
                return;
            }
            Ok(r) if r.status().is_client_error() => {
                warn!(provider = p.name(), %event_id, status = r.status().as_u16(), "webhook refused");
                return;
            }
            other => {
                debug!(provider = p.name(), %event_id, attempt, ok = other.is_ok(), "webhook delivery failed; retrying");
                tokio::time::sleep(Duration::from_millis(
                    200u64.saturating_mul(u64::from(attempt)),
                ))
                .await;
            }
        }
    }
    warn!(provider = p.name(), %event_id, "webhook undeliverable after {WEBHOOK_ATTEMPTS_MAX} attempts");
}
