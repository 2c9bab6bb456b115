//! What the integration tests share: the bundled examples, read from disk
//! into a source database and checked. Each test binary uses a part of it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use iotc_compiler::ir::Solution;
use iotc_compiler::source::{MemoryDb, ReadError, SourceDb};
use iotc_compiler::{analyze, Overrides};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The bundled examples, each `examples/<name>/<name>.iot`.
pub const EXAMPLES: &[&str] = &["factory", "city", "energy"];

/// Reads source files straight from disk (paths are file paths).
pub struct Fs;

impl SourceDb for Fs {
    fn read(&self, path: &str) -> Result<String, ReadError> {
        std::fs::read_to_string(path).map_err(|e| ReadError(e.to_string()))
    }
}

/// The repository's root folder.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The solution of `root`, which must check without errors.
pub fn checked(db: &dyn SourceDb, root: &str) -> Solution {
    let a = analyze(db, root, &Overrides::default());
    let errors: Vec<String> = a
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| format!("{d:?}"))
        .collect();
    assert!(errors.is_empty(), "{root}: {errors:#?}");
    a.solution.expect("a solution")
}

/// The checked solution of the bundled example `name`, its `.iot` files
/// loaded into a memory database as `<name>/<file>`.
pub fn example(name: &str) -> Solution {
    let dir = repo().join("examples").join(name);
    let mut db = MemoryDb::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "iot") {
            let f = p.file_name().unwrap().to_string_lossy().into_owned();
            db = db.with(&format!("{name}/{f}"), &std::fs::read_to_string(&p).unwrap());
        }
    }
    checked(&db, &format!("{name}/{name}.iot"))
}

/// A YAML text as a JSON value.
pub fn yaml(text: &str) -> Value {
    serde_norway::from_str(text).unwrap()
}

/// The documents of a generated multi-document YAML file (after its header
/// comment), empty ones left out.
pub fn documents(text: &str) -> Vec<Value> {
    text.split("\n---\n")
        .skip(1)
        .map(|d| serde_norway::from_str::<Value>(d).unwrap())
        .filter(|d| !d.is_null())
        .collect()
}
