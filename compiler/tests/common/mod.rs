//! What the integration tests share: the bundled examples, read from disk
//! into a source database and checked. Each test binary uses a part of it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use iotc_compiler::diag::Diagnostic;
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

/// The `.iot` files of the bundled example `name`, as (`<name>/<file>`,
/// text), sorted by path.
pub fn example_files(name: &str) -> Vec<(String, String)> {
    let dir = repo().join("examples").join(name);
    let mut files = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "iot") {
            let f = p.file_name().unwrap().to_string_lossy().into_owned();
            files.push((format!("{name}/{f}"), std::fs::read_to_string(&p).unwrap()));
        }
    }
    files.sort();
    files
}

/// A memory database holding `files` (path, text).
pub fn db_of(files: &[(String, String)]) -> MemoryDb {
    files.iter().fold(MemoryDb::new(), |db, (p, t)| db.with(p, t))
}

/// Every source of an analysis, `(origin, text)`: what two analyses of
/// one program must have read alike.
pub fn sources_of(s: &iotc_compiler::source::SourceMap) -> Vec<(String, String)> {
    s.files().map(|f| (f.origin.to_string(), f.text.clone())).collect()
}

/// The checked solution of the bundled example `name`, its `.iot` files
/// loaded into a memory database as `<name>/<file>`.
pub fn example(name: &str) -> Solution {
    checked(&db_of(&example_files(name)), &format!("{name}/{name}.iot"))
}

/// The errors of the one-file program `src` (as `t.iot`).
pub fn errors(src: &str) -> Vec<Diagnostic> {
    let db = MemoryDb::new().with("t.iot", src);
    analyze(&db, "t.iot", &Overrides::default())
        .diagnostics
        .into_iter()
        .filter(|d| d.is_error())
        .collect()
}

/// Runs `script` with `python3` (which must have Jinja2), `input` as JSON on
/// its standard input; what it printed.
pub fn python(script: &str, input: &Value) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 with jinja2");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
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

/// Runs `terraform ARGS` in `dir`, offline and quiet; fails the test with
/// terraform's stderr when it fails. Its stdout.
pub fn terraform(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new("terraform")
        .args(args)
        .current_dir(dir)
        .env("TF_IN_AUTOMATION", "1")
        .env("CHECKPOINT_DISABLE", "1")
        .output()
        .expect("terraform on PATH");
    assert!(
        out.status.success(),
        "terraform {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Every group of a generated inventory by name, with its parents' vars
/// merged under its own, and its hosts.
#[allow(dead_code)]
pub fn groups(inv: &Value) -> std::collections::BTreeMap<String, (Value, Vec<String>)> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![("all".to_string(), inv["all"].clone(), serde_json::Map::new())];
    while let Some((name, g, mut vars)) = stack.pop() {
        if let Some(v) = g["vars"].as_object() {
            vars.extend(v.clone());
        }
        let hosts: Vec<String> = g["hosts"]
            .as_object()
            .map(|h| h.keys().cloned().collect())
            .unwrap_or_default();
        if let Some(children) = g["children"].as_object() {
            for (k, c) in children {
                stack.push((k.clone(), c.clone(), vars.clone()));
            }
        }
        out.insert(name, (Value::Object(vars), hosts));
    }
    out
}
