//! The text a record carries, read with its writer schema whatever its type: for checks that look at
//! every string of any record (card numbers in dead letters and in the PAN scan), not for processing.

use super::catalog::Catalog;
use super::codec::SINGLE_OBJECT_MAGIC;
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::types::Value;

/// How deep nested `bytes` fields are opened as records of their own (a dead letter's value).
const NESTING_MAX: usize = 4;

/// One piece of a record: a string (a field, a map key, an enum symbol) with its field path, or raw
/// bytes that are not a record paystream knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text { path: String, text: String },
    Raw { path: String, bytes: Vec<u8> },
}

/// Every string of a single-object-encoded record of a bundled schema, with nested records inside
/// `bytes` fields opened too; `None` when the bytes are not such a record.
pub fn pieces(catalog: &Catalog, bytes: &[u8]) -> Option<Vec<Piece>> {
    pieces_at(catalog, bytes, "", 0)
}

fn pieces_at(catalog: &Catalog, bytes: &[u8], path: &str, depth: usize) -> Option<Vec<Piece>> {
    if bytes.len() < 10 || bytes[..2] != SINGLE_OBJECT_MAGIC {
        return None;
    }
    let fp = u64::from_le_bytes(<[u8; 8]>::try_from(&bytes[2..10]).ok()?);
    let entry = catalog.by_fingerprint(fp)?;
    let mut cursor = &bytes[10..];
    let value = GenericDatumReader::builder(&entry.schema)
        .build()
        .and_then(|r| r.read_value(&mut cursor))
        .ok()?;
    let mut out = Vec::new();
    walk(catalog, &value, path, depth, &mut out);
    Some(out)
}

fn walk(catalog: &Catalog, v: &Value, path: &str, depth: usize, out: &mut Vec<Piece>) {
    let at = |name: &str| {
        if path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        }
    };
    match v {
        Value::String(s) | Value::Enum(_, s) => out.push(Piece::Text {
            path: path.to_owned(),
            text: s.clone(),
        }),
        Value::Bytes(b) | Value::Fixed(_, b) => {
            match (depth < NESTING_MAX)
                .then(|| pieces_at(catalog, b, path, depth + 1))
                .flatten()
            {
                Some(inner) => out.extend(inner),
                None => out.push(Piece::Raw {
                    path: path.to_owned(),
                    bytes: b.clone(),
                }),
            }
        }
        Value::Union(_, inner) => walk(catalog, inner, path, depth, out),
        Value::Array(items) => items
            .iter()
            .for_each(|i| walk(catalog, i, path, depth, out)),
        Value::Map(m) => {
            for (k, item) in m {
                out.push(Piece::Text {
                    path: at("(key)"),
                    text: k.clone(),
                });
                walk(catalog, item, &at(k), depth, out);
            }
        }
        Value::Record(fields) => {
            for (name, item) in fields {
                walk(catalog, item, &at(name), depth, out);
            }
        }
        _ => {}
    }
}

/// Where a stored value holds a card number, if it does: a record's strings are read as words; JSON
/// (state, journal and idempotency blobs) is walked, a base64 string in it opened as a record; anything
/// else is read loosely whole.
pub fn holds_card_number(catalog: &Catalog, bytes: &[u8]) -> Option<String> {
    use crate::domain::pan::{contains_pan, contains_pan_anywhere};
    if let Some(pieces) = pieces(catalog, bytes) {
        return pieces.into_iter().find_map(|p| match p {
            Piece::Text { path, text } => contains_pan(&text).then_some(path),
            // A bytes field holding JSON (a changelog's state) is walked like a JSON blob: its ids
            // and hashes are words, not digits glued to anything.
            Piece::Raw { path, bytes } => match serde_json::from_slice::<serde_json::Value>(&bytes)
            {
                Ok(json) => card_number_in_json(catalog, &json, &path),
                Err(_) => contains_pan_anywhere(&String::from_utf8_lossy(&bytes)).then_some(path),
            },
        });
    }
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(bytes) {
        return card_number_in_json(catalog, &json, "");
    }
    contains_pan_anywhere(&String::from_utf8_lossy(bytes)).then(|| "(value)".to_owned())
}

fn card_number_in_json(catalog: &Catalog, v: &serde_json::Value, path: &str) -> Option<String> {
    use base64::Engine as _;
    use serde_json::Value as Json;
    let at = |k: &str| {
        if path.is_empty() {
            k.to_owned()
        } else {
            format!("{path}.{k}")
        }
    };
    match v {
        Json::String(s) => {
            if crate::domain::pan::contains_pan(s) {
                return Some(path.to_owned());
            }
            let record = base64::engine::general_purpose::STANDARD.decode(s).ok()?;
            pieces(catalog, &record)?;
            holds_card_number(catalog, &record).map(|inner| at(&inner))
        }
        Json::Number(n) => {
            crate::domain::pan::contains_pan(&n.to_string()).then(|| path.to_owned())
        }
        Json::Array(items) => items
            .iter()
            .find_map(|i| card_number_in_json(catalog, i, path)),
        Json::Object(fields) => fields.iter().find_map(|(k, item)| {
            if crate::domain::pan::contains_pan(k) {
                return Some(at("(key)"));
            }
            card_number_in_json(catalog, item, &at(k))
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{samples, Codec};

    #[test]
    fn card_numbers_are_found_in_any_string_and_inside_nested_records() {
        let catalog = Catalog::bundled().unwrap();
        let codec = Codec::single_object(catalog.clone());
        let clean = codec.encode_sync(&samples::payment_command()).unwrap();
        assert_eq!(holds_card_number(&catalog, &clean), None);

        let mut c = samples::payment_command();
        c.metadata
            .insert("note".into(), "card 4242 4242 4242 4242".into());
        let dirty = codec.encode_sync(&c).unwrap();
        assert_eq!(
            holds_card_number(&catalog, &dirty).as_deref(),
            Some("metadata.note")
        );

        // A dead letter whose value is that command: found inside the nested record.
        let mut letter = samples::dead_letter();
        letter.value = Some(dirty);
        let framed = codec.encode_sync(&letter).unwrap();
        assert_eq!(
            holds_card_number(&catalog, &framed).as_deref(),
            Some("value.metadata.note")
        );

        // JSON, with a record inside as base64 (an idempotency blob's shape).
        use base64::Engine as _;
        let journal = serde_json::json!({"records": [{"payload_b64":
            base64::engine::general_purpose::STANDARD.encode(&framed)}], "state": "{}"});
        let blob = serde_json::to_vec(&journal).unwrap();
        assert_eq!(
            holds_card_number(&catalog, &blob).as_deref(),
            Some("records.payload_b64.value.metadata.note")
        );
        let ids =
            serde_json::to_vec(&serde_json::json!({"payment_id": "pay_0193ab4242424242424242"}))
                .unwrap();
        assert_eq!(
            holds_card_number(&catalog, &ids),
            None,
            "ids in JSON are words"
        );
        // A changelog record: its state bytes are JSON, walked with ids as words; a card number in
        // a string of it is still found.
        let mut state = samples::keyed_state();
        state.state =
            serde_json::to_vec(&serde_json::json!({"attempt_id": "att_4242424242424242ab"}))
                .unwrap();
        let record = codec.encode_sync(&state).unwrap();
        assert_eq!(holds_card_number(&catalog, &record), None);
        state.state =
            serde_json::to_vec(&serde_json::json!({"note": "4242 4242 4242 4242"})).unwrap();
        let record = codec.encode_sync(&state).unwrap();
        assert_eq!(
            holds_card_number(&catalog, &record).as_deref(),
            Some("state.note")
        );
        // Not a record at all: read loosely.
        assert!(holds_card_number(&catalog, b"x4242424242424242y").is_some());
        assert!(holds_card_number(&catalog, b"x4242424242424241y").is_none());
    }
}
