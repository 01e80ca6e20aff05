//! `ledger`: posts a balanced double-entry journal entry for every money movement of a payment and
//! its refunds.
//!
//! Input: `PaymentEvent`s (`postings`) and `RefundEvent`s (`refunds`). Output: `JournalEntry`
//! records, and the entry, its postings and the per-account index in the store (`0003_ledger.cql`).
//! Entry ids derive from the causing event, so a replay rewrites the same rows. Every entry passes
//! [`postings::check_balanced`] before it is written; `paystream ledger audit` checks again on
//! read-back. Provider fees reported with an outcome are posted as their own entry.

pub mod payouts;
pub mod postings;
pub mod refunds;

use super::{
    no_view, Binding, Build, Context, Decoded, Effects, Io, MoneyEvent, ProcessError, Processor,
};
use crate::events::journal_entry::{Direction, JournalEntry};
use crate::events::payment_event::{IntentStatus, PaymentEvent};
use crate::events::symbol;
use crate::store::writer::{Cql, StoreWrite};
use futures::future::BoxFuture;

pub const NAME: &str = "ledger";

pub struct Ledger {
    output_topic: String,
    /// Entries that move a merchant's payable account, keyed by merchant, for its balance.
    movements_topic: String,
}

impl Ledger {
    pub fn new(output_topic: &str, movements_topic: &str) -> Self {
        Self {
            output_topic: output_topic.to_owned(),
            movements_topic: movements_topic.to_owned(),
        }
    }
}

impl Build for Ledger {
    type Config = ();

    fn build(_: &(), binding: &Binding) -> Result<Self, String> {
        Ok(Self::new(
            &binding.output("entries")?,
            &binding.output("movements")?,
        ))
    }
}

pub fn direction_str(d: Direction) -> &'static str {
    match d {
        Direction::Debit => "DEBIT",
        Direction::Credit => "CREDIT",
    }
}

/// The rows one entry writes: the entry, each posting, and each posting by account.
pub fn entry_writes(e: &JournalEntry) -> Vec<StoreWrite> {
    let mut writes = vec![StoreWrite::upsert(
        "journal_entries",
        &e.entry_id,
        vec![
            ("entry_id", Cql::text(&e.entry_id)),
            ("merchant_id", Cql::text(&e.merchant_id)),
            ("payment_id", Cql::opt_text(e.payment_id.as_deref())),
            ("movement", Cql::Text(symbol(&e.movement))),
            ("currency", Cql::text(&e.currency)),
            ("cause_id", Cql::text(&e.cause_id)),
            (
                "postings",
                Cql::Int(i32::try_from(e.postings.len()).unwrap_or(i32::MAX)),
            ),
            ("posted_at", Cql::Timestamp(e.posted_at.0)),
        ],
    )];
    for (no, p) in e.postings.iter().enumerate() {
        let no = Cql::Int(i32::try_from(no).unwrap_or(i32::MAX));
        writes.push(StoreWrite::upsert(
            "journal_postings",
            &e.entry_id,
            vec![
                ("entry_id", Cql::text(&e.entry_id)),
                ("posting_no", no.clone()),
                ("account", Cql::text(&p.account)),
                ("direction", Cql::text(direction_str(p.direction))),
                ("amount_minor", Cql::BigInt(p.amount_minor)),
                ("currency", Cql::text(&e.currency)),
            ],
        ));
        writes.push(StoreWrite::upsert(
            "postings_by_account",
            &p.account,
            vec![
                ("account", Cql::text(&p.account)),
                ("entry_id", Cql::text(&e.entry_id)),
                ("posting_no", no),
                ("direction", Cql::text(direction_str(p.direction))),
                ("amount_minor", Cql::BigInt(p.amount_minor)),
                ("currency", Cql::text(&e.currency)),
                ("posted_at", Cql::Timestamp(e.posted_at.0)),
            ],
        ));
    }
    writes
}

/// One input: a payment, refund or payout event.
pub type Input = MoneyEvent;

impl Processor for Ledger {
    type Input = Input;
    type View = ();
    const OUTPUTS: &'static [&'static str] = &["entries", "movements"];
    const INPUT_SCHEMAS: &'static [&'static str] = MoneyEvent::SCHEMAS;

    fn name(&self) -> &str {
        NAME
    }

    fn load<'a>(
        &'a self,
        _io: &'a Io<'a>,
        _batch: &'a [Decoded<Input>],
    ) -> BoxFuture<'a, Result<(), ProcessError>> {
        no_view()
    }

    fn process(
        &self,
        input: &Input,
        _view: &mut (),
        ctx: &Context<'_>,
    ) -> Result<Effects, ProcessError> {
        let entries = match input {
            MoneyEvent::Payment(event) => payment_entries(event)?,
            MoneyEvent::Refund(event) => {
                refunds::for_refund(event).map_err(|e| ProcessError::Invalid(e.to_string()))?
            }
            MoneyEvent::Payout(event) => {
                payouts::for_payout(event).map_err(|e| ProcessError::Invalid(e.to_string()))?
            }
        };
        let mut effects = Effects::default();
        for e in &entries {
            effects.writes.extend(entry_writes(e));
            effects.records.push(ctx.record(&self.output_topic, e)?);
            if payouts::moves_balance(e) {
                effects
                    .records
                    .push(ctx.record_keyed(&self.movements_topic, &e.merchant_id, e)?);
            }
        }
        Ok(effects)
    }
}

/// The entries of one payment transition: its movement and the provider's fee.
fn payment_entries(event: &PaymentEvent) -> Result<Vec<JournalEntry>, ProcessError> {
    // Funds are on hold exactly while the intent requires capture.
    let held = if event.previous_status == Some(IntentStatus::RequiresCapture) {
        event.amount_minor
    } else {
        0
    };
    let mut entries =
        postings::for_transition(event, held).map_err(|e| ProcessError::Invalid(e.to_string()))?;
    if let Some(fee) = event.provider_fee_minor.filter(|f| *f > 0) {
        entries.push(
            postings::provider_fee(event, fee).map_err(|e| ProcessError::Invalid(e.to_string()))?,
        );
    }
    Ok(entries)
}
