//! A beneficiary's lifecycle, pure: created, its account changed, verified (a penny drop for a bank
//! account, a lookup for a VPA) and the provider's answer.
//!
//! A verification is bound to the fingerprint of the exact account it verified and expires after a
//! TTL; changing the account (UPDATE) drops it, and an answer to a verification the beneficiary no
//! longer waits for (asked before the change) is ignored.

use crate::domain::ids::MerchantId;
use crate::events::beneficiary_verification::{
    BeneficiaryCommand, BeneficiaryCommandKind, VerificationStatus,
};
use crate::events::provider::{AccountCheck, ProviderOutcome};
#[cfg(test)]
use crate::processors::verification::payable;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Beneficiary {
    pub merchant_id: MerchantId,
    pub name: Option<String>,
    pub account_kind: String,
    pub account_masked: String,
    pub account_sealed: String,
    pub account_fingerprint: String,
    pub sequence: i64,
    /// The latest finished verification.
    pub verification: Option<Verification>,
    /// The verification in flight: its id and the fingerprint it verifies.
    pub verifying: Option<(String, String)>,
    /// Verifications asked so far (names the next one).
    pub verifications: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    pub verification_id: String,
    pub status: VerificationStatus,
    pub fingerprint: String,
    pub expires_at_ms: Option<i64>,
    pub registered_name: Option<String>,
    pub name_match_score: Option<i32>,
    pub reason_code: Option<String>,
}

/// How results are judged.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    pub ttl_ms: i64,
    pub name_match_min: i32,
}

/// What a signal did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The beneficiary as it is now; `asked`: a verification to send to the provider (its id);
    /// `result`: a verification that just finished.
    Applied {
        state: Box<Beneficiary>,
        asked: Option<String>,
        result: Option<Verification>,
    },
    Refused(String),
}

fn refused(why: impl Into<String>) -> Change {
    Change::Refused(why.into())
}

fn account(c: &BeneficiaryCommand) -> Option<(String, String, String, String)> {
    Some((
        c.account_kind.clone()?,
        c.account_masked.clone()?,
        c.account_sealed.clone()?,
        c.account_fingerprint.clone()?,
    ))
}

/// A merchant's command.
pub fn command(current: Option<&Beneficiary>, c: &BeneficiaryCommand) -> Change {
    match (c.kind, current) {
        (BeneficiaryCommandKind::Create, Some(_)) => {
            refused(format!("beneficiary {} already exists", c.beneficiary_id))
        }
        (BeneficiaryCommandKind::Create, None) => created(c),
        (_, None) => refused(format!("no beneficiary {}", c.beneficiary_id)),
        (_, Some(b)) if b.merchant_id != c.merchant_id => refused(format!(
            "beneficiary {} is not merchant {}'s",
            c.beneficiary_id, c.merchant_id
        )),
        (BeneficiaryCommandKind::Update, Some(b)) => applied(updated(b, c), None),
        (BeneficiaryCommandKind::Verify, Some(b)) if b.verifying.is_some() => {
            refused("a verification is already in flight")
        }
        (BeneficiaryCommandKind::Verify, Some(b)) => {
            let mut next = b.clone();
            next.verifications = b.verifications.saturating_add(1);
            let id = format!("{}_v{}", c.beneficiary_id, next.verifications);
            next.verifying = Some((id.clone(), b.account_fingerprint.clone()));
            next.sequence = b.sequence.saturating_add(1);
            applied(next, Some(id))
        }
    }
}

fn applied(state: Beneficiary, asked: Option<String>) -> Change {
    Change::Applied {
        state: Box::new(state),
        asked,
        result: None,
    }
}

fn created(c: &BeneficiaryCommand) -> Change {
    let Some((kind, masked, sealed, fingerprint)) = account(c) else {
        return refused("CREATE needs the account's kind, mask, sealed details and fingerprint");
    };
    let Ok(merchant_id) = MerchantId::parse(&c.merchant_id) else {
        return refused("CREATE names no merchant id");
    };
    applied(
        Beneficiary {
            merchant_id,
            name: c.name.clone(),
            account_kind: kind,
            account_masked: masked,
            account_sealed: sealed,
            account_fingerprint: fingerprint,
            sequence: 1,
            verification: None,
            verifying: None,
            verifications: 0,
        },
        None,
    )
}

/// A new name or account. A new account drops what was verified, and an answer in flight for the
/// old one becomes stale.
fn updated(b: &Beneficiary, c: &BeneficiaryCommand) -> Beneficiary {
    let mut next = b.clone();
    if let Some((kind, masked, sealed, fingerprint)) = account(c) {
        if fingerprint != b.account_fingerprint {
            next.verification = None;
            next.verifying = None;
        }
        (
            next.account_kind,
            next.account_masked,
            next.account_sealed,
            next.account_fingerprint,
        ) = (kind, masked, sealed, fingerprint);
    }
    if c.name.is_some() {
        next.name = c.name.clone();
    }
    next.sequence = b.sequence.saturating_add(1);
    next
}

/// The provider's answer to verification `verification_id`.
pub fn answer(
    b: &Beneficiary,
    verification_id: &str,
    outcome: ProviderOutcome,
    check: Option<&AccountCheck>,
    rules: Rules,
    now_ms: i64,
) -> Change {
    let Some((id, fingerprint)) = b.verifying.clone().filter(|(id, _)| id == verification_id)
    else {
        return refused(format!(
            "verification {verification_id} is not the one in flight"
        ));
    };
    let (status, reason_code) = match (outcome, check) {
        (ProviderOutcome::Succeeded, Some(c)) if !c.account_valid => (
            VerificationStatus::Invalid,
            c.reason_code.clone().or(Some("INVALID_ACCOUNT".into())),
        ),
        (ProviderOutcome::Succeeded, Some(c))
            if c.name_match_score.is_some_and(|s| s < rules.name_match_min) =>
        {
            (
                VerificationStatus::NameMismatch,
                Some("NAME_MISMATCH".into()),
            )
        }
        (ProviderOutcome::Succeeded, Some(_)) => (VerificationStatus::Verified, None),
        // No usable answer: nothing is known about the account; the merchant may verify again.
        _ => (VerificationStatus::Failed, Some("PROVIDER_ERROR".into())),
    };
    let lasting = matches!(
        status,
        VerificationStatus::Verified | VerificationStatus::NameMismatch
    );
    let v = Verification {
        verification_id: id,
        status,
        fingerprint,
        expires_at_ms: lasting.then(|| now_ms.saturating_add(rules.ttl_ms)),
        registered_name: check.and_then(|c| c.registered_name.clone()),
        name_match_score: check.and_then(|c| c.name_match_score),
        reason_code,
    };
    let mut next = b.clone();
    next.verifying = None;
    next.verification = Some(v.clone());
    next.sequence = b.sequence.saturating_add(1);
    Change::Applied {
        state: Box::new(next),
        asked: None,
        result: Some(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::samples;

    const RULES: Rules = Rules {
        ttl_ms: 1_000,
        name_match_min: 70,
    };

    fn applied(c: Change) -> (Beneficiary, Option<String>, Option<Verification>) {
        match c {
            Change::Applied {
                state,
                asked,
                result,
            } => (*state, asked, result),
            Change::Refused(r) => panic!("refused: {r}"),
        }
    }

    fn verify() -> BeneficiaryCommand {
        BeneficiaryCommand {
            kind: BeneficiaryCommandKind::Verify,
            ..samples::beneficiary_command()
        }
    }

    fn check(valid: bool, score: i32, reason: Option<&str>) -> AccountCheck {
        AccountCheck {
            account_valid: valid,
            registered_name: Some("ASHA RAO".into()),
            name_match_score: Some(score),
            reason_code: reason.map(str::to_owned),
        }
    }

    #[test]
    fn results_are_judged_and_bound_to_the_account_verified() {
        let (b, _, _) = applied(command(None, &samples::beneficiary_command()));
        type Case<'a> = (
            ProviderOutcome,
            Option<AccountCheck>,
            VerificationStatus,
            Result<(), &'a str>,
        );
        let cases: [Case<'_>; 5] = [
            (
                ProviderOutcome::Succeeded,
                Some(check(true, 95, None)),
                VerificationStatus::Verified,
                Ok(()),
            ),
            (
                ProviderOutcome::Succeeded,
                Some(check(true, 40, None)),
                VerificationStatus::NameMismatch,
                Err("BENEFICIARY_NAME_MISMATCH"),
            ),
            (
                ProviderOutcome::Succeeded,
                Some(check(false, 0, Some("ACCOUNT_CLOSED"))),
                VerificationStatus::Invalid,
                Err("INVALID_BENEFICIARY"),
            ),
            (
                ProviderOutcome::Unknown,
                None,
                VerificationStatus::Failed,
                Err("INVALID_BENEFICIARY"),
            ),
            (
                ProviderOutcome::Succeeded,
                None,
                VerificationStatus::Failed,
                Err("INVALID_BENEFICIARY"),
            ),
        ];
        for (outcome, chk, status, pay) in cases {
            let (asking, asked, _) = applied(command(Some(&b), &verify()));
            let id = asked.unwrap();
            let (done, _, result) = applied(answer(&asking, &id, outcome, chk.as_ref(), RULES, 0));
            let v = result.unwrap();
            assert_eq!(v.status, status);
            let got = payable(
                Some(v.status),
                Some(&v.fingerprint),
                v.expires_at_ms,
                &done.account_fingerprint,
                10,
            );
            assert_eq!(got, pay, "{status:?}");
        }
        let (asking, asked, _) = applied(command(Some(&b), &verify()));
        assert!(
            matches!(command(Some(&asking), &verify()), Change::Refused(_)),
            "one in flight"
        );
        let (done, _, v) = applied(answer(
            &asking,
            &asked.unwrap(),
            ProviderOutcome::Succeeded,
            Some(&check(true, 90, None)),
            RULES,
            0,
        ));
        let v = v.unwrap();
        assert_eq!(
            payable(
                Some(v.status),
                Some(&v.fingerprint),
                v.expires_at_ms,
                &done.account_fingerprint,
                1_000
            ),
            Err("VERIFICATION_EXPIRED")
        );
        // A new account: the verification of the old one does not pay the new one.
        let update = BeneficiaryCommand {
            kind: BeneficiaryCommandKind::Update,
            account_fingerprint: Some("other".into()),
            ..samples::beneficiary_command()
        };
        let (changed, _, _) = applied(command(Some(&done), &update));
        assert!(changed.verification.is_none());
        assert_eq!(
            payable(
                Some(v.status),
                Some(&v.fingerprint),
                v.expires_at_ms,
                &changed.account_fingerprint,
                10
            ),
            Err("VERIFICATION_NOT_FOR_THIS_ACCOUNT")
        );
    }

    #[test]
    fn an_answer_asked_before_the_account_changed_is_stale() {
        let (b, _, _) = applied(command(None, &samples::beneficiary_command()));
        let (asking, asked, _) = applied(command(Some(&b), &verify()));
        let update = BeneficiaryCommand {
            kind: BeneficiaryCommandKind::Update,
            account_fingerprint: Some("new".into()),
            ..samples::beneficiary_command()
        };
        let (changed, _, _) = applied(command(Some(&asking), &update));
        assert!(matches!(
            answer(
                &changed,
                &asked.unwrap(),
                ProviderOutcome::Succeeded,
                Some(&check(true, 99, None)),
                RULES,
                0
            ),
            Change::Refused(_)
        ));
        let other = BeneficiaryCommand {
            merchant_id: "m_2".into(),
            ..verify()
        };
        assert!(
            matches!(command(Some(&b), &other), Change::Refused(_)),
            "another merchant's"
        );
    }
}
