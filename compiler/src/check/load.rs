//! Stage 2a, load: read the root file and everything it imports through the
//! [`SourceDb`], parse each file once, embed stdlib modules, and report
//! missing imports and import cycles.

use crate::diag::{suggest, Code, Diagnostic};
use crate::source::{FileId, Origin, SourceDb, SourceMap, Span};
use crate::stdlib;
use crate::syntax::{self, ast};
use std::collections::BTreeMap;

/// Every file of one compilation, parsed.
#[derive(Debug, Default)]
pub struct Program {
    pub sources: SourceMap,
    /// Parsed units, indexed by `FileId`.
    pub units: Vec<ast::SourceUnit>,
    pub root: Option<FileId>,
    /// The root and every file it imports by path: one shared scope.
    pub user_files: Vec<FileId>,
    /// Loaded stdlib modules.
    pub std_modules: BTreeMap<String, FileId>,
    /// `import std.X` statements in user files: (file, module, span).
    pub std_imports: Vec<(FileId, String, Span)>,
}

impl Program {
    pub fn unit(&self, file: FileId) -> Option<&ast::SourceUnit> {
        self.units.get(file.0 as usize)
    }

    pub fn is_std(&self, file: FileId) -> bool {
        self.std_modules.values().any(|f| *f == file)
    }

    /// The stdlib module a file is, if it is one.
    pub fn module_of(&self, file: FileId) -> Option<&str> {
        self.std_modules
            .iter()
            .find(|(_, f)| **f == file)
            .map(|(m, _)| m.as_str())
    }
}

struct Loader<'a> {
    db: &'a dyn SourceDb,
    cache: Option<&'a syntax::ParseCache>,
    prog: Program,
    diags: Vec<Diagnostic>,
    /// Files being loaded, with the import that led to each.
    stack: Vec<(String, Option<Span>)>,
}

/// Load `root` and its imports. `root_text` overrides reading the root (the
/// language server passes the open buffer).
pub fn load(db: &dyn SourceDb, root: &str) -> (Program, Vec<Diagnostic>) {
    load_with(db, root, None)
}

/// [`load`], re-parsing only the items that are not in `cache`.
pub fn load_with(db: &dyn SourceDb, root: &str, cache: Option<&syntax::ParseCache>) -> (Program, Vec<Diagnostic>) {
    let mut l = Loader {
        db,
        cache,
        prog: Program::default(),
        diags: Vec::new(),
        stack: Vec::new(),
    };
    match db.read(root) {
        Ok(text) => {
            let id = l.add_file(Origin::Path(root.to_string()), text);
            l.prog.root = Some(id);
            l.prog.user_files.push(id);
            l.stack.push((root.to_string(), None));
            l.follow_imports(id, root.to_string());
            l.stack.pop();
        }
        Err(e) => {
            // The CLI reports unreadable roots itself; keep a diagnostic for
            // library users.
            let id = l.add_file(Origin::Path(root.to_string()), String::new());
            l.prog.root = Some(id);
            l.diags.push(
                Diagnostic::new(
                    Code::E0104,
                    Span::new(id, 0, 0),
                    format!("cannot read `{root}`: {}", e.0),
                )
                .label("this file")
                .help("check the path"),
            );
        }
    }
    // The prelude is always available.
    l.load_std(stdlib::PRELUDE);
    (l.prog, l.diags)
}

impl Loader<'_> {
    fn add_file(&mut self, origin: Origin, text: String) -> FileId {
        let id = self.prog.sources.add(origin, text);
        let text = self.prog.sources.get(id).map(|f| f.text.as_str()).unwrap_or("");
        let (unit, diags) = syntax::parse_with(id, text, self.cache);
        self.prog.units.push(unit);
        self.diags.extend(diags);
        id
    }

    fn load_std(&mut self, module: &str) -> Option<FileId> {
        if let Some(id) = self.prog.std_modules.get(module) {
            return Some(*id);
        }
        let text = stdlib::module(module)?;
        let id = self.add_file(Origin::Std(module.to_string()), text.to_string());
        self.prog.std_modules.insert(module.to_string(), id);
        self.follow_imports(id, format!("<std>/{module}.iot"));
        Some(id)
    }

    fn follow_imports(&mut self, file: FileId, path: String) {
        let imports: Vec<ast::Import> = self
            .prog
            .unit(file)
            .map(|u| {
                u.items
                    .iter()
                    .filter_map(|i| match &i.kind {
                        ast::ItemKind::Import(imp) => Some(imp.clone()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let is_std = self.prog.is_std(file);
        for imp in imports {
            match &imp.target {
                ast::ImportTarget::Module(p) => self.import_module(file, is_std, p),
                ast::ImportTarget::File(s) => {
                    if is_std {
                        continue;
                    }
                    self.import_file(&path, s);
                }
            }
        }
    }

    fn import_module(&mut self, file: FileId, from_std: bool, p: &ast::Path) {
        let names: Vec<&str> = p.segments.iter().map(|s| s.name.as_str()).collect();
        match names.as_slice() {
            ["std", module] => {
                if self.load_std(module).is_some() {
                    if !from_std {
                        self.prog.std_imports.push((file, module.to_string(), p.span));
                    }
                } else {
                    let mut d =
                        Diagnostic::new(Code::E0104, p.span, format!("there is no stdlib module `std.{module}`"))
                            .label("not a stdlib module");
                    let mods = stdlib::MODULES.iter().map(|(n, _)| *n);
                    d = match suggest(module, mods) {
                        Some(s) => d.help(format!("did you mean `std.{s}`?")),
                        None => d.help(format!(
                            "the stdlib modules are {}",
                            stdlib::MODULES
                                .iter()
                                .map(|(n, _)| format!("`std.{n}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )),
                    };
                    self.diags.push(d);
                }
            }
            _ => {
                self.diags.push(
                    Diagnostic::new(Code::E0104, p.span, format!("cannot import `{}`", p.text()))
                        .label("not a stdlib module or a file")
                        .help("import a stdlib module (`import std.devices`) or a file (`import \"./common.iot\"`)"),
                );
            }
        }
    }

    fn import_file(&mut self, from: &str, s: &ast::StringLit) {
        let target = self.db.resolve(from, &s.value);
        if let Some(pos) = self.stack.iter().position(|(p, _)| *p == target) {
            let mut d = Diagnostic::new(
                Code::E0103,
                s.span,
                format!("import cycle: `{}` imports itself through `{from}`", target),
            )
            .label(format!("`{from}` imports `{target}`, which is already being imported"));
            for (path, via) in self.stack.iter().skip(pos + 1) {
                if let Some(span) = via {
                    d = d.with_secondary(*span, format!("this import of `{path}` is part of the cycle"));
                }
            }
            d = d.help("move what both files need into a third file that neither imports back");
            self.diags.push(d);
            return;
        }
        let origin = Origin::Path(target.clone());
        if self.prog.sources.find(&origin).is_some() {
            return;
        }
        match self.db.read(&target) {
            Ok(text) => {
                let id = self.add_file(origin, text);
                self.prog.user_files.push(id);
                self.stack.push((target.clone(), Some(s.span)));
                self.follow_imports(id, target);
                self.stack.pop();
            }
            Err(e) => self.diags.push(
                Diagnostic::new(Code::E0104, s.span, format!("cannot read `{target}`"))
                    .label(e.0)
                    .help("check the path; it is relative to the importing file"),
            ),
        }
    }
}
