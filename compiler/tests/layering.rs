//! "A semantic decision is made once, in the checker; backends translate the
//! IR" (docs/architecture.md). A backend (`compiler/src/emit/**`) that
//! imports the syntax tree, the checker, the schema or the editor queries
//! could decide again; this test fails when one names any module of the
//! crate but the IR, the name predicates and the backends themselves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::path::{Path, PathBuf};

/// The modules of the crate a backend may name: the IR, the name
/// predicates and the backends themselves. Every other module of
/// `compiler/src/lib.rs` (the syntax tree, the checker, the schema, the
/// editor queries, the formatter, the planner, …) is forbidden, so a module
/// added later is forbidden too until this list says otherwise.
const ALLOWED: &[&str] = &["ir", "names", "emit"];

/// The modules of the crate root, from `compiler/src/lib.rs`.
fn crate_modules() -> Vec<String> {
    let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    lib.lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("pub mod ")
                .or_else(|| l.trim().strip_prefix("mod "))
        })
        .filter_map(|l| l.strip_suffix(';'))
        .map(str::to_string)
        .collect()
}

/// The modules a backend must not name.
fn forbidden() -> Vec<String> {
    crate_modules()
        .into_iter()
        .filter(|m| !ALLOWED.contains(&m.as_str()))
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `crate::m`, `iotc_compiler::m` or `super::…::m` path in `text`
/// whose module `m` is forbidden, with its line number.
fn forbidden_paths(text: &str, forbidden: &[String]) -> Vec<(usize, String)> {
    let mut hits = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        for root in ["crate::", "iotc_compiler::", "super::"] {
            let mut rest = code;
            while let Some(at) = rest.find(root) {
                let before = rest[..at].chars().next_back();
                rest = &rest[at + root.len()..];
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    continue;
                }
                let mut tail = rest;
                while let Some(t) = tail.strip_prefix("super::") {
                    tail = t;
                }
                rest = tail;
                // `crate::{check, ir}` as well as `crate::check::…`.
                let names: Vec<&str> = match tail.strip_prefix('{') {
                    Some(group) => group.split('}').next().unwrap_or("").split(',').collect(),
                    None => vec![tail],
                };
                for name in names {
                    let word: String = name
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if forbidden.contains(&word) {
                        hits.push((n + 1, line.trim().to_string()));
                    }
                }
            }
        }
    }
    hits
}

#[test]
fn every_module_but_the_ir_and_names_is_forbidden() {
    let f = forbidden();
    for m in ["syntax", "check", "ide", "fmt", "schema", "plan", "graph"] {
        assert!(f.iter().any(|x| x == m), "{m} is forbidden: {f:?}");
    }
    assert!(!f.iter().any(|x| ALLOWED.contains(&x.as_str())));
}

#[test]
fn the_detector_finds_what_it_looks_for() {
    let forbidden = forbidden();
    for bad in [
        "use crate::syntax::ast::Item;",
        "use crate::{check, ir};",
        "let x = super::super::check::values::k8s_name(n);",
        "use iotc_compiler::ide::index;",
        "use crate::schema::Shape;",
    ] {
        assert_eq!(forbidden_paths(bad, &forbidden).len(), 1, "{bad}");
    }
    for fine in [
        "use crate::ir::Solution;",
        "use super::escape;",
        "use crate::names::k8s_name; // not crate::check",
        "fn check_one(x: u8) {}",
        "use super::{yaml, EmitError};",
    ] {
        assert!(forbidden_paths(fine, &forbidden).is_empty(), "{fine}");
    }
}

#[test]
fn backends_read_only_the_ir() {
    let emit = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/emit");
    let mut files = Vec::new();
    rust_files(&emit, &mut files);
    files.sort();
    assert!(files.len() > 10, "found the backends under {}", emit.display());
    let forbidden = forbidden();
    let mut problems = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for (line, code) in forbidden_paths(&text, &forbidden) {
            problems.push(format!("{}:{line}: {code}", f.display()));
        }
    }
    assert!(
        problems.is_empty(),
        "backends must translate the IR, not read syntax or re-run the checker:\n{}",
        problems.join("\n")
    );
}
