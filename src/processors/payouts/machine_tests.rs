//! Table tests of the payout lifecycle.
//!
//! Test code: the parent module declares this file under #[cfg(test)].

use super::*;
use crate::events::samples;
use PayoutStatus as S;

const RULES: Rules = Rules {
    approval_from: Some(1_000_000),
    imps_max_minor: 50_000_000,
    rtgs_min_minor: 20_000_000,
    ladder_first_ms: 100,
};

fn beneficiary(kind: &str, status: Option<VerificationStatus>) -> BeneficiaryCheck {
    BeneficiaryCheck {
        merchant_id: crate::domain::ids::MerchantId::parse("m_1").unwrap(),
        account_kind: kind.into(),
        payee: samples::provider_request().payee.unwrap(),
        fingerprint: "fp".into(),
        status,
        verified_fingerprint: Some("fp".into()),
        expires_at_ms: Some(1_000),
    }
}

fn request(amount: i64, rail: PayoutRail) -> PayoutRequest {
    PayoutRequest {
        amount_minor: amount,
        rail,
        ..samples::payout_request()
    }
}

fn changed(o: Outcome) -> Change {
    match o {
        Outcome::Changed(c) => *c,
        other => panic!("not a change: {other:?}"),
    }
}

#[test]
fn a_payout_is_accepted_only_for_a_verified_account_on_a_fitting_rail() {
    let verified = Some(VerificationStatus::Verified);
    type Case<'a> = (
        &'a str,
        PayoutRequest,
        Option<BeneficiaryCheck>,
        S,
        Option<&'a str>,
        Vec<Ask>,
    );
    let cases: Vec<Case<'_>> = vec![
        (
            "verified bank account by IMPS",
            request(50_000, PayoutRail::Imps),
            Some(beneficiary("bank_account", verified)),
            S::Requested,
            Some("AWAITING_FUNDS"),
            vec![Ask::Reserve],
        ),
        (
            "unknown beneficiary",
            request(50_000, PayoutRail::Imps),
            None,
            S::Rejected,
            Some("INVALID_BENEFICIARY"),
            vec![],
        ),
        (
            "not verified",
            request(50_000, PayoutRail::Imps),
            Some(beneficiary("bank_account", None)),
            S::Rejected,
            Some("BENEFICIARY_NOT_VERIFIED"),
            vec![],
        ),
        (
            "invalid account",
            request(50_000, PayoutRail::Imps),
            Some(beneficiary(
                "bank_account",
                Some(VerificationStatus::Invalid),
            )),
            S::Rejected,
            Some("INVALID_BENEFICIARY"),
            vec![],
        ),
        (
            "UPI to a bank account",
            request(50_000, PayoutRail::Upi),
            Some(beneficiary("bank_account", verified)),
            S::Rejected,
            Some("RAIL_NOT_FOR_ACCOUNT"),
            vec![],
        ),
        (
            "UPI to a VPA",
            request(50_000, PayoutRail::Upi),
            Some(beneficiary("vpa", verified)),
            S::Requested,
            Some("AWAITING_FUNDS"),
            vec![Ask::Reserve],
        ),
        (
            "IMPS above its limit",
            request(50_000_001, PayoutRail::Imps),
            Some(beneficiary("bank_account", verified)),
            S::Rejected,
            Some("AMOUNT_ABOVE_RAIL_LIMIT"),
            vec![],
        ),
        (
            "RTGS below its minimum",
            request(100_000, PayoutRail::Rtgs),
            Some(beneficiary("bank_account", verified)),
            S::Rejected,
            Some("AMOUNT_BELOW_RAIL_MINIMUM"),
            vec![],
        ),
        (
            "above the approval threshold",
            request(2_000_000, PayoutRail::Neft),
            Some(beneficiary("bank_account", verified)),
            S::PendingApproval,
            Some("AWAITING_APPROVAL"),
            vec![],
        ),
    ];
    for (name, r, b, status, reason, asks) in cases {
        let c = changed(create(&r, b.as_ref(), RULES, 10));
        assert_eq!(
            (c.payout.status, c.reason.as_deref(), c.asks),
            (status, reason, asks),
            "{name}"
        );
        assert_eq!(
            c.payout.payee.is_some(),
            status != S::Rejected,
            "{name}: the payee only when accepted"
        );
    }
    let expired = create(
        &request(50_000, PayoutRail::Imps),
        Some(&beneficiary("bank_account", verified)),
        RULES,
        5_000,
    );
    assert_eq!(
        changed(expired).reason.as_deref(),
        Some("VERIFICATION_EXPIRED")
    );
}

/// Runs signals from a fresh accepted payout; returns the statuses and every ask.
fn run(signals: &[&dyn Fn(&Payout) -> Outcome]) -> (Vec<S>, Vec<Ask>) {
    let b = beneficiary("bank_account", Some(VerificationStatus::Verified));
    let mut p = changed(create(
        &request(50_000, PayoutRail::Imps),
        Some(&b),
        RULES,
        10,
    ))
    .payout;
    let (mut statuses, mut asks) = (vec![p.status], vec![Ask::Reserve]);
    for s in signals {
        match s(&p) {
            Outcome::Changed(c) => {
                if c.event {
                    assert_eq!(c.payout.sequence, p.sequence + 1);
                    statuses.push(c.payout.status);
                }
                asks.extend(c.asks);
                p = c.payout;
            }
            Outcome::Quiet(a) => asks.extend(a),
            Outcome::Refused(_) => statuses.push(p.status),
        }
    }
    (statuses, asks)
}

#[test]
fn lifecycles_ask_the_balance_and_the_provider_once_each() {
    let said = Said::default();
    let funded = |p: &Payout| funding(p, FundingOutcome::Reserved);
    let queued = |p: &Payout| funding(p, FundingOutcome::Queued);
    let ok = |p: &Payout| {
        answer(
            p,
            ProviderOutcome::Succeeded,
            Said {
                utr: Some("UTR1"),
                ..said
            },
            100,
            0,
        )
    };
    let fail = |p: &Payout| {
        answer(
            p,
            ProviderOutcome::Failed,
            Said {
                code: Some("ACCOUNT_CLOSED"),
                ..said
            },
            100,
            0,
        )
    };
    let unknown = |p: &Payout| {
        answer(
            p,
            ProviderOutcome::Unknown,
            Said {
                ask_status: true,
                ..said
            },
            100,
            0,
        )
    };
    let reversed = |p: &Payout| {
        answer(
            p,
            ProviderOutcome::Failed,
            Said {
                reversed: true,
                ..said
            },
            100,
            0,
        )
    };
    let cancel = |p: &Payout| decide(p, PayoutDecisionAction::Cancel, "key_maker_1");
    let expired = |p: &Payout| funding(p, FundingOutcome::Expired);
    type Case<'a> = (
        &'a str,
        Vec<&'a dyn Fn(&Payout) -> Outcome>,
        Vec<S>,
        Vec<Ask>,
    );
    let cases: Vec<Case<'_>> = vec![
        (
            "processed",
            vec![&funded, &ok],
            vec![S::Requested, S::Processing, S::Succeeded],
            vec![Ask::Reserve, Ask::Pay, Ask::Settle],
        ),
        (
            "failed at the bank releases",
            vec![&funded, &fail],
            vec![S::Requested, S::Processing, S::Failed],
            vec![Ask::Reserve, Ask::Pay, Ask::Release],
        ),
        (
            "reversed after processed credits back",
            vec![&funded, &ok, &reversed],
            vec![S::Requested, S::Processing, S::Succeeded, S::Reversed],
            vec![Ask::Reserve, Ask::Pay, Ask::Settle, Ask::Credit],
        ),
        (
            "unknown asks for a status, then settles",
            vec![&funded, &unknown, &ok],
            vec![S::Requested, S::Processing, S::Processing, S::Succeeded],
            vec![Ask::Reserve, Ask::Pay, Ask::Status(None), Ask::Settle],
        ),
        (
            "queued, then funded",
            vec![&queued, &funded, &ok],
            vec![S::Requested, S::Queued, S::Processing, S::Succeeded],
            vec![Ask::Reserve, Ask::Pay, Ask::Settle],
        ),
        (
            "queued, then expired",
            vec![&queued, &expired],
            vec![S::Requested, S::Queued, S::Failed],
            vec![Ask::Reserve],
        ),
        (
            "canceled in the queue, the late reserve is given back",
            vec![&queued, &cancel, &funded],
            vec![S::Requested, S::Queued, S::Canceled],
            vec![Ask::Reserve, Ask::Withdraw, Ask::Release],
        ),
        (
            "a second success changes nothing",
            vec![&funded, &ok, &ok],
            vec![S::Requested, S::Processing, S::Succeeded, S::Succeeded],
            vec![Ask::Reserve, Ask::Pay, Ask::Settle],
        ),
    ];
    for (name, signals, statuses, asks) in cases {
        let (got_statuses, got_asks) = run(&signals);
        assert_eq!(got_statuses, statuses, "{name}");
        assert_eq!(got_asks, asks, "{name}");
    }
}

#[test]
fn approvals_need_another_key_and_the_ladder_ends_unresolved() {
    let b = beneficiary("bank_account", Some(VerificationStatus::Verified));
    let big = changed(create(
        &request(2_000_000, PayoutRail::Neft),
        Some(&b),
        RULES,
        10,
    ))
    .payout;
    assert!(
        matches!(
            decide(&big, PayoutDecisionAction::Approve, "key_maker_1"),
            Outcome::Refused(_)
        ),
        "four eyes"
    );
    let approved = changed(decide(&big, PayoutDecisionAction::Approve, "key_checker"));
    assert_eq!(
        (approved.payout.status, approved.asks),
        (S::Requested, vec![Ask::Reserve])
    );
    assert_eq!(
        changed(decide(&big, PayoutDecisionAction::Reject, "key_checker"))
            .payout
            .status,
        S::Rejected
    );

    let p = changed(funding(&approved.payout, FundingOutcome::Reserved)).payout;
    let mut p = changed(answer(
        &p,
        ProviderOutcome::Pending,
        Said::default(),
        100,
        0,
    ))
    .payout;
    assert_eq!(p.next_check_at_ms, Some(100));
    let ladder = [100, 200];
    for n in 1..=2u32 {
        let c = changed(rung(&p, &ladder, 1_000));
        assert_eq!((c.event, c.asks), (false, vec![Ask::Status(Some(n))]));
        p = c.payout;
    }
    let c = changed(rung(&p, &ladder, 2_000));
    assert_eq!(
        (c.payout.status, c.reason.as_deref()),
        (S::Processing, Some("STATUS_UNRESOLVED"))
    );
    assert_eq!(c.payout.next_check_at_ms, None);
}
