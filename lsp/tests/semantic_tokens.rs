//! Semantic tokens over every example and stdlib module (every token of the
//! lexer classified, sorted, none overlapping, every name the resolver
//! knows covered with the right modifier), a fixture written out token by
//! token, a range marked with `$0 … $0`, and the LSP encoding and deltas.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use iotc_compiler::source::{FileId, Origin};
use iotc_compiler::syntax::lex::{self, TokenKind};
use iotc_lsp::features::semantic_tokens::{self as st, modifier, SemanticToken, TokenType};
use iotc_lsp::features::{self};
use iotc_lsp::line_index::LineIndex;
use iotc_lsp::server;
use iotc_lsp::world::{Analyzed, StdFiles, World};
use std::path::{Path, PathBuf};

const MAIN: &str = "/virtual/main.iot";

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
    assert!(out.len() > 20, "the examples are found");
    out
}

fn tokens_of(w: &mut World, key: &str, origin: Origin) -> (Vec<SemanticToken>, String) {
    w.ensure(key);
    let a = w.get(key).expect("an analysis");
    let file = features::file_of(a, &origin).expect("the document is loaded");
    let text = a.analysis.program.sources.get(file).unwrap().text.clone();
    (st::semantic_tokens(a, file), text)
}

/// The invariants every file's tokens keep.
fn check_invariants(what: &str, a: &Analyzed, file: FileId, text: &str, tokens: &[SemanticToken]) {
    // Sorted, not overlapping, never empty.
    for pair in tokens.windows(2) {
        assert!(
            pair[0].end <= pair[1].start,
            "{what}: tokens overlap or are out of order: {:?} {:?}",
            pair[0],
            pair[1]
        );
    }
    assert!(tokens.iter().all(|t| t.start < t.end), "{what}: an empty token");
    // Every lexical token but punctuation is classified, with its exact span.
    let mut classified = tokens.iter().peekable();
    for t in lex::tokens(text) {
        match t.kind {
            TokenKind::Punct => continue,
            TokenKind::Unknown => continue,
            _ => {}
        }
        let got = classified.find(|s| s.start >= t.start);
        let got = got.unwrap_or_else(|| panic!("{what}: `{}` at {} is not classified", &text[t.start..t.end], t.start));
        assert_eq!(
            (got.start, got.end),
            (t.start, t.end),
            "{what}: `{}` at {} is classified with another span",
            &text[t.start..t.end],
            t.start
        );
        let expected = match t.kind {
            TokenKind::Comment | TokenKind::DocComment => Some(TokenType::Comment),
            TokenKind::Number => Some(TokenType::Number),
            TokenKind::Operator => Some(TokenType::Operator),
            _ => None,
        };
        if let Some(ty) = expected {
            assert_eq!(got.ty, ty, "{what}: `{}` at {}", &text[t.start..t.end], t.start);
        }
        if t.kind == TokenKind::DocComment {
            assert_eq!(
                got.modifiers,
                modifier::DOCUMENTATION,
                "{what}: doc comment at {}",
                t.start
            );
        }
    }
    // Every name the resolver knows in this file is a token: declarations
    // with the declaration modifier and their kind's type, references
    // without it and the type of what they name.
    let at = |start: u32, end: u32| {
        tokens
            .iter()
            .find(|t| t.start == start as usize && t.end == end as usize)
            .unwrap_or_else(|| {
                panic!(
                    "{what}: `{}` at {start} has no token",
                    &text[start as usize..end as usize]
                )
            })
    };
    for d in a.index().definitions.iter().filter(|d| d.name_span.file == file) {
        let t = at(d.name_span.start, d.name_span.end);
        assert!(
            t.modifiers & modifier::DECLARATION != 0,
            "{what}: `{}` declares",
            d.name
        );
        assert_eq!(t.ty, st::type_of_definition(&d.kind), "{what}: `{}`", d.name);
    }
    for r in a.index().references.iter().filter(|r| r.span.file == file) {
        let t = at(r.span.start, r.span.end);
        assert!(
            t.modifiers & modifier::DECLARATION == 0,
            "{what}: a reference at {}",
            r.span.start
        );
        if r.module {
            assert_eq!(t.ty, TokenType::Namespace);
        } else {
            let d = a.index().definition(r.target).expect("a reference names a definition");
            assert_eq!(
                t.ty,
                st::type_of_definition(&d.kind),
                "{what}: reference at {}",
                r.span.start
            );
        }
    }
    // The encoding is lossless: decoding gives back every position.
    let ix = LineIndex::new(text);
    let encoded = server::encode_tokens(&ix, tokens);
    let (mut line, mut col) = (0, 0);
    for (e, t) in encoded.iter().zip(tokens) {
        if e.delta_line > 0 {
            line += e.delta_line;
            col = e.delta_start;
        } else {
            col += e.delta_start;
        }
        let start = ix.position(t.start);
        let end = ix.position(t.end);
        assert_eq!((line, col), (start.line, start.character), "{what}: encoded start");
        assert_eq!(end.line, start.line, "{what}: a token spans lines");
        assert_eq!(col + e.length, end.character, "{what}: encoded length");
        assert!(e.length > 0);
    }
}

#[test]
fn every_example_is_classified_token_by_token() {
    let mut checked = 0;
    for path in examples() {
        let key = path.to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut w = World::new(StdFiles::none());
        w.open(key.clone(), text, 1);
        w.refresh();
        let (tokens, text) = tokens_of(&mut w, &key, Origin::Path(key.clone()));
        let a = w.get(&key).unwrap();
        let file = features::file_of(a, &Origin::Path(key.clone())).unwrap();
        check_invariants(&key, a, file, &text, &tokens);
        if !key.contains("/errors/") {
            // Whole solutions: names of every kind are there.
            for ty in [
                TokenType::Keyword,
                TokenType::Property,
                TokenType::String,
                TokenType::Comment,
            ] {
                assert!(tokens.iter().any(|t| t.ty == ty), "{key}: no {ty:?}");
            }
            assert!(
                tokens.iter().any(|t| t.modifiers & modifier::DEFAULT_LIBRARY != 0),
                "{key}: no stdlib names"
            );
        }
        checked += 1;
    }
    assert!(checked > 20);
}

#[test]
fn every_stdlib_module_is_classified_token_by_token() {
    for (module, _) in iotc_compiler::stdlib::MODULES {
        let mut w = World::new(StdFiles::none());
        let key = StdFiles::none().key(module);
        let (tokens, text) = tokens_of(&mut w, &key, Origin::Std(module.to_string()));
        let a = w.get(&key).unwrap();
        let file = features::file_of(a, &Origin::Std(module.to_string())).unwrap();
        check_invariants(module, a, file, &text, &tokens);
        assert!(
            tokens
                .iter()
                .filter(|t| t.modifiers & modifier::DECLARATION != 0)
                .all(|t| t.modifiers & modifier::DEFAULT_LIBRARY != 0),
            "{module}: stdlib declarations are marked as the stdlib's"
        );
    }
}

/// `text` token by token: `word:type[.modifier…]`, one per line.
fn render(text: &str, tokens: &[SemanticToken]) -> String {
    let mut out = String::new();
    for t in tokens {
        out.push_str(&text[t.start..t.end]);
        out.push(':');
        out.push_str(t.ty.name());
        for (bit, name) in modifier::NAMES.iter().enumerate() {
            if t.modifiers & (1 << bit) != 0 {
                out.push('.');
                out.push_str(name);
            }
        }
        out.push('\n');
    }
    out
}

/// The fixture without its `$0` markers, and the markers' byte offsets.
fn markers(fixture: &str) -> (String, Vec<usize>) {
    let mut text = String::new();
    let mut at = Vec::new();
    for (i, part) in fixture.split("$0").enumerate() {
        if i > 0 {
            at.push(text.len());
        }
        text.push_str(part);
    }
    (text, at)
}

const FIXTURE: &str = r#"import std.devices
/// Scale.
param factor: int = 2 { min = 1 }
fleet plants {
  device = std.devices.rpi5 // a board
  site north { gateways = 2 * factor }
}
$0template service base { image = "x:1" }
service bridge on plants from base {
  replicas = 1 per gateway min 1
  env { "A" = true }
  talks_to = [bridge]
}$0
"#;

fn fixture_tokens() -> (String, Vec<usize>, Vec<SemanticToken>) {
    let (text, at) = markers(FIXTURE);
    let mut w = World::new(StdFiles::none());
    w.open(MAIN.into(), text.clone(), 1);
    w.refresh();
    let (tokens, _) = tokens_of(&mut w, MAIN, Origin::Path(MAIN.into()));
    (text, at, tokens)
}

#[test]
fn a_fixture_token_by_token() {
    let (text, _, tokens) = fixture_tokens();
    let expected = "\
import:keyword
std:namespace.defaultLibrary
devices:namespace.defaultLibrary
/// Scale.:comment.documentation
param:keyword
factor:parameter.declaration
int:type.defaultLibrary
=:operator
2:number
min:property
=:operator
1:number
fleet:keyword
plants:namespace.declaration
device:property
=:operator
std:namespace.defaultLibrary
devices:namespace.defaultLibrary
rpi5:type.defaultLibrary
// a board:comment
site:keyword
north:variable.declaration
gateways:property
=:operator
2:number
*:operator
factor:parameter
template:keyword
service:keyword
base:interface.declaration
image:property
=:operator
\"x:1\":string
service:keyword
bridge:class.declaration
on:keyword
plants:namespace
from:keyword
base:interface
replicas:property
=:operator
1:number
per:keyword
gateway:keyword
min:keyword
1:number
env:keyword
\"A\":property
=:operator
true:keyword
talks_to:property
=:operator
bridge:class
";
    assert_eq!(render(&text, &tokens), expected);
}

#[test]
fn a_range_holds_the_tokens_that_overlap_it() {
    let (text, at, tokens) = fixture_tokens();
    let (lo, hi) = (at[0], at[1]);
    let ranged = st::in_range(&tokens, lo, hi);
    let rendered = render(&text, &ranged);
    assert!(rendered.starts_with("template:keyword\n"), "{rendered}");
    assert!(rendered.ends_with("bridge:class\n"), "{rendered}");
    assert_eq!(
        ranged.len(),
        tokens.iter().filter(|t| t.start >= lo && t.end <= hi).count()
    );
    // A range inside one token still returns that token.
    let inside = text.find("plants from").unwrap() + 2;
    let one = st::in_range(&tokens, inside, inside + 1);
    assert_eq!(render(&text, &one), "plants:namespace\n");
}

#[test]
fn a_half_typed_item_is_still_highlighted() {
    let text = "service bridge on plants {\n  image = \"x:1\n  replicas = 3 per gateway\n";
    let mut w = World::new(StdFiles::none());
    w.open(MAIN.into(), text.into(), 1);
    w.refresh();
    let (tokens, _) = tokens_of(&mut w, MAIN, Origin::Path(MAIN.into()));
    assert_eq!(
        render(text, &tokens),
        "service:keyword\nbridge:variable\non:keyword\nplants:variable\nimage:variable\n=:operator\n\
         \"x:1:string\nreplicas:variable\n=:operator\n3:number\nper:keyword\ngateway:variable\n"
    );
}

#[test]
fn non_ascii_text_is_encoded_in_utf16_columns() {
    let text = "/// Zürich 🚀 plant\nfleet zürich { site a { gateways = 1 } }\n";
    let mut w = World::new(StdFiles::none());
    w.open(MAIN.into(), text.into(), 1);
    w.refresh();
    let (tokens, _) = tokens_of(&mut w, MAIN, Origin::Path(MAIN.into()));
    let encoded = server::encode_tokens(&LineIndex::new(text), &tokens);
    // The doc comment: 19 characters, the rocket two UTF-16 units.
    assert_eq!(
        (encoded[0].delta_line, encoded[0].delta_start, encoded[0].length),
        (0, 0, 19)
    );
    // `zürich` on the next line: after `fleet `, six units long.
    assert_eq!(
        (encoded[2].delta_line, encoded[2].delta_start, encoded[2].length),
        (0, 6, 6)
    );
    assert_eq!(encoded[1].delta_line, 1);
}

#[test]
fn a_delta_is_one_edit_of_what_changed() {
    let tok = |n: u32| lsp_types::SemanticToken {
        delta_line: n,
        delta_start: 0,
        length: 1,
        token_type: 0,
        token_modifiers_bitset: 0,
    };
    let old: Vec<_> = [1, 2, 3, 4].map(tok).to_vec();
    assert!(server::token_edit(&old, &old).is_none());
    let new: Vec<_> = [1, 9, 9, 4].map(tok).to_vec();
    let edit = server::token_edit(&old, &new).unwrap();
    assert_eq!((edit.start, edit.delete_count), (5, 10));
    assert_eq!(edit.data.unwrap(), vec![tok(9), tok(9)]);
    let shorter: Vec<_> = [1, 4].map(tok).to_vec();
    let edit = server::token_edit(&old, &shorter).unwrap();
    assert_eq!((edit.start, edit.delete_count, edit.data.unwrap().len()), (5, 10, 0));
    let longer: Vec<_> = [1, 2, 3, 4, 5].map(tok).to_vec();
    let edit = server::token_edit(&old, &longer).unwrap();
    assert_eq!((edit.start, edit.delete_count), (20, 0));
}
