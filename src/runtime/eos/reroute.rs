//! Inputs on the wrong partition. A stateful processor keeps each key's state in the changelog
//! partition its key hashes to (the Java client's partitioner, `runtime::partitioner`), and applies
//! an input against the state of the partition the input arrived on. An upstream producer with
//! another partitioner (librdkafka's default `consistent_random`, which Go, Python, Node and C clients
//! inherit) puts a key's records elsewhere, where its state is not: applied there, a payment created
//! upstream would never see its own fraud decision or provider answer.
//!
//! Such a record is moved, not applied: the runtime produces it, unchanged but keyed by its state
//! key, to the partition the key belongs to, in the same transaction that commits its offset, and
//! counts it (`paystream_processor_rerouted_total`). Moving rather than dead-lettering keeps every
//! upstream record (nothing for an upstream team to replay), costs one hop only for the misplaced ones,
//! and keeps a key's order: a producer puts all of a key's records on one partition, and they are
//! moved in that order. A record already moved once that is still misplaced (the partition count
//! changed, or a producer chose the partition itself) is dead-lettered with the expected partition,
//! so nothing is moved twice or forever.

use super::Loop;
use crate::metrics::{self as m, Measure};
use crate::processors::{Decoded, Processor};
use crate::runtime::partitioner::partition_of;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage};

/// Names where a moved record came from: `<topic>/<partition>@<offset>`.
pub const REROUTED_FROM_HEADER: &str = "paystream-rerouted-from";

/// Where a decoded input belongs.
pub(super) enum Placement {
    /// On the partition that holds its key's state: apply it.
    Here,
    /// Elsewhere: move it there.
    Move(Moved),
    /// Elsewhere although it was moved once already: dead-letter it with this reason.
    Misplaced(String),
}

/// An input record produced again to the partition its key belongs to.
#[derive(Debug, Clone)]
pub(super) struct Moved {
    pub(super) topic: String,
    pub(super) partition: i32,
    pub(super) key: String,
    pub(super) payload: Vec<u8>,
    pub(super) headers: OwnedHeaders,
}

impl<P: Processor> Loop<P> {
    /// Where `d` (decoded from `msg`) belongs; always `Here` for a processor without keyed state.
    pub(super) fn placement(&self, msg: &OwnedMessage, d: &Decoded<P::Input>) -> Placement {
        if self.keyed.is_none() {
            return Placement::Here;
        }
        let (Some(key), Some(&partitions)) = (
            P::state_key(&d.input),
            self.input_partitions.get(msg.topic()),
        ) else {
            return Placement::Here;
        };
        let expected = partition_of(key.as_bytes(), partitions);
        if expected == msg.partition() {
            return Placement::Here;
        }
        let from = format!("{}/{}@{}", msg.topic(), msg.partition(), msg.offset());
        if let Some(earlier) = moved_from(msg) {
            return Placement::Misplaced(format!(
                "key '{key}' belongs to partition {expected} of {partitions} of '{}', but this record is on partition {} after being moved once already (from {earlier}): the topic's partition count changed, or a producer chose the partition itself. Fix: produce it keyed by '{key}' without an explicit partition",
                msg.topic(),
                msg.partition()
            ));
        }
        let mut headers = OwnedHeaders::new();
        if let Some(hs) = msg.headers() {
            for h in hs.iter() {
                headers = headers.insert(Header {
                    key: h.key,
                    value: h.value,
                });
            }
        }
        headers = headers.insert(Header {
            key: REROUTED_FROM_HEADER,
            value: Some(from.as_bytes()),
        });
        Placement::Move(Moved {
            topic: msg.topic().to_owned(),
            partition: expected,
            key: key.to_owned(),
            payload: msg.payload().map(<[u8]>::to_vec).unwrap_or_default(),
            headers,
        })
    }

    /// The measure of one moved record, recorded when its transaction commits.
    pub(super) fn moved_measure(&self, topic: &str) -> Measure {
        Measure::count(
            m::PROCESSOR_REROUTED,
            &[
                ("processor", self.name.clone()),
                ("topic", topic.to_owned()),
            ],
        )
    }
}

/// The coordinates a record was moved from, if it was moved.
fn moved_from(msg: &OwnedMessage) -> Option<String> {
    let headers = msg.headers()?;
    headers
        .iter()
        .find(|h| h.key == REROUTED_FROM_HEADER)
        .map(|h| String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned())
}
