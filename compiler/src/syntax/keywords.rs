//! The language's words, taken from `grammar/iot.pest`: the one keyword list
//! the item splitter, the formatter, the language server (completion,
//! rename) and the editor grammars use. A test below reads the grammar and
//! fails when a list here differs from it; `editors/` grammars are compared
//! with these lists by `cli/tests/editors.rs`.

/// The kinds of block item (`item_kind` in the grammar).
pub const BLOCK_KINDS: &[&str] = &[
    "cluster", "fleet", "service", "daemon", "job", "model", "device", "runtime", "serving", "external",
];

/// Words that begin a top-level item (`kw_solution`, `kw_import`,
/// `kw_param`, `kw_template` and [`BLOCK_KINDS`]), in the order completion
/// lists them.
pub const ITEM_KEYWORDS: &[&str] = &[
    "solution", "import", "param", "cluster", "fleet", "service", "daemon", "job", "model", "template", "device",
    "runtime", "serving", "external",
];

/// Words that are never names (the grammar's `keyword` rule).
pub const NOT_NAMES: &[&str] = &["on", "where", "from", "per", "of", "true", "false", "and"];

/// Words that begin a statement inside a body (`kw_secret`, `kw_device`,
/// `kw_alert`) or continue one (`kw_for`, `kw_as`).
pub const STATEMENT_KEYWORDS: &[&str] = &["secret", "device", "alert", "for", "as"];

/// Words after which, in an item's header, the next word is a name.
pub const HEADER_WORDS: &[&str] = &[
    "template", "cluster", "fleet", "service", "daemon", "job", "model", "device", "runtime", "serving", "external",
    "on", "from", "import",
];

/// The root of the standard library's paths.
pub const STD_ROOT: &str = "std";

/// True for a word a new name must not take (the language server's rename):
/// a grammar keyword, an item or statement keyword, or `std`.
pub fn is_reserved(word: &str) -> bool {
    word == STD_ROOT || NOT_NAMES.contains(&word) || ITEM_KEYWORDS.contains(&word) || STATEMENT_KEYWORDS.contains(&word)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    const GRAMMAR: &str = include_str!("../../../grammar/iot.pest");

    /// The quoted alternatives of the rule `name = @{ ( "a" | "b" ) ~ … }`.
    fn alternatives(rule: &str) -> BTreeSet<String> {
        let start = GRAMMAR
            .find(&format!("\n{rule} "))
            .unwrap_or_else(|| panic!("rule {rule} in the grammar"));
        let rest = &GRAMMAR[start..];
        let open = rest.find('(').unwrap();
        let close = rest.find(')').unwrap();
        rest[open + 1..close]
            .split('|')
            .map(|w| w.trim().trim_matches('"').to_string())
            .collect()
    }

    /// The words of every `kw_x = @{ "x" ~ !XID_CONTINUE }` rule.
    fn kw_rules() -> BTreeSet<String> {
        GRAMMAR
            .lines()
            .filter_map(|l| l.strip_prefix("kw_"))
            .map(|l| {
                let name = l.split_whitespace().next().unwrap().to_string();
                assert!(l.contains(&format!("\"{name}\"")), "kw_{name} matches \"{name}\"");
                name
            })
            .collect()
    }

    fn set(words: &[&str]) -> BTreeSet<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn block_kinds_are_the_grammars_item_kind() {
        assert_eq!(set(BLOCK_KINDS), alternatives("item_kind"));
        assert_eq!(BLOCK_KINDS.len(), set(BLOCK_KINDS).len(), "no duplicates");
    }

    #[test]
    fn the_syntax_trees_block_kinds_are_the_keyword_lists() {
        use crate::syntax::ast::BlockKind;
        let words: Vec<&str> = BlockKind::ALL.iter().map(|k| k.keyword()).collect();
        // `solution` is an item of its own in the grammar, a kind of block
        // in the tree.
        let mut expected = vec!["solution"];
        expected.extend(BLOCK_KINDS);
        assert_eq!(set(&words), set(&expected));
        for w in &words {
            assert_eq!(BlockKind::from_keyword(w).map(BlockKind::keyword), Some(*w));
        }
        assert_eq!(BlockKind::from_keyword("param"), None);
    }

    #[test]
    fn not_names_are_the_grammars_keyword_rule() {
        assert_eq!(set(NOT_NAMES), alternatives("keyword"));
    }

    #[test]
    fn item_and_statement_keywords_are_the_grammars() {
        let items: BTreeSet<String> = ["solution", "import", "param", "template"]
            .iter()
            .map(|w| w.to_string())
            .chain(alternatives("item_kind"))
            .collect();
        assert_eq!(set(ITEM_KEYWORDS), items);
        assert_eq!(ITEM_KEYWORDS.len(), items.len(), "no duplicates");
        // Every kw_ rule is an item keyword, a statement keyword or a word
        // that is never a name.
        let all: BTreeSet<String> = set(ITEM_KEYWORDS)
            .into_iter()
            .chain(set(STATEMENT_KEYWORDS))
            .chain(set(NOT_NAMES))
            .collect();
        for kw in kw_rules() {
            assert!(all.contains(&kw), "kw_{kw} is in no keyword list");
        }
        for w in STATEMENT_KEYWORDS {
            assert!(kw_rules().contains(*w), "{w} has a kw_ rule");
        }
    }

    #[test]
    fn header_words_are_block_kinds_and_header_keywords() {
        let expected: BTreeSet<String> = set(BLOCK_KINDS)
            .into_iter()
            .chain(set(&["template", "on", "from", "import"]))
            .collect();
        assert_eq!(set(HEADER_WORDS), expected);
    }

    #[test]
    fn reserved_words() {
        for w in ["on", "std", "solution", "secret", "service", "as"] {
            assert!(is_reserved(w), "{w}");
        }
        for w in ["plants", "site", "pool", "gateways"] {
            assert!(!is_reserved(w), "{w}");
        }
    }
}
