//! docs/architecture.md's stage table matches the code: every file or
//! folder the page names exists, and every module of the compiler's crate
//! root and every file of the checker is named on the page. A module added,
//! moved or removed without the page following fails here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every repository path in backticks on the page (outside code blocks),
/// with `a/{b,c}.rs` read as `a/b.rs` and `a/c.rs`.
fn named_paths(page: &str) -> BTreeSet<String> {
    let mut prose = String::new();
    for (k, part) in page.split("```").enumerate() {
        if k % 2 == 0 {
            prose.push_str(part);
        }
    }
    let mut out = BTreeSet::new();
    for (k, span) in prose.split('`').enumerate() {
        if k % 2 == 0 || span.contains('\n') {
            continue;
        }
        let alternatives: Vec<String> = match (span.find('{'), span.find('}')) {
            (Some(open), Some(close)) if open < close => span[open + 1..close]
                .split(',')
                .map(|alt| format!("{}{}{}", &span[..open], alt.trim(), &span[close + 1..]))
                .collect(),
            _ => vec![span.to_string()],
        };
        for p in alternatives {
            if ["compiler/", "cli/", "lsp/"].iter().any(|root| p.starts_with(root)) {
                out.insert(p);
            }
        }
    }
    out
}

fn page() -> String {
    std::fs::read_to_string(repo().join("docs/architecture.md")).unwrap()
}

#[test]
fn the_reader_expands_braces_and_skips_code_blocks() {
    let named = named_paths("```\n`compiler/src/nope.rs`\n```\n| `compiler/src/{a,b}.rs` | `ir::Solution` |");
    let expected: BTreeSet<String> = ["compiler/src/a.rs", "compiler/src/b.rs"].map(String::from).into();
    assert_eq!(named, expected);
}

#[test]
fn every_path_the_page_names_exists() {
    let named = named_paths(&page());
    assert!(named.len() > 30, "the page names the modules: {named:?}");
    let missing: Vec<&String> = named.iter().filter(|p| !repo().join(p).exists()).collect();
    assert!(
        missing.is_empty(),
        "docs/architecture.md names paths that do not exist: {missing:?}"
    );
}

#[test]
fn every_compiler_module_and_checker_file_is_on_the_page() {
    let named = named_paths(&page());
    let src = repo().join("compiler/src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let mut wanted = Vec::new();
    for line in lib.lines() {
        let Some(m) = line.strip_prefix("pub mod ").and_then(|l| l.strip_suffix(';')) else {
            continue;
        };
        wanted.push(if src.join(m).is_dir() {
            format!("compiler/src/{m}/")
        } else {
            format!("compiler/src/{m}.rs")
        });
    }
    assert!(wanted.len() > 10, "read the modules of compiler/src/lib.rs");
    let mut dirs = vec![src.join("check")];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let rel = p.strip_prefix(repo()).unwrap().to_string_lossy().replace('\\', "/");
                wanted.push(rel);
            }
        }
    }
    let missing: Vec<&String> = wanted.iter().filter(|w| !named.contains(*w)).collect();
    assert!(
        missing.is_empty(),
        "docs/architecture.md's stage table does not name these modules: {missing:?}"
    );
}
