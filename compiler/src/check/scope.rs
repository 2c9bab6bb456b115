//! Stage 3, resolve: the one name resolver. Which item a name means is
//! decided here, for the checker (`Analyzer::resolve`, which turns a miss
//! into a diagnostic) and for the editor queries (`crate::ide`, which
//! reports nothing) alike.

use super::{ItemId, Program};
use crate::source::FileId;
use crate::syntax::ast::ItemKind;
use rustc_hash::FxHashMap as HashMap;

/// The names each scope declares: user code (the root and path-imported
/// files) and each stdlib module.
#[derive(Debug, Default)]
pub struct Scopes<'a> {
    user: HashMap<&'a str, ItemId>,
    std: HashMap<&'a str, HashMap<&'a str, ItemId>>,
}

/// A name declared twice in one scope: the second declaration and the
/// first, which wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duplicate {
    pub again: ItemId,
    pub first: ItemId,
}

impl<'a> Scopes<'a> {
    /// Register every item name (blocks and params; not the solution, not
    /// imports) of the user files and the stdlib modules, in source order.
    pub fn build(prog: &'a Program) -> (Scopes<'a>, Vec<Duplicate>) {
        let mut scopes = Scopes::default();
        let mut duplicates = Vec::new();
        for unit in &prog.units {
            let std_module = prog.module_of(unit.file);
            if std_module.is_none() && !prog.user_files.contains(&unit.file) {
                continue;
            }
            for (idx, item) in unit.items.iter().enumerate() {
                let name = match &item.kind {
                    ItemKind::Block(b) => &b.name,
                    ItemKind::Param(p) => &p.name,
                    _ => continue,
                };
                let scope = match std_module {
                    Some(m) => scopes.std.entry(m).or_default(),
                    None => &mut scopes.user,
                };
                let id = (unit.file, idx);
                match scope.get(name.name.as_str()) {
                    Some(first) => duplicates.push(Duplicate {
                        again: id,
                        first: *first,
                    }),
                    None => {
                        scope.insert(name.name.as_str(), id);
                    }
                }
            }
        }
        (scopes, duplicates)
    }

    /// A one-segment name written in `from`: inside a stdlib module its own
    /// names, in user code the user's names; then the prelude.
    pub fn single(&self, prog: &Program, name: &str, from: FileId) -> Option<ItemId> {
        if prog.is_std(from) {
            let own = prog
                .module_of(from)
                .and_then(|m| self.std.get(m))
                .and_then(|s| s.get(name));
            if let Some(id) = own {
                return Some(*id);
            }
        } else if let Some(id) = self.user.get(name) {
            return Some(*id);
        }
        self.in_module(crate::stdlib::PRELUDE, name)
    }

    /// A name declared in user code.
    pub fn user(&self, name: &str) -> Option<ItemId> {
        self.user.get(name).copied()
    }

    /// `std.module.name`.
    pub fn in_module(&self, module: &str, name: &str) -> Option<ItemId> {
        self.std.get(module).and_then(|s| s.get(name)).copied()
    }

    /// The names a one-segment name in `from` could have meant, sorted, for
    /// "did you mean" help.
    pub fn candidates(&self, prog: &Program, from: FileId) -> Vec<&'a str> {
        let mut v: Vec<&'a str> = if prog.is_std(from) {
            Vec::new()
        } else {
            self.user.keys().copied().collect()
        };
        if let Some(prelude) = self.std.get(crate::stdlib::PRELUDE) {
            v.extend(prelude.keys().copied());
        }
        v.sort_unstable();
        v
    }

    /// The names of one stdlib module, sorted.
    pub fn module_names(&self, module: &str) -> Vec<&'a str> {
        let mut v: Vec<&'a str> = self
            .std
            .get(module)
            .map(|s| s.keys().copied().collect())
            .unwrap_or_default();
        v.sort_unstable();
        v
    }

    /// A stdlib module that declares `name`, if any (sorted by module name,
    /// so the answer does not depend on hashing).
    pub fn module_declaring(&self, name: &str) -> Option<&'a str> {
        let mut hits: Vec<&'a str> = self
            .std
            .iter()
            .filter(|(_, s)| s.contains_key(name))
            .map(|(m, _)| *m)
            .collect();
        hits.sort_unstable();
        hits.first().copied()
    }
}
