//! Bundles every Avro schema under `schemas/` into the binary, so the codec resolves writer schemas
//! (current and released versions) without reading files at run time.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn avsc_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(avsc_files(&path));
        } else if path.extension().is_some_and(|e| e == "avsc") {
            out.push(path);
        }
    }
    out.sort();
    out
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let schemas = root.join("schemas");
    println!("cargo:rerun-if-changed={}", schemas.display());
    let mut code = String::from("/// (path relative to schemas/, schema text), sorted by path.\npub const BUNDLED: &[(&str, &str)] = &[\n");
    for path in avsc_files(&schemas) {
        println!("cargo:rerun-if-changed={}", path.display());
        let rel = path
            .strip_prefix(&schemas)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        let _ = writeln!(
            code,
            "    ({rel:?}, include_str!({:?})),",
            path.display().to_string()
        );
    }
    code.push_str("];\n");
    let out =
        PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("bundled_schemas.rs");
    if let Err(e) = std::fs::write(&out, code) {
        println!("cargo:warning=cannot write {}: {e}", out.display());
    }
}
