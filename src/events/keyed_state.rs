//! `io.paystream.runtime.KeyedState` (schemas/keyed_state.avsc): one key's state and timers in a
//! stateful processor's changelog.

use super::{impl_event, TimestampMillis};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyedState {
    pub processor: String,
    pub key: String,
    #[serde(with = "apache_avro::serde::bytes")]
    pub state: Vec<u8>,
    pub timers: Vec<KeyedTimer>,
    pub written_at: TimestampMillis,
}
impl_event!(KeyedState, "io.paystream.runtime.KeyedState", key);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyedTimer {
    pub kind: String,
    pub due_at: TimestampMillis,
    #[serde(with = "apache_avro::serde::bytes")]
    pub payload: Vec<u8>,
}
