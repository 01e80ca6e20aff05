//! `tally`: the probe with keyed state, to prove the runtime's changelog state.
//!
//! It keeps, per payment, how many commands it has applied, and gives each command's event the
//! sequence that count reaches (the input's `seq` metadata is ignored). Its outputs carry sequences
//! 1, 2, 3, … per payment, each once, only if its state is exactly-once: state lost after a crash
//! repeats a sequence, a state change kept from an aborted batch skips one.
//!
//! A command with metadata `chime_after_ms = N` also sets a timer due N ms after the command was
//! issued; when it fires, tally emits one more event (the next sequence, event id
//! `<command id>:chime`, `occurred_at` the time it fired). The timer proofs count those: one per such
//! command, never early, never twice.

use super::effects_of;
use crate::events::{Event, PaymentCommand};
use crate::processors::state::{Keyed, Step};
use crate::processors::timers::{Timer, TimerOp};
use crate::processors::{Binding, Build, Context, Decoded, Effects, Io, ProcessError, Processor};
use futures::future::BoxFuture;

pub const NAME: &str = "tally";
/// Command metadata: set a chime timer this many ms after the command's `issued_at`.
pub const CHIME_AFTER_KEY: &str = "chime_after_ms";
const CHIME: &str = "chime";

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
            let effects = effects_of(&self.output_topic, cmd, sequence, ctx)?;
            let step = Step::new(effects, Some(sequence));
            let Some(after) = cmd.metadata.get(CHIME_AFTER_KEY) else {
                return Ok(step);
            };
            let after_ms: i64 = after.parse().map_err(|_| {
                ProcessError::Invalid(format!(
                    "metadata {CHIME_AFTER_KEY}='{after}' is not an integer"
                ))
            })?;
            let payload = serde_json::to_vec(cmd)
                .map_err(|e| ProcessError::Fatal(format!("command does not serialize: {e}")))?;
            let due = cmd.issued_at.0.saturating_add(after_ms);
            Ok(step.with_timers(vec![TimerOp::Set(Timer::new(CHIME, due, payload))]))
        })
    }

    fn on_timer(
        &self,
        key: &str,
        timer: &Timer,
        view: &mut Keyed<i64>,
        ctx: &Context<'_>,
    ) -> Result<Effects, ProcessError> {
        view.fire(ctx, key, timer, |applied| {
            let mut cmd: PaymentCommand = serde_json::from_slice(&timer.payload)
                .map_err(|e| ProcessError::Fatal(format!("chime payload does not parse: {e}")))?;
            cmd.command_id = format!("{}:{CHIME}", cmd.command_id);
            cmd.issued_at = crate::events::TimestampMillis(ctx.clock.now_millis());
            let sequence = applied + 1;
            let effects = effects_of(&self.output_topic, &cmd, sequence, ctx)?;
            Ok(Step::new(effects, Some(sequence)))
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

    #[test]
    fn a_chime_command_sets_a_timer_whose_firing_emits_the_next_sequence() {
        let codec = Codec::single_object(Catalog::bundled().unwrap());
        let meta = RecordMeta::at("in", 1, 0);
        let ctx = Context {
            record: &meta,
            clock: &FixedClock(9_000),
            codec: &codec,
        };
        let t = Tally {
            output_topic: "out".into(),
        };
        let mut cmd = crate::events::demo::demo_command("t", 0, 1_000);
        cmd.metadata.insert(CHIME_AFTER_KEY.into(), "500".into());
        let mut view = Keyed::of(BTreeMap::new());
        let set = t.process(&cmd, &mut view, &ctx).unwrap();
        let timer = &set.state[0].timers[0];
        assert_eq!((timer.kind.as_str(), timer.due_at_ms), (CHIME, 1_500));

        let fired = t.on_timer(&cmd.payment_id, timer, &mut view, &ctx).unwrap();
        let out: PaymentEvent = codec.decode_sync(&fired.records[0].payload).unwrap();
        assert_eq!(out.sequence, 2);
        assert_eq!(out.event_id, format!("{}:chime", cmd.command_id));
        assert_eq!(out.occurred_at.0, 9_000, "the time it fired");
        assert!(fired.state[0].timers.is_empty(), "the firing clears it");
        assert!(view.timers(&cmd.payment_id).is_empty());

        cmd.metadata.insert(CHIME_AFTER_KEY.into(), "soon".into());
        assert!(matches!(
            t.process(&cmd, &mut view, &ctx),
            Err(ProcessError::Invalid(_))
        ));
    }
}
