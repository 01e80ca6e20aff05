//! Table tests of the refund state machine.
//!
//! Test code: the parent module declares this file under #[cfg(test)].

use super::*;
use crate::events::samples;

fn payment(captured: i64) -> Payment<'static> {
    Payment {
        currency: "INR",
        captured: MinorUnits::new(captured),
    }
}

fn rules() -> Rules {
    Rules {
        refunds_max: 4,
        approval_from: None,
    }
}

fn req(id: &str, action: RefundAction, amount: Option<i64>, by: &str) -> RefundRequest {
    RefundRequest {
        refund_id: id.into(),
        action,
        amount_minor: amount,
        requested_by: by.into(),
        ..samples::refund_request()
    }
}

fn create(id: &str, amount: Option<i64>) -> RefundRequest {
    req(id, RefundAction::Create, amount, "key_maker")
}

/// Applies requests in order, keeping what they change; returns each step's status or refusal.
fn run(captured: i64, rules: Rules, requests: &[RefundRequest]) -> (Vec<String>, Vec<Refund>) {
    let mut refunds = Vec::new();
    let mut seen = Vec::new();
    for r in requests {
        match request(Some(payment(captured)), &refunds, r, rules) {
            Ok(c) => {
                seen.push(format!(
                    "{:?}{}",
                    c.refund.status,
                    c.reason
                        .map(|r| format!(" {}", r.code()))
                        .unwrap_or_default()
                ));
                refunds = with(&refunds, &c);
                check(&refunds, MinorUnits::new(captured), rules.refunds_max).unwrap();
            }
            Err(e) => seen.push(
                format!("refused {e:?}")
                    .split('(')
                    .next()
                    .unwrap_or("")
                    .to_owned(),
            ),
        }
    }
    (seen, refunds)
}

#[test]
fn requests_reserve_the_remainder_and_never_exceed_the_capture() {
    type Case<'a> = (&'a str, i64, Vec<RefundRequest>, Vec<&'a str>);
    let cases: Vec<Case<'_>> = vec![
        (
            "two of 60 against 100 (Hyperswitch #13182): the second fails",
            100,
            vec![create("r1", Some(60)), create("r2", Some(60))],
            vec![
                "Pending AWAITING_PROVIDER",
                "Failed AMOUNT_EXCEEDS_REFUNDABLE",
            ],
        ),
        (
            "no amount refunds the remainder, then nothing is left",
            100,
            vec![
                create("r1", Some(30)),
                create("r2", None),
                create("r3", None),
            ],
            vec![
                "Pending AWAITING_PROVIDER",
                "Pending AWAITING_PROVIDER",
                "Failed NOTHING_TO_REFUND",
            ],
        ),
        (
            "zero and negative amounts are invalid",
            100,
            vec![create("r1", Some(0)), create("r2", Some(-5))],
            vec!["Failed INVALID_AMOUNT", "Failed INVALID_AMOUNT"],
        ),
        (
            "the same refund id twice is a duplicate",
            100,
            vec![create("r1", Some(10)), create("r1", Some(10))],
            vec!["Pending AWAITING_PROVIDER", "refused Duplicate"],
        ),
        (
            "the bound counts every refund",
            100,
            vec![
                create("r1", Some(1)),
                create("r2", Some(1)),
                create("r3", Some(1)),
                create("r4", Some(1)),
                create("r5", Some(1)),
            ],
            vec![
                "Pending AWAITING_PROVIDER",
                "Pending AWAITING_PROVIDER",
                "Pending AWAITING_PROVIDER",
                "Pending AWAITING_PROVIDER",
                "Failed TOO_MANY_REFUNDS",
            ],
        ),
        (
            "approve, reject or cancel a refund that needs no approval is illegal",
            100,
            vec![
                create("r1", Some(10)),
                req("r1", RefundAction::Approve, None, "key_checker"),
                req("r1", RefundAction::Cancel, None, "key_maker"),
                req("r9", RefundAction::Reject, None, "key_checker"),
            ],
            vec![
                "Pending AWAITING_PROVIDER",
                "refused Illegal",
                "refused Illegal",
                "refused Illegal",
            ],
        ),
    ];
    for (name, captured, requests, want) in cases {
        let (seen, _) = run(captured, rules(), &requests);
        assert_eq!(seen, want, "{name}");
    }
}

#[test]
fn a_payment_not_captured_or_in_another_currency_is_not_refunded() {
    let r = create("r1", Some(10));
    let c = request(None, &[], &r, rules()).unwrap();
    assert_eq!(
        (c.refund.status, c.reason),
        (RefundStatus::Failed, Some(Reason::PaymentNotCaptured))
    );
    let c = request(Some(payment(0)), &[], &r, rules()).unwrap();
    assert_eq!(c.reason, Some(Reason::PaymentNotCaptured));
    let usd = RefundRequest {
        currency: "USD".into(),
        ..r
    };
    let c = request(Some(payment(100)), &[], &usd, rules()).unwrap();
    assert_eq!(c.reason, Some(Reason::CurrencyMismatch));
    assert!(!c.call_provider);
}

#[test]
fn approvals_need_a_second_key_and_release_on_reject() {
    let rules = Rules {
        refunds_max: 8,
        approval_from: Some(MinorUnits::new(50)),
    };
    let (seen, refunds) = run(
        100,
        rules,
        &[
            create("big", Some(80)),
            create("small", Some(30)),
            req("big", RefundAction::Approve, None, "key_maker"),
            req("big", RefundAction::Reject, None, "key_checker"),
            create("after", Some(30)),
            create("second", Some(60)),
            req("second", RefundAction::Approve, None, "key_checker"),
            req("second", RefundAction::Cancel, None, "key_maker"),
        ],
    );
    assert_eq!(
        seen,
        vec![
            "PendingApproval AWAITING_APPROVAL",
            "Failed AMOUNT_EXCEEDS_REFUNDABLE",
            "refused SameActor",
            "Rejected REJECTED_BY_APPROVER",
            "Pending AWAITING_PROVIDER",
            "PendingApproval AWAITING_APPROVAL",
            "Pending AWAITING_PROVIDER",
            "refused Illegal",
        ]
    );
    assert_eq!(held(&refunds).unwrap(), MinorUnits::new(90));
}

#[test]
fn provider_answers_settle_pending_refunds_once() {
    let (_, refunds) = run(
        100,
        rules(),
        &[create("r1", Some(40)), create("r2", Some(60))],
    );
    type Case<'a> = (
        &'a str,
        &'a str,
        ProviderOutcome,
        Result<(RefundStatus, i64), &'a str>,
    );
    let cases: [Case<'_>; 6] = [
        (
            "success",
            "r1",
            ProviderOutcome::Succeeded,
            Ok((RefundStatus::Succeeded, 100)),
        ),
        (
            "decline releases",
            "r1",
            ProviderOutcome::Declined,
            Ok((RefundStatus::Failed, 60)),
        ),
        (
            "failure releases",
            "r2",
            ProviderOutcome::Failed,
            Ok((RefundStatus::Failed, 40)),
        ),
        (
            "unknown keeps the reserve",
            "r2",
            ProviderOutcome::Unknown,
            Ok((RefundStatus::Pending, 100)),
        ),
        (
            "pending keeps the reserve",
            "r2",
            ProviderOutcome::Pending,
            Ok((RefundStatus::Pending, 100)),
        ),
        (
            "no such refund",
            "r7",
            ProviderOutcome::Succeeded,
            Err("Illegal"),
        ),
    ];
    for (name, id, outcome, want) in cases {
        let got = answer(&refunds, id, outcome, Some("rf_prov")).map(|c| {
            let after = with(&refunds, &c);
            (c.refund.status, held(&after).unwrap().get())
        });
        match (got, want) {
            (Ok(g), Ok(w)) => assert_eq!(g, w, "{name}"),
            (Err(e), Err(w)) => assert!(format!("{e:?}").starts_with(w), "{name}: {e:?}"),
            (g, w) => panic!("{name}: got {g:?}, want {w:?}"),
        }
    }
    let done = with(
        &refunds,
        &answer(&refunds, "r1", ProviderOutcome::Succeeded, None).unwrap(),
    );
    assert!(
        matches!(
            answer(&done, "r1", ProviderOutcome::Failed, None),
            Err(Refused::Duplicate(_))
        ),
        "a late failure never undoes a success"
    );
    let unknown = with(
        &refunds,
        &answer(&refunds, "r2", ProviderOutcome::Unknown, None).unwrap(),
    );
    assert!(matches!(
        answer(&unknown, "r2", ProviderOutcome::Unknown, None),
        Err(Refused::Duplicate(_))
    ));
}

#[test]
fn read_back_checks_catch_an_over_refund() {
    let (_, mut refunds) = run(100, rules(), &[create("r1", Some(60))]);
    let mut second = refunds[0].clone();
    second.refund_id = crate::domain::ids::RefundId::parse("r2").unwrap();
    refunds.push(second);
    assert!(check(&refunds, MinorUnits::new(100), 4)
        .unwrap_err()
        .contains("hold 120"));
    refunds[1].refund_id = crate::domain::ids::RefundId::parse("r1").unwrap();
    refunds[1].amount = MinorUnits::new(10);
    assert!(check(&refunds, MinorUnits::new(100), 4)
        .unwrap_err()
        .contains("share an id"));
}

proptest::proptest! {
    /// Any order of creates, approvals and provider answers: the refunds never hold more than was
    /// captured, and each refund's sequence only grows.
    #[test]
    fn no_sequence_of_signals_over_refunds(
        captured in 1i64..10_000,
        steps in proptest::collection::vec((0usize..6, 0usize..6, -10i64..6_000, 0usize..5), 1..60),
    ) {
        let rules = Rules { refunds_max: 8, approval_from: Some(MinorUnits::new(3_000)) };
        let mut refunds: Vec<Refund> = Vec::new();
        let outcomes = [ProviderOutcome::Succeeded, ProviderOutcome::Declined, ProviderOutcome::Pending,
            ProviderOutcome::Failed, ProviderOutcome::Unknown];
        let actions = [RefundAction::Create, RefundAction::Create, RefundAction::Approve,
            RefundAction::Reject, RefundAction::Cancel, RefundAction::Create];
        for (kind, id, amount, which) in steps {
            let id = format!("r{id}");
            let change = if kind < 4 {
                let by = if which % 2 == 0 { "key_a" } else { "key_b" };
                request(Some(payment(captured)), &refunds, &req(&id, actions[kind], Some(amount), by), rules)
            } else {
                answer(&refunds, &id, outcomes[which], None)
            };
            if let Ok(c) = change {
                let before = refunds.iter().find(|r| r.refund_id == c.refund.refund_id).map(|r| r.sequence);
                proptest::prop_assert!(before.is_none_or(|s| c.refund.sequence == s + 1));
                refunds = with(&refunds, &c);
                proptest::prop_assert!(check(&refunds, MinorUnits::new(captured), 8).is_ok(),
                    "{:?}", check(&refunds, MinorUnits::new(captured), 8));
            }
        }
    }
}
