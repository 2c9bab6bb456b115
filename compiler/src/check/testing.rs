//! What the checker's unit tests share: a one-file program (`t.iot`) loaded
//! as [`super::analyze`] loads it, an analyzer over it after stage 2 (names
//! and params collected, no overrides), the blocks of the file, and the
//! diagnostics as (code, message, the source text they point at).

use super::load::{self, Program};
use super::overrides::OverrideFiles;
use super::{Analyzer, Overrides};
use crate::diag::{Code, Diagnostic};
use crate::source::MemoryDb;
use crate::syntax::ast::{Block, ItemKind};

/// `text` as the root file `t.iot`, loaded; it must load without errors.
pub(super) fn program(text: &str) -> Program {
    let db = MemoryDb::new().with("t.iot", text);
    let (prog, diags) = load::load(&db, "t.iot");
    assert!(diags.is_empty(), "{diags:#?}");
    prog
}

/// An analyzer of `prog` after stage 2, with no diagnostics yet.
pub(super) fn analyzer(prog: &Program) -> Analyzer<'_> {
    let mut a = Analyzer::new(prog);
    a.prepare(
        &Overrides::default(),
        OverrideFiles {
            values: None,
            sets: None,
        },
    );
    assert!(a.diags.is_empty(), "{:#?}", a.diags);
    a
}

/// The block item of the root file named `name`.
pub(super) fn block<'p>(prog: &'p Program, name: &str) -> &'p Block {
    let unit = prog.root.and_then(|f| prog.unit(f)).expect("the root file is loaded");
    unit.items
        .iter()
        .find_map(|item| match &item.kind {
            ItemKind::Block(b) | ItemKind::Solution(b) if b.name.name == name => Some(b),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no block `{name}`"))
}

/// Each diagnostic as its code, message and the text its primary span covers.
pub(super) fn reported(prog: &Program, diags: &[Diagnostic]) -> Vec<(Code, String, String)> {
    diags
        .iter()
        .map(|d| (d.code, d.message.clone(), prog.sources.text(d.primary.span).to_string()))
        .collect()
}
