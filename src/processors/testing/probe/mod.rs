//! `probe`: the trivial processor the runtime is proven and benchmarked with.
//!
//! Each `PaymentCommand` becomes exactly one `PaymentEvent` on the processor's first output topic and
//! one row of `payment_events`, both derived only from the input (the event id is the command id, the
//! sequence is the command's `seq` metadata), so a replay reproduces them bit for bit. Commands whose
//! amount or currency is invalid are poison.

use crate::domain::Money;
use crate::events::payment_event::IntentStatus;
use crate::events::{Event, PaymentCommand, PaymentEvent};
use crate::processors::{
    no_view, Binding, Build, Context, Decoded, Effects, Io, ProcessError, Processor,
};
use crate::store::writer::{Cql, StoreWrite};
use futures::future::BoxFuture;

pub mod tally;
pub use tally::Tally;

pub const NAME: &str = "probe";
/// Metadata key carrying the per-payment sequence number the crash tests check order with.
pub const SEQ_KEY: &str = "seq";

pub struct Probe {
    output_topic: String,
}

impl Probe {
    pub fn new(output_topic: &str) -> Self {
        Self {
            output_topic: output_topic.to_owned(),
        }
    }
}

impl Build for Probe {
    type Config = ();

    fn build(_: &(), binding: &Binding) -> Result<Self, String> {
        Ok(Self::new(&binding.output("out")?))
    }
}

impl Processor for Probe {
    type Input = PaymentCommand;
    type View = ();
    const OUTPUTS: &'static [&'static str] = &["out"];
    const INPUT_SCHEMAS: &'static [&'static str] = &[PaymentCommand::FULL_NAME];

    fn name(&self) -> &str {
        NAME
    }

    fn load<'a>(
        &'a self,
        _io: &'a Io<'a>,
        _batch: &'a [Decoded<PaymentCommand>],
    ) -> BoxFuture<'a, Result<(), ProcessError>> {
        no_view()
    }

    fn process(
        &self,
        cmd: &PaymentCommand,
        _view: &mut (),
        ctx: &Context<'_>,
    ) -> Result<Effects, ProcessError> {
        let sequence = match cmd.metadata.get(SEQ_KEY) {
            Some(s) => s.parse::<i64>().map_err(|_| {
                ProcessError::Invalid(format!("metadata {SEQ_KEY}='{s}' is not an integer"))
            })?,
            None => 1,
        };
        effects_of(&self.output_topic, cmd, sequence, ctx)
    }
}

/// The event (and its store row) a valid command becomes, with `sequence`.
fn effects_of(
    output_topic: &str,
    cmd: &PaymentCommand,
    sequence: i64,
    ctx: &Context<'_>,
) -> Result<Effects, ProcessError> {
    let amount = cmd
        .amount_minor
        .ok_or_else(|| ProcessError::Invalid("amount_minor is missing".into()))?;
    let currency = cmd
        .currency
        .as_deref()
        .ok_or_else(|| ProcessError::Invalid("currency is missing".into()))?;
    let money =
        Money::from_wire(amount, currency).map_err(|e| ProcessError::Invalid(e.to_string()))?;
    if !money.amount.is_positive() {
        return Err(ProcessError::Invalid(format!(
            "amount_minor {amount} is not positive"
        )));
    }
    let event = PaymentEvent {
        event_id: cmd.command_id.clone(),
        payment_id: cmd.payment_id.clone(),
        merchant_id: cmd.merchant_id.clone(),
        sequence,
        status: IntentStatus::RequiresConfirmation,
        previous_status: None,
        attempt_id: None,
        attempt_status: None,
        amount_minor: amount,
        amount_captured_minor: 0,
        currency: currency.to_owned(),
        connector: None,
        reason_code: None,
        reason: None,
        cause_id: cmd.command_id.clone(),
        provider_fee_minor: None,
        risk: None,
        occurred_at: cmd.issued_at,
    };
    let write = StoreWrite::upsert(
        "payment_events",
        &event.payment_id,
        vec![
            ("payment_id", Cql::text(&event.payment_id)),
            ("sequence", Cql::BigInt(event.sequence)),
            ("event_id", Cql::text(&event.event_id)),
            ("status", Cql::text("REQUIRES_CONFIRMATION")),
            ("amount_minor", Cql::BigInt(event.amount_minor)),
            ("currency", Cql::text(&event.currency)),
            ("cause_id", Cql::text(&event.cause_id)),
            ("occurred_at", Cql::Timestamp(event.occurred_at.0)),
        ],
    );
    Ok(Effects {
        records: vec![ctx.record(output_topic, &event)?],
        writes: vec![write],
        ..Effects::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::clock::SystemClock;
    use crate::events::Catalog;
    use crate::events::Codec;
    use crate::processors::RecordMeta;

    fn ctx_parts() -> (RecordMeta, Codec) {
        let meta = RecordMeta::at("in", 0, 7);
        (meta, Codec::single_object(Catalog::bundled().unwrap()))
    }

    #[test]
    fn valid_and_invalid_commands() {
        let (meta, codec) = ctx_parts();
        let ctx = Context {
            record: &meta,
            clock: &SystemClock,
            codec: &codec,
        };
        let p = Probe::new("out");
        let base = crate::events::demo::demo_command("t", 0, 1);
        type Mutation = Box<dyn Fn(&mut PaymentCommand)>;
        let cases: Vec<(&str, Mutation, Option<&str>)> = vec![
            ("valid", Box::new(|_| {}), None),
            (
                "no amount",
                Box::new(|c| c.amount_minor = None),
                Some("amount_minor is missing"),
            ),
            (
                "zero amount",
                Box::new(|c| c.amount_minor = Some(0)),
                Some("not positive"),
            ),
            (
                "bad currency",
                Box::new(|c| c.currency = Some("XYZ".into())),
                Some("unknown ISO 4217"),
            ),
            (
                "bad seq",
                Box::new(|c| {
                    c.metadata.insert(SEQ_KEY.into(), "x".into());
                }),
                Some("not an integer"),
            ),
        ];
        for (name, mutate, want_err) in cases {
            let mut cmd = base.clone();
            mutate(&mut cmd);
            match (p.process(&cmd, &mut (), &ctx), want_err) {
                (Ok(effects), None) => {
                    assert_eq!(effects.records.len(), 1, "{name}");
                    assert_eq!(effects.writes.len(), 1, "{name}");
                    let out: PaymentEvent = codec.decode_sync(&effects.records[0].payload).unwrap();
                    assert_eq!(out.event_id, cmd.command_id, "{name}");
                    assert_eq!(effects.records[0].key, cmd.payment_id);
                }
                (Err(ProcessError::Invalid(msg)), Some(want)) => {
                    assert!(msg.contains(want), "{name}: {msg}")
                }
                (other, want) => panic!("{name}: got {other:?}, wanted error {want:?}"),
            }
        }
    }

    #[test]
    fn output_is_deterministic() {
        let (meta, codec) = ctx_parts();
        let ctx = Context {
            record: &meta,
            clock: &SystemClock,
            codec: &codec,
        };
        let cmd = crate::events::demo::demo_command("t", 3, 1);
        let p = Probe::new("out");
        assert_eq!(
            p.process(&cmd, &mut (), &ctx).unwrap(),
            p.process(&cmd, &mut (), &ctx).unwrap()
        );
        assert_eq!(ctx.derived_id("x"), ctx.derived_id("x"));
        assert_ne!(ctx.derived_id("x"), ctx.derived_id("y"));
    }
}
