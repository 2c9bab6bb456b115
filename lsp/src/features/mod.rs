//! The editor features, in compiler terms: byte offsets and spans in, text
//! and spans out. No LSP types here, so the engine is tested without
//! JSON-RPC; `server` converts at the edge.
//!
//! One module per feature: `hover`, `completion`, `navigation` (definition,
//! references, rename), `symbols`, `inlay`, `fixes`, `semantic_tokens`.
//! Their entry points are re-exported here, so callers use `features::…`.

mod completion;
mod fixes;
mod hover;
mod inlay;
mod navigation;
pub mod semantic_tokens;
mod symbols;

pub use completion::{completions, completions_in, std_items, Completion, CompletionKind, StdItem, TOP_KEYWORDS};
pub use fixes::{fix_for_diagnostic, fixes, Fix};
pub use hover::{count_lines, hover, HoverInfo};
pub use inlay::{inlay_hints, inlay_hints_in, Hint};
pub use navigation::{check_new_name, definition, references, target_at};
pub use symbols::{document_symbols, SymbolNode};

use crate::world::Analyzed;
use iotc_compiler::source::{FileId, Origin};

/// The file of an analysis with this document key.
pub fn file_of(a: &Analyzed, origin: &Origin) -> Option<FileId> {
    a.analysis.program.sources.find(origin)
}

fn text_of(a: &Analyzed, file: FileId) -> &str {
    a.analysis
        .program
        .sources
        .get(file)
        .map(|f| f.text.as_str())
        .unwrap_or("")
}
