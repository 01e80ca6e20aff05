//! The released formats of every stateful processor's keyed state. A processor's state is JSON inside
//! the Avro `KeyedState` envelope, so the schema check does not see it; these tests do. Each
//! processor's released formats are frozen in `state_formats/<processor>/v<N>.json` (the first ones
//! taken from a real run's changelogs), and two rules hold, as for the Avro schemas:
//! - every released format restores with the current code (a deployment's changelog holds records
//!   of every version it ran);
//! - the current code writes the latest released format exactly (a change to a state's fields
//!   fails here until it is frozen as the next version, and then the rule above keeps the old ones
//!   restorable).

use super::balances::book::Book;
use super::beneficiaries::machine::Beneficiary;
use super::payments::Stored;
use super::payouts::machine::Payout;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// `released`: every frozen version, oldest first.
fn check<S: Serialize + DeserializeOwned>(processor: &str, released: &[&str]) {
    let mut latest = None;
    for (i, text) in released.iter().enumerate() {
        let version = i + 1;
        let state: S = serde_json::from_str(text).unwrap_or_else(|e| {
            panic!("state_formats/{processor}/v{version}.json no longer restores: {e}. A changelog written by that version would stop the processor: keep the field readable (a serde default, an alias)")
        });
        latest = Some((version, state, text));
    }
    let (version, state, text) = latest.expect("at least one released format");
    let written = serde_json::to_value(&state).unwrap();
    let frozen: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(
        written,
        frozen,
        "the {processor} state format changed since state_formats/{processor}/v{version}.json: if intended, freeze a state in the new format as v{}.json (and keep v{version} restorable)",
        version + 1
    );
}

#[test]
fn payment_states_of_every_released_format_restore() {
    check::<Stored>(
        "payments",
        &[include_str!("state_formats/payments/v1.json")],
    );
}

#[test]
fn beneficiary_states_of_every_released_format_restore() {
    check::<Beneficiary>(
        "beneficiaries",
        &[include_str!("state_formats/beneficiaries/v1.json")],
    );
}

#[test]
fn payout_states_of_every_released_format_restore() {
    check::<Payout>("payouts", &[include_str!("state_formats/payouts/v1.json")]);
}

#[test]
fn balance_states_of_every_released_format_restore() {
    check::<Book>(
        "balances",
        &[include_str!("state_formats/balances/v1.json")],
    );
}

#[test]
fn a_state_that_lost_a_field_is_caught() {
    // The check itself: a released format the current type cannot read fails it.
    let broken = include_str!("state_formats/balances/v1.json").replace("\"version\"", "\"v\"");
    let caught = std::panic::catch_unwind(|| check::<Book>("balances", &[&broken]));
    assert!(caught.is_err());
}
