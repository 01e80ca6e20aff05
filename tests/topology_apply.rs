//! `topology apply` against the real broker: creates, is idempotent, grows partitions, refuses to shrink
//! and refuses to grow a topic co-partitioned with keyed state.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the report

mod common;

use paystream::runtime::admin::{apply_topics, ApplyError, TopicAction};
use paystream::topology::Topology;
use std::path::Path;

/// The repository topology with every topic renamed, so the test owns its topics.
fn private_topology(prefix: &str) -> Topology {
    let mut t =
        Topology::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("topology")).expect("topology");
    for topic in &mut t.topics {
        topic.name = format!("{prefix}.{}", topic.name);
        topic.dead_letter = topic.dead_letter.as_ref().map(|d| format!("{prefix}.{d}"));
    }
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_creates_then_is_idempotent_then_grows() {
    let config = common::config();
    let mut t = private_topology(&common::unique("it"));
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

    t.topics[0].partitions += 2;
    let grown = apply_topics(&t, &config.kafka).await.expect("grow");
    assert_eq!(grown[0].1, TopicAction::PartitionsAdded { from: 6, to: 8 });
    assert_eq!(grown.len(), t.topics.len());
    assert!(grown[1..].iter().all(|(_, a)| *a == TopicAction::Unchanged));

    t.topics[0].partitions = 2;
    match apply_topics(&t, &config.kafka).await {
        Err(ApplyError::Topic { topic, problem }) => {
            assert_eq!(topic, t.topics[0].name);
            assert!(
                problem.contains("cannot remove partitions") && problem.contains("partitions = 8"),
                "{problem}"
            );
        }
        other => panic!("shrinking must be refused, got {other:?}"),
    }
    t.topics[0].partitions = 8;

    // The payment processor's changelog and inputs, under the test's names: growing one would move
    // keys away from their state.
    let prefixed = |name: &str| {
        t.topics
            .iter()
            .find(|x| x.name.ends_with(&format!(".{name}")))
            .map(|x| x.name.clone())
            .unwrap()
    };
    let changelog = prefixed("payments.changelog");
    let payments = t
        .processors
        .iter()
        .position(|p| p.name == "payments")
        .unwrap();
    let inputs: Vec<String> = t.processors[payments]
        .inputs
        .iter()
        .map(|i| prefixed(i))
        .collect();
    t.processors[payments].inputs = inputs;
    t.processors[payments].changelog = Some(changelog.clone());
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
