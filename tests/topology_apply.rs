//! `topology apply` against the real broker: creates, is idempotent, grows partitions, refuses to shrink
//! and refuses to grow a topic co-partitioned with keyed state.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the report

mod common;

use paystream::runtime::admin::{apply_topics, ApplyError, TopicAction};
use paystream::topology::Topology;
use std::path::Path;

/// The repository topology in a deployment of the test's own, so the test owns its topics.
fn private_topology(config: &paystream::config::Config) -> Topology {
    Topology::load(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("topology"),
        &config.deployment,
    )
    .expect("topology")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_creates_then_is_idempotent_then_grows() {
    let config = common::config();
    let mut t = private_topology(&config);
    assert!(!t.topics.is_empty(), "the topology declares topics");
    let first = apply_topics(&t, &config.kafka).await.expect("apply");
    assert_eq!(first.len(), t.topics.len());
    assert!(
        first.iter().all(|(_, a)| *a == TopicAction::Created),
        "{first:?}"
    );

    let second = apply_topics(&t, &config.kafka).await.expect("re-apply");
    assert_eq!(
        second.len(),
        t.topics.len(),
        "every topic is reported again"
    );
    assert!(
        second.iter().all(|(_, a)| *a == TopicAction::Unchanged),
        "{second:?}"
    );

    // A topic no keyed state is co-partitioned with may grow (the events: fraud, views and the
    // ledger keep no keyed state).
    let events = t.topic_name("payments.events");
    let g = t.topics.iter().position(|x| x.name == events).unwrap();
    t.topics[g].partitions += 2;
    let grown = apply_topics(&t, &config.kafka).await.expect("grow");
    assert_eq!(grown.len(), t.topics.len());
    for (i, (_, action)) in grown.iter().enumerate() {
        let want = if i == g {
            TopicAction::PartitionsAdded { from: 6, to: 8 }
        } else {
            TopicAction::Unchanged
        };
        assert_eq!(*action, want, "{}", t.topics[i].name);
    }

    t.topics[g].partitions = 2;
    match apply_topics(&t, &config.kafka).await {
        Err(ApplyError::Topic { topic, problem }) => {
            assert_eq!(topic, events);
            assert!(
                problem.contains("cannot remove partitions") && problem.contains("partitions = 8"),
                "{problem}"
            );
        }
        other => panic!("shrinking must be refused, got {other:?}"),
    }
    t.topics[g].partitions = 8;

    // The payment processor's changelog, under the test's deployment's name: growing it would move
    // keys away from their state.
    let changelog = t.topic_name("payments.changelog");
    let at = t.topics.iter().position(|x| x.name == changelog).unwrap();
    t.topics[at].partitions += 1;
    match apply_topics(&t, &config.kafka).await {
        Err(ApplyError::Topic { topic, problem }) => {
            assert_eq!(topic, changelog);
            assert!(
                problem.contains("keyed state of processor 'payments'")
                    && problem.contains("keep partitions = 6"),
                "{problem}"
            );
        }
        other => panic!("growing a changelog must be refused, got {other:?}"),
    }
}
