//! Refunds through the payment processor: reservation, the provider call, answers, the status ladder.
//!
//! Test code: the parent module declares this file under #[cfg(test)].

use super::*;
use crate::events::refund::{RefundAction, RefundRequest, RefundStatus};

fn captured(h: &mut Harness, id: &str) -> ProviderRequest {
    h.apply(command(PaymentCommandKind::Create, id));
    h.apply(command(PaymentCommandKind::Confirm, id));
    let req = h.apply(allow(id)).requests[0].clone();
    let mut answer = response(&req, ProviderOutcome::Succeeded, None);
    if let Input::Response(r) = &mut answer {
        r.response.provider_reference = Some("ch_42".into());
    }
    assert_eq!(h.apply(answer).events[0].status, IntentStatus::Succeeded);
    req
}

fn refund(payment: &str, id: &str, amount: Option<i64>) -> Input {
    Input::Refund(RefundRequest {
        refund_id: id.into(),
        payment_id: payment.into(),
        merchant_id: "m_demo".into(),
        amount_minor: amount,
        currency: "INR".into(),
        action: RefundAction::Create,
        ..samples::refund_request()
    })
}

fn refund_answer(req: &ProviderRequest, outcome: ProviderOutcome, op: ProviderOperation) -> Input {
    let mut r = response(req, outcome, None);
    if let Input::Response(x) = &mut r {
        x.operation = op;
    }
    r
}

#[test]
fn refunds_reserve_call_the_provider_and_never_exceed_the_capture() {
    let mut h = Harness::new();
    let merchant = match command(PaymentCommandKind::Create, "x") {
        Input::Command(c) => c.merchant_id,
        _ => unreachable!(),
    };
    let with_merchant = |i: Input| match i {
        Input::Refund(mut r) => {
            r.merchant_id = merchant.clone();
            Input::Refund(r)
        }
        other => other,
    };
    captured(&mut h, "pr1");
    let first = h.apply(with_merchant(refund("pr1", "re_1", Some(6_000))));
    assert_eq!(first.refunds[0].status, RefundStatus::Pending);
    assert_eq!(first.refunds[0].payment_refunded_minor, 6_000);
    let call = &first.requests[0];
    assert_eq!(
        (call.operation, call.attempt_id.as_str()),
        (ProviderOperation::Refund, "re_1")
    );
    assert_eq!(
        call.provider_reference.as_deref(),
        Some("ch_42"),
        "the charge is named by the provider's id"
    );
    let second = h.apply(with_merchant(refund("pr1", "re_2", Some(6_000))));
    assert_eq!(second.refunds[0].status, RefundStatus::Failed);
    assert_eq!(
        second.refunds[0].reason_code.as_deref(),
        Some("AMOUNT_EXCEEDS_REFUNDABLE")
    );
    assert!(
        second.requests.is_empty(),
        "nothing reserved, no provider call"
    );
    let dup = h.apply(with_merchant(refund("pr1", "re_1", Some(1))));
    assert_eq!(dup.rejections[0].reason_code, "DUPLICATE_SIGNAL");

    // A failure releases the reserve: the remainder can be refunded again.
    let failed = h.apply(refund_answer(
        call,
        ProviderOutcome::Failed,
        ProviderOperation::Refund,
    ));
    assert_eq!(failed.refunds[0].status, RefundStatus::Failed);
    assert_eq!(failed.refunds[0].payment_refunded_minor, 0);
    let all = h.apply(with_merchant(refund("pr1", "re_3", None)));
    assert_eq!(
        (all.refunds[0].status, all.refunds[0].amount_minor),
        (RefundStatus::Pending, 10_000)
    );
    let wrong = h.apply(refund("pr1", "re_4", Some(1)));
    assert_eq!(
        wrong.rejections[0].reason_code, "ILLEGAL_TRANSITION",
        "another merchant's payment"
    );
}

#[test]
fn an_unknown_refund_is_checked_on_the_ladder_and_keeps_its_reserve() {
    let mut h = Harness::new();
    captured(&mut h, "pr2");
    let merchant = h
        .view
        .payments
        .get("pr2")
        .unwrap()
        .machine
        .merchant_id
        .to_string();
    let mut create = refund("pr2", "re_9", Some(2_500));
    if let Input::Refund(r) = &mut create {
        r.merchant_id = merchant;
    }
    let call = h.apply(create).requests[0].clone();
    let unknown = h.apply(refund_answer(
        &call,
        ProviderOutcome::Unknown,
        ProviderOperation::Refund,
    ));
    assert_eq!(
        unknown.refunds[0].reason_code.as_deref(),
        Some("OUTCOME_UNKNOWN")
    );
    assert_eq!(
        unknown.refunds[0].payment_refunded_minor, 2_500,
        "the reserve stays"
    );
    let immediate = &unknown.requests[0];
    assert_eq!(immediate.status_of, Some(ProviderOperation::Refund));
    assert_eq!(h.kinds("pr2"), vec![refunds::REFUND_STATUS]);
    let ladder = h.p.config.status_check_ladder_ms.len();
    for n in 1..=ladder {
        let rung = h.fire("pr2", refunds::REFUND_STATUS);
        assert_eq!(rung.requests[0].request_id, format!("re_9_status{n}"));
        assert!(rung.refunds.is_empty());
    }
    let unresolved = h.fire("pr2", refunds::REFUND_STATUS);
    assert_eq!(
        unresolved.refunds[0].reason_code.as_deref(),
        Some("STATUS_UNRESOLVED")
    );
    assert_eq!(unresolved.refunds[0].status, RefundStatus::Pending);
    assert!(h.kinds("pr2").is_empty());
    // A late webhook still settles it.
    let done = h.apply(refund_answer(
        &call,
        ProviderOutcome::Succeeded,
        ProviderOperation::Status,
    ));
    assert_eq!(done.refunds[0].status, RefundStatus::Succeeded);
    assert_eq!(done.refunds[0].payment_refunded_minor, 2_500);
}
