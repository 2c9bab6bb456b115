#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! The tree-sitter grammar against the language (`grammar/iot.pest`, through
//! the compiler's parser) and against the editors that load it:
//!
//! - every `.iot` file of the repository that the compiler parses without a
//!   diagnostic parses here without an `ERROR` or `MISSING` node, and every
//!   file the compiler refuses to parse has one here too (fixtures of syntax
//!   errors);
//! - every item, statement and value of those files is the node the
//!   compiler's tree says it is (items by kind and name);
//! - the keywords of `grammar.js` are the compiler's one keyword list, and
//!   the highlight query marks every one of them;
//! - `queries/highlights.scm` compiles against the grammar and uses only
//!   Helix theme scopes.

use iotc_compiler::source::FileId;
use iotc_compiler::syntax::keywords::{BLOCK_KINDS, ITEM_KEYWORDS, NOT_NAMES, STATEMENT_KEYWORDS};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use tree_sitter::{Language, Node, Parser, Query};

const GRAMMAR_JS: &str = include_str!("../grammar.js");

fn language() -> Language {
    Language::new(iotc_tree_sitter::LANGUAGE)
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn iot_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if p.is_dir() {
            if !matches!(name.as_str(), "target" | "node_modules" | ".git") {
                iot_files(&p, out);
            }
        } else if name.ends_with(".iot") {
            out.push(p);
        }
    }
}

/// The first `ERROR` or `MISSING` node, found without recursion (some
/// fixtures nest 100,000 deep).
fn has_error(root: Node) -> Option<String> {
    if !root.has_error() {
        return None;
    }
    let mut c = root.walk();
    loop {
        let n = c.node();
        if n.is_error() || n.is_missing() {
            return Some(format!("{} at {}", n.kind(), n.start_position()));
        }
        if n.has_error() && c.goto_first_child() {
            continue;
        }
        while !c.goto_next_sibling() {
            if !c.goto_parent() {
                return Some("an error".into());
            }
        }
    }
}

/// The top-level items of a tree-sitter tree, as (kind word, name).
fn ts_items(root: Node, text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut c = root.walk();
    for item in root.named_children(&mut c) {
        let word = |n: Option<Node>| n.map(|n| text[n.byte_range()].to_string()).unwrap_or_default();
        match item.kind() {
            "solution" => out.push(("solution".into(), word(item.child_by_field_name("name")))),
            "param" => out.push(("param".into(), word(item.child_by_field_name("name")))),
            "import" => out.push(("import".into(), String::new())),
            "block_item" => out.push((
                word(item.child_by_field_name("kind")),
                word(item.child_by_field_name("name")),
            )),
            _ => {}
        }
    }
    out
}

/// The same from the compiler's parse.
fn compiler_items(unit: &iotc_compiler::syntax::ast::SourceUnit) -> Vec<(String, String)> {
    use iotc_compiler::syntax::ast::ItemKind;
    unit.items
        .iter()
        .map(|i| match &i.kind {
            ItemKind::Solution(s) => ("solution".to_string(), s.name.name.clone()),
            ItemKind::Param(p) => ("param".to_string(), p.name.name.clone()),
            ItemKind::Import(_) => ("import".to_string(), String::new()),
            ItemKind::Block(b) => (b.kind.keyword().to_string(), b.name.name.clone()),
        })
        .collect()
}

#[test]
fn every_file_the_compiler_parses_parses_here_and_every_broken_one_does_not() {
    let mut files = Vec::new();
    iot_files(&repo(), &mut files);
    files.sort();
    let mut parser = Parser::new();
    parser.set_language(&language()).unwrap();
    let (mut clean, mut broken) = (0, 0);
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let (unit, diags) = iotc_compiler::syntax::parse(FileId(0), &text);
        let tree = parser.parse(&text, None).unwrap();
        let error = has_error(tree.root_node());
        let syntax_error = diags.iter().any(|d| matches!(d.code.as_str(), "E0001" | "E0002"));
        if diags.is_empty() {
            clean += 1;
            assert_eq!(
                error,
                None,
                "{}: the compiler parses it, tree-sitter does not",
                path.display()
            );
            assert_eq!(
                ts_items(tree.root_node(), &text),
                compiler_items(&unit),
                "{}: the items differ",
                path.display()
            );
        } else if syntax_error {
            broken += 1;
            assert!(
                error.is_some(),
                "{}: the compiler reports a syntax error, tree-sitter parses it",
                path.display()
            );
        }
    }
    assert!(clean > 40 && broken >= 2, "{clean} clean and {broken} broken files");
}

/// The strings of `const NAME = [ … ];` in grammar.js.
fn js_list(name: &str) -> BTreeSet<String> {
    let start = GRAMMAR_JS.find(&format!("const {name} = [")).unwrap();
    let body = &GRAMMAR_JS[start..];
    let body = &body[body.find('[').unwrap() + 1..body.find("];").unwrap()];
    body.split(',')
        .map(|w| w.trim())
        .filter(|w| w.starts_with('\''))
        .map(|w| w.trim_matches('\'').to_string())
        .collect()
}

#[test]
fn keywords_are_the_compilers_and_all_highlighted() {
    let kinds: BTreeSet<String> = BLOCK_KINDS.iter().map(|s| s.to_string()).collect();
    assert_eq!(js_list("BLOCK_KINDS"), kinds);
    let query = iotc_tree_sitter::HIGHLIGHTS_QUERY;
    let node_types: serde_json::Value = serde_json::from_str(iotc_tree_sitter::NODE_TYPES).unwrap();
    let anonymous: BTreeSet<String> = node_types
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["named"] == false)
        .map(|t| t["type"].as_str().unwrap().to_string())
        .collect();
    for kw in ITEM_KEYWORDS.iter().chain(NOT_NAMES).chain(STATEMENT_KEYWORDS) {
        // Item kinds are one named node, `item_kind` (compared above).
        assert!(
            anonymous.contains(*kw) || BLOCK_KINDS.contains(kw),
            "`{kw}` is not a token of grammar.js"
        );
        let highlighted = query.contains(&format!("\"{kw}\""))
            || (BLOCK_KINDS.contains(kw) && query.contains("(item_kind) @keyword"))
            || (matches!(*kw, "true" | "false") && query.contains("(boolean) @"));
        assert!(highlighted, "`{kw}` is not highlighted");
    }
}

/// Helix's theme scopes (https://docs.helix-editor.com/themes.html#syntax-highlighting).
const HELIX_SCOPES: &[&str] = &[
    "attribute",
    "type",
    "type.builtin",
    "type.parameter",
    "type.enum",
    "type.enum.variant",
    "constructor",
    "constant",
    "constant.builtin",
    "constant.builtin.boolean",
    "constant.character",
    "constant.character.escape",
    "constant.numeric",
    "constant.numeric.integer",
    "constant.numeric.float",
    "string",
    "string.regexp",
    "string.special",
    "string.special.path",
    "string.special.url",
    "string.special.symbol",
    "comment",
    "comment.line",
    "comment.line.documentation",
    "comment.block",
    "comment.block.documentation",
    "comment.unused",
    "variable",
    "variable.builtin",
    "variable.parameter",
    "variable.other",
    "variable.other.member",
    "variable.other.member.private",
    "label",
    "punctuation",
    "punctuation.delimiter",
    "punctuation.bracket",
    "punctuation.special",
    "keyword",
    "keyword.control",
    "keyword.operator",
    "keyword.directive",
    "keyword.function",
    "keyword.storage",
    "keyword.storage.type",
    "keyword.storage.modifier",
    "operator",
    "function",
    "function.builtin",
    "function.method",
    "function.macro",
    "function.special",
    "tag",
    "namespace",
    "special",
];

#[test]
fn the_highlight_query_compiles_and_uses_helix_scopes() {
    let query = Query::new(&language(), iotc_tree_sitter::HIGHLIGHTS_QUERY).unwrap();
    for name in query.capture_names() {
        assert!(HELIX_SCOPES.contains(name), "`@{name}` is not a Helix theme scope");
    }
    // Every kind of node the query names exists (Query::new checks that),
    // and on a real file every keyword, string, number and comment token is
    // captured.
    let text = std::fs::read_to_string(repo().join("examples/factory/factory.iot")).unwrap();
    let mut parser = Parser::new();
    parser.set_language(&language()).unwrap();
    let tree = parser.parse(&text, None).unwrap();
    let mut cursor = tree_sitter::QueryCursor::new();
    let mut captured = BTreeSet::new();
    use tree_sitter::StreamingIterator;
    let mut matches = cursor.matches(&query, tree.root_node(), text.as_bytes());
    while let Some(m) = matches.next() {
        for c in m.captures {
            captured.insert(c.node.byte_range().start);
        }
    }
    for t in iotc_compiler::syntax::lex::tokens(&text) {
        use iotc_compiler::syntax::lex::TokenKind;
        let word = &text[t.start..t.end];
        let must = match t.kind {
            TokenKind::Comment | TokenKind::DocComment | TokenKind::String | TokenKind::Number => true,
            TokenKind::Word => NOT_NAMES.contains(&word),
            _ => false,
        };
        if must {
            assert!(
                captured.contains(&t.start),
                "`{word}` at {} is not highlighted",
                t.start
            );
        }
    }
}
