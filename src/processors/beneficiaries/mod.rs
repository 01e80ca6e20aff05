//! `beneficiaries`: each beneficiary's account and its verification, keyed by beneficiary id.
//! Commands come from the bridge (create, change the account, verify); a verification goes to the
//! payout connector as a `VERIFY_BENEFICIARY` request (a penny drop or a VPA lookup), whose answer
//! comes back on its own topic. The beneficiary row, which the payout processor reads to check a
//! payout's beneficiary, is written with every change, versioned by the beneficiary's sequence.
//!
//! The account number is only ever here sealed (`domain::accounts`): the state, the row and the
//! provider request carry the sealed details, the mask and the fingerprint.

pub mod config;
pub mod machine;

use super::state::{Keyed, Step};
use super::{
    Binding, Build, Context, Decode, Decoded, Effects, Io, ProcessError, Processor, RecordMeta,
};
use crate::contract::provider::{expect_kind, Answer, Subject};
use crate::events::beneficiary_verification::{
    BeneficiaryAccountKind, BeneficiaryCommand, BeneficiaryVerification, VerificationStatus,
};
use crate::events::provider::{
    Payee, ProviderOperation, ProviderRequest, ProviderResponse, ProviderSubjectKind,
};
use crate::events::{symbol, Codec, CodecError, Event, TimestampMillis};
use crate::metrics::{self as m, Measure};
use crate::store::writer::{Cql, StoreWrite};
use config::BeneficiariesConfig;
use futures::future::BoxFuture;
use machine::{Beneficiary, Change, Rules, Verification};

pub const NAME: &str = "beneficiaries";

/// The provider subjects this processor owns: its beneficiaries' verifications.
const OWNED: &[ProviderSubjectKind] = &[ProviderSubjectKind::BeneficiaryVerification];

// An input lives for one batch, a few hundred at most: a box per answer would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Input {
    Command(BeneficiaryCommand),
    Answer(Answer),
}

impl Input {
    fn beneficiary_id(&self) -> &str {
        match self {
            Input::Command(c) => &c.beneficiary_id,
            Input::Answer(a) => a.subject.key(),
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
            BeneficiaryCommand::FULL_NAME => Input::Command(codec.decode_sync(payload)?),
            ProviderResponse::FULL_NAME => {
                let answer: Answer = Decode::decode(codec, schema, record, payload)?;
                expect_kind(&answer.subject, OWNED, NAME).map_err(CodecError::Invalid)?;
                Input::Answer(answer)
            }
            other => {
                return Err(CodecError::Invalid(format!(
                    "topic '{}' carries {other}, which the beneficiaries processor does not read",
                    record.topic
                )))
            }
        };
        crate::domain::ids::validate(input.beneficiary_id())
            .map_err(|e| CodecError::Invalid(format!("beneficiary_id: {e}")))?;
        Ok(input)
    }
}

pub struct Beneficiaries {
    config: BeneficiariesConfig,
    verifications: String,
    requests: String,
}

impl Build for Beneficiaries {
    type Config = BeneficiariesConfig;

    fn build(config: &BeneficiariesConfig, binding: &Binding) -> Result<Self, String> {
        Ok(Self {
            config: config.clone(),
            verifications: binding.output("verifications")?,
            requests: binding.output("requests")?,
        })
    }
}

impl Processor for Beneficiaries {
    type Input = Input;
    type View = Keyed<Beneficiary>;
    const OUTPUTS: &'static [&'static str] = &["verifications", "requests"];
    const INPUT_SCHEMAS: &'static [&'static str] =
        &[BeneficiaryCommand::FULL_NAME, ProviderResponse::FULL_NAME];
    const STATEFUL: bool = true;

    fn state_key(input: &Input) -> Option<&str> {
        Some(input.beneficiary_id())
    }

    fn name(&self) -> &str {
        NAME
    }

    fn load<'a>(
        &'a self,
        io: &'a Io<'a>,
        _batch: &'a [Decoded<Input>],
    ) -> BoxFuture<'a, Result<Keyed<Beneficiary>, ProcessError>> {
        Box::pin(async move { Keyed::load(io) })
    }

    fn process(
        &self,
        input: &Input,
        view: &mut Keyed<Beneficiary>,
        ctx: &Context<'_>,
    ) -> Result<Effects, ProcessError> {
        let id = input.beneficiary_id().to_owned();
        let now_ms = ctx.clock.now_millis();
        let rules = Rules {
            ttl_ms: i64::try_from(self.config.verification_ttl_ms).unwrap_or(i64::MAX),
            name_match_min: self.config.name_match_min,
        };
        view.step(ctx, &id, |stored| {
            let change = match (input, stored) {
                (Input::Command(c), _) => machine::command(stored, c),
                (Input::Answer(a), Some(b)) => machine::answer(
                    b,
                    a.subject.own_id(),
                    a.response.outcome,
                    a.response.verification.as_ref(),
                    rules,
                    now_ms,
                ),
                (Input::Answer(a), None) => Change::Refused(format!(
                    "an answer for unknown beneficiary {}",
                    a.subject.key()
                )),
            };
            match change {
                Change::Refused(why) => {
                    let mut effects = Effects::default();
                    effects.measures.push(Measure::count(
                        m::PAYMENTS_SIGNALS_REJECTED,
                        &[("code", "BENEFICIARY_REFUSED".to_owned())],
                    ));
                    tracing::debug!(beneficiary = %id, %why, "beneficiary signal refused");
                    Ok(Step::new(effects, None))
                }
                Change::Applied {
                    state,
                    asked,
                    result,
                } => self.applied(&id, *state, asked, result, ctx),
            }
        })
    }
}

impl Beneficiaries {
    fn applied(
        &self,
        id: &str,
        b: Beneficiary,
        asked: Option<String>,
        result: Option<Verification>,
        ctx: &Context<'_>,
    ) -> Result<Step<Beneficiary>, ProcessError> {
        let now_ms = ctx.clock.now_millis();
        let mut effects = Effects {
            writes: vec![row(id, &b, now_ms)],
            ..Effects::default()
        };
        if let Some(vid) = &asked {
            let record = self.record(id, &b, vid, VerificationStatus::Requested, None, now_ms);
            effects
                .records
                .push(ctx.record(&self.verifications, &record)?);
            effects
                .records
                .push(ctx.record(&self.requests, &self.request(id, &b, vid, now_ms))?);
        }
        if let Some(v) = &result {
            let record = self.record(id, &b, &v.verification_id, v.status, Some(v), now_ms);
            effects
                .records
                .push(ctx.record(&self.verifications, &record)?);
            effects.measures.push(Measure::count(
                m::BENEFICIARY_VERIFICATIONS,
                &[("status", symbol(&v.status))],
            ));
        }
        Ok(Step::new(effects, Some(b)))
    }

    fn record(
        &self,
        id: &str,
        b: &Beneficiary,
        vid: &str,
        status: VerificationStatus,
        v: Option<&Verification>,
        now_ms: i64,
    ) -> BeneficiaryVerification {
        BeneficiaryVerification {
            verification_id: vid.to_owned(),
            beneficiary_id: id.to_owned(),
            merchant_id: b.merchant_id.as_str().to_owned(),
            account_kind: if b.account_kind == "vpa" {
                BeneficiaryAccountKind::Vpa
            } else {
                BeneficiaryAccountKind::BankAccount
            },
            account_reference: b.account_masked.clone(),
            name_on_record: b.name.clone(),
            status,
            name_at_bank: v.and_then(|v| v.registered_name.clone()),
            name_match_score: v.and_then(|v| v.name_match_score),
            connector: Some(self.config.connector.clone()),
            reason: None,
            occurred_at: TimestampMillis(now_ms),
            account_fingerprint: Some(
                v.map_or_else(|| b.account_fingerprint.clone(), |v| v.fingerprint.clone()),
            ),
            reason_code: v.and_then(|v| v.reason_code.clone()),
            expires_at: v.and_then(|v| v.expires_at_ms).map(TimestampMillis),
            sequence: b.sequence,
        }
    }

    /// The penny drop (or VPA lookup) request; the verification id is its idempotency key.
    fn request(&self, id: &str, b: &Beneficiary, vid: &str, now_ms: i64) -> ProviderRequest {
        ProviderRequest {
            request_id: vid.to_owned(),
            attempt_id: vid.to_owned(),
            payment_id: id.to_owned(),
            merchant_id: b.merchant_id.as_str().to_owned(),
            connector: self.config.connector.clone(),
            operation: ProviderOperation::VerifyBeneficiary,
            amount_minor: self.config.penny_drop_minor,
            currency: "INR".into(),
            method_type: None,
            method_reference: None,
            provider_reference: None,
            requested_at: TimestampMillis(now_ms),
            status_of: None,
            payee: Some(Payee {
                account_kind: b.account_kind.clone(),
                account_masked: b.account_masked.clone(),
                account_sealed: b.account_sealed.clone(),
                name: b.name.clone(),
                rail: None,
                narration: None,
                purpose: None,
            }),
            // Both ids were checked when the command created the beneficiary and the verification
            // id is minted from it: the subject is always there; were it not, readers refuse.
            subject: Subject::verification(id, vid).ok().map(|s| s.to_wire()),
        }
    }
}

/// The beneficiary's row: what the REST API shows and what the payout processor checks.
fn row(id: &str, b: &Beneficiary, now_ms: i64) -> StoreWrite {
    let v = b.verification.as_ref();
    StoreWrite::upsert(
        "beneficiaries",
        id,
        vec![
            ("beneficiary_id", Cql::text(id)),
            ("merchant_id", Cql::text(b.merchant_id.as_str())),
            ("name", Cql::opt_text(b.name.as_deref())),
            ("account_kind", Cql::text(&b.account_kind)),
            ("account_masked", Cql::text(&b.account_masked)),
            ("account_sealed", Cql::text(&b.account_sealed)),
            ("account_fingerprint", Cql::text(&b.account_fingerprint)),
            ("verifying", Cql::Bool(b.verifying.is_some())),
            (
                "verification_id",
                Cql::opt_text(v.map(|v| v.verification_id.as_str())),
            ),
            (
                "verification_status",
                Cql::opt_text(v.map(|v| symbol(&v.status)).as_deref()),
            ),
            (
                "verified_fingerprint",
                Cql::opt_text(v.map(|v| v.fingerprint.as_str())),
            ),
            (
                "verification_expires_at",
                v.and_then(|v| v.expires_at_ms)
                    .map_or(Cql::Null, Cql::Timestamp),
            ),
            (
                "registered_name",
                Cql::opt_text(v.and_then(|v| v.registered_name.as_deref())),
            ),
            (
                "name_match_score",
                v.and_then(|v| v.name_match_score)
                    .map_or(Cql::Null, Cql::Int),
            ),
            (
                "verification_reason_code",
                Cql::opt_text(v.and_then(|v| v.reason_code.as_deref())),
            ),
            ("sequence", Cql::BigInt(b.sequence)),
            ("updated_at", Cql::Timestamp(now_ms)),
        ],
    )
    .versioned(b.sequence)
}
