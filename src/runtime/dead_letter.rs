//! Dead letters: a poison input kept whole (bytes, headers, coordinates) with the reason; except a
//! card number, which is never copied: a value, key or header that holds one is withheld, and the
//! reason says so (the original stays on its source topic at the coordinates given).

use crate::domain::pan::contains_pan_anywhere;
use crate::events::dead_letter::{DeadLetter, DeadLetterHeader, DeadLetterKind};
use crate::events::texts::holds_card_number;
use crate::events::{Catalog, CodecError, TimestampMillis};
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
    catalog: &Catalog,
    processor: &str,
    msg: &OwnedMessage,
    kind: DeadLetterKind,
    error: &str,
    now_ms: i64,
) -> DeadLetter {
    let mut withheld = Vec::new();
    let mut keep = |what: &str, bytes: Option<&[u8]>, sensitive: bool| {
        if sensitive {
            withheld.push(what.to_owned());
            None
        } else {
            bytes.map(<[u8]>::to_vec)
        }
    };
    let raw_pan = |b: &[u8]| contains_pan_anywhere(&String::from_utf8_lossy(b));
    let headers = msg
        .headers()
        .map(|hs| {
            hs.iter()
                .map(|h| DeadLetterHeader {
                    key: h.key.to_owned(),
                    value: keep(
                        &format!("header {}", h.key),
                        h.value,
                        h.value.is_some_and(raw_pan),
                    ),
                })
                .collect()
        })
        .unwrap_or_default();
    let key = keep("key", msg.key(), msg.key().is_some_and(raw_pan));
    let value_pan = msg
        .payload()
        .is_some_and(|v| holds_card_number(catalog, v).is_some());
    let value = keep("value", msg.payload(), value_pan);
    // Bounded: a message is for an operator, and the original bytes are kept anyway.
    let mut error_message: String = error.chars().take(2_000).collect();
    if !withheld.is_empty() {
        error_message.push_str(&format!(
            " [{} withheld: it holds a card number; the original is at the source coordinates]",
            withheld.join(", ")
        ));
    }
    DeadLetter {
        processor: processor.to_owned(),
        source_topic: msg.topic().to_owned(),
        source_partition: msg.partition(),
        source_offset: msg.offset(),
        key,
        value,
        headers,
        error_kind: kind,
        error_message,
        failed_at: TimestampMillis(now_ms),
    }
}
