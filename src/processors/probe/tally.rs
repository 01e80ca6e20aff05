//! `tally`: the probe with keyed state, to prove the runtime's changelog state.
//!
//! It keeps, per payment, how many commands it has applied, and gives each command's event the
//! sequence that count reaches (the input's `seq` metadata is ignored). Its outputs carry sequences
//! 1, 2, 3, … per payment, each once, only if its state is exactly-once: state lost after a crash
//! repeats a sequence, a state change kept from an aborted batch skips one.

use super::effects_of;
use crate::events::{Event, PaymentCommand};
use crate::processors::state::{Keyed, Step};
use crate::processors::{Binding, Build, Context, Decoded, Effects, Io, ProcessError, Processor};
use futures::future::BoxFuture;

pub const NAME: &str = "tally";

pub struct Tally {
    output_topic: String,
}

impl Build for Tally {
    type Config = ();

    fn build(_: &(), binding: &Binding) -> Result<Self, String> {
        Ok(Self {
            output_topic: binding.output("out")?,
        })
    }
}

impl Processor for Tally {
    type Input = PaymentCommand;
    /// Commands applied per payment.
    type View = Keyed<i64>;
    const OUTPUTS: &'static [&'static str] = &["out"];
    const INPUT_SCHEMAS: &'static [&'static str] = &[PaymentCommand::FULL_NAME];
    const STATEFUL: bool = true;

    fn state_key(cmd: &PaymentCommand) -> Option<&str> {
        Some(&cmd.payment_id)
    }

    fn name(&self) -> &str {
        NAME
    }

    fn load<'a>(
        &'a self,
        io: &'a Io<'a>,
        _batch: &'a [Decoded<PaymentCommand>],
    ) -> BoxFuture<'a, Result<Keyed<i64>, ProcessError>> {
        Box::pin(async move { Keyed::load(io) })
    }

    fn process(
        &self,
        cmd: &PaymentCommand,
        view: &mut Keyed<i64>,
        ctx: &Context<'_>,
    ) -> Result<Effects, ProcessError> {
        view.step(ctx, &cmd.payment_id, |applied| {
            let sequence = applied.copied().unwrap_or(0) + 1;
            Ok(Step {
                effects: effects_of(&self.output_topic, cmd, sequence, ctx)?,
                state: Some(sequence),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::clock::FixedClock;
    use crate::events::{Catalog, Codec, PaymentEvent};
    use crate::processors::RecordMeta;
    use std::collections::BTreeMap;

    #[test]
    fn each_command_of_a_payment_takes_the_next_sequence() {
        let codec = Codec::single_object(Catalog::bundled().unwrap());
        let meta = RecordMeta::at("in", 2, 0);
        let ctx = Context {
            record: &meta,
            clock: &FixedClock(0),
            codec: &codec,
        };
        let t = Tally {
            output_topic: "out".into(),
        };
        let cmd = crate::events::demo::demo_command("t", 0, 1);
        let mut view = Keyed::of(BTreeMap::from([(cmd.payment_id.clone(), 4)]));
        let effects = t.process(&cmd, &mut view, &ctx).unwrap();
        let out: PaymentEvent = codec.decode_sync(&effects.records[0].payload).unwrap();
        assert_eq!(out.sequence, 5);
        assert_eq!(effects.state[0].partition, 2);
        assert_eq!(view.get(&cmd.payment_id), Some(&5));
        let mut bad = cmd.clone();
        bad.amount_minor = None;
        assert!(t.process(&bad, &mut view, &ctx).is_err());
        assert_eq!(
            view.get(&cmd.payment_id),
            Some(&5),
            "a refused command changes nothing"
        );
    }
}
