//! paystream: payment processing as Kafka-native, exactly-once stream processors.
//!
//! The layout is the architecture. The modules below are declared in layer order, bottom first: a
//! module uses only those declared before it (`tests/layers.rs` checks every `crate::` path), and no
//! processor uses a sibling processor. `main.rs` only wires the top.

// Money, ids, the clock, the card-number detector, configuration problems.
pub mod domain;

// Metric names and their descriptions, in one place.
pub mod metrics;

// One type per Avro schema, the codec, the schema catalog and registry client.
pub mod events;

// The typed contract above the wire structs: one module per entity (so far, ledger accounts).
pub mod contract;

// Topics, processors and the keyspace as data: load, check, graph.
pub mod topology;

// ScyllaDB/Cassandra access: sessions, migrations, tables, idempotent writes.
pub mod store;

// Provider adapters (build a request, parse an answer), their HTTP transport, webhook signatures.
pub mod connectors;

// Pure logic, one folder per processor, each owning its configuration; `routing` and `state` are
// shared pieces, not processors.
pub mod processors;

// The exactly-once loop, Kafka clients and admin, dead letters, process lifecycle, ops endpoints.
pub mod runtime;

// HTTP: the merchant REST API and provider webhooks.
pub mod bridge;

// The simulated PSP the connectors talk to in the demo and the tests.
pub mod sandbox;

// The one configuration: composes every component's section, loads and validates it.
pub mod config;

// What each CLI subcommand does.
pub mod commands;
