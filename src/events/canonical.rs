//! The Avro specification's Parsing Canonical Form and its CRC-64-AVRO fingerprint, computed from the
//! schema JSON by the specification's rules, so that every Avro implementation (Java's
//! `SchemaNormalization`, fastavro, Go's hamba/avro) finds the same fingerprint in a single-object
//! header.
//!
//! apache-avro 0.22 keeps `{"type":"long"}` for a field with a logical type where [PRIMITIVES] and
//! [STRIP] reduce it to `"long"` (AVRO-4004), so its fingerprints match no other library; they are
//! still accepted when decoding (see [`super::catalog`]), never written.
//!
//! The rules: [PRIMITIVES] a primitive is its bare name; [FULLNAMES] every name is a full name;
//! [STRIP] only `name`, `type`, `fields`, `symbols`, `items`, `values` and `size` are kept (so `doc`,
//! `aliases`, `default`, `namespace`, `logicalType`, `order` go); [ORDER] in that order; a named type
//! seen before is its quoted full name; [WHITESPACE] none outside strings.

use apache_avro::rabin::Rabin;
use digest::Digest;
use serde_json::Value as Json;
use std::collections::BTreeSet;

const PRIMITIVES: [&str; 8] = [
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];

/// The Parsing Canonical Form of a schema given as JSON.
pub fn parsing_canonical_form(schema: &Json) -> Result<String, String> {
    let mut out = String::with_capacity(512);
    let mut seen = BTreeSet::new();
    write(schema, "", &mut seen, &mut out)?;
    Ok(out)
}

/// CRC-64-AVRO (Rabin) of the Parsing Canonical Form, as the integer whose little-endian bytes follow
/// `C3 01` in a single-object header.
pub fn fingerprint(schema: &Json) -> Result<u64, String> {
    let pcf = parsing_canonical_form(schema)?;
    Ok(rabin(pcf.as_bytes()))
}

pub fn rabin(bytes: &[u8]) -> u64 {
    let digest: [u8; 8] = Rabin::digest(bytes).into();
    u64::from_le_bytes(digest)
}

/// `name` resolved against `namespace`: a dotted name is already full.
fn full_name(name: &str, namespace: &str) -> String {
    if name.contains('.') || namespace.is_empty() {
        name.to_owned()
    } else {
        format!("{namespace}.{name}")
    }
}

fn quoted(s: &str) -> String {
    // serde_json writes non-ASCII as UTF-8 and escapes only what JSON requires ([STRINGS]).
    serde_json::to_string(s).unwrap_or_default()
}

fn write(
    schema: &Json,
    namespace: &str,
    seen: &mut BTreeSet<String>,
    out: &mut String,
) -> Result<(), String> {
    match schema {
        Json::String(name) if PRIMITIVES.contains(&name.as_str()) => out.push_str(&quoted(name)),
        Json::String(name) => out.push_str(&quoted(&full_name(name, namespace))),
        Json::Array(branches) => {
            out.push('[');
            for (i, b) in branches.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(b, namespace, seen, out)?;
            }
            out.push(']');
        }
        Json::Object(o) => match o.get("type") {
            Some(Json::String(t)) => write_complex(o, t, namespace, seen, out)?,
            // `{"type": <schema>}`: the wrapper adds nothing.
            Some(inner) => write(inner, namespace, seen, out)?,
            None => return Err(format!("schema object without a type: {schema}")),
        },
        other => return Err(format!("not a schema: {other}")),
    }
    Ok(())
}

fn write_complex(
    o: &serde_json::Map<String, Json>,
    t: &str,
    namespace: &str,
    seen: &mut BTreeSet<String>,
    out: &mut String,
) -> Result<(), String> {
    let str_of = |key: &str| o.get(key).and_then(Json::as_str);
    match t {
        "record" | "error" | "enum" | "fixed" => {
            let name = str_of("name").ok_or_else(|| format!("a {t} without a name"))?;
            let ns = match str_of("namespace") {
                Some(n) if !name.contains('.') => n,
                _ => namespace,
            };
            let full = full_name(name, ns);
            if !seen.insert(full.clone()) {
                out.push_str(&quoted(&full));
                return Ok(());
            }
            // A dotted name sets the namespace of what it encloses.
            let inner_ns = full.rsplit_once('.').map_or("", |(n, _)| n).to_owned();
            out.push_str(&format!(
                "{{\"name\":{},\"type\":{}",
                quoted(&full),
                quoted(t)
            ));
            match t {
                "enum" => {
                    let symbols = o.get("symbols").cloned().unwrap_or(Json::Array(vec![]));
                    out.push_str(&format!(",\"symbols\":{symbols}"));
                }
                "fixed" => {
                    let size = o
                        .get("size")
                        .and_then(Json::as_u64)
                        .ok_or("fixed without size")?;
                    out.push_str(&format!(",\"size\":{size}"));
                }
                _ => write_fields(o, &inner_ns, seen, out)?,
            }
            out.push('}');
        }
        "array" => {
            out.push_str("{\"type\":\"array\",\"items\":");
            write(
                o.get("items").ok_or("array without items")?,
                namespace,
                seen,
                out,
            )?;
            out.push('}');
        }
        "map" => {
            out.push_str("{\"type\":\"map\",\"values\":");
            write(
                o.get("values").ok_or("map without values")?,
                namespace,
                seen,
                out,
            )?;
            out.push('}');
        }
        // A primitive, with or without a logical type or other attributes: its bare name.
        primitive => write(&Json::String(primitive.to_owned()), namespace, seen, out)?,
    }
    Ok(())
}

fn write_fields(
    o: &serde_json::Map<String, Json>,
    namespace: &str,
    seen: &mut BTreeSet<String>,
    out: &mut String,
) -> Result<(), String> {
    out.push_str(",\"fields\":[");
    let fields = o
        .get("fields")
        .and_then(Json::as_array)
        .ok_or("record without fields")?;
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let name = f
            .get("name")
            .and_then(Json::as_str)
            .ok_or("field without a name")?;
        out.push_str(&format!("{{\"name\":{},\"type\":", quoted(name)));
        write(
            f.get("type").ok_or("field without a type")?,
            namespace,
            seen,
            out,
        )?;
        out.push('}');
    }
    out.push(']');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Fingerprints as the specification's other implementations print them: the little-endian
    /// header bytes in hex.
    fn header_hex(schema: &Json) -> String {
        hex::encode(fingerprint(schema).unwrap().to_le_bytes())
    }

    #[test]
    fn the_specification_rules() {
        let cases = [
            // [PRIMITIVES], with a logical type and extra attributes stripped.
            (
                json!({"type": "long", "logicalType": "timestamp-millis"}),
                r#""long""#,
            ),
            (json!("string"), r#""string""#),
            // [FULLNAMES], [STRIP], [ORDER]: doc, aliases, default and namespace go.
            (
                json!({"type": "record", "namespace": "a.b", "name": "R", "doc": "d", "aliases": ["X"],
                       "fields": [{"name": "f", "doc": "x", "default": 1, "type": {"type": "int"}},
                                  {"type": ["null", "E"], "name": "g", "default": null}]}),
                r#"{"name":"a.b.R","type":"record","fields":[{"name":"f","type":"int"},{"name":"g","type":["null","a.b.E"]}]}"#,
            ),
            // A named type seen before is its full name; a dotted name sets the inner namespace.
            (
                json!({"type": "record", "name": "x.y.R", "namespace": "ignored", "fields": [
                    {"name": "a", "type": {"type": "enum", "name": "S", "symbols": ["A", "B"], "doc": "s"}},
                    {"name": "b", "type": "S"},
                    {"name": "c", "type": {"type": "fixed", "name": "F", "size": 16, "namespace": "z"}},
                    {"name": "d", "type": {"type": "map", "values": {"type": "array", "items": "z.F"}}}]}),
                r#"{"name":"x.y.R","type":"record","fields":[{"name":"a","type":{"name":"x.y.S","type":"enum","symbols":["A","B"]}},{"name":"b","type":"x.y.S"},{"name":"c","type":{"name":"z.F","type":"fixed","size":16}},{"name":"d","type":{"type":"map","values":{"type":"array","items":"z.F"}}}]}"#,
            ),
        ];
        for (schema, expected) in cases {
            assert_eq!(
                parsing_canonical_form(&schema).unwrap(),
                expected,
                "{schema}"
            );
        }
    }

    #[test]
    fn rabin_matches_the_specification_reference_values() {
        // fastavro's rabin_fingerprint(b'"int"') is 8f5c393f1ad57572 (little-endian bytes).
        assert_eq!(rabin(br#""int""#), 0x7275_d51a_3f39_5c8f);
        // apache-avro's own documented value for "hello world".
        assert_eq!(
            hex::encode(rabin(b"hello world").to_le_bytes()),
            "60335ba6d0415528"
        );
    }

    #[test]
    fn every_bundled_schema_has_the_fingerprint_other_implementations_compute() {
        // Computed with fastavro (to_parsing_canonical_form + fingerprint "CRC-64-AVRO"); the Java
        // reference implementation gives the same for payment_command (c0fa63a702584e88).
        let expected = [
            ("beneficiary_verification", "1f1852bf80d04868"),
            ("dead_letter", "498a6df5ec75b785"),
            ("fraud_assessment", "7329fae41c763f3d"),
            ("journal_entry", "93602b6452fa71d4"),
            ("merchant_notification", "07b69fd21419a485"),
            ("payment_command/v1", "c0fa63a702584e88"),
            ("payment_command/v2", "5939ab28642d4b74"),
            ("payment_event/v1", "b7cff78b02cdf8a7"),
            ("payment_event/v2", "93648f0b570b6550"),
            ("payout_event", "2f751da26ea920a4"),
            ("payout_request", "d47f1d9a479ba29d"),
            ("provider_request", "d0cffffa384038a3"),
            ("provider_response", "c9438bf4e443380b"),
            ("provider_webhook", "d9096084aa78a118"),
            ("reconciliation_result", "d71ae08a765a081e"),
            ("refund_event", "b75d06b7feccc6dc"),
            ("refund_request", "5dd5ddf2d9136f46"),
            ("routing_decision", "d241eab313a2ddf4"),
            ("settlement_line", "26f437680e1d5954"),
            ("transition_rejected", "451715766b71e537"),
        ];
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/released");
        for (stem, fp) in expected {
            let file = if stem.contains('/') {
                dir.join(format!("{stem}.avsc"))
            } else {
                dir.join(stem).join("v1.avsc")
            };
            let text = std::fs::read_to_string(&file).unwrap();
            let json: Json = serde_json::from_str(&text).unwrap();
            assert_eq!(header_hex(&json), fp, "{}", file.display());
        }
    }
}
