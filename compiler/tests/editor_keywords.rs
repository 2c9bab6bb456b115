//! The editor grammars cannot import Rust, so this test compares them with
//! the one keyword list (`iotc_compiler::syntax::keywords`, itself checked
//! against `grammar/iot.pest`): every keyword is highlighted, and the item
//! header's alternatives are exactly the item kinds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use iotc_compiler::syntax::keywords::{BLOCK_KINDS, ITEM_KEYWORDS, NOT_NAMES, STATEMENT_KEYWORDS};
use std::collections::BTreeSet;

const TEXTMATE: &str = include_str!("../../editors/vscode/syntaxes/iot.tmLanguage.json");

/// Every `match` regex of the TextMate grammar, by repository entry name.
fn matches() -> Vec<(String, String)> {
    fn walk(name: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    if k == "match" {
                        if let Some(s) = v.as_str() {
                            out.push((name.to_string(), s.to_string()));
                        }
                    } else {
                        walk(if name.is_empty() { k } else { name }, v, out);
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(name, v, out)),
            _ => {}
        }
    }
    let json: serde_json::Value = serde_json::from_str(TEXTMATE).unwrap();
    let mut out = Vec::new();
    walk("", &json["repository"], &mut out);
    out
}

/// The word alternatives of a regex: `(a|b|c)` groups made only of words.
fn groups(regex: &str) -> Vec<BTreeSet<String>> {
    let mut out = Vec::new();
    let mut rest = regex;
    while let Some(open) = rest.find('(') {
        rest = &rest[open + 1..];
        let Some(close) = rest.find(')') else { break };
        let inner = &rest[..close];
        let words: Vec<&str> = inner.split('|').collect();
        if words
            .iter()
            .all(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        {
            out.push(words.iter().map(|w| w.to_string()).collect());
        }
    }
    out
}

#[test]
fn textmate_item_header_lists_exactly_the_item_kinds() {
    let header = matches()
        .into_iter()
        .find(|(name, _)| name == "item-header")
        .expect("an item-header rule")
        .1;
    let expected: BTreeSet<String> = std::iter::once("solution")
        .chain(BLOCK_KINDS.iter().copied())
        .map(String::from)
        .collect();
    assert!(
        groups(&header).contains(&expected),
        "the item-header regex `{header}` should list exactly {expected:?}"
    );
}

#[test]
fn textmate_highlights_every_keyword() {
    let highlighted: BTreeSet<String> = matches().iter().flat_map(|(_, m)| groups(m)).flatten().collect();
    let missing: Vec<&str> = ITEM_KEYWORDS
        .iter()
        .chain(NOT_NAMES)
        .chain(STATEMENT_KEYWORDS)
        .copied()
        .filter(|w| !highlighted.contains(*w))
        .collect();
    assert!(
        missing.is_empty(),
        "keywords the VS Code grammar does not highlight: {missing:?}"
    );
}
