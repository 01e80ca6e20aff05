//! `balances`: the one writer of each merchant's payout balance. Keyed by merchant id, it reads the
//! payout processor's commands (reserve, release, settle, credit, withdraw) and the ledger's
//! movements of the merchant's payable account (captures, fees, refunds), decides each reserve in
//! the same step that changes the balance (`book`, pure), and answers the payout processor with a
//! `FundingDecision`. A payout that does not fit waits in a FIFO queue, with a timer for the first
//! expiry. The balance row for `GET /v1/balance` is written with the decision, versioned by the
//! book's change count.

pub mod book;
pub mod config;

use super::state::{Keyed, Step};
use super::timers::{Timer, TimerOp};
use super::{
    Binding, Build, Context, Decode, Decoded, Effects, Io, ProcessError, Processor, RecordMeta,
};
use crate::contract::ledger_account::Account;
use crate::events::balance::{BalanceCommand, FundingDecision};
use crate::events::journal_entry::{Direction, JournalEntry};
use crate::events::{Codec, CodecError, Event, TimestampMillis};
use crate::metrics::{self as m, Measure};
use crate::store::writer::{Cql, StoreWrite};
use book::{Book, Decision};
use config::BalancesConfig;
use futures::future::BoxFuture;

pub const NAME: &str = "balances";
/// The timer of the queue's first expiry.
pub const QUEUE_EXPIRY: &str = "queue_expiry";

/// One input: a payout's command, or a ledger movement of the merchant's payable account.
#[derive(Debug, Clone)]
pub enum Input {
    Command(BalanceCommand),
    Movement(JournalEntry),
}

impl Input {
    fn merchant_id(&self) -> &str {
        match self {
            Input::Command(c) => &c.merchant_id,
            Input::Movement(e) => &e.merchant_id,
        }
    }
}

impl Decode for Input {
    fn decode(
        codec: &Codec,
        schema: &str,
        record: &RecordMeta,
        payload: &[u8],
    ) -> Result<Input, CodecError> {
        match schema {
            BalanceCommand::FULL_NAME => {
                let c: BalanceCommand = codec.decode_sync(payload)?;
                ids(&[("merchant_id", &c.merchant_id), ("payout_id", &c.payout_id)])?;
                Ok(Input::Command(c))
            }
            JournalEntry::FULL_NAME => {
                let e: JournalEntry = codec.decode_sync(payload)?;
                ids(&[("merchant_id", &e.merchant_id)])?;
                Ok(Input::Movement(e))
            }
            other => Err(CodecError::Invalid(format!(
                "topic '{}' carries {other}, which the balances processor does not read",
                record.topic
            ))),
        }
    }
}

fn ids(fields: &[(&str, &str)]) -> Result<(), CodecError> {
    for (field, value) in fields {
        crate::domain::ids::validate(value)
            .map_err(|e| CodecError::Invalid(format!("{field}: {e}")))?;
    }
    Ok(())
}

pub struct Balances {
    config: BalancesConfig,
    decisions: String,
}

impl Build for Balances {
    type Config = BalancesConfig;

    fn build(config: &BalancesConfig, binding: &Binding) -> Result<Self, String> {
        Ok(Self {
            config: config.clone(),
            decisions: binding.output("decisions")?,
        })
    }
}

/// The signed change a ledger entry makes to the merchant's payable account (credit positive).
fn payable_delta(e: &JournalEntry) -> Result<i64, ProcessError> {
    let account = Account::MerchantPayable(&e.merchant_id).name();
    e.postings
        .iter()
        .filter(|p| p.account == account)
        .try_fold(0i64, |sum, p| {
            let v = match p.direction {
                Direction::Credit => p.amount_minor,
                Direction::Debit => p.amount_minor.checked_neg().unwrap_or(i64::MIN),
            };
            sum.checked_add(v)
                .ok_or_else(|| ProcessError::Invalid(format!("entry {} overflows", e.entry_id)))
        })
}

impl Processor for Balances {
    type Input = Input;
    type View = Keyed<Book>;
    const OUTPUTS: &'static [&'static str] = &["decisions"];
    const INPUT_SCHEMAS: &'static [&'static str] =
        &[BalanceCommand::FULL_NAME, JournalEntry::FULL_NAME];
    const STATEFUL: bool = true;

    fn state_key(input: &Input) -> Option<&str> {
        Some(input.merchant_id())
    }

    fn name(&self) -> &str {
        NAME
    }

    fn load<'a>(
        &'a self,
        io: &'a Io<'a>,
        _batch: &'a [Decoded<Input>],
    ) -> BoxFuture<'a, Result<Keyed<Book>, ProcessError>> {
        Box::pin(async move { Keyed::load(io) })
    }

    fn process(
        &self,
        input: &Input,
        view: &mut Keyed<Book>,
        ctx: &Context<'_>,
    ) -> Result<Effects, ProcessError> {
        let merchant = input.merchant_id().to_owned();
        let now_ms = ctx.clock.now_millis();
        view.step(ctx, &merchant, |stored| {
            let mut book = stored.cloned().unwrap_or_default();
            book.check(self.config.queue_max).map_err(|e| {
                ProcessError::Fatal(format!(
                    "stored balance of {merchant} breaks an invariant: {e}"
                ))
            })?;
            let decisions = match input {
                Input::Command(c) => book.command(c, self.config.queue_max, now_ms),
                Input::Movement(e) => {
                    let delta = payable_delta(e)?;
                    if delta == 0 {
                        return Ok(Step::new(Effects::default(), None));
                    }
                    book.movement(&e.currency, delta, now_ms)
                }
            }
            .map_err(|e| ProcessError::Invalid(format!("merchant {merchant}: {e}")))?;
            // A command that would break the book is refused whole (poison), the book unchanged.
            book.check(self.config.queue_max)
                .map_err(|e| ProcessError::Invalid(format!("merchant {merchant}: {e}")))?;
            self.step(&merchant, book, &decisions, ctx)
        })
    }

    fn on_timer(
        &self,
        key: &str,
        timer: &Timer,
        view: &mut Keyed<Book>,
        ctx: &Context<'_>,
    ) -> Result<Effects, ProcessError> {
        view.fire(ctx, key, timer, |stored| {
            let mut book = stored.clone();
            let expired = book.expire(ctx.clock.now_millis());
            book.version += 1;
            self.step(key, book, &expired, ctx)
        })
    }
}

impl Balances {
    /// The decisions as records, the balance rows, and the queue's timer.
    fn step(
        &self,
        merchant: &str,
        book: Book,
        decisions: &[Decision],
        ctx: &Context<'_>,
    ) -> Result<Step<Book>, ProcessError> {
        let mut effects = Effects::default();
        let now_ms = ctx.clock.now_millis();
        for d in decisions {
            let record = FundingDecision {
                decision_id: format!(
                    "{}:{}:{}",
                    d.payout_id,
                    crate::events::symbol(&d.outcome).to_ascii_lowercase(),
                    book.version
                ),
                payout_id: d.payout_id.as_str().to_owned(),
                merchant_id: merchant.to_owned(),
                outcome: d.outcome,
                amount_minor: d.amount,
                currency: d.currency.clone(),
                available_minor: d.available_after,
                decided_at: TimestampMillis(now_ms),
            };
            effects.records.push(ctx.record(&self.decisions, &record)?);
            effects.measures.push(Measure::count(
                m::BALANCE_DECISIONS,
                &[("outcome", crate::events::symbol(&d.outcome))],
            ));
        }
        for (currency, f) in &book.funds {
            let queued: i64 = book
                .queue
                .iter()
                .filter(|q| &q.currency == currency)
                .map(|q| q.amount)
                .sum();
            effects.writes.push(
                StoreWrite::upsert(
                    "merchant_balances",
                    merchant,
                    vec![
                        ("merchant_id", Cql::text(merchant)),
                        ("currency", Cql::text(currency)),
                        ("available_minor", Cql::BigInt(f.available)),
                        ("reserved_minor", Cql::BigInt(f.reserved)),
                        ("queued_minor", Cql::BigInt(queued)),
                        ("updated_at", Cql::Timestamp(now_ms)),
                    ],
                )
                .versioned(book.version),
            );
        }
        let timer = match book.next_expiry() {
            Some(at) => TimerOp::Set(Timer::new(QUEUE_EXPIRY, at, vec![])),
            None => TimerOp::Cancel(QUEUE_EXPIRY.into()),
        };
        Ok(Step::new(effects, Some(book)).with_timers(vec![timer]))
    }
}
