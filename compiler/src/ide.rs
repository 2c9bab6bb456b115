//! Read-only queries for editors: every definition in a loaded program and
//! every name that refers to one, found with the checker's scope rules.
//! Used by the language server; nothing here reports diagnostics.

use crate::check::scope::Scopes;
use crate::check::{ItemId, Program};
use crate::source::{FileId, Span};
use crate::syntax::ast::{Body, Expr, ExprKind, ImportTarget, ItemKind, Path, SecretSource, StmtKind};
use std::collections::HashMap;

/// A named thing: a top-level item, a param, or a named nested block
/// (`site`, `pool`, `volume`).
#[derive(Debug, Clone)]
pub struct Definition {
    pub name: String,
    /// `fleet`, `template service`, `param`, `site`, …
    pub kind: String,
    /// The span of the name itself.
    pub name_span: Span,
    /// The whole item or nested block.
    pub full_span: Span,
    /// `///` doc comment lines, without the slashes.
    pub docs: Vec<String>,
    /// Index of the enclosing definition, for nested blocks.
    pub parent: Option<usize>,
}

/// One path segment that names a definition (or a stdlib module).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reference {
    /// The segment as written.
    pub span: Span,
    /// The definition's name span; for a module, the start of its file.
    pub target: Span,
    /// The segment names a stdlib module (`devices` in `std.devices.rpi5`).
    pub module: bool,
}

/// Definitions and resolved references of a whole program.
#[derive(Debug, Clone, Default)]
pub struct Index {
    pub definitions: Vec<Definition>,
    pub references: Vec<Reference>,
}

impl Index {
    /// The definition whose name span is `target`.
    pub fn definition(&self, target: Span) -> Option<&Definition> {
        self.definitions.iter().find(|d| d.name_span == target)
    }

    /// The reference under a byte offset of `file`.
    pub fn reference_at(&self, file: FileId, offset: usize) -> Option<&Reference> {
        self.references
            .iter()
            .find(|r| r.span.file == file && r.span.contains(offset))
    }

    /// The definition whose name is under a byte offset of `file`.
    pub fn definition_at(&self, file: FileId, offset: usize) -> Option<&Definition> {
        self.definitions
            .iter()
            .find(|d| d.name_span.file == file && d.name_span.contains(offset))
    }

    /// Every reference to the definition named at `target`.
    pub fn references_to(&self, target: Span) -> impl Iterator<Item = &Reference> {
        self.references.iter().filter(move |r| r.target == target && !r.module)
    }
}

/// Collect definitions and resolve every path in the program.
pub fn index(prog: &Program) -> Index {
    let mut ix = Index::default();
    // Item-level definitions, by the item each is.
    let mut item_defs: HashMap<ItemId, usize> = HashMap::new();
    for unit in &prog.units {
        if !prog.is_std(unit.file) && !prog.user_files.contains(&unit.file) {
            continue;
        }
        for (item_idx, item) in unit.items.iter().enumerate() {
            let (name, kind, body) = match &item.kind {
                ItemKind::Block(b) | ItemKind::Solution(b) => {
                    let kind = match b.template {
                        Some(_) => format!("template {}", b.kind.keyword()),
                        None => b.kind.keyword().to_string(),
                    };
                    (&b.name, kind, Some(&b.body))
                }
                ItemKind::Param(p) => (&p.name, "param".to_string(), None),
                ItemKind::Import(_) => continue,
            };
            let idx = ix.definitions.len();
            ix.definitions.push(Definition {
                name: name.name.clone(),
                kind,
                name_span: name.span,
                full_span: item.span,
                docs: item.docs.clone(),
                parent: None,
            });
            item_defs.insert((unit.file, item_idx), idx);
            if let Some(body) = body {
                nested_definitions(&mut ix, body, idx);
            }
        }
    }
    let (scopes, _) = Scopes::build(prog);
    let resolver = Resolver {
        prog,
        defs: &ix.definitions,
        scopes: &scopes,
        item_defs: &item_defs,
    };
    let mut refs = Vec::new();
    for unit in &prog.units {
        if !prog.is_std(unit.file) && !prog.user_files.contains(&unit.file) {
            continue;
        }
        let mut w = Walker {
            r: &resolver,
            file: unit.file,
            out: &mut refs,
        };
        for item in &unit.items {
            match &item.kind {
                ItemKind::Block(b) | ItemKind::Solution(b) => {
                    if let Some(p) = &b.on {
                        w.path(p);
                    }
                    if let Some(p) = &b.from {
                        w.path(p);
                    }
                    for s in &b.selectors {
                        w.expr(&s.value);
                    }
                    w.body(&b.body);
                }
                ItemKind::Param(p) => {
                    if let Some(e) = &p.default {
                        w.expr(e);
                    }
                    if let Some(b) = &p.body {
                        w.body(b);
                    }
                }
                ItemKind::Import(imp) => {
                    if let ImportTarget::Module(p) = &imp.target {
                        if let [std, m] = p.segments.as_slice() {
                            if std.name == "std" {
                                w.module(m);
                            }
                        }
                    }
                }
            }
        }
    }
    ix.references = refs;
    ix
}

fn nested_definitions(ix: &mut Index, body: &Body, parent: usize) {
    for stmt in &body.stmts {
        let StmtKind::Block(nb) = &stmt.kind else { continue };
        let Some(name) = &nb.name else { continue };
        let idx = ix.definitions.len();
        ix.definitions.push(Definition {
            name: name.name.clone(),
            kind: nb.kind.name.clone(),
            name_span: name.span,
            full_span: stmt.span,
            docs: stmt.docs.clone(),
            parent: Some(parent),
        });
        nested_definitions(ix, &nb.body, idx);
    }
}

/// The checker's name resolver ([`Scopes`]), answering with definition
/// indices.
struct Resolver<'a> {
    prog: &'a Program,
    defs: &'a [Definition],
    scopes: &'a Scopes<'a>,
    item_defs: &'a HashMap<ItemId, usize>,
}

impl Resolver<'_> {
    fn single(&self, name: &str, file: FileId) -> Option<usize> {
        let id = self.scopes.single(self.prog, name, file)?;
        self.item_defs.get(&id).copied()
    }

    fn in_module(&self, module: &str, name: &str) -> Option<usize> {
        let id = self.scopes.in_module(module, name)?;
        self.item_defs.get(&id).copied()
    }

    fn child(&self, parent: usize, name: &str) -> Option<usize> {
        self.defs
            .iter()
            .position(|d| d.parent == Some(parent) && d.name == name)
    }
}

struct Walker<'a, 'r> {
    r: &'a Resolver<'r>,
    file: FileId,
    out: &'a mut Vec<Reference>,
}

impl Walker<'_, '_> {
    fn push(&mut self, span: Span, def: usize) {
        if let Some(d) = self.r.defs.get(def) {
            self.out.push(Reference {
                span,
                target: d.name_span,
                module: false,
            });
        }
    }

    fn module(&mut self, m: &crate::syntax::ast::Ident) {
        if let Some(f) = self.r.prog.std_modules.get(&m.name) {
            self.out.push(Reference {
                span: m.span,
                target: Span::new(*f, 0, 0),
                module: true,
            });
        }
    }

    fn path(&mut self, p: &Path) {
        let segs = p.segments.as_slice();
        let (first, rest) = match segs {
            [std, m, name, rest @ ..] if std.name == "std" => {
                self.module(m);
                let def = self.r.in_module(&m.name, &name.name);
                let Some(def) = def else { return };
                self.push(name.span, def);
                (def, rest)
            }
            [std, m] if std.name == "std" => {
                self.module(m);
                return;
            }
            [name, rest @ ..] => {
                let Some(def) = self.r.single(&name.name, self.file) else {
                    return;
                };
                self.push(name.span, def);
                (def, rest)
            }
            [] => return,
        };
        let mut at = first;
        for seg in rest {
            let Some(c) = self.r.child(at, &seg.name) else { return };
            self.push(seg.span, c);
            at = c;
        }
    }

    fn body(&mut self, b: &Body) {
        for stmt in &b.stmts {
            match &stmt.kind {
                StmtKind::Attr(a) => self.expr(&a.value),
                StmtKind::Block(nb) => {
                    if let Some(p) = &nb.on {
                        self.path(p);
                    }
                    for s in &nb.selectors {
                        self.expr(&s.value);
                    }
                    self.body(&nb.body);
                }
                StmtKind::Secret(s) => {
                    if let SecretSource::Literal(e) = &s.source {
                        self.expr(e);
                    }
                }
                StmtKind::Device(_) => {}
                StmtKind::Alert(a) => {
                    self.expr(&a.threshold);
                    if let Some(d) = &a.duration {
                        self.expr(d);
                    }
                }
            }
        }
    }

    fn expr(&mut self, e: &Expr) {
        match &e.kind {
            ExprKind::Quantity { .. } | ExprKind::String(_) | ExprKind::Bool(_) => {}
            ExprKind::Path(p) => self.path(p),
            ExprKind::List(items) => items.iter().for_each(|i| self.expr(i)),
            ExprKind::Object { body, .. } => self.body(body),
            ExprKind::Paren(inner) | ExprKind::Neg(inner) => self.expr(inner),
            ExprKind::Binary { lhs, rhs, .. } => {
                self.expr(lhs);
                self.expr(rhs);
            }
            ExprKind::Call { args, .. } => args.iter().for_each(|a| self.expr(a)),
            ExprKind::CountRef { of, .. } => self.path(of),
            ExprKind::Per { amount, per, of, .. } => {
                self.expr(amount);
                if let Some(p) = per {
                    self.expr(p);
                }
                if let Some(of) = of {
                    self.path(of);
                }
            }
            ExprKind::Bounded { expr, min, max } => {
                self.expr(expr);
                if let Some(m) = min {
                    self.expr(m);
                }
                if let Some(m) = max {
                    self.expr(m);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;
    use crate::source::MemoryDb;

    #[test]
    fn references_resolve_to_user_and_std_definitions() {
        let src = "import std.devices\nfleet plants {\n  device = std.devices.rpi5\n  runtime = k3s\n  site a { gateways = 2  hosts = \"g{n}\" }\n}\nservice s on plants {\n  image = \"x:1\"\n  replicas = 1 per gateway of plants.a\n}\n";
        let db = MemoryDb::new().with("main.iot", src);
        let a = crate::analyze(&db, "main.iot", &crate::Overrides::default());
        let ix = index(&a.program);
        let root = a.program.root.unwrap();
        let at = |needle: &str, nth: usize| src.match_indices(needle).nth(nth).unwrap().0;
        let plants_ref = ix.reference_at(root, at("plants", 1)).unwrap();
        assert_eq!(ix.definition(plants_ref.target).unwrap().kind, "fleet");
        let site_ref = ix.reference_at(root, at(".a", 0) + 1).unwrap();
        assert_eq!(ix.definition(site_ref.target).unwrap().kind, "site");
        let rpi5 = ix.reference_at(root, at("rpi5", 0)).unwrap();
        assert!(a.program.is_std(rpi5.target.file));
        let k3s = ix.reference_at(root, at("k3s", 0)).unwrap();
        assert_eq!(ix.definition(k3s.target).unwrap().kind, "runtime");
        assert_eq!(ix.references_to(plants_ref.target).count(), 2);
    }
}
