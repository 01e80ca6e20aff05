//! The binding check: a processor starts only when processors.toml binds exactly the roles it
//! writes and every input carries a record it reads.
//!
//! Test code: the parent module declares this file under #[cfg(test)].

use super::ledger::Ledger;
use super::Binding;
use crate::events::{Event, PaymentCommand, PaymentEvent};
use std::collections::BTreeMap;

fn binding(outputs: &[(&str, &str)], input_schema: &str) -> Binding {
    Binding {
        processor: "ledger".into(),
        outputs: outputs
            .iter()
            .map(|(r, t)| ((*r).to_owned(), (*t).to_owned()))
            .collect(),
        inputs: BTreeMap::from([("in".to_owned(), input_schema.to_owned())]),
        changelog: None,
    }
}

#[test]
fn exact_roles_and_read_inputs_bind() {
    let b = binding(
        &[
            ("entries", "ledger.entries"),
            ("movements", "balances.movements"),
        ],
        PaymentEvent::FULL_NAME,
    );
    b.check::<Ledger>().unwrap();
    assert_eq!(b.output("entries").unwrap(), "ledger.entries");
}

#[test]
fn a_missing_role_is_named_with_the_fix() {
    let err = binding(&[], PaymentEvent::FULL_NAME)
        .check::<Ledger>()
        .unwrap_err();
    assert!(
        err.contains("needs output 'entries'") && err.contains("entries = "),
        "{err}"
    );
}

#[test]
fn a_role_never_written_is_refused() {
    let b = binding(
        &[
            ("entries", "ledger.entries"),
            ("movements", "balances.movements"),
            ("notes", "notifications.merchant"),
        ],
        PaymentEvent::FULL_NAME,
    );
    let err = b.check::<Ledger>().unwrap_err();
    assert!(
        err.contains("declares output 'notes'") && err.contains("never writes it"),
        "{err}"
    );
}

#[test]
fn an_input_of_a_record_it_does_not_read_is_refused() {
    let b = binding(
        &[
            ("entries", "ledger.entries"),
            ("movements", "balances.movements"),
        ],
        PaymentCommand::FULL_NAME,
    );
    let err = b.check::<Ledger>().unwrap_err();
    assert!(
        err.contains(PaymentCommand::FULL_NAME) && err.contains("remove the input"),
        "{err}"
    );
}

#[test]
fn keyed_state_and_a_changelog_go_together() {
    let mut b = binding(
        &[
            ("entries", "ledger.entries"),
            ("movements", "balances.movements"),
        ],
        PaymentEvent::FULL_NAME,
    );
    b.changelog = Some("ledger.changelog".into());
    let err = b.check::<Ledger>().unwrap_err();
    assert!(
        err.contains("keeps no keyed state") && err.contains("remove it"),
        "{err}"
    );

    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topology");
    let topology = crate::topology::Topology::load(&dir, &Default::default()).unwrap();
    let spec = topology.processor(super::payments::NAME).unwrap();
    let mut b = Binding::of(spec, &topology).unwrap();
    b.check::<super::payments::Payments>().unwrap();
    b.changelog = None;
    let err = b.check::<super::payments::Payments>().unwrap_err();
    assert!(
        err.contains("keeps keyed state") && err.contains("changelog = "),
        "{err}"
    );
}

/// Every processor of the flow binds to the repository's topology: its roles are exactly those it
/// writes and it reads every record of its inputs (a missed input schema would dead-letter them).
#[test]
fn every_flow_processor_binds_to_the_repository_topology() {
    use super::{balances, beneficiaries, connector, fraud, ledger, payments, payouts, views};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topology");
    let topology = crate::topology::Topology::load(&dir, &Default::default()).unwrap();
    let bind = |name: &str| Binding::of(topology.processor(name).unwrap(), &topology).unwrap();
    bind(payments::NAME).check::<payments::Payments>().unwrap();
    bind(fraud::processor::NAME)
        .check::<fraud::processor::Fraud>()
        .unwrap();
    bind(connector::NAME)
        .check::<connector::Connector>()
        .unwrap();
    bind(views::NAME).check::<views::Views>().unwrap();
    bind(ledger::NAME).check::<Ledger>().unwrap();
    bind(beneficiaries::NAME)
        .check::<beneficiaries::Beneficiaries>()
        .unwrap();
    bind(payouts::NAME).check::<payouts::Payouts>().unwrap();
    bind(balances::NAME).check::<balances::Balances>().unwrap();
}
