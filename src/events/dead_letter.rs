//! `io.paystream.runtime.DeadLetter` (schemas/dead_letter.avsc).

use super::{impl_event, TimestampMillis};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub processor: String,
    pub source_topic: String,
    pub source_partition: i32,
    pub source_offset: i64,
    #[serde(with = "apache_avro::serde::bytes_opt")]
    pub key: Option<Vec<u8>>,
    #[serde(with = "apache_avro::serde::bytes_opt")]
    pub value: Option<Vec<u8>>,
    pub headers: Vec<DeadLetterHeader>,
    pub error_kind: DeadLetterKind,
    pub error_message: String,
    pub failed_at: TimestampMillis,
}
impl_event!(DeadLetter, "io.paystream.runtime.DeadLetter", source_topic);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetterHeader {
    pub key: String,
    #[serde(with = "apache_avro::serde::bytes_opt")]
    pub value: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeadLetterKind {
    Undecodable,
    UnknownSchema,
    Invalid,
    Unprocessable,
}
