//! Shared helpers for integration tests. They run against the real local stack (`scripts/stack up`):
//! Kafka on 127.0.0.1:9092 and Cassandra on 127.0.0.1:9042, or whatever `PAYSTREAM__*` says.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the report
#![allow(dead_code)]

use paystream::config::Config;
use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
use std::net::TcpStream;
use std::time::Duration;

/// The config the stack answers to, with a keyspace of the test's own so tests never share tables.
pub fn config() -> Config {
    let mut c = Config::load(None).expect("test config");
    c.store.keyspace = unique("it").replace('-', "_");
    require_stack(&c);
    c
}

/// Fails loudly (never skips) when the stack is down: these tests exist to run against it.
pub fn require_stack(c: &Config) {
    for addr in [
        c.kafka
            .bootstrap_servers
            .split(',')
            .next()
            .unwrap_or_default(),
        c.store.contact_points[0].as_str(),
    ] {
        if TcpStream::connect_timeout(&addr.parse().expect("host:port"), Duration::from_secs(2))
            .is_err()
        {
            panic!("integration tests need the local stack, but nothing answers on {addr}: run `scripts/stack up`");
        }
    }
}

pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

pub async fn create_topic(c: &Config, name: &str, partitions: i32) {
    let admin = paystream::topology::apply::admin_client(&c.kafka).expect("admin client");
    let results = admin
        .create_topics(
            [&NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .expect("create topic");
    for r in results {
        r.expect("topic created");
    }
}

/// Best-effort: a keyspace per test would otherwise accumulate across runs of one stack.
pub async fn drop_keyspace(c: &Config) {
    if let Ok(session) = paystream::store::Store::connect(&c.store).await {
        let _ = session
            .query_unpaged(format!("DROP KEYSPACE IF EXISTS {}", c.store.keyspace), ())
            .await;
    }
}
