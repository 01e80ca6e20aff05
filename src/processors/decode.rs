//! How each input type is decoded from a record: once per type, with the checks every reader of that
//! record needs. A codec error here is poison (dead-lettered), except a registry that cannot be
//! reached, which the runtime retries.

use super::RecordMeta;
use crate::contract::provider::{self, Answer, Notice};
use crate::domain::ids::PaymentId;
use crate::events::fraud_assessment::FraudAssessment;
use crate::events::payout::PayoutEvent;
use crate::events::provider::{ProviderRequest, ProviderResponse, ProviderWebhook};
use crate::events::refund::{
    RefundEvent, RefundRequest, REFUND_METADATA_PAIRS_MAX, REFUND_TEXT_LEN_MAX,
};
use crate::events::{Codec, CodecError, Event, PaymentCommand, PaymentEvent};

/// An input a processor reads, decoded from one record of a topic whose values carry `schema` (the
/// runtime has checked, at start, that the processor reads that schema).
pub trait Decode: Sized + Send + Sync {
    fn decode(
        codec: &Codec,
        schema: &str,
        record: &RecordMeta,
        payload: &[u8],
    ) -> Result<Self, CodecError>;
}

/// One record's key and value, undecoded (the runtime benchmark's `copy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raw {
    pub key: String,
    pub value: Vec<u8>,
}

impl Decode for Raw {
    fn decode(_: &Codec, _: &str, record: &RecordMeta, payload: &[u8]) -> Result<Self, CodecError> {
        let key = record
            .key
            .as_deref()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .unwrap_or_default();
        Ok(Raw {
            key,
            value: payload.to_vec(),
        })
    }
}

/// Decodes `E` and refuses its payment id and the other ids `ids` names when the store could not
/// key them (a payment id also leaves room for the ids derived from it).
fn checked<E: Event>(
    codec: &Codec,
    payload: &[u8],
    payment_id: impl Fn(&E) -> &str,
    ids: impl Fn(&E) -> Vec<(&'static str, &str)>,
) -> Result<E, CodecError> {
    let e: E = codec.decode_sync(payload)?;
    PaymentId::parse(payment_id(&e))
        .map_err(|err| CodecError::Invalid(format!("payment_id: {err}")))?;
    check_ids(&ids(&e))?;
    Ok(e)
}

impl Decode for PaymentCommand {
    fn decode(codec: &Codec, _: &str, _: &RecordMeta, payload: &[u8]) -> Result<Self, CodecError> {
        let c: PaymentCommand = checked(
            codec,
            payload,
            |c: &PaymentCommand| &c.payment_id,
            |c| {
                vec![
                    ("command_id", &c.command_id),
                    ("merchant_id", &c.merchant_id),
                ]
            },
        )?;
        check_no_card_number(&c)?;
        Ok(c)
    }
}

impl Decode for PaymentEvent {
    fn decode(codec: &Codec, _: &str, _: &RecordMeta, payload: &[u8]) -> Result<Self, CodecError> {
        let e: PaymentEvent = checked(
            codec,
            payload,
            |e: &PaymentEvent| &e.payment_id,
            |e| vec![("event_id", &e.event_id)],
        )?;
        // Read back from the topic: what the payment processor wrote must still hold.
        let captured_ok = (0..=e.amount_minor).contains(&e.amount_captured_minor);
        if !captured_ok || e.sequence < 1 {
            return Err(CodecError::Invalid(format!(
                "event {} breaks an invariant: captured {} of {}, sequence {}",
                e.event_id, e.amount_captured_minor, e.amount_minor, e.sequence
            )));
        }
        Ok(e)
    }
}

impl Decode for ProviderRequest {
    fn decode(codec: &Codec, _: &str, _: &RecordMeta, payload: &[u8]) -> Result<Self, CodecError> {
        let r: ProviderRequest = checked(
            codec,
            payload,
            |r: &ProviderRequest| &r.payment_id,
            |r| vec![("request_id", &r.request_id)],
        )?;
        provider::of_request(&r).map_err(CodecError::Invalid)?;
        Ok(r)
    }
}

impl Decode for FraudAssessment {
    fn decode(codec: &Codec, _: &str, _: &RecordMeta, payload: &[u8]) -> Result<Self, CodecError> {
        checked(
            codec,
            payload,
            |f: &FraudAssessment| &f.payment_id,
            |_| vec![],
        )
    }
}

/// A provider response, its subject and operation read (`contract::provider`). The subject's ids
/// are checked there by the rule of its kind.
impl Decode for Answer {
    fn decode(codec: &Codec, _: &str, _: &RecordMeta, payload: &[u8]) -> Result<Self, CodecError> {
        let r: ProviderResponse = codec.decode_sync(payload)?;
        Answer::read(r).map_err(CodecError::Invalid)
    }
}

impl Decode for Notice {
    fn decode(codec: &Codec, _: &str, _: &RecordMeta, payload: &[u8]) -> Result<Self, CodecError> {
        let w: ProviderWebhook = codec.decode_sync(payload)?;
        Notice::read(w).map_err(CodecError::Invalid)
    }
}

impl Decode for RefundRequest {
    fn decode(codec: &Codec, _: &str, _: &RecordMeta, payload: &[u8]) -> Result<Self, CodecError> {
        let r: RefundRequest = checked(
            codec,
            payload,
            |r: &RefundRequest| &r.payment_id,
            |r| {
                vec![
                    ("refund_id", &r.refund_id),
                    ("merchant_id", &r.merchant_id),
                    ("requested_by", &r.requested_by),
                ]
            },
        )?;
        let long = r
            .reason
            .as_ref()
            .is_some_and(|x| x.len() > REFUND_TEXT_LEN_MAX)
            || r.metadata.len() > REFUND_METADATA_PAIRS_MAX
            || r.metadata
                .iter()
                .any(|(k, v)| k.len() > 40 || v.len() > REFUND_TEXT_LEN_MAX);
        if long {
            return Err(CodecError::Invalid(format!(
                "refund {}: reason or metadata above their bounds ({REFUND_METADATA_PAIRS_MAX} pairs, keys of 40 and values of {REFUND_TEXT_LEN_MAX} characters)",
                r.refund_id
            )));
        }
        check_no_card_number(&r)?;
        Ok(r)
    }
}

impl Decode for RefundEvent {
    fn decode(codec: &Codec, _: &str, _: &RecordMeta, payload: &[u8]) -> Result<Self, CodecError> {
        let e: RefundEvent = checked(
            codec,
            payload,
            |e: &RefundEvent| &e.payment_id,
            |e| vec![("event_id", &e.event_id), ("refund_id", &e.refund_id)],
        )?;
        // Read back from the topic: refunds never hold more than the payment's capture.
        let within = (0..=e.payment_captured_minor).contains(&e.payment_refunded_minor);
        if !within || e.amount_minor < 0 || e.sequence < 1 {
            return Err(CodecError::Invalid(format!(
                "refund event {} breaks an invariant: refunds hold {} of a capture of {}, amount {}, sequence {}",
                e.event_id, e.payment_refunded_minor, e.payment_captured_minor, e.amount_minor, e.sequence
            )));
        }
        Ok(e)
    }
}

impl Decode for PayoutEvent {
    fn decode(codec: &Codec, _: &str, _: &RecordMeta, payload: &[u8]) -> Result<Self, CodecError> {
        let e: PayoutEvent = codec.decode_sync(payload)?;
        check_ids(&[
            ("event_id", &e.event_id),
            ("payout_id", &e.payout_id),
            ("merchant_id", &e.merchant_id),
        ])?;
        if e.amount_minor <= 0 || e.sequence < 1 {
            return Err(CodecError::Invalid(format!(
                "payout event {} breaks an invariant: amount {}, sequence {}",
                e.event_id, e.amount_minor, e.sequence
            )));
        }
        Ok(e)
    }
}

/// A committed event of money moving: what the ledger posts and the views project.
#[derive(Debug, Clone)]
pub enum MoneyEvent {
    Payment(PaymentEvent),
    Refund(RefundEvent),
    Payout(PayoutEvent),
}

impl MoneyEvent {
    /// The records a `MoneyEvent` reader declares it reads.
    pub const SCHEMAS: &'static [&'static str] = &[
        PaymentEvent::FULL_NAME,
        RefundEvent::FULL_NAME,
        PayoutEvent::FULL_NAME,
    ];
}

impl Decode for MoneyEvent {
    fn decode(
        codec: &Codec,
        schema: &str,
        record: &RecordMeta,
        payload: &[u8],
    ) -> Result<Self, CodecError> {
        Ok(match schema {
            PaymentEvent::FULL_NAME => {
                Self::Payment(Decode::decode(codec, schema, record, payload)?)
            }
            RefundEvent::FULL_NAME => Self::Refund(Decode::decode(codec, schema, record, payload)?),
            PayoutEvent::FULL_NAME => Self::Payout(Decode::decode(codec, schema, record, payload)?),
            other => {
                return Err(CodecError::Invalid(format!(
                    "topic '{}' carries {other}, not a payment, refund or payout event",
                    record.topic
                )))
            }
        })
    }
}

/// Refuses ids the store cannot key or the topics should not carry (empty, too long, odd characters):
/// poison, dead-lettered with the field and the reason instead of stalling the processor on a write
/// Cassandra refuses.
fn check_ids(ids: &[(&str, &str)]) -> Result<(), CodecError> {
    for (field, value) in ids {
        crate::domain::ids::validate(value)
            .map_err(|e| CodecError::Invalid(format!("{field}: {e}")))?;
    }
    Ok(())
}

/// Refuses an input that carries a card number anywhere (an upstream producer's mistake): it must
/// not reach state, events or tables. The reason names the field, never the number.
fn check_no_card_number<E: Event>(event: &E) -> Result<(), CodecError> {
    match crate::domain::pan::find_in(event) {
        Some(field) => Err(CodecError::Invalid(format!(
            "a card number in {field}: paystream carries card tokens only, never a PAN"
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{samples, Catalog};

    fn meta() -> RecordMeta {
        RecordMeta::at("payments.events", 0, 0)
    }

    #[test]
    fn an_event_that_breaks_an_invariant_is_poison() {
        let codec = Codec::single_object(Catalog::bundled().unwrap());
        let good = samples::payment_event();
        let payload = codec.encode_sync(&good).unwrap();
        assert_eq!(
            PaymentEvent::decode(&codec, "", &meta(), &payload).unwrap(),
            good
        );
        let mut over = good.clone();
        over.amount_captured_minor = over.amount_minor + 1;
        let payload = codec.encode_sync(&over).unwrap();
        let err = PaymentEvent::decode(&codec, "", &meta(), &payload).unwrap_err();
        assert!(
            matches!(&err, CodecError::Invalid(m) if m.contains("breaks an invariant")),
            "{err}"
        );
    }

    #[test]
    fn a_payment_id_without_room_for_its_derived_ids_is_poison() {
        let codec = Codec::single_object(Catalog::bundled().unwrap());
        let mut e = samples::payment_event();
        e.payment_id = "p".repeat(crate::domain::ids::PAYMENT_ID_LEN_MAX + 1);
        let payload = codec.encode_sync(&e).unwrap();
        let err = PaymentEvent::decode(&codec, "", &meta(), &payload).unwrap_err();
        assert!(
            matches!(&err, CodecError::Invalid(m) if m.starts_with("payment_id:")),
            "{err}"
        );
    }
}
