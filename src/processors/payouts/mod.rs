//! `payouts`: each payout's lifecycle, keyed by payout id (`machine`, pure). Its inputs: the
//! merchants' requests and decisions, the balance's funding decisions, and the payout connector's
//! answers and webhooks. Its outputs: the payout's events, commands to the merchant's balance (the
//! one writer of the balance, keyed by merchant: `balances`), and provider requests. The `load` edge
//! reads the beneficiary row of each new payout, so the check of a verified, unexpired verification
//! of the exact account is made once, when the payout is accepted.

pub mod config;
mod input;
pub mod machine;
mod output;

pub use input::Input;

use super::state::{Keyed, Step};
use super::timers::{Timer, TimerOp};
use super::{Binding, Build, Context, Decoded, Effects, Io, ProcessError, Processor};
use crate::domain::ids::MerchantId;
use crate::events::balance::FundingDecision;
use crate::events::beneficiary_verification::VerificationStatus;
use crate::events::payout::{PayoutDecision, PayoutRequest};
use crate::events::provider::{ProviderOperation, ProviderResponse, ProviderWebhook};
use crate::events::{from_symbol, symbol, Event};
use crate::metrics::{self as m, Measure};
use crate::store::beneficiaries::BeneficiariesTable;
use crate::store::Store;
use config::PayoutsConfig;
use futures::future::BoxFuture;
use machine::{BeneficiaryCheck, Change, Outcome, Payout, Rules, Said};
use output::event_of;
use std::collections::BTreeMap;

pub const NAME: &str = "payouts";
pub const STATUS_CHECK: &str = "status_check";

/// The batch's payouts, and the beneficiaries of its new ones.
pub struct View {
    payouts: Keyed<Payout>,
    beneficiaries: BTreeMap<String, BeneficiaryCheck>,
}

#[derive(Debug, Clone)]
struct Topics {
    events: String,
    balance: String,
    requests: String,
}

pub struct Payouts {
    config: PayoutsConfig,
    topics: Topics,
    /// The beneficiary rows the `load` edge reads, prepared once before the processor runs.
    beneficiaries: Option<BeneficiariesTable>,
}

impl Build for Payouts {
    type Config = PayoutsConfig;

    fn build(config: &PayoutsConfig, binding: &Binding) -> Result<Self, String> {
        Ok(Self {
            config: config.clone(),
            topics: Topics {
                events: binding.output("events")?,
                balance: binding.output("balance")?,
                requests: binding.output("requests")?,
            },
            beneficiaries: None,
        })
    }

    fn prepare(mut self, store: &Store) -> BoxFuture<'_, Result<Self, String>> {
        Box::pin(async move {
            let table = BeneficiariesTable::prepare(store)
                .await
                .map_err(|e| format!("prepare beneficiary reads: {e}"))?;
            self.beneficiaries = Some(table);
            Ok(self)
        })
    }
}

/// What a payout needs of its beneficiary's row; none for a row whose merchant is not an id (a row
/// is input too: such a beneficiary is as good as absent).
fn check_of(row: crate::store::beneficiaries::BeneficiaryRow) -> Option<BeneficiaryCheck> {
    let merchant_id = MerchantId::parse(&row.merchant_id).ok()?;
    Some(BeneficiaryCheck {
        merchant_id,
        account_kind: row.account_kind.clone(),
        payee: crate::events::provider::Payee {
            account_kind: row.account_kind,
            account_masked: row.account_masked,
            account_sealed: row.account_sealed,
            name: row.name,
            rail: None,
            narration: None,
            purpose: None,
        },
        fingerprint: row.account_fingerprint,
        status: row
            .verification_status
            .as_deref()
            .and_then(from_symbol::<VerificationStatus>),
        verified_fingerprint: row.verified_fingerprint,
        expires_at_ms: row.verification_expires_at_ms,
    })
}

impl Processor for Payouts {
    type Input = Input;
    type View = View;
    const OUTPUTS: &'static [&'static str] = &["events", "balance", "requests"];
    const INPUT_SCHEMAS: &'static [&'static str] = &[
        PayoutRequest::FULL_NAME,
        PayoutDecision::FULL_NAME,
        FundingDecision::FULL_NAME,
        ProviderResponse::FULL_NAME,
        ProviderWebhook::FULL_NAME,
    ];
    const STATEFUL: bool = true;

    fn state_key(input: &Input) -> Option<&str> {
        Some(input.payout_id())
    }

    fn name(&self) -> &str {
        NAME
    }

    fn load<'a>(
        &'a self,
        io: &'a Io<'a>,
        batch: &'a [Decoded<Input>],
    ) -> BoxFuture<'a, Result<View, ProcessError>> {
        Box::pin(async move {
            let payouts = Keyed::load(io)?;
            let table = self.beneficiaries.as_ref().ok_or_else(|| {
                ProcessError::Fatal(
                    "payouts: its beneficiary reads were never prepared (Build::prepare)".into(),
                )
            })?;
            let mut beneficiaries = BTreeMap::new();
            for d in batch {
                let Input::Request(r) = &d.input else {
                    continue;
                };
                if beneficiaries.contains_key(&r.beneficiary_id) {
                    continue;
                }
                let row = table
                    .get(&r.beneficiary_id)
                    .await
                    .map_err(|e| ProcessError::Retryable(e.to_string()))?;
                if let Some(check) = row.and_then(check_of) {
                    beneficiaries.insert(r.beneficiary_id.clone(), check);
                }
            }
            Ok(View {
                payouts,
                beneficiaries,
            })
        })
    }

    fn process(
        &self,
        input: &Input,
        view: &mut View,
        ctx: &Context<'_>,
    ) -> Result<Effects, ProcessError> {
        let id = input.payout_id().to_owned();
        let now_ms = ctx.clock.now_millis();
        let beneficiaries = &view.beneficiaries;
        view.payouts.step(ctx, &id, |stored| {
            let (outcome, actor) = self.decide(input, stored, beneficiaries, now_ms);
            let note = match input {
                Input::Decision(d) => d.note.as_deref(),
                _ => None,
            };
            self.apply(
                stored,
                outcome,
                Who { actor, note },
                input_cause(input),
                ctx,
            )
        })
    }

    fn on_timer(
        &self,
        key: &str,
        timer: &Timer,
        view: &mut View,
        ctx: &Context<'_>,
    ) -> Result<Effects, ProcessError> {
        let cause = format!("timer:{}:{}", timer.kind, timer.due_at_ms);
        view.payouts.fire(ctx, key, timer, |p| {
            let outcome = machine::rung(
                p,
                &self.config.status_check_ladder_ms,
                ctx.clock.now_millis(),
            );
            self.apply(Some(p), outcome, Who::default(), cause.clone(), ctx)
        })
    }
}

/// Who caused a change, and why in their words (a decision's note).
#[derive(Debug, Clone, Copy, Default)]
struct Who<'a> {
    actor: Option<&'a str>,
    note: Option<&'a str>,
}

fn input_cause(input: &Input) -> String {
    match input {
        Input::Request(r) => format!("{}:{}", r.payout_id, symbol(&r.action).to_ascii_lowercase()),
        Input::Decision(d) => d.decision_id.clone(),
        Input::Funding(f) => f.decision_id.clone(),
        Input::Answer(a) => a.response.response_id.clone(),
        Input::Webhook(n) => n.webhook.webhook_id.clone(),
    }
}

impl Payouts {
    fn rules(&self, merchant: &str) -> Rules {
        Rules {
            approval_from: self.config.approval_thresholds_minor.get(merchant).copied(),
            imps_max_minor: self.config.imps_max_minor,
            rtgs_min_minor: self.config.rtgs_min_minor,
            ladder_first_ms: self.ladder_first_ms(),
        }
    }

    fn ladder_first_ms(&self) -> i64 {
        i64::try_from(
            self.config
                .status_check_ladder_ms
                .first()
                .copied()
                .unwrap_or(0),
        )
        .unwrap_or(i64::MAX)
    }

    /// The machine's outcome for one input, and who caused it.
    fn decide<'i>(
        &self,
        input: &'i Input,
        stored: Option<&Payout>,
        beneficiaries: &BTreeMap<String, BeneficiaryCheck>,
        now_ms: i64,
    ) -> (Outcome, Option<&'i str>) {
        match (input, stored) {
            (Input::Request(r), None) => {
                let b = beneficiaries.get(&r.beneficiary_id);
                (
                    machine::create(r, b, self.rules(&r.merchant_id), now_ms),
                    Some(&r.requested_by),
                )
            }
            (Input::Request(r), Some(_)) => (
                Outcome::Refused(format!("payout {} already exists", r.payout_id)),
                None,
            ),
            (Input::Decision(d), Some(p)) if p.merchant_id.as_str() == d.merchant_id => (
                machine::decide(p, d.action, &d.decided_by),
                Some(&d.decided_by),
            ),
            (Input::Funding(f), Some(p)) => (machine::funding(p, f.outcome), None),
            (Input::Answer(answer), Some(p)) => {
                let a = &answer.response;
                let said = Said {
                    provider_reference: a.provider_reference.as_deref(),
                    utr: a.bank_reference.as_deref(),
                    code: a.provider_code.as_deref(),
                    reversed: false,
                    ask_status: answer.operation == ProviderOperation::Payout,
                };
                (
                    machine::answer(p, a.outcome, said, self.ladder_first_ms(), now_ms),
                    None,
                )
            }
            (Input::Webhook(n), Some(p)) => {
                let w = &n.webhook;
                let said = Said {
                    provider_reference: w.provider_reference.as_deref(),
                    utr: w.bank_reference.as_deref(),
                    code: w.provider_code.as_deref(),
                    reversed: w.event_type.ends_with(".reversed"),
                    ask_status: false,
                };
                (
                    machine::answer(p, w.outcome, said, self.ladder_first_ms(), now_ms),
                    None,
                )
            }
            (_, _) => (
                Outcome::Refused("no such payout of this merchant".into()),
                None,
            ),
        }
    }

    /// Records an outcome: the event, the state, the timer and what it asks of others.
    fn apply(
        &self,
        stored: Option<&Payout>,
        outcome: Outcome,
        who: Who<'_>,
        cause: String,
        ctx: &Context<'_>,
    ) -> Result<Step<Payout>, ProcessError> {
        let now_ms = ctx.clock.now_millis();
        let mut effects = Effects::default();
        let change = match outcome {
            Outcome::Refused(why) => {
                effects.measures.push(Measure::count(
                    m::PAYMENTS_SIGNALS_REJECTED,
                    &[("code", "PAYOUT_REFUSED".to_owned())],
                ));
                tracing::debug!(payout = ?stored.map(|p| &p.payout_id), %why, "payout signal refused");
                return Ok(Step::new(effects, None));
            }
            Outcome::Quiet(asks) => {
                if let Some(p) = stored {
                    for ask in asks {
                        self.ask(p, ask, &mut effects, ctx)?;
                    }
                }
                return Ok(Step::new(effects, None));
            }
            Outcome::Changed(c) => *c,
        };
        let Change {
            payout,
            previous,
            reason,
            event,
            asks,
        } = change;
        if event {
            let mut e = event_of(
                &self.config.connector,
                &payout,
                previous,
                reason,
                who.actor,
                &cause,
                now_ms,
            );
            e.reason = who.note.map(str::to_owned);
            effects.records.push(ctx.record(&self.topics.events, &e)?);
            effects.measures.push(Measure::count(
                m::PAYOUTS_TRANSITIONS,
                &[("status", symbol(&payout.status))],
            ));
        }
        for ask in asks {
            self.ask(&payout, ask, &mut effects, ctx)?;
        }
        let timer = match payout.next_check_at_ms {
            Some(at) => TimerOp::Set(Timer::new(STATUS_CHECK, at, vec![])),
            None => TimerOp::Cancel(STATUS_CHECK.into()),
        };
        Ok(Step::new(effects, Some(payout)).with_timers(vec![timer]))
    }
}
