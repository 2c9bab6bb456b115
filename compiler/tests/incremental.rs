//! A re-check as the language server makes it, with the items of the
//! previous text reused from a parse cache, gives exactly what a check
//! from scratch gives: diagnostics, solution (compared as data and as its JSON
//! serialisation), count explanations and sources. Every example and error
//! fixture, each of its files edited in turn: a comment inserted in the
//! middle (every later item moves), a digit changed, a line deleted, and
//! back to the original text, with one cache throughout as when typing.
//! The generated fleet workload is compared the same way in
//! `bench/tests/incremental.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use common::repo;
use iotc_compiler::source::MemoryDb;
use iotc_compiler::syntax::ParseCache;
use iotc_compiler::{analyze, analyze_with, Analysis, Overrides};

/// The edits tried on `text`: the edited texts, the original last.
fn edits(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mid = text.len() / 2;
    let line = text[mid..].find('\n').map(|i| mid + i + 1).unwrap_or(text.len());
    out.push(format!("{}// edited\n{}", &text[..line], &text[line..]));
    if let Some(at) = text.rfind(|c: char| c.is_ascii_digit()) {
        let d = text.as_bytes()[at] - b'0';
        let mut t = text.to_string();
        t.replace_range(at..=at, &((d + 1) % 10).to_string());
        out.push(t);
    }
    if let Some(end) = text[line..].find('\n') {
        out.push(format!("{}{}", &text[..line], &text[line + end + 1..]));
    }
    out.push(text.to_string());
    out
}

fn same(quick: &Analysis, full: &Analysis, what: &str) {
    assert_eq!(quick.diagnostics, full.diagnostics, "diagnostics of {what}");
    assert_eq!(quick.solution, full.solution, "solution of {what}");
    assert_eq!(
        serde_json::to_string(&quick.solution).unwrap(),
        serde_json::to_string(&full.solution).unwrap(),
        "serialised solution of {what}"
    );
    assert_eq!(quick.counts.len(), full.counts.len(), "count explanations of {what}");
    assert_eq!(quick.counts, full.counts, "count explanations of {what}");
    let files = |s: &iotc_compiler::source::SourceMap| {
        s.files()
            .map(|f| (f.origin.to_string(), f.text.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        files(&quick.program.sources),
        files(&full.program.sources),
        "sources of {what}"
    );
}

/// Check `files` rooted at `root` with each file edited in turn.
fn compare(files: &[(String, String)], root: &str) {
    let cache = ParseCache::new();
    let db = files.iter().fold(MemoryDb::new(), |db, (p, t)| db.with(p, t));
    cache.sweep();
    let first = analyze_with(&db, root, &Overrides::default(), Some(&cache));
    same(&first, &analyze(&db, root, &Overrides::default()), root);
    for (i, (path, text)) in files.iter().enumerate() {
        for (k, edited) in edits(text).into_iter().enumerate() {
            let db = files.iter().enumerate().fold(MemoryDb::new(), |db, (j, (p, t))| {
                db.with(p, if i == j { &edited } else { t })
            });
            let what = format!("{root} with {path} edited ({k})");
            let full = analyze(&db, root, &Overrides::default());
            cache.sweep();
            let quick = analyze_with(&db, root, &Overrides::default(), Some(&cache));
            same(&quick, &full, &what);
        }
    }
}

#[test]
fn every_example_and_fixture_rechecked_after_edits_is_checked_from_scratch() {
    let mut n = 0;
    for name in common::EXAMPLES {
        compare(&common::example_files(name), &format!("{name}/{name}.iot"));
        n += 1;
    }
    let errors = repo().join("examples/errors");
    let mut entries: Vec<_> = std::fs::read_dir(&errors).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let files: Vec<(String, String)> = if p.is_dir() {
            let mut fs: Vec<(String, String)> = std::fs::read_dir(&p)
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|f| f.extension().is_some_and(|x| x == "iot"))
                .map(|f| {
                    let file = f.file_name().unwrap().to_string_lossy().into_owned();
                    (format!("{name}/{file}"), std::fs::read_to_string(&f).unwrap())
                })
                .collect();
            fs.sort();
            fs
        } else if name.ends_with(".iot") {
            vec![(name.clone(), std::fs::read_to_string(&p).unwrap())]
        } else {
            continue;
        };
        let root = if p.is_dir() { format!("{name}/main.iot") } else { name };
        if files.iter().any(|(f, _)| *f == root) {
            compare(&files, &root);
            n += 1;
        }
    }
    assert!(n > 50, "{n} programs");
}
