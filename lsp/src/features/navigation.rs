//! Navigation: go to definition, find references and the checks of a
//! rename.

use crate::world::Analyzed;
use iotc_compiler::source::{FileId, Origin, Span};
use iotc_compiler::syntax::ast::{ImportTarget, ItemKind};
use iotc_compiler::syntax::keywords;

/// Where the name (or import) under the cursor is defined.
pub fn definition(a: &Analyzed, file: FileId, offset: usize) -> Option<Span> {
    if let Some(r) = a.index().reference_at(file, offset) {
        return Some(r.target);
    }
    if let Some(d) = a.index().definition_at(file, offset) {
        return Some(d.name_span);
    }
    // `import "./cloud.iot"`: the file.
    let prog = &a.analysis.program;
    let from = match &prog.sources.get(file)?.origin {
        Origin::Path(p) => p.clone(),
        _ => return None,
    };
    for item in &prog.unit(file)?.items {
        if let ItemKind::Import(imp) = &item.kind {
            if let ImportTarget::File(s) = &imp.target {
                if s.span.contains(offset) {
                    let target = iotc_compiler::source::join_relative(&from, &s.value);
                    let f = prog.sources.find(&Origin::Path(target))?;
                    return Some(Span::new(f, 0, 0));
                }
            }
        }
    }
    None
}

/// The definition (name span) the cursor is on or refers to.
pub fn target_at(a: &Analyzed, file: FileId, offset: usize) -> Option<Span> {
    if let Some(r) = a.index().reference_at(file, offset) {
        return (!r.module).then_some(r.target);
    }
    a.index().definition_at(file, offset).map(|d| d.name_span)
}

/// Every reference to `target`, with the declaration first if asked.
pub fn references(a: &Analyzed, target: Span, include_declaration: bool) -> Vec<Span> {
    let mut out = Vec::new();
    if include_declaration {
        out.push(target);
    }
    out.extend(a.index().references_to(target).map(|r| r.span));
    out
}

/// Why `name` cannot be a new name, if it cannot.
pub fn check_new_name(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return Err("a name cannot be empty".into());
    };
    if !(first.is_alphabetic() || first == '_') || !chars.all(|c| c.is_alphanumeric() || c == '_') {
        return Err(format!(
            "`{name}` is not a name: use letters, digits and `_`, starting with a letter or `_`"
        ));
    }
    if keywords::is_reserved(name) {
        return Err(format!("`{name}` is a keyword"));
    }
    Ok(())
}
