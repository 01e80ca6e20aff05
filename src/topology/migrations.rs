//! The ordered CQL migrations of `topology/migrations/`: numbered without gaps, each statement
//! idempotent and none destroying data.

use super::{err, Migration, TopologyError};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Every `NNNN_name.cql` of `dir`, in order; all problems at once.
pub(super) fn load_migrations(dir: &Path) -> Result<Vec<Migration>, Vec<TopologyError>> {
    let shown = dir.display().to_string();
    let entries = std::fs::read_dir(dir).map_err(|e| {
        vec![err(
            &shown,
            "directory",
            format!("cannot be read: {e}"),
            "create topology/migrations with 0001_<name>.cql",
        )]
    })?;
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "cql"))
        .collect();
    files.sort();
    let mut errors = Vec::new();
    let mut migrations = Vec::new();
    for (i, path) in files.iter().enumerate() {
        let expected = u32::try_from(i + 1).unwrap_or(u32::MAX);
        if let Some(m) = migration(path, expected, &mut errors) {
            migrations.push(m);
        }
    }
    if errors.is_empty() {
        Ok(migrations)
    } else {
        Err(errors)
    }
}

/// One migration file, numbered `expected`; `None` when it cannot be read as one.
fn migration(path: &Path, expected: u32, errors: &mut Vec<TopologyError>) -> Option<Migration> {
    let file = path.display().to_string();
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (num, name) = stem.split_once('_').unwrap_or((stem.as_str(), ""));
    let version = match num.parse::<u32>() {
        Ok(v) if num.len() == 4 && !name.is_empty() => v,
        _ => {
            errors.push(err(
                &file,
                "file name",
                "is not NNNN_name.cql",
                format!("rename it to {expected:04}_<name>.cql"),
            ));
            return None;
        }
    };
    if version != expected {
        errors.push(err(
            &file,
            "file name",
            format!("version {version} breaks the sequence (expected {expected})"),
            "number migrations 0001, 0002, … without gaps or duplicates",
        ));
    }
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            errors.push(err(
                &file,
                "file",
                format!("cannot be read: {e}"),
                "check permissions",
            ));
            return None;
        }
    };
    let statements = split_cql(&text);
    check_statements(&file, &statements, errors);
    Some(Migration {
        version,
        name: name.to_owned(),
        checksum: hex::encode(Sha256::digest(text.as_bytes())),
        file,
        statements,
    })
}

/// At least one statement; each idempotent, none destroying data.
fn check_statements(file: &str, statements: &[String], errors: &mut Vec<TopologyError>) {
    if statements.is_empty() {
        errors.push(err(
            file,
            "file",
            "has no statements",
            "add at least one CQL statement ending in ';'",
        ));
    }
    for (n, s) in statements.iter().enumerate() {
        let upper = s.to_ascii_uppercase();
        if upper.starts_with("CREATE") && !upper.contains("IF NOT EXISTS") {
            errors.push(err(
                file,
                format!("statement {}", n + 1),
                "CREATE without IF NOT EXISTS is not idempotent",
                "write CREATE … IF NOT EXISTS so a re-run after a crash is harmless",
            ));
        }
        if upper.starts_with("DROP") || upper.starts_with("TRUNCATE") {
            errors.push(err(
                file,
                format!("statement {}", n + 1),
                "destroys data",
                "never drop in a migration; add a new table and migrate readers instead",
            ));
        }
    }
}

/// Statements of a CQL file: `--` comments dropped, split on `;`. DDL has no `;` inside literals.
pub fn split_cql(text: &str) -> Vec<String> {
    let without_comments: String = text
        .lines()
        .map(|l| match l.find("--") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    without_comments
        .split(';')
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|s| !s.is_empty())
        .collect()
}
