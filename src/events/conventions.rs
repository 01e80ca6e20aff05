//! The project's schema conventions, checked for every schema file: documented types and fields,
//! names as the codebase spells them, and the logical types money and time must use.

use super::catalog::SchemaError;
use serde_json::Value as Json;

/// The project's schema conventions, checked on the JSON so every message can name the field.
pub(super) fn check_conventions(file: &str, json: &Json, errors: &mut Vec<SchemaError>) {
    let top_ok = json.get("type").and_then(Json::as_str) == Some("record")
        && json
            .get("namespace")
            .and_then(Json::as_str)
            .is_some_and(|n| n.starts_with("io.paystream."));
    if !top_ok {
        errors.push(SchemaError::new(
            file,
            "top level is not a record in an io.paystream.* namespace",
            "make it {\"type\": \"record\", \"namespace\": \"io.paystream.<area>\", …}",
        ));
    }
    walk_type(file, json, "", errors);
}

fn walk_type(file: &str, t: &Json, context: &str, errors: &mut Vec<SchemaError>) {
    match t {
        Json::String(s) if s == "float" || s == "double" => errors.push(SchemaError::new(
            file,
            format!("{context} uses {s}"),
            "use long minor units for money and integers for counts: floats are not allowed",
        )),
        Json::Array(branches) => {
            for b in branches {
                walk_type(file, b, context, errors);
            }
        }
        Json::Object(obj) => {
            let kind = obj.get("type").and_then(Json::as_str).unwrap_or("");
            let name = obj.get("name").and_then(Json::as_str).unwrap_or("?");
            if matches!(kind, "record" | "enum" | "fixed") && !has_doc(t) {
                errors.push(SchemaError::new(
                    file,
                    format!("{kind} {name} has no doc"),
                    format!("add \"doc\": \"…\" to {kind} {name}"),
                ));
            }
            match kind {
                "record" => {
                    for field in obj
                        .get("fields")
                        .and_then(Json::as_array)
                        .map(Vec::as_slice)
                        .unwrap_or(&[])
                    {
                        check_field(file, name, field, errors);
                    }
                }
                "array" => walk_type(
                    file,
                    obj.get("items").unwrap_or(&Json::Null),
                    context,
                    errors,
                ),
                "map" => walk_type(
                    file,
                    obj.get("values").unwrap_or(&Json::Null),
                    context,
                    errors,
                ),
                "float" | "double" => {
                    walk_type(file, &Json::String(kind.to_owned()), context, errors)
                }
                _ => {}
            }
        }
        _ => {}
    }
}

fn has_doc(v: &Json) -> bool {
    v.get("doc")
        .and_then(Json::as_str)
        .is_some_and(|d| !d.trim().is_empty())
}

/// The non-null branch of `["null", T]`, or the type itself.
fn non_null(t: &Json) -> &Json {
    match t {
        Json::Array(branches) => branches
            .iter()
            .find(|b| b.as_str() != Some("null"))
            .unwrap_or(t),
        _ => t,
    }
}

fn check_field(file: &str, record: &str, field: &Json, errors: &mut Vec<SchemaError>) {
    let name = field.get("name").and_then(Json::as_str).unwrap_or("?");
    let ty = field.get("type").unwrap_or(&Json::Null);
    let here = format!("field {record}.{name}");
    if !has_doc(field) {
        errors.push(SchemaError::new(
            file,
            format!("{here} has no doc"),
            format!("add \"doc\": \"…\" to field {name}"),
        ));
    }
    let lower = name.to_ascii_lowercase();
    if [
        "pan",
        "card_number",
        "cardnumber",
        "cvv",
        "cvc",
        "pan_number",
    ]
    .contains(&lower.as_str())
    {
        errors.push(SchemaError::new(
            file,
            format!("{here} would carry raw card data"),
            "carry a vault token (card_token) instead: no schema may hold a PAN or CVV",
        ));
    }
    let inner = non_null(ty);
    if name.ends_with("_minor") && inner.as_str() != Some("long") {
        errors.push(SchemaError::new(
            file,
            format!("{here} is money but not a long"),
            "money is a long of minor units (or [\"null\", \"long\"])",
        ));
    }
    if name == "currency" && inner.as_str() != Some("string") {
        errors.push(SchemaError::new(
            file,
            format!("{here} is not a string"),
            "a currency is an ISO 4217 alphabetic code string",
        ));
    }
    if name.ends_with("_at") || name.ends_with("_timestamp") {
        let is_ts = inner.get("type").and_then(Json::as_str) == Some("long")
            && inner.get("logicalType").and_then(Json::as_str) == Some("timestamp-millis");
        if !is_ts {
            errors.push(SchemaError::new(
                file,
                format!("{here} is a time but not timestamp-millis"),
                "use {\"type\": \"long\", \"logicalType\": \"timestamp-millis\"}",
            ));
        }
    }
    walk_type(file, ty, &here, errors);
}
