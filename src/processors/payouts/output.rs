//! What the payout processor asks of others (the balance, the provider) and the events it records.

use super::machine::{Ask, Payout};
use super::Payouts;
use crate::contract::provider::Subject;
use crate::events::balance::{BalanceCommand, BalanceCommandKind};
use crate::events::payout::{PayoutEvent, PayoutStatus};
use crate::events::provider::{ProviderOperation, ProviderRequest};
use crate::events::{symbol, TimestampMillis};
use crate::processors::{Context, Effects, ProcessError};

impl Payouts {
    pub(super) fn ask(
        &self,
        p: &Payout,
        ask: Ask,
        effects: &mut Effects,
        ctx: &Context<'_>,
    ) -> Result<(), ProcessError> {
        let now_ms = ctx.clock.now_millis();
        let balance =
            |kind: BalanceCommandKind, tag: &str| BalanceCommand {
                command_id: format!("{}:{tag}", p.payout_id),
                merchant_id: p.merchant_id.as_str().to_owned(),
                payout_id: p.payout_id.as_str().to_owned(),
                kind,
                amount_minor: p.amount,
                currency: p.currency.clone(),
                queue_until: (kind == BalanceCommandKind::Reserve).then(|| {
                    TimestampMillis(now_ms.saturating_add(
                        i64::try_from(self.config.queue_ttl_ms).unwrap_or(i64::MAX),
                    ))
                }),
                issued_at: TimestampMillis(now_ms),
            };
        let record = match ask {
            Ask::Reserve => ctx.record(
                &self.topics.balance,
                &balance(BalanceCommandKind::Reserve, "reserve"),
            )?,
            Ask::Release => ctx.record(
                &self.topics.balance,
                &balance(BalanceCommandKind::Release, "release"),
            )?,
            Ask::Settle => ctx.record(
                &self.topics.balance,
                &balance(BalanceCommandKind::Settle, "settle"),
            )?,
            Ask::Credit => ctx.record(
                &self.topics.balance,
                &balance(BalanceCommandKind::Credit, "credit"),
            )?,
            Ask::Withdraw => ctx.record(
                &self.topics.balance,
                &balance(BalanceCommandKind::Withdraw, "withdraw"),
            )?,
            Ask::Pay => ctx.record(
                &self.topics.requests,
                &self.request(
                    p,
                    ProviderOperation::Payout,
                    format!("{}_payout", p.payout_id),
                    now_ms,
                ),
            )?,
            Ask::Status(n) => {
                let suffix = n.map_or(String::new(), |n| n.to_string());
                let mut r = self.request(
                    p,
                    ProviderOperation::Status,
                    format!("{}_status{suffix}", p.payout_id),
                    now_ms,
                );
                r.status_of = Some(ProviderOperation::Payout);
                ctx.record(&self.topics.requests, &r)?
            }
        };
        effects.records.push(record);
        Ok(())
    }

    /// The payout call; the payout id is its idempotency key at the provider.
    fn request(
        &self,
        p: &Payout,
        operation: ProviderOperation,
        request_id: String,
        now_ms: i64,
    ) -> ProviderRequest {
        let payee = p.payee.clone().map(|mut payee| {
            payee.rail = Some(symbol(&p.rail));
            payee.narration = p.narration.clone();
            payee.purpose = Some(symbol(&p.purpose));
            payee
        });
        ProviderRequest {
            request_id,
            attempt_id: p.payout_id.as_str().to_owned(),
            payment_id: p.payout_id.as_str().to_owned(),
            merchant_id: p.merchant_id.as_str().to_owned(),
            connector: self.config.connector.clone(),
            operation,
            amount_minor: p.amount,
            currency: p.currency.clone(),
            method_type: None,
            method_reference: None,
            provider_reference: p.provider_reference.clone(),
            requested_at: TimestampMillis(now_ms),
            status_of: None,
            payee,
            subject: Some(
                Subject::Payout {
                    payout: p.payout_id.clone(),
                }
                .to_wire(),
            ),
        }
    }
}

pub(super) fn event_of(
    connector: &str,
    p: &Payout,
    previous: Option<PayoutStatus>,
    reason: Option<String>,
    actor: Option<&str>,
    cause: &str,
    now_ms: i64,
) -> PayoutEvent {
    PayoutEvent {
        event_id: format!("{}:{}", p.payout_id, p.sequence),
        payout_id: p.payout_id.as_str().to_owned(),
        merchant_id: p.merchant_id.as_str().to_owned(),
        batch_id: p.batch_id.as_ref().map(|b| b.as_str().to_owned()),
        status: p.status,
        amount_minor: p.amount,
        currency: p.currency.clone(),
        connector: Some(connector.to_owned()),
        provider_reference: p.provider_reference.clone(),
        reason_code: reason,
        reason: None,
        occurred_at: TimestampMillis(now_ms),
        sequence: p.sequence,
        previous_status: previous,
        beneficiary_id: Some(p.beneficiary_id.as_str().to_owned()),
        rail: Some(symbol(&p.rail)),
        utr: p.utr.clone(),
        actor: actor.map(str::to_owned),
        cause_id: Some(cause.to_owned()),
    }
}
