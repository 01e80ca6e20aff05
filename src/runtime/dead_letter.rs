//! Dead letters: a poison input kept whole (bytes, headers, coordinates) with the reason.

use crate::events::dead_letter::{DeadLetter, DeadLetterHeader, DeadLetterKind};
use crate::events::{CodecError, TimestampMillis};
use crate::processors::ProcessError;
use rdkafka::message::{Headers, Message, OwnedMessage};

/// The dead-letter kind of a decode error, or `None` when it is not poison (a registry outage).
pub fn kind_of_codec_error(e: &CodecError) -> Option<DeadLetterKind> {
    match e {
        CodecError::Undecodable(_) => Some(DeadLetterKind::Undecodable),
        CodecError::UnknownSchema(_) => Some(DeadLetterKind::UnknownSchema),
        CodecError::Invalid(_) => Some(DeadLetterKind::Invalid),
        CodecError::RegistryUnavailable(_) | CodecError::RegistryRejected(_) => None,
    }
}

pub fn kind_of_process_error(e: &ProcessError) -> Option<DeadLetterKind> {
    match e {
        ProcessError::Invalid(_) => Some(DeadLetterKind::Unprocessable),
        ProcessError::Retryable(_) | ProcessError::Fatal(_) => None,
    }
}

pub fn build(
    processor: &str,
    msg: &OwnedMessage,
    kind: DeadLetterKind,
    error: &str,
    now_ms: i64,
) -> DeadLetter {
    let headers = msg
        .headers()
        .map(|hs| {
            hs.iter()
                .map(|h| DeadLetterHeader {
                    key: h.key.to_owned(),
                    value: h.value.map(<[u8]>::to_vec),
                })
                .collect()
        })
        .unwrap_or_default();
    DeadLetter {
        processor: processor.to_owned(),
        source_topic: msg.topic().to_owned(),
        source_partition: msg.partition(),
        source_offset: msg.offset(),
        key: msg.key().map(<[u8]>::to_vec),
        value: msg.payload().map(<[u8]>::to_vec),
        headers,
        error_kind: kind,
        // Bounded: a message is for an operator, and the original bytes are kept anyway.
        error_message: error.chars().take(2_000).collect(),
        failed_at: TimestampMillis(now_ms),
    }
}
