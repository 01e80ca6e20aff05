//! Schema evolution through the codec: data written with v1 reads into the v2 type, and the
//! compatibility rule rejects a v2 that could not read v1.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the report

use paystream::events::{Catalog, Codec, CodecError, Event, TimestampMillis};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

const V1: &str = include_str!("fixtures/evolution/order_v1.avsc");
const V2: &str = include_str!("fixtures/evolution/order_v2.avsc");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct OrderV1 {
    order_id: String,
    amount_minor: i64,
    currency: String,
    placed_at: TimestampMillis,
}

impl Event for OrderV1 {
    const FULL_NAME: &'static str = "io.paystream.test.Order";
    fn key(&self) -> &str {
        &self.order_id
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct OrderV2 {
    order_id: String,
    amount_minor: i64,
    currency: String,
    placed_at: TimestampMillis,
    channel: String,
    note: Option<String>,
}

impl Event for OrderV2 {
    const FULL_NAME: &'static str = "io.paystream.test.Order";
    fn key(&self) -> &str {
        &self.order_id
    }
}

fn catalog(
    current: &str,
    released: &[&str],
) -> Result<Arc<Catalog>, Vec<paystream::events::SchemaError>> {
    let mut sources = vec![("order.avsc".to_owned(), current.to_owned())];
    for (i, r) in released.iter().enumerate() {
        sources.push((format!("released/order/v{}.avsc", i + 1), (*r).to_owned()));
    }
    Catalog::from_sources(sources).map(Arc::new)
}

#[test]
fn v1_writer_v2_reader() {
    let writer = Codec::single_object(catalog(V1, &[V1]).unwrap());
    let reader = Codec::single_object(catalog(V2, &[V1, V2]).unwrap());
    let old = OrderV1 {
        order_id: "o_1".into(),
        amount_minor: 4_999,
        currency: "INR".into(),
        placed_at: TimestampMillis(1_700_000_000_000),
    };
    let bytes = writer.encode_sync(&old).unwrap();
    let new: OrderV2 = reader.decode_sync(&bytes).unwrap();
    assert_eq!(
        new,
        OrderV2 {
            order_id: "o_1".into(),
            amount_minor: 4_999,
            currency: "INR".into(),
            placed_at: old.placed_at,
            channel: "web".into(),
            note: None
        }
    );
    // And v2 data reads back as v2.
    let again = OrderV2 {
        note: Some("gift".into()),
        channel: "app".into(),
        ..new
    };
    assert_eq!(
        reader
            .decode_sync::<OrderV2>(&reader.encode_sync(&again).unwrap())
            .unwrap(),
        again
    );
}

#[test]
fn a_reader_that_never_saw_v2_classifies_v2_data_as_unknown_schema() {
    let v1_only = Codec::single_object(catalog(V1, &[V1]).unwrap());
    let v2 = Codec::single_object(catalog(V2, &[V1, V2]).unwrap());
    let bytes = v2
        .encode_sync(&OrderV2 {
            order_id: "o".into(),
            amount_minor: 1,
            currency: "INR".into(),
            placed_at: TimestampMillis(0),
            channel: "web".into(),
            note: None,
        })
        .unwrap();
    assert!(matches!(
        v1_only.decode_sync::<OrderV1>(&bytes),
        Err(CodecError::UnknownSchema(_))
    ));
}

#[test]
fn a_v2_that_cannot_read_v1_is_rejected() {
    let breaking = V2.replace(r#""default": "web", "#, "");
    let errors = catalog(&breaking, &[V1, &breaking]).unwrap_err();
    assert!(
        errors.iter().any(|e| e
            .problem
            .contains("cannot read data written with released/order/v1.avsc")),
        "{errors:#?}"
    );
}
