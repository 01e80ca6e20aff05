//! `copy`: the trivial processor of the runtime benchmark. It forwards each record's bytes and key
//! unchanged to its output topic, so the benchmark measures the runtime's cost, not a processor's.

use crate::processors::{
    no_view, Binding, Build, Context, Decoded, Effects, Io, OutRecord, ProcessError, Processor, Raw,
};
use futures::future::BoxFuture;

pub const NAME: &str = "copy";

pub struct Copy {
    output_topic: String,
}

impl Copy {
    pub fn new(output_topic: &str) -> Self {
        Self {
            output_topic: output_topic.to_owned(),
        }
    }
}

impl Build for Copy {
    type Config = ();

    fn build(_: &(), binding: &Binding) -> Result<Self, String> {
        Ok(Self::new(&binding.output("out")?))
    }
}

impl Processor for Copy {
    type Input = Raw;
    type View = ();
    const OUTPUTS: &'static [&'static str] = &["out"];
    const INPUT_SCHEMAS: &'static [&'static str] = &[];

    fn name(&self) -> &str {
        NAME
    }

    fn load<'a>(
        &'a self,
        _io: &'a Io<'a>,
        _batch: &'a [Decoded<Self::Input>],
    ) -> BoxFuture<'a, Result<(), ProcessError>> {
        no_view()
    }

    fn process(
        &self,
        Raw { key, value }: &Raw,
        _view: &mut (),
        _ctx: &Context<'_>,
    ) -> Result<Effects, ProcessError> {
        Ok(Effects {
            records: vec![OutRecord {
                topic: self.output_topic.clone(),
                key: key.clone(),
                payload: value.clone(),
            }],
            ..Effects::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Codec;
    use crate::processors::{Decode, RecordMeta};

    #[test]
    fn forwards_key_and_bytes() {
        let codec = Codec::single_object(crate::events::Catalog::bundled().unwrap());
        let meta = RecordMeta {
            topic: "in".into(),
            partition: 0,
            offset: 0,
            key: Some(b"k".to_vec()),
            timestamp_ms: None,
        };
        let ctx = Context {
            record: &meta,
            clock: &crate::domain::clock::SystemClock,
            codec: &codec,
        };
        let c = Copy::new("out");
        let input = Raw::decode(&codec, "", &meta, b"\x00\x01").unwrap();
        let out = c.process(&input, &mut (), &ctx).unwrap();
        assert_eq!(
            out.records,
            vec![OutRecord {
                topic: "out".into(),
                key: "k".into(),
                payload: vec![0, 1]
            }]
        );
    }
}
