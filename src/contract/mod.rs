//! The typed contract between the wire (`events/`, the Avro structs) and everything above it: one
//! module per entity, each owning what every reader and writer of that entity must agree on. This is
//! where the names the ledger writes and the balances read are spelled, once.
//!
//! So far: ledger accounts (`ledger_account`) and what a provider message is about and asks
//! (`provider`). The other entities (payment, refund, payout, beneficiary, balance, batch) join as
//! they move out of the processors (issue 19).

pub mod ledger_account;
pub mod provider;
