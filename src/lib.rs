//! paystream: payment processing as Kafka-native, exactly-once stream processors.
//!
//! The layout is the architecture: `events` (one type per Avro schema, and the codec), `topology`
//! (topics, processors and keyspace as data), `store` (ScyllaDB/Cassandra access), `runtime`
//! (service lifecycle, Kafka clients, and the consume-transform-produce loop), `processors` (pure
//! logic per processor), `connectors` (provider adapters: build a request, parse an answer), `bridge`
//! (HTTP: REST API, webhooks, ops endpoints), `sandbox` (the simulated PSP), `metrics`, `config`,
//! `domain` (money, ids), and `commands` (what each CLI subcommand does).
//! `main.rs` only wires them together.

pub mod bridge;
pub mod commands;
pub mod config;
pub mod connectors;
pub mod domain;
pub mod events;
pub mod metrics;
pub mod processors;
pub mod runtime;
pub mod sandbox;
pub mod store;
pub mod topology;
