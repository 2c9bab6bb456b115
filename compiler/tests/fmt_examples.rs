//! `iotc fmt` on every shipped example and stdlib module: each parses,
//! formatting is idempotent, keeps the meaning (the syntax tree without
//! byte positions) and keeps every `//` comment.

use iotc_compiler::fmt::format_source;
use iotc_compiler::source::FileId;
use iotc_compiler::syntax::parse;
use std::path::{Path, PathBuf};

/// Every `*.iot` file under `dir`, recursively, skipping `skip`.
fn iot_files(dir: &Path, skip: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.starts_with(skip) {
            continue;
        }
        if p.is_dir() {
            iot_files(&p, skip, out);
        } else if p.extension().is_some_and(|e| e == "iot") {
            out.push(p);
        }
    }
}

/// The ordinary `//` comments of a file (not `///` docs), trimmed. Strings
/// are skipped so that `"http://…"` is not a comment.
fn comments(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut in_string = false;
        let mut escaped = false;
        let mut prev_slash = false;
        for (i, c) in line.char_indices() {
            if in_string {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    in_string = false;
                }
                continue;
            }
            if c == '"' {
                in_string = true;
                prev_slash = false;
                continue;
            }
            if c == '/' && prev_slash {
                let comment = line.get(i.saturating_sub(1)..).unwrap_or("").trim_end();
                let doc = comment.starts_with("///") && !comment.starts_with("////");
                if !doc {
                    out.push(comment.to_string());
                }
                break;
            }
            prev_slash = c == '/';
        }
    }
    out
}

/// The syntax tree of a file without byte positions.
fn shape(text: &str) -> String {
    let (unit, _) = parse(FileId(0), text);
    let debug = format!("{:?}", unit.items);
    let mut out = String::new();
    let mut rest = debug.as_str();
    while let Some(at) = rest.find("Span { ") {
        out.push_str(rest.get(..at).unwrap_or(""));
        out.push_str("Span");
        let after = rest.get(at..).unwrap_or("");
        let close = after.find(" }").map_or(after.len(), |k| k + 2);
        rest = after.get(close..).unwrap_or("");
    }
    out.push_str(rest);
    out
}

fn shipped_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let examples = root.join("examples");
    let errors = examples.join("errors");
    let mut files = Vec::new();
    iot_files(&examples, &errors, &mut files);
    iot_files(&root.join("stdlib"), &errors, &mut files);
    files
}

#[test]
fn fmt_comment_scanner_skips_strings_and_docs() {
    let text = "/// doc\nx = \"http://a\" // real\n//// four\n  // own\n";
    assert_eq!(comments(text), vec!["// real", "//// four", "// own"]);
}

#[test]
fn fmt_examples_and_stdlib_are_idempotent_and_keep_comments() {
    let mut problems = Vec::new();
    for path in shipped_files() {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let (_, diags) = parse(FileId(0), &text);
        if !diags.is_empty() {
            problems.push(format!("{name}: does not parse: {diags:?}"));
            continue;
        }
        let once = match format_source(&text) {
            Ok(s) => s,
            Err(d) => {
                problems.push(format!("{name}: format_source failed: {d:?}"));
                continue;
            }
        };
        let twice = format_source(&once).unwrap();
        if once != twice {
            problems.push(format!("{name}: formatting is not idempotent"));
        }
        if shape(&text) != shape(&once) {
            problems.push(format!("{name}: formatting changed the syntax tree"));
        }
        let after = comments(&once);
        for c in comments(&text) {
            let want = text.matches(c.as_str()).count();
            let got = once.matches(c.as_str()).count();
            if got != want || !after.contains(&c) {
                problems.push(format!("{name}: comment {c:?} appears {got} times, expected {want}"));
            }
        }
        if comments(&text) != after {
            problems.push(format!("{name}: comments reordered"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn shipped_examples_and_stdlib_are_already_canonical() {
    for path in shipped_files() {
        let text = std::fs::read_to_string(&path).unwrap();
        let formatted = iotc_compiler::fmt::format_source(&text).unwrap();
        assert!(
            formatted == text,
            "{} is not in canonical form; run `iotc fmt` on it",
            path.display()
        );
    }
}
