//! The ledger on the real stack: payment lifecycles through the `ledger` processor, then the audit
//! re-sums everything from Cassandra; a full replay changes nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::too_many_arguments
)] // test code: a failed expectation is the report

mod common;

use common::eos;
use paystream::events::payment_event::{AttemptStatus as A, IntentStatus as I, PaymentEvent};
use paystream::events::{JournalEntry, TimestampMillis};
use paystream::processors::ledger::Ledger;
use paystream::store::ledger::audit;
use paystream::store::Store;
use std::process::Command;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn event(
    payment: &str,
    seq: i64,
    status: I,
    prev: Option<I>,
    attempt: Option<A>,
    amount: i64,
    captured: i64,
    currency: &str,
) -> PaymentEvent {
    PaymentEvent {
        event_id: format!("{payment}:{seq}"),
        payment_id: payment.into(),
        merchant_id: "m_1".into(),
        sequence: seq,
        status,
        previous_status: prev,
        attempt_id: attempt.map(|_| format!("{payment}:att")),
        attempt_status: attempt,
        amount_minor: amount,
        amount_captured_minor: captured,
        currency: currency.into(),
        connector: Some("psp_a".into()),
        reason_code: None,
        reason: None,
        cause_id: format!("cause:{payment}:{seq}"),
        occurred_at: TimestampMillis(1_763_942_400_000 + seq),
        provider_fee_minor: None,
        risk: None,
    }
}

fn lifecycles() -> Vec<PaymentEvent> {
    vec![
        // Automatic capture.
        event(
            "pay_auto",
            1,
            I::RequiresConfirmation,
            None,
            None,
            25_000,
            0,
            "INR",
        ),
        event(
            "pay_auto",
            2,
            I::Processing,
            Some(I::RequiresConfirmation),
            Some(A::Started),
            25_000,
            0,
            "INR",
        ),
        event(
            "pay_auto",
            3,
            I::Succeeded,
            Some(I::Processing),
            Some(A::Captured),
            25_000,
            25_000,
            "INR",
        ),
        // Manual capture of 4 000 of 10 000.
        event(
            "pay_partial",
            1,
            I::Processing,
            Some(I::RequiresConfirmation),
            Some(A::Started),
            10_000,
            0,
            "INR",
        ),
        event(
            "pay_partial",
            2,
            I::RequiresCapture,
            Some(I::Processing),
            Some(A::Authorized),
            10_000,
            0,
            "INR",
        ),
        event(
            "pay_partial",
            3,
            I::Succeeded,
            Some(I::RequiresCapture),
            Some(A::Captured),
            10_000,
            4_000,
            "INR",
        ),
        // Authorized, then canceled: the hold is released.
        event(
            "pay_void",
            1,
            I::RequiresCapture,
            Some(I::Processing),
            Some(A::Authorized),
            7_000,
            0,
            "USD",
        ),
        event(
            "pay_void",
            2,
            I::Canceled,
            Some(I::RequiresCapture),
            Some(A::Voided),
            7_000,
            0,
            "USD",
        ),
        // Declined: no money moves.
        event(
            "pay_declined",
            1,
            I::Failed,
            Some(I::Processing),
            Some(A::Declined),
            3_000,
            0,
            "INR",
        ),
        // Not an ISO 4217 currency: cannot be posted, so dead-lettered with the reason.
        event(
            "pay_bad",
            1,
            I::Succeeded,
            Some(I::Processing),
            Some(A::Captured),
            100,
            100,
            "XYZ",
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycles_post_a_balanced_ledger_and_a_replay_changes_nothing() {
    let mut setup = eos::setup_for(
        "ledger",
        "io.paystream.payments.PaymentEvent",
        "io.paystream.ledger.JournalEntry",
        3,
    )
    .await;
    let events = lifecycles();
    let records: Vec<(String, Vec<u8>)> = events
        .iter()
        .map(|e| (e.payment_id.clone(), setup.codec.encode_sync(e).unwrap()))
        .collect();
    eos::produce(&setup, &records).await;

    let stop = CancellationToken::new();
    let task = eos::spawn_processor(
        &setup,
        Ledger::new(
            &setup.output,
            &format!("{}.movements", setup.output.trim_end_matches(".out")),
        ),
        "0",
        stop.clone(),
    )
    .await;
    let out = eos::read_committed(
        &setup.config,
        &setup.output,
        6,
        Duration::from_secs(60),
        Duration::from_secs(2),
    )
    .await;
    let dead = eos::read_committed(
        &setup.config,
        &setup.dlq,
        1,
        Duration::from_secs(20),
        Duration::from_secs(1),
    )
    .await;
    stop.cancel();
    task.await.unwrap().unwrap();

    let mut ids: Vec<String> = out
        .iter()
        .map(|b| setup.codec.decode_sync::<JournalEntry>(b).unwrap().entry_id)
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            "pay_auto:3:capture",
            "pay_partial:2:hold",
            "pay_partial:3:capture",
            "pay_partial:3:release",
            "pay_void:1:hold",
            "pay_void:2:release"
        ]
    );
    let dead = eos::dead_letters(&setup.codec, &dead);
    assert_eq!(dead.len(), 1);
    assert!(
        dead[0].error_message.contains("XYZ"),
        "{}",
        dead[0].error_message
    );

    let store = Store::open(&setup.config.store).await.unwrap();
    let report = audit(&store).await.unwrap();
    assert!(report.is_balanced(), "{}", report.render());
    assert_eq!((report.entries, report.postings), (6, 12));
    assert_eq!(
        report.totals["INR"],
        (
            25_000 + 10_000 + 4_000 + 10_000,
            25_000 + 10_000 + 4_000 + 10_000
        )
    );
    let balance = |account: &str, cur: &str| {
        report
            .balances
            .get(&(account.to_owned(), cur.to_owned()))
            .copied()
            .unwrap_or(0)
    };
    assert_eq!(balance("provider:psp_a:receivable", "INR"), 29_000);
    assert_eq!(balance("merchant:m_1:payable", "INR"), -29_000);
    assert_eq!(
        balance("holds:provider:psp_a", "INR"),
        0,
        "every hold is released"
    );
    assert_eq!(balance("holds:provider:psp_a", "USD"), 0);
    assert_eq!(
        report.balances.len(),
        2,
        "only receivable and payable are open: {}",
        report.render()
    );

    // Replay every event through a second consumer group: the same entry ids, the same rows.
    eos::switch_group(&mut setup, "replay");
    let stop = CancellationToken::new();
    let task = eos::spawn_processor(
        &setup,
        Ledger::new(
            &setup.output,
            &format!("{}.movements", setup.output.trim_end_matches(".out")),
        ),
        "replay",
        stop.clone(),
    )
    .await;
    let out = eos::read_committed(
        &setup.config,
        &setup.output,
        12,
        Duration::from_secs(60),
        Duration::from_secs(2),
    )
    .await;
    stop.cancel();
    task.await.unwrap().unwrap();
    assert_eq!(out.len(), 12);
    assert_eq!(
        audit(&store).await.unwrap(),
        report,
        "a replay must leave the ledger as it was"
    );

    // The operator's view of the same check.
    let cli = Command::new(env!("CARGO_BIN_EXE_paystream"))
        .args(["ledger", "audit"])
        .env_remove("PAYSTREAM_CONFIG")
        .env("PAYSTREAM__DEPLOYMENT__NAME", &setup.config.deployment.name)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&cli.stdout);
    // The ledger balances; the merchant's balance, which no balances processor kept here, does not
    // equal it, and the audit says so with both figures and fails.
    assert!(
        !cli.status.success()
            && stdout.contains("6 entries, 12 postings")
            && stdout.contains("result: balanced\n")
            && stdout.contains("MISMATCH")
            && stdout.contains("balance available 0 but ledger payable")
            && stdout.ends_with("result: BALANCES DIFFER FROM THE LEDGER\n"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    common::drop_keyspace(&setup.config).await;
}
