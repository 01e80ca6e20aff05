//! `views`: projects committed payment events into the query views the REST API and operators read:
//! the payment row (latest state, versioned by sequence), the queryable audit trail, and, from a
//! payment's first event, its owner and its place in the merchant's list by creation day.
//!
//! It reads `payments.events` read_committed, so a view never shows a transition that was rolled
//! back. Every row is keyed by the event (or the payment, versioned by the event's sequence), so a
//! replay rewrites the same rows and an older event never takes a payment row back. Within a batch
//! only the newest event of a payment writes its payment row: under load most rows are written once
//! per batch, not once per transition.

pub mod payouts;
pub mod refunds;
pub mod rows;

use super::{Binding, Build, Context, Decoded, Effects, Io, MoneyEvent, ProcessError, Processor};
use crate::events::payment_event::PaymentEvent;
use futures::future::BoxFuture;
use std::collections::BTreeMap;

pub const NAME: &str = "views";

/// The batch's newest sequence per payment: only that event writes the payment row.
pub struct Newest(BTreeMap<String, i64>);

pub struct Views;

impl Build for Views {
    type Config = ();

    fn build(_: &(), _binding: &Binding) -> Result<Self, String> {
        Ok(Views)
    }
}

/// One input: a payment, refund or payout event.
pub type Input = MoneyEvent;

impl Processor for Views {
    type Input = Input;
    type View = Newest;
    const OUTPUTS: &'static [&'static str] = &[];
    const INPUT_SCHEMAS: &'static [&'static str] = MoneyEvent::SCHEMAS;

    fn name(&self) -> &str {
        NAME
    }

    fn load<'a>(
        &'a self,
        _io: &'a Io<'a>,
        batch: &'a [Decoded<Input>],
    ) -> BoxFuture<'a, Result<Newest, ProcessError>> {
        let mut newest: BTreeMap<String, i64> = BTreeMap::new();
        for d in batch {
            if let MoneyEvent::Payment(e) = &d.input {
                let n = newest.entry(e.payment_id.clone()).or_insert(0);
                *n = (*n).max(e.sequence);
            }
        }
        Box::pin(async move { Ok(Newest(newest)) })
    }

    fn process(
        &self,
        input: &Input,
        newest: &mut Newest,
        _ctx: &Context<'_>,
    ) -> Result<Effects, ProcessError> {
        match input {
            MoneyEvent::Payment(e) => payment(e, newest),
            MoneyEvent::Refund(e) => Ok(Effects {
                writes: refunds::refund_rows(e),
                ..Effects::default()
            }),
            MoneyEvent::Payout(e) => Ok(Effects {
                writes: payouts::payout_rows(e),
                ..Effects::default()
            }),
        }
    }
}

/// The rows of one payment transition.
fn payment(e: &PaymentEvent, newest: &Newest) -> Result<Effects, ProcessError> {
    if e.sequence < 1 {
        return Err(ProcessError::Invalid(format!(
            "event {} has sequence {}: sequences start at 1",
            e.event_id, e.sequence
        )));
    }
    let mut effects = Effects::default();
    if newest.0.get(&e.payment_id).is_none_or(|n| *n <= e.sequence) {
        effects.writes.push(rows::payment_row(e));
    }
    effects.writes.push(rows::event_row(e));
    if e.previous_status.is_none() {
        let created_ms = e.occurred_at.0;
        effects.writes.push(rows::by_merchant_row(e, created_ms));
        effects.writes.push(rows::owner_row(e, created_ms));
    }
    Ok(effects)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::clock::FixedClock;
    use crate::events::payment_event::IntentStatus;
    use crate::events::{samples, Catalog, Codec};
    use crate::processors::RecordMeta;

    fn event(sequence: i64, previous: Option<IntentStatus>) -> PaymentEvent {
        PaymentEvent {
            sequence,
            previous_status: previous,
            event_id: format!("pay_1:{sequence}"),
            ..samples::payment_event()
        }
    }

    fn tables(effects: &Effects) -> Vec<&'static str> {
        effects.writes.iter().map(|w| w.table).collect()
    }

    #[test]
    fn first_event_writes_owner_and_list_rows_and_only_the_newest_writes_the_payment_row() {
        let codec = Codec::single_object(Catalog::bundled().unwrap());
        let meta = RecordMeta::at("payments.events", 0, 1);
        let ctx = Context {
            record: &meta,
            clock: &FixedClock(0),
            codec: &codec,
        };
        let first = event(1, None);
        let second = event(2, Some(IntentStatus::RequiresConfirmation));
        let mut newest = Newest(BTreeMap::from([(first.payment_id.clone(), 2)]));
        let a = Views
            .process(&MoneyEvent::Payment(first.clone()), &mut newest, &ctx)
            .unwrap();
        assert_eq!(
            tables(&a),
            vec!["payment_events", "payments_by_merchant", "intent_owners"]
        );
        let b = Views
            .process(&MoneyEvent::Payment(second.clone()), &mut newest, &ctx)
            .unwrap();
        assert_eq!(tables(&b), vec!["payments", "payment_events"]);
        assert_eq!(b.writes[0].version, Some(2));

        let bad = Views.process(&MoneyEvent::Payment(event(0, None)), &mut newest, &ctx);
        assert!(matches!(bad, Err(ProcessError::Invalid(_))));
    }

    #[test]
    fn day_of_is_the_utc_calendar_day() {
        type Case<'a> = (i64, &'a str);
        let cases: [Case<'_>; 3] = [
            (0, "1970-01-01"),
            (1_763_942_400_000, "2025-11-24"),
            (951_782_400_000, "2000-02-29"),
        ];
        for (ms, day) in cases {
            assert_eq!(rows::day_of(ms), day);
        }
    }
}
