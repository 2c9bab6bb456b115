//! The cursor context reads text through the compiler's lexer, the scanner
//! the item splitter and the formatter use: at every offset of every `.iot`
//! file of the repository (examples, error fixtures, fuzz regressions with
//! multibyte characters and unclosed blocks) it agrees with the lexer's
//! tokens on whether the cursor is in a string or a comment, and on how
//! many blocks are open.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use iotc_compiler::syntax::lex::{tokens, Token, TokenKind};
use iotc_lsp::context::cursor_context;

fn corpus() -> Vec<(String, String)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut out = Vec::new();
    let mut dirs = vec![root.join("examples"), root.join("fuzz").join("regressions")];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "iot") {
                out.push((p.display().to_string(), std::fs::read_to_string(&p).unwrap()));
            }
        }
    }
    assert!(out.len() > 20);
    for text in [
        "service s on c {\n  image = \"ghcr.io/{x}\" // { \" }\n  env { A = \"é\\\"}\" }\n  cpu",
        "fleet f { x = \"a\\\n}\" }\nservice s on f {\n  y = \"open\n  z",
        "fleet f {\r\n  // c {\r\n  site a {\r\n    gate",
        "// ü {\n/// doc {\nfleet f {\n  x = \"ü",
    ] {
        out.push((format!("{text:?}"), text.to_string()));
    }
    out
}

/// What the lexer says about a cursor at `at`: inside a string or comment
/// (strictly inside, or at the end of one still open), and how many `{` are
/// open before it.
fn expected(text: &str, toks: &[Token], at: usize) -> (bool, usize) {
    let before = &text[..at];
    // A comment starts once both its slashes are before the cursor.
    let opened = |t: &Token| {
        if t.is_comment() {
            t.start + 2 <= at
        } else {
            t.start < at
        }
    };
    let inside = toks.iter().any(|t| {
        opened(t)
            && (at < t.end || (at == t.end && (t.is_comment() || t.is_unclosed_string(text))))
            && (t.is_comment() || t.kind == TokenKind::String)
    });
    // A string the cursor cuts in two reads as unclosed up to the cursor.
    let inside = inside
        || toks
            .iter()
            .any(|t| t.kind == TokenKind::String && t.start < at && at < t.end && t.is_unclosed_string(before));
    let mut depth = 0usize;
    for t in toks.iter().filter(|t| t.end <= at && t.kind == TokenKind::Punct) {
        match &text[t.start..t.end] {
            "{" => depth += 1,
            "}" => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    (inside, depth)
}

#[test]
fn cursor_context_agrees_with_the_lexer_everywhere() {
    let mut checked = 0usize;
    for (name, text) in corpus() {
        let toks = tokens(&text);
        // Every character boundary of small files; a sample of large ones
        // (each offset reads the whole text before it).
        let samples = if text.len() > 20_000 { 200 } else { 1500 };
        let step = (text.len() / samples).max(1);
        let offsets = (0..=text.len()).filter(|i| text.is_char_boundary(*i)).step_by(step);
        for at in offsets {
            let cx = cursor_context(&text, at);
            let (inside, depth) = expected(&text, &toks, at);
            assert_eq!(
                cx.in_string_or_comment, inside,
                "{name} at {at}: in a string or comment? context {} lexer {inside}",
                cx.in_string_or_comment
            );
            assert_eq!(cx.headers.len(), depth, "{name} at {at}: open blocks");
            checked += 1;
        }
    }
    assert!(checked > 5_000, "{checked} offsets");
}
