//! Document symbols: the outline of a file.

use crate::world::Analyzed;
use iotc_compiler::ide::Definition;
use iotc_compiler::source::{FileId, Span};

/// A symbol for the outline: a definition and its children.
#[derive(Debug, Clone)]
pub struct SymbolNode {
    pub name: String,
    pub kind: String,
    pub name_span: Span,
    pub full_span: Span,
    pub children: Vec<SymbolNode>,
}

pub fn document_symbols(a: &Analyzed, file: FileId) -> Vec<SymbolNode> {
    fn build(defs: &[Definition], parent: Option<usize>, file: FileId) -> Vec<SymbolNode> {
        defs.iter()
            .enumerate()
            .filter(|(_, d)| d.parent == parent && d.name_span.file == file)
            .map(|(i, d)| SymbolNode {
                name: d.name.clone(),
                kind: d.kind.clone(),
                name_span: d.name_span,
                full_span: d.full_span,
                children: build(defs, Some(i), file),
            })
            .collect()
    }
    build(&a.index().definitions, None, file)
}
