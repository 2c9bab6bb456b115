//! The fuzz harness: one input through the whole pipeline, as `iotc` and
//! `iotc lsp` would run it. Shared by the libFuzzer target
//! (`fuzz/fuzz_targets/pipeline.rs`) and by `cargo test`
//! (`cli/tests/fuzz_regressions.rs`), which replays the seed corpus and every
//! file in `fuzz/regressions/` through it.
//!
//! A crash is a panic (an assertion below or a bug), a stack overflow, an
//! allocation abort, or libFuzzer's timeout. What is asserted:
//! - every diagnostic's spans lie inside their file, on character boundaries,
//!   and render (text and JSON) without panicking;
//! - check passes ⇒ plan and every backend succeed;
//! - fmt is idempotent (fmt(fmt(x)) == fmt(x)) and its output parses
//!   without syntax errors;
//! - the language server's analysis answers hover, completion, definition,
//!   references, fixes, symbols and inlay hints anywhere in the file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use iotc::machine;
use iotc::render::{self, Style};
use iotc_compiler::diag::Diagnostic;
use iotc_compiler::emit::{self, Target};
use iotc_compiler::source::{FileId, MemoryDb, Origin, SourceMap};
use iotc_compiler::{analyze, fmt, plan, syntax, Overrides};
use iotc_lsp::features;
use iotc_lsp::world::{StdFiles, World};

/// The root file's path in the harness's in-memory source database.
pub const MAIN: &str = "/fuzz/main.iot";

/// Run one input. Inputs that are not UTF-8 are rejected by the CLI before
/// the compiler sees them (exit 2), so they stop here.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    cli_path(text);
    fmt_path(text);
    lsp_path(text);
}

fn assert_spans(diags: &[Diagnostic], sources: &SourceMap) {
    for d in diags {
        for label in std::iter::once(&d.primary).chain(&d.secondary) {
            let span = label.span;
            let Some(f) = sources.get(span.file) else {
                panic!("{:?} points into an unknown file: {}", d.code, d.message);
            };
            let (start, end) = (span.start as usize, span.end as usize);
            assert!(
                start <= end && end <= f.text.len(),
                "{:?}: span {start}..{end} outside its file",
                d.code
            );
            assert!(
                f.text.is_char_boundary(start) && f.text.is_char_boundary(end),
                "{:?}: span {start}..{end} not on character boundaries",
                d.code
            );
        }
    }
}

/// `iotc check`, `plan` and `build` (without the disk).
fn cli_path(text: &str) {
    let db = MemoryDb::new().with(MAIN, text);
    let a = analyze(&db, MAIN, &Overrides::default());
    assert_spans(&a.diagnostics, &a.program.sources);
    let style = Style {
        color: false,
        width: 100,
    };
    let _ = render::render_all(&a.diagnostics, &a.program.sources, style);
    let report = machine::report(&a.diagnostics, &a.program.sources);
    let _ = machine::to_json(&report);
    let _ = machine::to_sarif(&report);
    let Some(sol) = &a.solution else {
        return;
    };
    let _ = plan::render(sol);
    let _ = machine::versioned_json(sol);
    if let Err(e) = emit::emit(sol, Target::ALL) {
        panic!("check passed but build failed: {e}");
    }
}

/// `iotc fmt`.
fn fmt_path(text: &str) {
    let Ok(once) = fmt::format_source(text) else {
        return;
    };
    match fmt::format_source(&once) {
        Ok(twice) => assert!(twice == once, "fmt is not idempotent"),
        Err(d) => panic!("fmt's output does not parse: {:?}", d.first().map(|d| &d.message)),
    }
    let (_, diags) = syntax::parse(FileId(0), &once);
    assert!(
        !diags.iter().any(Diagnostic::is_error),
        "fmt's output has syntax errors"
    );
}

/// A few cursor positions: the ends, the middle, and some taken from the
/// text itself, each moved back to a character boundary.
fn offsets(text: &str) -> Vec<usize> {
    let len = text.len();
    let mut at = vec![0, len / 3, len / 2, len];
    let mut h: u64 = 1469598103934665603;
    for b in text.bytes().take(256) {
        h = (h ^ u64::from(b)).wrapping_mul(1099511628211);
    }
    for i in 0..4 {
        at.push(((h >> (i * 16)) as usize) % (len + 1));
    }
    for o in &mut at {
        while !text.is_char_boundary(*o) {
            *o -= 1;
        }
    }
    at.sort_unstable();
    at.dedup();
    at
}

/// `iotc lsp`: the analysis behind every request.
fn lsp_path(text: &str) {
    let mut w = World::new(StdFiles::none());
    w.open(MAIN.to_string(), text.to_string(), 1);
    w.refresh();
    let Some(a) = w.get(MAIN) else {
        panic!("the language server has no analysis of an open document");
    };
    assert_spans(&a.analysis.diagnostics, &a.analysis.program.sources);
    let Some(file) = features::file_of(a, &Origin::Path(MAIN.to_string())) else {
        panic!("the open document is not in its own analysis");
    };
    let _ = features::document_symbols(a, file);
    let _ = features::inlay_hints(a, file);
    for o in offsets(text) {
        let _ = features::hover(a, file, o);
        let _ = features::completions(a, file, o);
        let _ = features::definition(a, file, o);
        if let Some(target) = features::target_at(a, file, o) {
            let _ = features::references(a, target, true);
        }
        let _ = features::fixes(a, file, o, o);
    }
    // An edit: the second analysis goes through the parse cache.
    let cut = text.len() / 2;
    let cut = (0..=cut).rev().find(|&c| text.is_char_boundary(c)).unwrap_or(0);
    w.change(MAIN, text[..cut].to_string(), 2);
    w.refresh();
    if let Some(a) = w.get(MAIN) {
        assert_spans(&a.analysis.diagnostics, &a.analysis.program.sources);
    }
}
