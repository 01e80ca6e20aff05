//! The layout is the architecture: `src/lib.rs` declares the top-level modules bottom-up, and a module
//! may only use the ones declared before it. Sibling processors never use each other. This test reads
//! every `crate::` path in `src/` (test code included) and fails on any that points up or sideways.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed expectation is the report

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The top-level modules in the order `src/lib.rs` declares them: the layer order, bottom first.
fn layers() -> Vec<String> {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    lib.lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';').to_owned())
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Code without comments (doc comments name modules in prose).
fn code_of(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `prefix<name>` in `code`.
fn names_after<'a>(code: &'a str, prefix: &str) -> Vec<&'a str> {
    code.match_indices(prefix)
        .map(|(i, _)| {
            let rest = &code[i + prefix.len()..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .collect()
}

fn relative(path: &Path) -> String {
    path.strip_prefix(src()).unwrap().display().to_string()
}

#[test]
fn imports_only_point_down() {
    let order = layers();
    assert!(order.len() >= 10, "src/lib.rs declares {order:?}");
    let rank: BTreeMap<&str, usize> = order
        .iter()
        .enumerate()
        .map(|(i, m)| (m.as_str(), i))
        .collect();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut violations = Vec::new();
    for file in &files {
        let rel = relative(file);
        let top = rel.split(['/', '.']).next().unwrap();
        let Some(&own) = rank.get(top) else { continue }; // lib.rs, main.rs
        for used in names_after(&code_of(file), "crate::") {
            let Some(&r) = rank.get(used) else { continue };
            if r > own {
                violations.push(format!("{rel} uses crate::{used} (a higher layer)"));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "layer order {order:?}:\n{}",
        violations.join("\n")
    );
}

/// The processors: folders under `src/processors/` with an `impl Processor for`.
fn processors() -> Vec<String> {
    let mut names = Vec::new();
    for e in std::fs::read_dir(src().join("processors")).unwrap() {
        let p = e.unwrap().path();
        if !p.is_dir() {
            continue;
        }
        let mut files = Vec::new();
        rust_files(&p, &mut files);
        if files
            .iter()
            .any(|f| code_of(f).contains("impl Processor for"))
        {
            names.push(p.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    names.sort();
    names
}

#[test]
fn sibling_processors_never_use_each_other() {
    let names = processors();
    assert!(names.len() >= 4, "found processors {names:?}");
    let mut violations = Vec::new();
    for own in &names {
        let mut files = Vec::new();
        rust_files(&src().join("processors").join(own), &mut files);
        for file in &files {
            let code = code_of(file);
            // `super::x` from a folder's mod.rs is a sibling; from its other files, `super::super::x`.
            let sibling_prefix = if file.ends_with("mod.rs") {
                "super::"
            } else {
                "super::super::"
            };
            let mut used = names_after(&code, "crate::processors::");
            used.extend(names_after(&code, sibling_prefix));
            for u in used {
                if u != own && names.iter().any(|n| n == u) {
                    violations.push(format!("{} uses processor {u}", relative(file)));
                }
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn the_check_sees_a_violation() {
    // The scanner itself: an upward path and a sibling path are found, prose is not.
    let code = code_of(&src().join("lib.rs"));
    assert!(
        names_after(&code, "crate::").is_empty(),
        "lib.rs only declares modules"
    );
    assert_eq!(
        names_after("use crate::bridge::api; x crate::store", "crate::"),
        ["bridge", "store"]
    );
}
