//! The iotc language's tree-sitter grammar (`grammar.js`, generated into
//! `src/parser.c`), for tests and for tools that embed tree-sitter. Editors
//! load it from this folder (see `editors/README.md`, Helix).

use tree_sitter_language::LanguageFn;

extern "C" {
    fn tree_sitter_iot() -> *const ();
}

/// The iotc language for a tree-sitter parser.
// SAFETY: `tree_sitter_iot` is the generated parser's entry point, which
// returns a pointer to a static `TSLanguage`.
pub const LANGUAGE: LanguageFn = unsafe { LanguageFn::from_raw(tree_sitter_iot) };

/// The highlight query (Helix's capture names).
pub const HIGHLIGHTS_QUERY: &str = include_str!("../queries/highlights.scm");

/// The node types of the grammar (`src/node-types.json`).
pub const NODE_TYPES: &str = include_str!("../src/node-types.json");
