//! When a beneficiary's verification lets a payout go: shared by the beneficiaries processor, which
//! makes verifications, and the payout processor, which checks them.

use crate::events::beneficiary_verification::VerificationStatus;

/// Whether a beneficiary may be paid now: verified, unexpired, and verified for the account it has now.
pub fn payable(
    status: Option<VerificationStatus>,
    verified_fingerprint: Option<&str>,
    expires_at_ms: Option<i64>,
    account_fingerprint: &str,
    now_ms: i64,
) -> Result<(), &'static str> {
    match status {
        None | Some(VerificationStatus::Requested | VerificationStatus::Pending) => {
            Err("BENEFICIARY_NOT_VERIFIED")
        }
        Some(VerificationStatus::Invalid | VerificationStatus::Failed) => {
            Err("INVALID_BENEFICIARY")
        }
        Some(VerificationStatus::NameMismatch) => Err("BENEFICIARY_NAME_MISMATCH"),
        Some(VerificationStatus::Verified) if verified_fingerprint != Some(account_fingerprint) => {
            Err("VERIFICATION_NOT_FOR_THIS_ACCOUNT")
        }
        Some(VerificationStatus::Verified) if expires_at_ms.is_none_or(|e| e <= now_ms) => {
            Err("VERIFICATION_EXPIRED")
        }
        Some(VerificationStatus::Verified) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_verified_unexpired_verification_of_the_same_account_pays() {
        use VerificationStatus as V;
        type Case<'a> = (Option<V>, Option<&'a str>, Option<i64>, Result<(), &'a str>);
        let cases: [Case<'_>; 7] = [
            (Some(V::Verified), Some("fp"), Some(100), Ok(())),
            (
                Some(V::Verified),
                Some("old"),
                Some(100),
                Err("VERIFICATION_NOT_FOR_THIS_ACCOUNT"),
            ),
            (
                Some(V::Verified),
                Some("fp"),
                Some(10),
                Err("VERIFICATION_EXPIRED"),
            ),
            (
                Some(V::NameMismatch),
                Some("fp"),
                Some(100),
                Err("BENEFICIARY_NAME_MISMATCH"),
            ),
            (
                Some(V::Invalid),
                Some("fp"),
                None,
                Err("INVALID_BENEFICIARY"),
            ),
            (
                Some(V::Requested),
                None,
                None,
                Err("BENEFICIARY_NOT_VERIFIED"),
            ),
            (None, None, None, Err("BENEFICIARY_NOT_VERIFIED")),
        ];
        for (status, verified, expires, want) in cases {
            assert_eq!(
                payable(status, verified, expires, "fp", 10),
                want,
                "{status:?} {verified:?} {expires:?}"
            );
        }
    }
}
