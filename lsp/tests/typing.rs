//! Every example typed in, one prefix at a time (at a stride, so the test
//! runs in seconds): at every prefix the engine analyses the text and
//! answers every kind of request without panicking.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use iotc_compiler::source::Origin;
use iotc_lsp::features;
use iotc_lsp::server;
use iotc_lsp::world::{StdFiles, World};
use std::path::{Path, PathBuf};

fn examples() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "iot") {
                out.push(p);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut out = Vec::new();
    walk(&root, &mut out);
    out
}

/// Prefix lengths at about `steps` points, on character boundaries.
fn prefixes(text: &str, steps: usize) -> Vec<usize> {
    let stride = (text.len() / steps).max(1);
    let mut out: Vec<usize> = (0..text.len())
        .step_by(stride)
        .map(|mut i| {
            while !text.is_char_boundary(i) {
                i -= 1;
            }
            i
        })
        .collect();
    out.push(text.len());
    out.dedup();
    out
}

fn every_request(w: &mut World, key: &str, offset: usize) {
    w.ensure(key);
    let a = w.get(key).expect("an analysis for an open document");
    let file = features::file_of(a, &Origin::Path(key.into())).expect("the root is loaded");
    let len = a.analysis.program.sources.get(file).unwrap().text.len();
    // Semantic tokens on every prefix: sorted, never overlapping, never empty.
    let tokens = features::semantic_tokens::semantic_tokens(a, file);
    assert!(tokens.iter().all(|t| t.start < t.end && t.end <= len));
    assert!(
        tokens.windows(2).all(|p| p[0].end <= p[1].start),
        "semantic tokens overlap"
    );
    let in_file = |s: iotc_compiler::source::Span| s.file == file && s.start <= s.end && s.end as usize <= len;
    let ordered = |s: iotc_compiler::source::Span| s.start <= s.end;
    for at in [offset, offset / 2, len] {
        // Every answer is well formed: spans ordered (in this file where they
        // must be), labels and texts non-empty.
        if let Some(h) = features::hover(a, file, at) {
            assert!(ordered(h.span), "hover span {:?}", h.span);
            assert!(!h.markdown.trim().is_empty(), "empty hover at {at}");
        }
        for c in features::completions(a, file, at) {
            assert!(!c.label.is_empty(), "a completion without a label at {at}");
        }
        if let Some(d) = features::definition(a, file, at) {
            assert!(ordered(d), "definition span {d:?}");
        }
        if let Some(t) = features::target_at(a, file, at) {
            let refs = features::references(a, t, true);
            assert!(refs.contains(&t), "references with the declaration lack it: {t:?}");
            assert!(refs.iter().all(|r| ordered(*r)));
        }
    }
    fn symbols_in(nodes: &[features::SymbolNode], ok: &dyn Fn(iotc_compiler::source::Span) -> bool) {
        for n in nodes {
            assert!(ok(n.full_span) && ok(n.name_span), "symbol {} out of the file", n.name);
            assert!(
                n.full_span.start <= n.name_span.start && n.name_span.end <= n.full_span.end,
                "symbol {}'s name outside its range",
                n.name
            );
            symbols_in(&n.children, ok);
        }
    }
    symbols_in(&features::document_symbols(a, file), &in_file);
    for h in features::inlay_hints(a, file) {
        assert!(
            h.offset <= len && !h.label.is_empty(),
            "inlay hint {:?} at {}",
            h.label,
            h.offset
        );
    }
    for f in features::fixes(a, file, 0, len) {
        assert!(
            f.diagnostic < a.analysis.diagnostics.len(),
            "a fix for no diagnostic: {}",
            f.title
        );
        assert!(ordered(f.span) && !f.title.is_empty());
    }
    for d in server::diagnostics(w, key, a) {
        assert!(
            d.range.start <= d.range.end && !d.message.is_empty(),
            "diagnostic {d:?}"
        );
    }
}

#[test]
fn every_prefix_of_every_example_gets_answers() {
    let files = examples();
    assert!(files.len() > 20, "examples found: {}", files.len());
    let mut checked = 0;
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let key = path.to_string_lossy().into_owned();
        let steps = if text.len() > 4000 { 30 } else { 8 };
        let mut w = World::new(StdFiles::none());
        for (version, len) in prefixes(&text, steps).into_iter().enumerate() {
            let prefix = &text[..len];
            w.change(&key, prefix.to_string(), i32::try_from(version).unwrap());
            every_request(&mut w, &key, len);
            let _ = iotc_compiler::fmt::format_source(prefix);
            checked += 1;
        }
    }
    assert!(checked > 300, "only {checked} prefixes checked");
}

#[test]
fn garbled_text_gets_answers() {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/factory/factory.iot")).unwrap();
    let key = "/virtual/garbled.iot";
    let mut w = World::new(StdFiles::none());
    // Drop every 97th character, then close every brace too early.
    let dropped: String = text
        .chars()
        .enumerate()
        .filter(|(i, _)| i % 97 != 0)
        .map(|(_, c)| c)
        .collect();
    for (version, t) in [dropped, text.replace('{', "}"), text.replace('"', "")]
        .into_iter()
        .enumerate()
    {
        w.change(key, t.clone(), i32::try_from(version).unwrap());
        for at in prefixes(&t, 15) {
            every_request(&mut w, key, at);
        }
    }
}
