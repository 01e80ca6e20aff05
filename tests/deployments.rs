//! One deployment, one namespace, on the real stack: two deployments with the same merchant ids on
//! one Kafka and one Cassandra keep their own balances, each equal to its own ledger; a balance that
//! differs from its ledger fails `paystream verify` and `paystream ledger audit` with both figures;
//! and a deployment whose keyspace and topics no longer belong together is refused at start.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the report

mod common;

use common::flow::{self, card, Flow};
use common::money::{assert_books, fund};
use paystream::commands::verify::{self, VerifyArgs};
use paystream::events::journal_entry::{Direction, JournalEntry, Movement, Posting};
use paystream::events::{Catalog, Codec, TimestampMillis};
use paystream::runtime::deployment::IDENTITY_TOPIC;
use rdkafka::admin::AdminOptions;
use rdkafka::producer::FutureRecord;
use std::process::Command;
use std::time::{Duration, Instant};

/// The demo merchant's available balance, read over the flow's own API.
async fn available(f: &Flow) -> i64 {
    f.get_path("/v1/balance").await["data"][0]["available"]
        .as_i64()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_deployments_on_one_cluster_keep_their_own_balances() {
    // Same merchant (m_demo), same cluster and Cassandra, different deployment names.
    let a = flow::start_named("dep_a", 0, None, |_| {}).await;
    let b = flow::start_named("dep_b", 0, None, |_| {}).await;
    assert_ne!(a.config.store.keyspace, b.config.store.keyspace);
    assert_ne!(a.topic("balances.changelog"), b.topic("balances.changelog"));
    let in_a = fund(&a, 3, 10_000).await;
    let in_b = fund(&b, 1, 5_000).await;
    // Each balance is its own ledger's payable, not the sum of both.
    assert_eq!(assert_books(&a).await, in_a);
    assert_eq!(assert_books(&b).await, in_b);
    assert!(in_a > in_b && in_b > 0, "{in_a} {in_b}");
    assert_eq!(available(&a).await, in_a);
    assert_eq!(available(&b).await, in_b);
    for f in [&a, &b] {
        let audit = paystream::commands::ledger::audit(&f.config).await.unwrap();
        assert!(audit.is_ok(), "{}", audit.render());
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_balance_that_differs_from_its_ledger_fails_verify_and_the_audit() {
    let f = flow::start(0).await;
    let id = f.create(card("tok_visa"), 10_000, false).await;
    f.wait_status(&id, "succeeded").await;
    let funded = assert_books(&f).await;
    let args = VerifyArgs {
        drain_timeout_s: 60,
        read_timeout_s: 60,
    };
    let before = verify::run(&f.config, &args).await.unwrap();
    assert!(before.is_ok(), "{}", before.render());

    // A movement the ledger never posted, as another deployment's ledger on a shared topic (or any
    // rogue producer) would write it: the balance takes it, the ledger does not have it.
    let rogue = JournalEntry {
        entry_id: "rogue:capture".into(),
        merchant_id: "m_demo".into(),
        payment_id: None,
        movement: Movement::Capture,
        currency: "INR".into(),
        postings: vec![
            Posting {
                account: "provider:acme:receivable".into(),
                direction: Direction::Debit,
                amount_minor: 845_719_602,
            },
            Posting {
                account: "merchant:m_demo:payable".into(),
                direction: Direction::Credit,
                amount_minor: 845_719_602,
            },
        ],
        cause_id: "rogue".into(),
        posted_at: TimestampMillis(paystream::domain::clock::now_millis()),
    };
    let codec = Codec::single_object(Catalog::bundled().unwrap());
    common::eos::producer(&f.config)
        .send(
            FutureRecord::to(&f.topic("balances.movements"))
                .key(&rogue.merchant_id)
                .payload(&codec.encode_sync(&rogue).unwrap()),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)
        .unwrap();
    let shown = funded + 845_719_602;
    let started = Instant::now();
    while available(&f).await != shown {
        assert!(started.elapsed() < Duration::from_secs(60), "never applied");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let after = verify::run(&f.config, &args).await.unwrap();
    assert!(!after.is_ok(), "{}", after.render());
    assert!(after.ledger_balanced, "the ledger itself still balances");
    let both = format!("balance available {shown} but ledger payable {funded}");
    assert!(after.render().contains(&both), "{}", after.render());
    // The operator's commands say the same and exit 1.
    for args in [
        &["verify", "--drain-timeout-s", "60"][..],
        &["ledger", "audit"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_paystream"))
            .args(args)
            .env_remove("PAYSTREAM_CONFIG")
            .env("PAYSTREAM__DEPLOYMENT__NAME", &f.config.deployment.name)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stdout}");
        assert!(stdout.contains(&both), "{args:?}: {stdout}");
    }
    f.stop().await;
}

/// `topology apply` for `config`, its error text if it failed.
async fn apply(config: &paystream::config::Config) -> Result<String, String> {
    paystream::commands::topology::apply(config)
        .await
        .map(|r| r.deployment_id)
        .map_err(|e| e.to_string())
}

/// Deletes the deployment's identity topic (as a Kafka reset would), then applies until `outcome`
/// picks something of the result: the deletion completes in the background, and until it has, the
/// topic is still there or cannot be made again.
async fn after_identity_deleted(
    config: &paystream::config::Config,
    outcome: impl Fn(&Result<String, String>) -> Option<String>,
) -> String {
    let admin = paystream::runtime::admin::admin_client(&config.kafka).unwrap();
    let identity = config.deployment.topic(IDENTITY_TOPIC);
    admin
        .delete_topics(&[&identity], &AdminOptions::new())
        .await
        .unwrap();
    let started = Instant::now();
    loop {
        let r = apply(config).await;
        if let Some(picked) = outcome(&r) {
            return picked;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{r:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyspace_and_topics_of_different_deployments_are_refused() {
    let config = common::config();
    let first = apply(&config).await.unwrap();
    assert_eq!(
        apply(&config).await.unwrap(),
        first,
        "a re-apply keeps the id"
    );

    // The keyspace dropped and made again while the topics (and their changelogs) stayed.
    common::drop_keyspace(&config).await;
    let session = paystream::store::Store::connect(&config.store)
        .await
        .unwrap();
    let topology =
        paystream::commands::process::topology_from(&config.topology.dir, &config.deployment)
            .unwrap();
    paystream::store::migrate::apply(
        &session,
        &config.store,
        &topology.keyspace,
        &topology.migrations,
    )
    .await
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_paystream"))
        .args(["process", "balances"])
        .env_remove("PAYSTREAM_CONFIG")
        .env("PAYSTREAM__DEPLOYMENT__NAME", &config.deployment.name)
        .env("PAYSTREAM__SERVICE__OPS_LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&first) && stderr.contains("has never seen") && stderr.contains("Fix:"),
        "{stderr}"
    );
    let refused = apply(&config).await.unwrap_err();
    assert!(refused.contains("has never seen"), "{refused}");

    // The other way round: a keyspace bound to topics whose identity is gone (Kafka reset).
    common::drop_keyspace(&config).await;
    let fresh = apply(&config.clone()).await;
    assert!(fresh.is_err(), "the topics still name the old deployment");
    let second = after_identity_deleted(&config, |r| r.as_ref().ok().cloned()).await;
    assert_ne!(
        second, first,
        "a fresh keyspace and identity topic make a new deployment"
    );
    let lost = after_identity_deleted(&config, |r| {
        r.as_ref()
            .err()
            .filter(|e| e.contains("holds no identity now"))
            .cloned()
    })
    .await;
    assert!(lost.contains(&second) && lost.contains("Fix:"), "{lost}");
    common::drop_keyspace(&config).await;
}
