//! The payout processor's inputs, decoded and checked at the edge.

use crate::contract::provider::{expect_kind, Answer, Notice};
use crate::events::balance::FundingDecision;
use crate::events::payout::{PayoutAction, PayoutDecision, PayoutDecisionAction, PayoutRequest};
use crate::events::provider::{ProviderResponse, ProviderSubjectKind, ProviderWebhook};
use crate::events::{symbol, Codec, CodecError, Event};
use crate::processors::{Decode, RecordMeta};

/// The provider subjects the payout processor owns.
const OWNED: &[ProviderSubjectKind] = &[ProviderSubjectKind::Payout];

#[derive(Debug, Clone)]
pub enum Input {
    /// A payout to create (`action` `CREATE`: a request with another action arrives as a decision).
    Request(PayoutRequest),
    Decision(PayoutDecision),
    Funding(FundingDecision),
    Answer(Answer),
    Webhook(Notice),
}

impl Input {
    pub(super) fn payout_id(&self) -> &str {
        match self {
            Input::Request(r) => &r.payout_id,
            Input::Decision(d) => &d.payout_id,
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
            PayoutRequest::FULL_NAME => match codec.decode_sync::<PayoutRequest>(payload)? {
                r if r.action == PayoutAction::Create => Input::Request(r),
                r => Input::Decision(decision_of(r)?),
            },
            PayoutDecision::FULL_NAME => Input::Decision(codec.decode_sync(payload)?),
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
        if let Input::Decision(d) = &input {
            for (field, v) in [
                ("decision_id", &d.decision_id),
                ("merchant_id", &d.merchant_id),
            ] {
                crate::domain::ids::validate(v)
                    .map_err(|e| CodecError::Invalid(format!("{field}: {e}")))?;
            }
            if d.decided_by.is_empty() {
                return Err(CodecError::Invalid(format!(
                    "decision {}: decided_by is empty: the four-eyes rule needs the decider",
                    d.decision_id
                )));
            }
        }
        Ok(input)
    }
}

/// A decision sent the older way, as a `PayoutRequest` with an action (its payout fields are
/// placeholders): the decision it carries, with the id such a decision always had.
fn decision_of(r: PayoutRequest) -> Result<PayoutDecision, CodecError> {
    let action = match r.action {
        PayoutAction::Approve => PayoutDecisionAction::Approve,
        PayoutAction::Reject => PayoutDecisionAction::Reject,
        PayoutAction::Cancel => PayoutDecisionAction::Cancel,
        PayoutAction::Create => {
            return Err(CodecError::Invalid(format!(
                "payout {}: a CREATE is not a decision",
                r.payout_id
            )))
        }
    };
    Ok(PayoutDecision {
        decision_id: format!("{}:{}", r.payout_id, symbol(&r.action).to_ascii_lowercase()),
        payout_id: r.payout_id,
        merchant_id: r.merchant_id,
        action,
        decided_by: r.requested_by,
        note: r.note,
        idempotency_key: r.idempotency_key,
        decided_at: r.requested_at,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::events::{samples, Catalog};

    fn decode<E: Event>(e: &E) -> Result<Input, CodecError> {
        let codec = Codec::single_object(Catalog::bundled().unwrap());
        let payload = codec.encode_sync(e).unwrap();
        Input::decode(
            &codec,
            E::FULL_NAME,
            &RecordMeta::at("payouts.x", 0, 1),
            &payload,
        )
    }

    #[test]
    fn a_decision_is_read_typed_whichever_record_carries_it() {
        let d = samples::payout_decision();
        assert!(matches!(decode(&d).unwrap(), Input::Decision(x) if x == d));
        // Sent the older way: a payout request with an action and placeholder payout fields.
        let mut old = samples::payout_request();
        old.action = PayoutAction::Reject;
        old.note = Some("duplicate invoice".into());
        let Input::Decision(x) = decode(&old).unwrap() else {
            panic!("not read as a decision")
        };
        assert_eq!(
            (
                x.decision_id.as_str(),
                x.action,
                x.decided_by.as_str(),
                x.note.as_deref()
            ),
            (
                "po_1:reject",
                PayoutDecisionAction::Reject,
                old.requested_by.as_str(),
                Some("duplicate invoice")
            )
        );
        let create = samples::payout_request();
        assert!(matches!(decode(&create).unwrap(), Input::Request(r) if r == create));
    }

    #[test]
    fn a_decision_without_a_decider_or_with_bad_ids_is_poison() {
        let mut d = samples::payout_decision();
        d.decided_by = String::new();
        assert!(decode(&d)
            .unwrap_err()
            .to_string()
            .contains("decided_by is empty"));
        let mut d = samples::payout_decision();
        d.merchant_id = "m 1".into();
        assert!(decode(&d).unwrap_err().to_string().contains("merchant_id"));
    }
}
