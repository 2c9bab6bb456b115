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
    assert_eq!(
        common::sources_of(&quick.program.sources),
        common::sources_of(&full.program.sources),
        "sources of {what}"
    );
}

/// Check `files` rooted at `root` with each file edited in turn; the
/// drafts taken back from the cache instead of read again.
fn compare(files: &[(String, String)], root: &str) -> u64 {
    let cache = ParseCache::new();
    let db = common::db_of(files);
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
    cache.draft_stats().0
}

#[test]
fn every_example_and_fixture_rechecked_after_edits_is_checked_from_scratch() {
    let mut n = 0;
    let mut kept = 0;
    for name in common::EXAMPLES {
        kept += compare(&common::example_files(name), &format!("{name}/{name}.iot"));
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
            kept += compare(&files, &root);
            n += 1;
        }
    }
    assert!(n > 50, "{n} programs");
    // The re-checks took drafts back (what is compared is the reuse).
    assert!(kept >= 50, "{kept} drafts taken back");
}

/// A program whose workloads read a param, a template and the fleet's
/// sites, edited in every way that changes what a kept draft was read
/// from: each re-check, with one cache throughout, equals a check from
/// scratch, and the drafts of the workloads an edit did not touch are
/// taken back.
#[test]
fn kept_drafts_follow_what_they_were_read_from() {
    let base = r#"solution kept { version = "1.0.0" }

import std.devices

param mem: memory = 64Mi

fleet edge {
  device  = std.devices.rpi5
  runtime = k3s
  site a { gateways = 2  hosts = "gw{n}.a.example.internal"  labels { zone = "north" } }
  site b { gateways = 3  hosts = "gw{n}.b.example.internal" }
}

template service base_svc {
  image  = "registry.example.com/base:1.0.0"
  cpu    = 50m
  memory = 32Mi
}

service reader on edge from base_svc {
  port   = 8080
}

service sized on edge {
  image    = "registry.example.com/sized:1.0.0"
  memory   = mem
  replicas = 1 per gateway
}

service north on edge where zone = "north" {
  image = "registry.example.com/north:1.0.0"
  cpu   = 10m
}
"#;
    let edits: Vec<(&str, String)> = vec![
        ("unchanged", base.to_string()),
        ("a param's default", base.replace("= 64Mi", "= 96Mi")),
        ("the template", base.replace("cpu    = 50m", "cpu    = 70m")),
        (
            "a site's labels",
            base.replace(r#"zone = "north""#, r#"zone = "south""#),
        ),
        (
            "a site added",
            base.replace(
                "  site b {",
                "  site c { gateways = 1  hosts = \"gw{n}.c.example.internal\" }\n  site b {",
            ),
        ),
        (
            "an item before the workloads",
            base.replace("import std.devices\n", "import std.devices\n\nparam unused: int = 1\n"),
        ),
        (
            "a workload renamed",
            base.replace("service sized on", "service sized2 on"),
        ),
        (
            "a workload made wrong",
            base.replace("cpu   = 10m", "cpu   = 10 apples"),
        ),
        ("the fleet renamed", base.replace("fleet edge", "fleet edge2")),
        ("back", base.to_string()),
        ("the param unused", base.replace("memory   = mem", "memory   = 64Mi")),
        ("back again", base.to_string()),
    ];
    let cache = ParseCache::new();
    for (what, text) in &edits {
        let db = MemoryDb::new().with("kept.iot", text);
        let full = analyze(&db, "kept.iot", &Overrides::default());
        cache.sweep();
        let quick = analyze_with(&db, "kept.iot", &Overrides::default(), Some(&cache));
        same(&quick, &full, what);
        if *what == "unchanged" {
            assert!(full.solution.is_some(), "{:?}", full.diagnostics);
        }
    }
    // An edit to one workload keeps the others' drafts.
    let before = cache.draft_stats().0;
    let db = MemoryDb::new().with("kept.iot", &base.replace("port   = 8080", "port   = 8081"));
    cache.sweep();
    let quick = analyze_with(&db, "kept.iot", &Overrides::default(), Some(&cache));
    same(
        &quick,
        &analyze(&db, "kept.iot", &Overrides::default()),
        "one workload edited",
    );
    assert_eq!(cache.draft_stats().0 - before, 2, "sized and north taken back");
    // A param set from outside (the studio's knobs, `--set`) changes what
    // a draft that reads it was read in, with the text unchanged.
    let db = MemoryDb::new().with("kept.iot", base);
    for set in ["mem=128Mi", "mem=64Mi", "mem=128Mi"] {
        let o = Overrides {
            values: None,
            sets: vec![set.to_string()],
        };
        cache.sweep();
        let quick = analyze_with(&db, "kept.iot", &o, Some(&cache));
        same(&quick, &analyze(&db, "kept.iot", &o), set);
    }
}

/// A kept draft whose fields come from a template: when the template moves
/// and the workload does not, or the workload moves and the template does
/// not, the draft's spans in the template (here the `cpu` a capacity error
/// points at) are where the template is.
#[test]
fn a_kept_draft_follows_its_template_when_it_moves() {
    let base = r#"solution moved { version = "1.0.0" }

import std.devices

fleet edge {
  device  = std.devices.rpi5
  runtime = k3s
  site a { gateways = 1  hosts = "gw{n}.a.example.internal" }
}

service big on edge from heavy {
  port = 8080
}

service other on edge {
  image = "registry.example.com/other:1.0.0"
  cpu   = 10m
}

template service heavy {
  image  = "registry.example.com/heavy:1.0.0"
  cpu    = 64
  memory = 32Mi
}
"#;
    let moved = base.replace("template service heavy", "// moved down a line\ntemplate service heavy");
    // The template first: the workload moves, the template does not.
    let first = base.replace("template service heavy", "service last on edge from heavy").replace(
        "service big on edge from heavy",
        "template service heavy {\n  image  = \"registry.example.com/heavy:1.0.0\"\n  cpu    = 64\n  memory = 32Mi\n}\n\nservice big on edge from heavy",
    );
    let first_moved = first.replace("service big on", "// moved down a line\nservice big on");
    let cache = ParseCache::new();
    for (what, text) in [
        ("base", base),
        ("template moved", moved.as_str()),
        ("back", base),
        ("template first", first.as_str()),
        ("workload moved", first_moved.as_str()),
        ("back, template first", first.as_str()),
    ] {
        let db = MemoryDb::new().with("moved.iot", text);
        let full = analyze(&db, "moved.iot", &Overrides::default());
        assert!(
            full.diagnostics.iter().any(|d| d.code.as_str() == "E0401"),
            "{what}: {:?}",
            full.diagnostics
        );
        cache.sweep();
        let quick = analyze_with(&db, "moved.iot", &Overrides::default(), Some(&cache));
        same(&quick, &full, what);
    }
}
