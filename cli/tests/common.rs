//! Shared helpers for the CLI's integration tests.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::{Path, PathBuf};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").canonicalize().unwrap()
}

/// Every example's root file, relative to the workspace root, sorted.
pub fn examples() -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root().join("examples")).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        if name == "errors" || !dir.is_dir() {
            continue;
        }
        let main = dir.join(format!("{name}.iot"));
        assert!(main.exists(), "example folder {name} needs {name}.iot");
        out.push(format!("examples/{name}/{name}.iot"));
    }
    out.sort();
    out
}
