//! The schema catalog: every Avro schema paystream writes or can read, checked against the project's
//! conventions and its compatibility rule.
//!
//! Layout under `schemas/`:
//! - `<stem>.avsc`: the current schema of one event type, the one paystream writes;
//! - `released/<stem>/v<N>.avsc`: every released version, frozen, so data written by older producers
//!   stays decodable (single-object encoding finds the writer schema by fingerprint).
//!
//! The compatibility rule, enforced by [`Catalog::from_sources`] (so by `paystream schema check`, the
//! tests and every start-up): the current schema equals its latest released version (a change must be
//! frozen as the next version), and it can read data written with every released version (backward
//! transitive compatibility, as Avro resolution defines it).

use apache_avro::rabin::Rabin;
use apache_avro::schema_compatibility::SchemaCompatibility;
use apache_avro::Schema;
use serde_json::Value as Json;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

include!(concat!(env!("OUT_DIR"), "/bundled_schemas.rs"));

/// One parsed schema file.
#[derive(Debug)]
pub struct SchemaEntry {
    /// Path relative to `schemas/`, for messages.
    pub file: String,
    pub full_name: String,
    pub schema: Schema,
    /// The schema text as written, sent to a registry.
    pub text: String,
    /// CRC-64-AVRO (Rabin) fingerprint of the specification's Parsing Canonical Form, as single-object
    /// encoding writes it and every other Avro implementation computes it.
    pub fingerprint: u64,
    /// The fingerprint apache-avro 0.22 computes (logical types kept in its canonical form), which
    /// paystream wrote before 0.2: still resolved when decoding, never written.
    pub legacy_fingerprint: u64,
    /// `None` for the current schema, `Some(n)` for `released/<stem>/v<n>.avsc`.
    pub released_version: Option<u32>,
}

/// Every schema, by full name and by fingerprint.
#[derive(Debug, Default)]
pub struct Catalog {
    current: HashMap<String, Arc<SchemaEntry>>,
    by_fingerprint: HashMap<u64, Arc<SchemaEntry>>,
    released: BTreeMap<String, Vec<Arc<SchemaEntry>>>,
}

/// A schema that breaks a rule: which file, which field, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("schemas/{file}: {problem}. Fix: {fix}")]
pub struct SchemaError {
    pub file: String,
    pub problem: String,
    pub fix: String,
}

impl SchemaError {
    pub(super) fn new(file: &str, problem: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            problem: problem.into(),
            fix: fix.into(),
        }
    }
}

impl Catalog {
    /// The schemas compiled into this binary.
    pub fn bundled() -> Result<Arc<Catalog>, Vec<SchemaError>> {
        Self::from_sources(
            BUNDLED
                .iter()
                .map(|(f, t)| ((*f).to_owned(), (*t).to_owned()))
                .collect(),
        )
        .map(Arc::new)
    }

    /// The schemas of a working tree, for `paystream schema check` before a build.
    pub fn from_dir(dir: &Path) -> Result<Catalog, Vec<SchemaError>> {
        let mut sources = Vec::new();
        collect(dir, dir, &mut sources)
            .map_err(|e| vec![SchemaError::new(".", e, "check the schemas directory path")])?;
        sources.sort();
        Self::from_sources(sources)
    }

    /// Parses and checks every schema; returns every problem found, not just the first.
    pub fn from_sources(sources: Vec<(String, String)>) -> Result<Catalog, Vec<SchemaError>> {
        let mut errors = Vec::new();
        let mut catalog = Catalog::default();
        for (file, text) in sources {
            match parse_entry(&file, &text) {
                Ok(entry) => {
                    let entry = Arc::new(entry);
                    if entry.released_version.is_none() {
                        if let Some(other) = catalog.current.get(&entry.full_name) {
                            errors.push(SchemaError::new(
                                &file,
                                format!(
                                    "record {} is also defined by schemas/{}",
                                    entry.full_name, other.file
                                ),
                                "give each event type exactly one current .avsc file",
                            ));
                            continue;
                        }
                        catalog
                            .current
                            .insert(entry.full_name.clone(), entry.clone());
                    } else {
                        catalog
                            .released
                            .entry(stem_of(&file))
                            .or_default()
                            .push(entry.clone());
                    }
                    for fp in [entry.fingerprint, entry.legacy_fingerprint] {
                        catalog.by_fingerprint.entry(fp).or_insert(entry.clone());
                    }
                }
                Err(mut e) => errors.append(&mut e),
            }
        }
        errors.extend(catalog.check_releases());
        if errors.is_empty() {
            Ok(catalog)
        } else {
            Err(errors)
        }
    }

    fn check_releases(&mut self) -> Vec<SchemaError> {
        let mut errors = Vec::new();
        let mut current_stems = HashMap::new();
        for entry in self.current.values() {
            current_stems.insert(stem_of(&entry.file), entry.clone());
        }
        for (stem, versions) in &mut self.released {
            versions.sort_by_key(|v| v.released_version);
            if !current_stems.contains_key(stem) {
                errors.push(SchemaError::new(
                    &format!("released/{stem}"),
                    format!("released versions exist but schemas/{stem}.avsc does not"),
                    "restore the current schema; released versions are never deleted",
                ));
            }
            for (i, v) in versions.iter().enumerate() {
                let expected = u32::try_from(i + 1).unwrap_or(u32::MAX);
                if v.released_version != Some(expected) {
                    errors.push(SchemaError::new(
                        &v.file,
                        format!("released versions of {stem} are not numbered v1, v2, … without gaps (expected v{expected})"),
                        format!("rename it to released/{stem}/v{expected}.avsc"),
                    ));
                }
            }
        }
        for (stem, current) in &current_stems {
            let versions = self.released.get(stem).map(Vec::as_slice).unwrap_or(&[]);
            let Some(latest) = versions.last() else {
                errors.push(SchemaError::new(
                    &current.file,
                    "has no released version",
                    format!("freeze it: cp schemas/{stem}.avsc schemas/released/{stem}/v1.avsc"),
                ));
                continue;
            };
            let next = versions.len() + 1;
            if latest.schema.canonical_form() != current.schema.canonical_form() {
                errors.push(SchemaError::new(
                    &current.file,
                    format!("changed since its latest released version {}", latest.file),
                    format!(
                        "if the change is intended, freeze it as the next version: cp schemas/{stem}.avsc schemas/released/{stem}/v{next}.avsc (the compatibility check then runs against every earlier version)"
                    ),
                ));
            }
            if latest.full_name != current.full_name {
                errors.push(SchemaError::new(
                    &current.file,
                    format!("renames {} to {}", latest.full_name, current.full_name),
                    "keep the record's full name: readers find the schema by it",
                ));
            }
            for old in versions {
                if let Err(e) = SchemaCompatibility::can_read(&old.schema, &current.schema) {
                    errors.push(SchemaError::new(
                        &current.file,
                        format!("cannot read data written with {}: {e}", old.file),
                        "keep it backward compatible: give every added field a default, keep removed fields' defaults, only widen types (int to long), only add enum symbols with an enum default",
                    ));
                }
            }
        }
        errors.sort_by(|a, b| a.file.cmp(&b.file));
        errors
    }

    pub fn current(&self, full_name: &str) -> Option<&Arc<SchemaEntry>> {
        self.current.get(full_name)
    }

    pub fn current_names(&self) -> impl Iterator<Item = &str> {
        self.current.keys().map(String::as_str)
    }

    pub fn by_fingerprint(&self, fingerprint: u64) -> Option<&Arc<SchemaEntry>> {
        self.by_fingerprint.get(&fingerprint)
    }

    /// Top-level field names of a current schema, for `topology check` (a topic's key must be one).
    pub fn field_names(&self, full_name: &str) -> Option<Vec<String>> {
        match &self.current.get(full_name)?.schema {
            Schema::Record(r) => Some(r.fields.iter().map(|f| f.name.clone()).collect()),
            _ => None,
        }
    }
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) -> Result<(), String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(root, &path, out)?;
        } else if path.extension().is_some_and(|e| e == "avsc") {
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            out.push((rel, text));
        }
    }
    Ok(())
}

/// `payment_event.avsc` and `released/payment_event/v2.avsc` both have stem `payment_event`.
fn stem_of(file: &str) -> String {
    match file.strip_prefix("released/") {
        Some(rest) => rest.split('/').next().unwrap_or(rest).to_owned(),
        None => file.trim_end_matches(".avsc").to_owned(),
    }
}

fn released_version(file: &str) -> Result<Option<u32>, SchemaError> {
    let Some(rest) = file.strip_prefix("released/") else {
        if file.contains('/') {
            return Err(SchemaError::new(file, "is in an unknown subdirectory", "put current schemas in schemas/ and frozen versions in schemas/released/<stem>/v<N>.avsc"));
        }
        return Ok(None);
    };
    let version = rest
        .split('/')
        .nth(1)
        .and_then(|f| f.strip_prefix('v'))
        .and_then(|f| f.strip_suffix(".avsc"))
        .and_then(|n| n.parse::<u32>().ok());
    match version {
        Some(v) if v > 0 && rest.matches('/').count() == 1 => Ok(Some(v)),
        _ => Err(SchemaError::new(
            file,
            "is not named released/<stem>/v<N>.avsc",
            "rename it, e.g. released/payment_event/v1.avsc",
        )),
    }
}

fn parse_entry(file: &str, text: &str) -> Result<SchemaEntry, Vec<SchemaError>> {
    let released_version = released_version(file).map_err(|e| vec![e])?;
    let json: Json = serde_json::from_str(text).map_err(|e| {
        vec![SchemaError::new(
            file,
            format!(
                "is not valid JSON at line {} column {}: {e}",
                e.line(),
                e.column()
            ),
            "fix the JSON syntax",
        )]
    })?;
    let mut errors = Vec::new();
    super::conventions::check_conventions(file, &json, &mut errors);
    let schema = Schema::parse_str(text).map_err(|e| {
        let mut all = errors.clone();
        all.push(SchemaError::new(
            file,
            format!("is not a valid Avro schema: {e}"),
            "see the Avro specification for the construct named",
        ));
        all
    })?;
    if !errors.is_empty() {
        return Err(errors);
    }
    let full_name = match schema.name() {
        Some(n) => n.fullname(None),
        None => {
            return Err(vec![SchemaError::new(
                file,
                "has no named top-level type",
                "make the top level a record",
            )])
        }
    };
    let fingerprint = super::canonical::fingerprint(&json).map_err(|e| {
        vec![SchemaError::new(
            file,
            format!("has no Parsing Canonical Form: {e}"),
            "see the Avro specification for the construct named",
        )]
    })?;
    let legacy = schema.fingerprint::<Rabin>();
    let legacy_fingerprint = <[u8; 8]>::try_from(legacy.bytes.as_slice())
        .map(u64::from_le_bytes)
        .map_err(|_| {
            vec![SchemaError::new(
                file,
                "Rabin fingerprint is not 8 bytes",
                "report this as a bug",
            )]
        })?;
    Ok(SchemaEntry {
        file: file.to_owned(),
        full_name,
        schema,
        text: text.to_owned(),
        fingerprint,
        legacy_fingerprint,
        released_version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = r#"{"type":"record","name":"Thing","namespace":"io.paystream.test","doc":"d","fields":[
        {"name":"id","type":"string","doc":"d"}]}"#;

    fn released_pair(current: &str, released: &[&str]) -> Vec<(String, String)> {
        let mut s = vec![("thing.avsc".to_owned(), current.to_owned())];
        for (i, r) in released.iter().enumerate() {
            s.push((format!("released/thing/v{}.avsc", i + 1), (*r).to_owned()));
        }
        s
    }

    #[test]
    fn bundled_schemas_follow_every_rule() {
        let catalog = Catalog::bundled().unwrap_or_else(|e| panic!("{e:#?}"));
        assert!(catalog
            .current("io.paystream.payments.PaymentCommand")
            .is_some());
        assert!(catalog.current_names().count() >= 18);
    }

    #[test]
    fn working_tree_schemas_match_bundled() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
        let tree = Catalog::from_dir(&dir).unwrap_or_else(|e| panic!("{e:#?}"));
        let bundled = Catalog::bundled().unwrap();
        // The same files, with the same text: a schema edited after the last build differs here.
        let files = |c: &Catalog| -> Vec<(String, String)> {
            let mut all: Vec<(String, String)> = c
                .current
                .values()
                .chain(c.released.values().flatten())
                .map(|e| (e.file.clone(), e.text.clone()))
                .collect();
            all.sort();
            all
        };
        assert!(!tree.current.is_empty());
        assert_eq!(files(&tree), files(&bundled));
    }

    #[test]
    fn compatible_change_needs_freezing_then_passes() {
        let v2 = V1.replace(
            r#""doc":"d"}]}"#,
            r#""doc":"d"},{"name":"note","type":["null","string"],"default":null,"doc":"d"}]}"#,
        );
        let unfrozen = Catalog::from_sources(released_pair(&v2, &[V1])).unwrap_err();
        assert!(
            unfrozen[0].problem.contains("changed since"),
            "{unfrozen:?}"
        );
        assert!(
            unfrozen[0].fix.contains("released/thing/v2.avsc"),
            "{unfrozen:?}"
        );
        Catalog::from_sources(released_pair(&v2, &[V1, &v2])).unwrap();
    }

    #[test]
    fn breaking_change_is_rejected_even_when_frozen() {
        // A new field without a default cannot be filled in when reading v1 data.
        let v2 = V1.replace(
            r#""doc":"d"}]}"#,
            r#""doc":"d"},{"name":"note","type":"string","doc":"d"}]}"#,
        );
        let errors = Catalog::from_sources(released_pair(&v2, &[V1, &v2])).unwrap_err();
        assert!(
            errors.iter().any(|e| e
                .problem
                .contains("cannot read data written with released/thing/v1.avsc")),
            "{errors:?}"
        );
    }

    #[test]
    fn conventions_name_the_field_and_the_fix() {
        let cases = [
            (
                r#"{"name":"amount_minor","type":"double","doc":"d"}"#,
                "Thing.amount_minor is money but not a long",
            ),
            (r#"{"name":"fee","type":"float","doc":"d"}"#, "uses float"),
            (
                r#"{"name":"pan","type":"string","doc":"d"}"#,
                "raw card data",
            ),
            (
                r#"{"name":"created_at","type":"long","doc":"d"}"#,
                "not timestamp-millis",
            ),
            (r#"{"name":"x","type":"string"}"#, "Thing.x has no doc"),
            (
                r#"{"name":"currency","type":"int","doc":"d"}"#,
                "currency is not a string",
            ),
        ];
        for (field, want) in cases {
            let schema = V1.replace(r#"{"name":"id","type":"string","doc":"d"}"#, field);
            let errors = Catalog::from_sources(released_pair(&schema, &[&schema])).unwrap_err();
            assert!(
                errors.iter().any(|e| e.problem.contains(want)
                    && e.file == "thing.avsc"
                    && !e.fix.is_empty()),
                "{want}: {errors:?}"
            );
        }
    }

    #[test]
    fn invalid_json_reports_the_position() {
        let errors =
            Catalog::from_sources(vec![("bad.avsc".into(), "{\n \"type\": ".into())]).unwrap_err();
        assert!(
            errors[0]
                .to_string()
                .starts_with("schemas/bad.avsc: is not valid JSON at line 2"),
            "{errors:?}"
        );
    }

    #[test]
    fn unreleased_schema_is_rejected() {
        let errors = Catalog::from_sources(released_pair(V1, &[])).unwrap_err();
        assert!(
            errors[0].fix.contains("schemas/released/thing/v1.avsc"),
            "{errors:?}"
        );
    }
}
