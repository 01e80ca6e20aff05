//! Event types, one per Avro schema in `schemas/`, and the codec that puts them on the wire.
//!
//! Each type maps one to one onto its schema: field names and types match, Avro enums are Rust enums,
//! unions with null are `Option`, money is `amount_minor: i64` plus an ISO 4217 `currency`, and times
//! are [`TimestampMillis`]. `tests` below round-trips a populated value of each through its schema.

pub mod balance;
pub mod beneficiary_verification;
pub mod canonical;
pub mod catalog;
pub mod codec;
pub mod config;
mod conventions;
pub mod dead_letter;
pub mod demo;
pub mod deployment_identity;
pub mod fraud_assessment;
pub mod journal_entry;
pub mod keyed_state;
pub mod merchant_notification;
pub mod payment_command;
pub mod payment_event;
pub mod payout;
pub mod provider;
pub mod reconciliation;
pub mod refund;
pub mod registry;
pub mod routing_decision;
pub mod texts;
pub mod transition_rejected;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt;

pub use beneficiary_verification::BeneficiaryVerification;
pub use catalog::{Catalog, SchemaError};
pub use codec::{Codec, CodecError, WireFormat};
pub use dead_letter::DeadLetter;
pub use deployment_identity::DeploymentIdentity;
pub use fraud_assessment::FraudAssessment;
pub use journal_entry::JournalEntry;
pub use keyed_state::KeyedState;
pub use merchant_notification::MerchantNotification;
pub use payment_command::PaymentCommand;
pub use payment_event::PaymentEvent;
pub use payout::{PayoutEvent, PayoutRequest};
pub use provider::{ProviderRequest, ProviderResponse, ProviderWebhook};
pub use reconciliation::{ReconciliationResult, SettlementLine};
pub use refund::{RefundEvent, RefundRequest};
pub use routing_decision::RoutingDecision;
pub use transition_rejected::TransitionRejected;

/// A type that is the Rust side of one Avro schema.
pub trait Event: Serialize + DeserializeOwned + Clone + fmt::Debug + Send + Sync + 'static {
    /// The Avro full name (namespace.name) of the schema this type maps to.
    const FULL_NAME: &'static str;

    /// The Kafka key: the transaction id the event belongs to, so that all events of one payment
    /// land in one partition, in order.
    fn key(&self) -> &str;
}

/// The Avro symbol of an enum value as the schemas spell it (`RequiresCapture` → `REQUIRES_CAPTURE`),
/// for stores and logs that keep it as text.
pub fn symbol<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The enum value whose symbol is `symbol`, for a field the schema carries as a string.
pub fn from_symbol<T: serde::de::DeserializeOwned>(symbol: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(symbol.to_owned())).ok()
}

/// Milliseconds since the Unix epoch, the Rust side of Avro `timestamp-millis`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(transparent)]
pub struct TimestampMillis(pub i64);

macro_rules! impl_event {
    ($ty:ty, $full_name:literal, $key:ident) => {
        impl $crate::events::Event for $ty {
            const FULL_NAME: &'static str = $full_name;
            fn key(&self) -> &str {
                &self.$key
            }
        }
    };
}
pub(crate) use impl_event;

#[cfg(test)]
pub(crate) mod samples;

#[cfg(test)]
mod tests {
    use super::*;

    /// Every bundled current schema has exactly one Rust type, and each type round-trips through it.
    #[test]
    fn every_schema_has_a_type_that_round_trips() {
        let catalog = Catalog::bundled().unwrap();
        let codec = Codec::single_object(catalog.clone());
        let mut covered = Vec::new();
        macro_rules! check {
            ($value:expr) => {{
                let value = $value;
                let bytes = codec.encode_sync(&value).unwrap();
                let back = codec.decode_sync(&bytes).unwrap();
                assert_eq!(value, back, "{}", std::any::type_name_of_val(&value));
                covered.push(full_name_of(&value));
            }};
        }
        fn full_name_of<E: Event>(_: &E) -> &'static str {
            E::FULL_NAME
        }
        check!(samples::payment_command());
        check!(samples::payment_event());
        check!(samples::transition_rejected());
        check!(samples::fraud_assessment());
        check!(samples::routing_decision());
        check!(samples::provider_request());
        check!(samples::provider_response());
        check!(samples::provider_webhook());
        check!(samples::journal_entry());
        check!(samples::refund_request());
        check!(samples::refund_event());
        check!(samples::payout_request());
        check!(samples::payout_decision());
        check!(samples::payout_event());
        check!(samples::beneficiary_verification());
        check!(samples::beneficiary_command());
        check!(samples::balance_command());
        check!(samples::funding_decision());
        check!(samples::settlement_line());
        check!(samples::reconciliation_result());
        check!(samples::merchant_notification());
        check!(samples::dead_letter());
        check!(samples::keyed_state());
        check!(samples::deployment_identity());
        covered.sort();
        let mut names: Vec<&str> = catalog.current_names().collect();
        names.sort();
        assert_eq!(
            covered, names,
            "a schema without a Rust type (or the reverse)"
        );
    }

    #[test]
    fn symbols_are_spelled_as_in_the_schemas() {
        use crate::events::journal_entry::Movement;
        use crate::events::payment_event::IntentStatus;
        assert_eq!(symbol(&IntentStatus::RequiresCapture), "REQUIRES_CAPTURE");
        assert_eq!(symbol(&Movement::HoldRelease), "HOLD_RELEASE");
    }
}
