//! What a provider message is about ([`Subject`]) and which operation it asks or answers, typed.
//!
//! The wire carries the subject as `ProviderSubject` since v3 of `ProviderRequest`,
//! `ProviderResponse` and `ProviderWebhook`. Older records carry only `payment_id` (the key, whatever
//! the object) and `attempt_id` (the object's own id); [`Subject`] derives their subject from the
//! operation (a response's `operation` string, a webhook's event type), so a record in flight across
//! the upgrade is read as before. A v3 record's subject must agree with those older fields, which
//! v3 writers still fill for the readers of v1 and v2: a disagreement is poison, never a guess.

use crate::domain::ids::{
    AttemptId, BeneficiaryId, IdError, PaymentId, PayoutId, RefundId, VerificationId,
};
use crate::events::provider::{
    ProviderOperation, ProviderRequest, ProviderResponse, ProviderSubject, ProviderSubjectKind,
    ProviderWebhook,
};

/// The object a provider is asked about, with the ids of its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A payment's authorization attempt (its authorize, capture, void and status checks).
    Attempt {
        payment: PaymentId,
        attempt: AttemptId,
    },
    /// A refund of a payment (the payment processor owns its refunds).
    Refund {
        payment: PaymentId,
        refund: RefundId,
    },
    Payout {
        payout: PayoutId,
    },
    /// A penny drop or VPA lookup of a beneficiary.
    Verification {
        beneficiary: BeneficiaryId,
        verification: VerificationId,
    },
}

impl Subject {
    pub fn kind(&self) -> ProviderSubjectKind {
        match self {
            Subject::Attempt { .. } => ProviderSubjectKind::PaymentAttempt,
            Subject::Refund { .. } => ProviderSubjectKind::Refund,
            Subject::Payout { .. } => ProviderSubjectKind::Payout,
            Subject::Verification { .. } => ProviderSubjectKind::BeneficiaryVerification,
        }
    }

    /// The Kafka key: the entity whose processor owns the subject (payment, payout, beneficiary).
    pub fn key(&self) -> &str {
        match self {
            Subject::Attempt { payment, .. } | Subject::Refund { payment, .. } => payment.as_str(),
            Subject::Payout { payout } => payout.as_str(),
            Subject::Verification { beneficiary, .. } => beneficiary.as_str(),
        }
    }

    /// The object's own id: the provider's idempotency key, the wire's `attempt_id`.
    pub fn own_id(&self) -> &str {
        match self {
            Subject::Attempt { attempt, .. } => attempt.as_str(),
            Subject::Refund { refund, .. } => refund.as_str(),
            Subject::Payout { payout } => payout.as_str(),
            Subject::Verification { verification, .. } => verification.as_str(),
        }
    }

    /// The v3 wire form.
    pub fn to_wire(&self) -> ProviderSubject {
        let mut w = ProviderSubject {
            kind: self.kind(),
            payment_id: None,
            attempt_id: None,
            refund_id: None,
            payout_id: None,
            beneficiary_id: None,
            verification_id: None,
        };
        let text = |s: &str| Some(s.to_owned());
        match self {
            Subject::Attempt { payment, attempt } => {
                (w.payment_id, w.attempt_id) = (text(payment.as_str()), text(attempt.as_str()));
            }
            Subject::Refund { payment, refund } => {
                (w.payment_id, w.refund_id) = (text(payment.as_str()), text(refund.as_str()));
            }
            Subject::Payout { payout } => w.payout_id = text(payout.as_str()),
            Subject::Verification {
                beneficiary,
                verification,
            } => {
                w.beneficiary_id = text(beneficiary.as_str());
                w.verification_id = text(verification.as_str());
            }
        }
        w
    }

    /// A subject from the v3 wire form, every id of its kind present and valid, no other set.
    pub fn from_wire(w: &ProviderSubject) -> Result<Subject, String> {
        let others_unset = |set: &[&Option<String>]| {
            let all = [
                &w.payment_id,
                &w.attempt_id,
                &w.refund_id,
                &w.payout_id,
                &w.beneficiary_id,
                &w.verification_id,
            ];
            let count = all.iter().filter(|f| f.is_some()).count();
            let mine = set.iter().filter(|f| f.is_some()).count();
            if count == mine {
                Ok(())
            } else {
                Err(format!("subject: a {:?} sets ids of another kind", w.kind))
            }
        };
        let subject = match w.kind {
            ProviderSubjectKind::PaymentAttempt => {
                others_unset(&[&w.payment_id, &w.attempt_id])?;
                Self::attempt(
                    need(&w.payment_id, "payment_id")?,
                    need(&w.attempt_id, "attempt_id")?,
                )?
            }
            ProviderSubjectKind::Refund => {
                others_unset(&[&w.payment_id, &w.refund_id])?;
                Self::refund(
                    need(&w.payment_id, "payment_id")?,
                    need(&w.refund_id, "refund_id")?,
                )?
            }
            ProviderSubjectKind::Payout => {
                others_unset(&[&w.payout_id])?;
                Self::payout(need(&w.payout_id, "payout_id")?)?
            }
            ProviderSubjectKind::BeneficiaryVerification => {
                others_unset(&[&w.beneficiary_id, &w.verification_id])?;
                Self::verification(
                    need(&w.beneficiary_id, "beneficiary_id")?,
                    need(&w.verification_id, "verification_id")?,
                )?
            }
        };
        Ok(subject)
    }

    pub fn attempt(payment: &str, attempt: &str) -> Result<Subject, String> {
        Ok(Subject::Attempt {
            payment: PaymentId::parse(payment).map_err(field("payment_id"))?,
            attempt: AttemptId::parse(attempt).map_err(field("attempt_id"))?,
        })
    }

    pub fn refund(payment: &str, refund: &str) -> Result<Subject, String> {
        Ok(Subject::Refund {
            payment: PaymentId::parse(payment).map_err(field("payment_id"))?,
            refund: RefundId::parse(refund).map_err(field("refund_id"))?,
        })
    }

    pub fn payout(payout: &str) -> Result<Subject, String> {
        Ok(Subject::Payout {
            payout: PayoutId::parse(payout).map_err(field("payout_id"))?,
        })
    }

    pub fn verification(beneficiary: &str, verification: &str) -> Result<Subject, String> {
        Ok(Subject::Verification {
            beneficiary: BeneficiaryId::parse(beneficiary).map_err(field("beneficiary_id"))?,
            verification: VerificationId::parse(verification).map_err(field("verification_id"))?,
        })
    }

    /// The subject of a record: its v3 `subject`, checked against the older fields, or derived from
    /// them (`kind`: what the operation or event type says) for a record written before v3.
    fn read(
        wire: Option<&ProviderSubject>,
        legacy_kind: ProviderSubjectKind,
        payment_id: &str,
        attempt_id: &str,
    ) -> Result<Subject, String> {
        let Some(w) = wire else {
            return match legacy_kind {
                ProviderSubjectKind::PaymentAttempt => Self::attempt(payment_id, attempt_id),
                ProviderSubjectKind::Refund => Self::refund(payment_id, attempt_id),
                ProviderSubjectKind::Payout => Self::payout(payment_id),
                ProviderSubjectKind::BeneficiaryVerification => {
                    Self::verification(payment_id, attempt_id)
                }
            };
        };
        let subject = Self::from_wire(w)?;
        if subject.key() != payment_id || subject.own_id() != attempt_id {
            return Err(format!(
                "subject: {:?} {} / {} disagrees with payment_id {payment_id} and attempt_id {attempt_id}",
                subject.kind(),
                subject.key(),
                subject.own_id()
            ));
        }
        Ok(subject)
    }
}

fn need<'a>(v: &'a Option<String>, name: &str) -> Result<&'a str, String> {
    v.as_deref()
        .ok_or_else(|| format!("subject: {name} is missing"))
}

fn field(name: &'static str) -> impl Fn(IdError) -> String {
    move |e| format!("subject.{name}: {e}")
}

/// What a request of `operation` is about before v3, when only its ids tell: a status check names
/// the object it looks up in `status_of`, except a payout's, whose payout id is both the key and
/// the attempt id (an attempt id always extends its payment id, so the two never meet otherwise).
fn legacy_kind(
    operation: ProviderOperation,
    status_of: Option<ProviderOperation>,
    payment_id: &str,
    attempt_id: &str,
) -> ProviderSubjectKind {
    let looked_up = match operation {
        ProviderOperation::Status => status_of.unwrap_or(ProviderOperation::Authorize),
        other => other,
    };
    match looked_up {
        ProviderOperation::Refund => ProviderSubjectKind::Refund,
        ProviderOperation::Payout => ProviderSubjectKind::Payout,
        ProviderOperation::VerifyBeneficiary => ProviderSubjectKind::BeneficiaryVerification,
        _ if payment_id == attempt_id => ProviderSubjectKind::Payout,
        _ => ProviderSubjectKind::PaymentAttempt,
    }
}

/// The operation a subject of `kind` may be asked.
fn fits(
    kind: ProviderSubjectKind,
    op: ProviderOperation,
    status_of: Option<ProviderOperation>,
) -> bool {
    use ProviderOperation as Op;
    use ProviderSubjectKind as K;
    match (kind, op) {
        (_, Op::Status) => match kind {
            K::PaymentAttempt => matches!(status_of, None | Some(Op::Authorize)),
            K::Refund => status_of == Some(Op::Refund),
            K::Payout => matches!(status_of, None | Some(Op::Payout)),
            K::BeneficiaryVerification => status_of == Some(Op::VerifyBeneficiary),
        },
        (K::PaymentAttempt, Op::Authorize | Op::Capture | Op::Void) => true,
        (K::Refund, Op::Refund) | (K::Payout, Op::Payout) => true,
        (K::BeneficiaryVerification, Op::VerifyBeneficiary) => true,
        _ => false,
    }
}

/// A provider request's subject, checked against its operation.
pub fn of_request(r: &ProviderRequest) -> Result<Subject, String> {
    let kind = legacy_kind(r.operation, r.status_of, &r.payment_id, &r.attempt_id);
    let subject = Subject::read(r.subject.as_ref(), kind, &r.payment_id, &r.attempt_id)?;
    if !fits(subject.kind(), r.operation, r.status_of) {
        return Err(format!(
            "operation: {:?} (status of {:?}) cannot be asked of a {:?}",
            r.operation,
            r.status_of,
            subject.kind()
        ));
    }
    Ok(subject)
}

/// A provider response's operation: its v3 `request_operation`, or the v1 `operation` string
/// parsed; both present must agree.
pub fn operation_of(r: &ProviderResponse) -> Result<ProviderOperation, String> {
    let parsed = crate::events::from_symbol::<ProviderOperation>(&r.operation);
    match (r.request_operation, parsed) {
        (Some(op), Some(old)) if op == old => Ok(op),
        (None, Some(old)) => Ok(old),
        (Some(op), _) => Err(format!(
            "operation: '{}' disagrees with request_operation {op:?}",
            r.operation
        )),
        (None, None) => Err(format!(
            "operation: '{}' is not a ProviderOperation symbol",
            r.operation
        )),
    }
}

/// A provider response's subject. Before v3 a response did not say what its status check looked
/// up; the payment processor tells a refund's from its ids (`payment_id` and `attempt_id` as its
/// request had them), as it always did.
pub fn of_response(r: &ProviderResponse, op: ProviderOperation) -> Result<Subject, String> {
    let kind = legacy_kind(op, None, &r.payment_id, &r.attempt_id);
    Subject::read(r.subject.as_ref(), kind, &r.payment_id, &r.attempt_id)
}

/// Whether a charge provider's webhook of `event_type` reports on a refund (`refund.*`); otherwise
/// it reports on a charge.
pub fn reports_refund(event_type: &str) -> bool {
    event_type.starts_with("refund.")
}

/// A provider webhook's subject: before v3, the event type tells (`refund.*`, `transfer.*`, else a
/// charge); a webhook that names no attempt has no subject and is refused.
pub fn of_webhook(w: &ProviderWebhook) -> Result<Subject, String> {
    let attempt = w
        .attempt_id
        .as_deref()
        .ok_or_else(|| "attempt_id: a webhook must name the object it reports".to_owned())?;
    let kind = if reports_refund(&w.event_type) {
        ProviderSubjectKind::Refund
    } else if w.event_type.starts_with("transfer.") {
        ProviderSubjectKind::Payout
    } else {
        ProviderSubjectKind::PaymentAttempt
    };
    Subject::read(w.subject.as_ref(), kind, &w.payment_id, attempt)
}

/// A provider's answer, read: what it is about and which operation it answers, typed.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub subject: Subject,
    pub operation: ProviderOperation,
    pub response: ProviderResponse,
}

impl Answer {
    pub fn read(response: ProviderResponse) -> Result<Answer, String> {
        let operation = operation_of(&response)?;
        let subject = of_response(&response, operation)?;
        Ok(Answer {
            subject,
            operation,
            response,
        })
    }
}

/// A provider's webhook, read: what it reports on, typed.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub subject: Subject,
    pub webhook: ProviderWebhook,
}

impl Notice {
    pub fn read(webhook: ProviderWebhook) -> Result<Notice, String> {
        let subject = of_webhook(&webhook)?;
        Ok(Notice { subject, webhook })
    }
}

/// A processor's refusal of a subject of another processor's kind.
pub fn expect_kind(
    subject: &Subject,
    kinds: &[ProviderSubjectKind],
    reader: &str,
) -> Result<(), String> {
    if kinds.contains(&subject.kind()) {
        Ok(())
    } else {
        Err(format!(
            "subject: the {reader} processor is not the owner of a {:?} ({})",
            subject.kind(),
            subject.key()
        ))
    }
}

#[cfg(test)]
#[path = "provider_tests.rs"]
mod tests;
