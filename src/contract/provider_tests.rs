#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::events::samples;

fn request(
    op: ProviderOperation,
    status_of: Option<ProviderOperation>,
    key: &str,
    own: &str,
) -> ProviderRequest {
    ProviderRequest {
        operation: op,
        status_of,
        payment_id: key.into(),
        attempt_id: own.into(),
        subject: None,
        ..samples::provider_request()
    }
}

#[test]
fn a_request_written_before_v3_gets_the_subject_its_operation_names() {
    use ProviderOperation as Op;
    let attempt = Subject::attempt("pay_1", "pay_1_a1").unwrap();
    let refund = Subject::refund("pay_1", "rf_1").unwrap();
    let payout = Subject::payout("po_1").unwrap();
    let check = Subject::verification("ben_1", "ben_1_v1").unwrap();
    let cases = [
        (Op::Authorize, None, "pay_1", "pay_1_a1", &attempt),
        (Op::Capture, None, "pay_1", "pay_1_a1", &attempt),
        (Op::Void, None, "pay_1", "pay_1_a1", &attempt),
        (Op::Status, None, "pay_1", "pay_1_a1", &attempt),
        (Op::Refund, None, "pay_1", "rf_1", &refund),
        (Op::Status, Some(Op::Refund), "pay_1", "rf_1", &refund),
        (Op::Payout, None, "po_1", "po_1", &payout),
        // The payout processor's status checks never said what they looked up.
        (Op::Status, None, "po_1", "po_1", &payout),
        (Op::VerifyBeneficiary, None, "ben_1", "ben_1_v1", &check),
    ];
    for (op, status_of, key, own, want) in cases {
        let got = of_request(&request(op, status_of, key, own));
        assert_eq!(got.as_ref(), Ok(want), "{op:?} status of {status_of:?}");
    }
}

#[test]
fn a_v3_subject_round_trips_and_must_agree_with_the_older_fields() {
    for subject in [
        Subject::attempt("pay_1", "pay_1_a1").unwrap(),
        Subject::refund("pay_1", "rf_1").unwrap(),
        Subject::payout("po_1").unwrap(),
        Subject::verification("ben_1", "ben_1_v1").unwrap(),
    ] {
        assert_eq!(Subject::from_wire(&subject.to_wire()), Ok(subject.clone()));
    }
    let mut r = request(ProviderOperation::Refund, None, "pay_1", "rf_1");
    r.subject = Some(Subject::refund("pay_2", "rf_1").unwrap().to_wire());
    assert!(
        of_request(&r).unwrap_err().contains("disagrees"),
        "another payment"
    );
    r.subject = Some(Subject::refund("pay_1", "rf_1").unwrap().to_wire());
    assert_eq!(of_request(&r), Subject::refund("pay_1", "rf_1"));
}

#[test]
fn a_subject_the_operation_cannot_be_about_is_refused() {
    use ProviderOperation as Op;
    let cases = [
        (Op::Authorize, None, Subject::payout("po_1").unwrap()),
        (Op::Payout, None, Subject::refund("po_1", "po_1").unwrap()),
        (
            Op::Status,
            Some(Op::Refund),
            Subject::attempt("pay_1", "pay_1").unwrap(),
        ),
        (
            Op::VerifyBeneficiary,
            None,
            Subject::attempt("ben_1", "ben_1_v1").unwrap(),
        ),
    ];
    for (op, status_of, subject) in cases {
        let mut r = request(op, status_of, subject.key(), subject.own_id());
        r.subject = Some(subject.to_wire());
        let err = of_request(&r).unwrap_err();
        assert!(err.starts_with("operation:"), "{op:?}: {err}");
    }
}

#[test]
fn a_wire_subject_with_missing_foreign_or_bad_ids_is_refused() {
    let mut w = Subject::payout("po_1").unwrap().to_wire();
    w.payment_id = Some("pay_1".into());
    assert!(Subject::from_wire(&w).unwrap_err().contains("another kind"));
    let mut w = Subject::refund("pay_1", "rf_1").unwrap().to_wire();
    w.refund_id = None;
    assert_eq!(
        Subject::from_wire(&w),
        Err("subject: refund_id is missing".into())
    );
    let mut w = Subject::payout("po_1").unwrap().to_wire();
    w.payout_id = Some("po 1".into());
    assert!(Subject::from_wire(&w)
        .unwrap_err()
        .starts_with("subject.payout_id:"));
}

#[test]
fn a_response_operation_is_typed_or_parsed_and_both_must_agree() {
    use ProviderOperation as Op;
    let response = |string: &str, typed: Option<Op>| ProviderResponse {
        operation: string.into(),
        request_operation: typed,
        ..samples::provider_response()
    };
    let cases = [
        ("CAPTURE", Some(Op::Capture), Ok(Op::Capture)),
        ("CAPTURE", None, Ok(Op::Capture)),
        ("REFUND", Some(Op::Capture), Err("disagrees")),
        ("capture", None, Err("is not a ProviderOperation symbol")),
    ];
    for (string, typed, want) in cases {
        match (operation_of(&response(string, typed)), want) {
            (Ok(got), Ok(want)) => assert_eq!(got, want),
            (Err(got), Err(want)) => assert!(got.contains(want), "{got}"),
            (got, want) => panic!("{string} {typed:?}: {got:?}, wanted {want:?}"),
        }
    }
}

#[test]
fn a_webhook_before_v3_is_read_by_its_event_type() {
    let webhook = |event: &str, key: &str, own: Option<&str>| ProviderWebhook {
        event_type: event.into(),
        payment_id: key.into(),
        attempt_id: own.map(str::to_owned),
        subject: None,
        ..samples::provider_webhook()
    };
    let cases = [
        (
            "charge.succeeded",
            "pay_1",
            "pay_1_a1",
            Subject::attempt("pay_1", "pay_1_a1"),
        ),
        (
            "txn.update",
            "pay_1",
            "pay_1_a1",
            Subject::attempt("pay_1", "pay_1_a1"),
        ),
        (
            "refund.update",
            "pay_1",
            "rf_1",
            Subject::refund("pay_1", "rf_1"),
        ),
        ("transfer.reversed", "po_1", "po_1", Subject::payout("po_1")),
    ];
    for (event, key, own, want) in cases {
        assert_eq!(of_webhook(&webhook(event, key, Some(own))), want, "{event}");
    }
    assert!(of_webhook(&webhook("charge.succeeded", "pay_1", None))
        .unwrap_err()
        .starts_with("attempt_id:"));
}

#[test]
fn a_processor_refuses_a_subject_it_does_not_own() {
    let payout = Subject::payout("po_1").unwrap();
    assert!(expect_kind(&payout, &[ProviderSubjectKind::Payout], "payouts").is_ok());
    let err = expect_kind(&payout, &[ProviderSubjectKind::Refund], "payments").unwrap_err();
    assert!(err.contains("not the owner of a Payout (po_1)"), "{err}");
}

/// A codec that writes `stem` with its released v2 schema, as a producer from before v3 did.
fn v2_writer(stem: &str, v1: &str, v2: &str) -> crate::events::Codec {
    let sources = vec![
        (format!("{stem}.avsc"), v2.to_owned()),
        (format!("released/{stem}/v1.avsc"), v1.to_owned()),
        (format!("released/{stem}/v2.avsc"), v2.to_owned()),
    ];
    let catalog = crate::events::Catalog::from_sources(sources).unwrap();
    crate::events::Codec::single_object(std::sync::Arc::new(catalog))
}

macro_rules! released {
    ($stem:literal, $v:literal) => {
        include_str!(concat!("../../schemas/released/", $stem, "/", $v, ".avsc"))
    };
}

/// Schema evolution of the three provider messages (v3: a typed subject, a typed operation on
/// responses): records written with the released v2 schemas decode with the current ones, with no
/// subject, and get the subject they always meant; v3 records keep theirs.
#[test]
fn provider_messages_written_with_v2_decode_and_get_their_subject() {
    let reader = crate::events::Codec::single_object(crate::events::Catalog::bundled().unwrap());
    let req_v2 = v2_writer(
        "provider_request",
        released!("provider_request", "v1"),
        released!("provider_request", "v2"),
    );
    let mut payout = request(ProviderOperation::Payout, None, "po_1", "po_1");
    payout.subject = Some(Subject::payout("po_1").unwrap().to_wire());
    let old: ProviderRequest = reader
        .decode_sync(&req_v2.encode_sync(&payout).unwrap())
        .unwrap();
    assert_eq!(old.subject, None, "a v2 writer has no subject");
    assert_eq!(of_request(&old), Subject::payout("po_1"));
    let new: ProviderRequest = reader
        .decode_sync(&reader.encode_sync(&payout).unwrap())
        .unwrap();
    assert_eq!(new, payout, "v3 round trip");

    let resp_v2 = v2_writer(
        "provider_response",
        released!("provider_response", "v1"),
        released!("provider_response", "v2"),
    );
    let refund = ProviderResponse {
        payment_id: "pay_1".into(),
        attempt_id: "rf_1".into(),
        operation: "REFUND".into(),
        request_operation: Some(ProviderOperation::Refund),
        subject: Some(Subject::refund("pay_1", "rf_1").unwrap().to_wire()),
        ..samples::provider_response()
    };
    let old: ProviderResponse = reader
        .decode_sync(&resp_v2.encode_sync(&refund).unwrap())
        .unwrap();
    assert_eq!((old.subject.as_ref(), old.request_operation), (None, None));
    let read = Answer::read(old).unwrap();
    assert_eq!(
        (read.operation, Ok(read.subject)),
        (ProviderOperation::Refund, Subject::refund("pay_1", "rf_1"))
    );
    let new: ProviderResponse = reader
        .decode_sync(&reader.encode_sync(&refund).unwrap())
        .unwrap();
    assert_eq!(new, refund, "v3 round trip");

    let hook_v2 = v2_writer(
        "provider_webhook",
        released!("provider_webhook", "v1"),
        released!("provider_webhook", "v2"),
    );
    let transfer = ProviderWebhook {
        payment_id: "po_1".into(),
        attempt_id: Some("po_1".into()),
        event_type: "transfer.processed".into(),
        subject: Some(Subject::payout("po_1").unwrap().to_wire()),
        ..samples::provider_webhook()
    };
    let old: ProviderWebhook = reader
        .decode_sync(&hook_v2.encode_sync(&transfer).unwrap())
        .unwrap();
    assert_eq!(old.subject, None);
    assert_eq!(
        Notice::read(old).map(|n| n.subject),
        Subject::payout("po_1")
    );
    let new: ProviderWebhook = reader
        .decode_sync(&reader.encode_sync(&transfer).unwrap())
        .unwrap();
    assert_eq!(new, transfer, "v3 round trip");
}
