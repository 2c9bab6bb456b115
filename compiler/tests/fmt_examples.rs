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
fn scratch_fuzz() {
    let mut seed: u64 = 0x1234_5678;
    let mut rnd = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % (n as u64).max(1)) as usize
    };
    let mut problems = Vec::new();
    let mut tried = 0;
    let mut parsed = 0;
    let mut nunch = 0;
    for path in shipped_files() {
        let text = std::fs::read_to_string(&path).unwrap();
        // whitespace positions outside strings and comments
        let mut ws = Vec::new();
        let b = text.as_bytes();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'"' => { i += 1; while i < b.len() && b[i] != b'"' && b[i] != b'\n' { if b[i] == b'\\' { i += 1; } i += 1; } i += 1; }
                b'/' if b.get(i + 1) == Some(&b'/') => { while i < b.len() && b[i] != b'\n' { i += 1; } }
                b' ' | b'\n' => { ws.push(i); i += 1; }
                _ => i += 1,
            }
        }
        for round in 0..200 {
            let mut t = text.clone();
            let k = 1 + rnd(4);
            let mut picks: Vec<usize> = (0..k).map(|_| ws[rnd(ws.len())]).collect();
            picks.sort();
            picks.dedup();
            for (j, p) in picks.iter().rev().enumerate() {
                let ins = match (round + j) % 4 {
                    0 => format!(" // c{round}_{j}\n"),
                    1 => "\n\n\n".to_string(),
                    2 => format!("\n// own{round}_{j}\n"),
                    _ => " ".to_string(),
                };
                t.insert_str(*p, &ins);
            }
            tried += 1;
            let (_, d) = parse(FileId(0), &t);
            if !d.is_empty() { continue; }
            parsed += 1;
            let once = format_source(&t).unwrap();
            let twice = format_source(&once).unwrap();
            let bad_idem = once != twice;
            let bad_shape = shape(&t) != shape(&once);
            let bad_comments = comments(&t) != comments(&once);
            let unchanged = once == t && !t.contains("\n\n\n");
            if once == t { nunch += 1; }
            if bad_idem || bad_shape || bad_comments {
                problems.push(format!("{} round {round}: idem={bad_idem} shape={bad_shape} comments={bad_comments} unchanged={unchanged}", path.display()));
                if problems.len() < 3 {
                    std::fs::write(format!("/tmp/fmtw/fuzz_{}.iot", problems.len()), &t).unwrap();
                }
            }
        }
    }
    eprintln!("tried {tried} parsed {parsed} unchanged {nunch}");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
