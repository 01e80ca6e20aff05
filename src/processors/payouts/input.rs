//! The payout processor's inputs, decoded and checked at the edge.

use crate::contract::provider::{expect_kind, Answer, Notice};
use crate::events::balance::FundingDecision;
use crate::events::payout::PayoutRequest;
use crate::events::provider::{ProviderResponse, ProviderSubjectKind, ProviderWebhook};
use crate::events::{Codec, CodecError, Event};
use crate::processors::{Decode, RecordMeta};

/// The provider subjects the payout processor owns.
const OWNED: &[ProviderSubjectKind] = &[ProviderSubjectKind::Payout];

#[derive(Debug, Clone)]
pub enum Input {
    Request(PayoutRequest),
    Funding(FundingDecision),
    Answer(Answer),
    Webhook(Notice),
}

impl Input {
    pub(super) fn payout_id(&self) -> &str {
        match self {
            Input::Request(r) => &r.payout_id,
            Input::Funding(f) => &f.payout_id,
            Input::Answer(a) => a.subject.key(),
            Input::Webhook(n) => n.subject.key(),
        }
    }
}

impl Decode for Input {
    fn decode(
        codec: &Codec,
        schema: &str,
        record: &RecordMeta,
        payload: &[u8],
    ) -> Result<Input, CodecError> {
        let input = match schema {
            PayoutRequest::FULL_NAME => Input::Request(codec.decode_sync(payload)?),
            FundingDecision::FULL_NAME => Input::Funding(codec.decode_sync(payload)?),
            ProviderResponse::FULL_NAME => {
                let answer: Answer = Decode::decode(codec, schema, record, payload)?;
                expect_kind(&answer.subject, OWNED, "payouts").map_err(CodecError::Invalid)?;
                Input::Answer(answer)
            }
            ProviderWebhook::FULL_NAME => {
                let notice: Notice = Decode::decode(codec, schema, record, payload)?;
                expect_kind(&notice.subject, OWNED, "payouts").map_err(CodecError::Invalid)?;
                Input::Webhook(notice)
            }
            other => {
                return Err(CodecError::Invalid(format!(
                    "topic '{}' carries {other}, which the payout processor does not read",
                    record.topic
                )))
            }
        };
        crate::domain::ids::validate(input.payout_id())
            .map_err(|e| CodecError::Invalid(format!("payout_id: {e}")))?;
        if let Input::Request(r) = &input {
            let bad = r.amount_minor <= 0
                || r.narration
                    .as_ref()
                    .is_some_and(|n| n.len() > 30 || n.chars().any(char::is_control));
            if bad {
                return Err(CodecError::Invalid(format!("payout {}: amount must be positive and narration at most 30 printable characters", r.payout_id)));
            }
            for (field, v) in [
                ("merchant_id", &r.merchant_id),
                ("beneficiary_id", &r.beneficiary_id),
            ] {
                crate::domain::ids::validate(v)
                    .map_err(|e| CodecError::Invalid(format!("{field}: {e}")))?;
            }
        }
        Ok(input)
    }
}
