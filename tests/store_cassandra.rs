//! The store against the real Cassandra: keyspace and migrations, idempotent writes, read-back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the report

mod common;

use paystream::events::payment_event::{IntentStatus, PaymentEvent};
use paystream::events::TimestampMillis;
use paystream::processors::views;
use paystream::store::migrate::{self, MigrationAction};
use paystream::store::payments::PaymentsTable;
use paystream::store::writer::StoreWriter;
use paystream::store::{Store, StoreError};
use paystream::topology::Topology;
use std::path::Path;

fn topology() -> Topology {
    Topology::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("topology"),
        &Default::default(),
    )
    .expect("topology")
}

fn event(seq: i64) -> PaymentEvent {
    PaymentEvent {
        event_id: format!("evt_{seq}"),
        payment_id: "pay_store_1".into(),
        merchant_id: "m_1".into(),
        sequence: seq,
        status: IntentStatus::RequiresConfirmation,
        previous_status: None,
        attempt_id: None,
        attempt_status: None,
        amount_minor: 10_050,
        amount_captured_minor: 0,
        currency: "INR".into(),
        connector: Some("razorsim".into()),
        reason_code: None,
        reason: None,
        cause_id: "cmd_1".into(),
        occurred_at: TimestampMillis(1_763_942_400_000),
        provider_fee_minor: None,
        risk: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_apply_once_and_rerun_changes_nothing() {
    let config = common::config();
    let t = topology();
    assert!(!t.migrations.is_empty(), "the topology declares migrations");
    let session = Store::connect(&config.store).await.expect("connect");
    let first = migrate::apply(&session, &config.store, &t.keyspace, &t.migrations)
        .await
        .expect("apply");
    assert!(
        first.iter().all(|(_, a)| *a == MigrationAction::Applied),
        "{first:?}"
    );
    assert_eq!(first.len(), t.migrations.len());
    let second = migrate::apply(&session, &config.store, &t.keyspace, &t.migrations)
        .await
        .expect("re-apply");
    assert_eq!(
        second.len(),
        t.migrations.len(),
        "every migration is reported again"
    );
    assert!(
        second
            .iter()
            .all(|(_, a)| *a == MigrationAction::AlreadyApplied),
        "{second:?}"
    );

    let tables = session
        .query_unpaged(
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = ?",
            (config.store.keyspace.as_str(),),
        )
        .await
        .expect("tables")
        .into_rows_result()
        .expect("rows");
    let names: Vec<String> = tables
        .rows::<(String,)>()
        .expect("typed")
        .map(|r| r.expect("row").0)
        .collect();
    for want in ["payments", "payments_by_merchant", "schema_migrations"] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }

    // An applied migration whose file changed is refused, naming the file and the fix.
    let mut changed = t.migrations.clone();
    changed[0].checksum = "0".repeat(64);
    match migrate::apply(&session, &config.store, &t.keyspace, &changed).await {
        Err(StoreError::Migration { file, fix, .. }) => {
            assert!(file.ends_with("0001_core.cql"), "{file}");
            assert!(fix.contains("new migration"), "{fix}");
        }
        other => panic!("expected a migration error, got {other:?}"),
    }
    common::drop_keyspace(&config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payment_row_is_read_back_and_a_replay_leaves_it_identical() {
    let config = common::config();
    let t = topology();
    let session = Store::connect(&config.store).await.expect("connect");
    migrate::apply(&session, &config.store, &t.keyspace, &t.migrations)
        .await
        .expect("apply");
    let store = Store::open(&config.store).await.expect("open");
    let table = PaymentsTable::prepare(&store).await.expect("prepare");

    assert_eq!(table.get("pay_store_1").await.expect("get"), None);
    table.upsert(&event(1)).await.expect("upsert");
    let first = table.get("pay_store_1").await.expect("get").expect("row");
    assert_eq!(
        (
            first.sequence,
            first.amount_minor,
            first.currency.as_str(),
            first.status.as_str()
        ),
        (1, 10_050, "INR", "REQUIRES_CONFIRMATION")
    );

    table.upsert(&event(1)).await.expect("replayed upsert");
    assert_eq!(
        table.get("pay_store_1").await.expect("get").expect("row"),
        first,
        "a replay must not change the row"
    );

    // The payment processor's own path: its store write through the writer. A newer event moves the
    // row on; an older one replayed after it (a crash, a rewind) leaves it where it is.
    let writer = StoreWriter::new(store.clone());
    let mut newer = event(3);
    newer.status = IntentStatus::Succeeded;
    newer.amount_captured_minor = 10_050;
    writer
        .execute(&views::rows::payment_row(&newer))
        .await
        .expect("newer");
    writer
        .execute(&views::rows::payment_row(&event(2)))
        .await
        .expect("older, replayed after");
    table
        .upsert(&event(1))
        .await
        .expect("oldest, by the other path");
    let row = table.get("pay_store_1").await.expect("get").expect("row");
    assert_eq!(
        (row.sequence, row.status.as_str(), row.amount_captured_minor),
        (3, "SUCCEEDED", 10_050),
        "an older event never takes the row back"
    );

    let count = store
        .session()
        .query_unpaged(
            format!("SELECT COUNT(*) FROM {}", store.table("payments")),
            (),
        )
        .await
        .expect("count")
        .into_rows_result()
        .expect("rows")
        .single_row::<(i64,)>()
        .expect("one row")
        .0;
    assert_eq!(count, 1);
    common::drop_keyspace(&config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_a_missing_keyspace_says_how_to_fix_it() {
    let config = common::config();
    let err = Store::open(&config.store)
        .await
        .err()
        .expect("keyspace does not exist yet");
    let msg = err.to_string();
    assert!(
        msg.contains(&config.store.keyspace) && msg.contains("paystream topology apply"),
        "{msg}"
    );
}
