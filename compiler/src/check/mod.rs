//! Stage 2, resolve and check: names, types, units, scaling, placement and
//! capacity. The result is the evaluated IR ([`crate::ir::Solution`]) when
//! there are no errors, and diagnostics either way.

mod body;
mod counts;
mod devices;
mod flows;
pub(crate) mod items;
pub mod load;
mod monitoring;
mod overrides;
mod place;
pub mod scope;
#[cfg(test)]
mod testing;
pub mod values;

pub use load::Program;
pub use overrides::Overrides;

use crate::diag::{self, suggest, Code, Diagnostic};
use crate::ir;
use crate::schema;
use crate::source::{FileId, SourceDb, Span};
use crate::syntax::ast::{self, BlockKind, ItemKind, Path};
use rustc_hash::FxHashMap as HashMap;
use std::collections::{BTreeMap, BTreeSet};

/// Everything one run of the checker produced.
#[derive(Debug)]
pub struct Analysis {
    pub program: Program,
    pub diagnostics: Vec<Diagnostic>,
    /// The evaluated solution; `None` when there are errors.
    pub solution: Option<ir::Solution>,
    /// How each count was computed, for hover and inlay hints.
    pub counts: counts::Counts,
}

impl Analysis {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.is_error())
    }
}

pub use counts::{CountExplanation, Counts};

/// Check the program rooted at `root`, applying param overrides.
pub fn analyze(db: &dyn SourceDb, root: &str, overrides: &Overrides) -> Analysis {
    analyze_with(db, root, overrides, None)
}

/// [`analyze`], re-parsing only the items not in `cache` (the language
/// server keeps one across edits; see [`crate::syntax::ParseCache`]).
pub fn analyze_with(
    db: &dyn SourceDb,
    root: &str,
    overrides: &Overrides,
    cache: Option<&crate::syntax::ParseCache>,
) -> Analysis {
    let (mut program, load_diags) = load::load_with(db, root, cache);
    let overrides_files = overrides.add_sources(&mut program.sources);
    let Finished {
        diagnostics,
        solution,
        counts,
    } = {
        let mut a = Analyzer::new(&program);
        a.cache = cache;
        let solution = a.run(overrides, overrides_files);
        a.finish(load_diags, solution)
    };
    Analysis {
        solution,
        program,
        diagnostics,
        counts,
    }
}

/// The program rooted at `root`, loaded (parsed, imports resolved) but not
/// checked: what name lookups need (`ide::index`), in a fraction of a
/// check's time. Its diagnostics are the loader's (syntax, imports) only;
/// it has no solution and no counts. The language server answers
/// navigation from it while a full check is due.
pub fn analyze_names(db: &dyn SourceDb, root: &str, cache: Option<&crate::syntax::ParseCache>) -> Analysis {
    let (program, diagnostics) = load::load_with(db, root, cache);
    Analysis {
        program,
        diagnostics,
        solution: None,
        counts: counts::Counts::default(),
    }
}

/// A program loaded and checked up to where param values enter counts,
/// kept between checks that differ only in `--set` values: the studio's
/// knobs. A knob changes values, never syntax, so the program, the names,
/// the drafts (every field read, counts still expressions) and their
/// diagnostics stay; [`Prepared::check`] applies the `--set` values and
/// re-runs only count evaluation, placement and fit, and the IR. When a
/// changed param is also used in a field (not only in counts), the drafts
/// depend on it and everything after loading is checked again. Either way
/// the diagnostics and the solution are exactly those of [`analyze`] with
/// the same values file and `--set` values (`compiler/tests/prepared.rs`).
pub struct Prepared {
    program: Program,
    load_diags: Vec<Diagnostic>,
    /// The values file, `(path, text)`, as in [`Overrides::values`].
    values: Option<(String, String)>,
    values_file: Option<FileId>,
    /// The sources up to and including the values file; a check's `--set`
    /// text comes after them.
    sources_len: usize,
    drafts: items::Drafts,
    settled: Settled,
}

/// What one [`Prepared::check`] found. The program is the prepared one
/// (with this check's `--set` text as its last source).
#[derive(Debug)]
pub struct Recheck<'p> {
    pub program: &'p Program,
    pub diagnostics: Vec<Diagnostic>,
    /// The evaluated solution; `None` when there are errors.
    pub solution: Option<ir::Solution>,
    pub counts: counts::Counts,
    /// Whether only the counts onwards were evaluated again (false when a
    /// changed param is used in a field).
    pub counts_only: bool,
}

impl Recheck<'_> {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.is_error())
    }
}

/// Load and check `root` with the values file `values` (`(path, text)`),
/// keeping what `--set` values cannot change (see [`Prepared`]).
pub fn prepare(
    db: &dyn SourceDb,
    root: &str,
    values: Option<(String, String)>,
    cache: Option<&crate::syntax::ParseCache>,
) -> Prepared {
    let (mut program, load_diags) = load::load_with(db, root, cache);
    let base = Overrides {
        values,
        sets: Vec::new(),
    };
    let files = base.add_sources(&mut program.sources);
    let values_file = files.values;
    let sources_len = program.sources.len();
    let (drafts, settled) = {
        let mut a = Analyzer::new(&program);
        a.cache = cache;
        a.prepare(&base, files);
        let drafts = a.drafts();
        (drafts, a.settle())
    };
    Prepared {
        program,
        load_diags,
        values: base.values,
        values_file,
        sources_len,
        drafts,
        settled,
    }
}

impl Prepared {
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// Check with these `--set` values (`name=value`) on top of the values
    /// file: the same diagnostics and solution as [`analyze`] with them.
    pub fn check(&mut self, sets: &[String]) -> Recheck<'_> {
        self.program.sources.truncate(self.sources_len);
        let o = Overrides {
            values: self.values.clone(),
            sets: sets.to_vec(),
        };
        let sets_file = o.add_sets_source(&mut self.program.sources);
        let prog = &self.program;
        let mut a = Analyzer::resume(prog, self.settled.clone());
        a.apply_sets(&o, sets_file);
        let counts_only = self
            .settled
            .field_params
            .iter()
            .all(|name| a.params.get(name).map(|p| &p.value) == self.settled.params.get(name).map(|p| &p.value));
        let solution = if counts_only {
            let solution = a.evaluate(&self.drafts);
            a.unused_warnings();
            solution
        } else {
            a = Analyzer::new(prog);
            a.run(
                &o,
                overrides::OverrideFiles {
                    values: self.values_file,
                    sets: sets_file,
                },
            )
        };
        let Finished {
            diagnostics,
            solution,
            counts,
        } = a.finish(self.load_diags.clone(), solution);
        Recheck {
            program: prog,
            diagnostics,
            solution,
            counts,
            counts_only,
        }
    }
}

/// The analyzer's state once the drafts are made, without the program:
/// what [`Prepared`] keeps and every [`Prepared::check`] starts from.
#[derive(Clone)]
struct Settled {
    diags: Vec<Diagnostic>,
    imported_std: BTreeSet<(FileId, String)>,
    used_std: BTreeSet<(FileId, String)>,
    params: BTreeMap<String, ParamInfo>,
    used_params: BTreeSet<String>,
    field_params: BTreeSet<String>,
    explanations: counts::Counts,
    devices_named: u64,
    things: HashMap<String, u32>,
    host_owners: Vec<(String, Span)>,
}

/// What [`Analyzer::finish`] hands back: every diagnostic, sorted; the
/// solution when none is an error; how each count was computed.
struct Finished {
    diagnostics: Vec<Diagnostic>,
    solution: Option<ir::Solution>,
    counts: counts::Counts,
}

/// Identity of an item: its file and index in that file's unit.
pub type ItemId = (FileId, usize);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamTy {
    Int,
    Bool,
    String,
    Cpu,
    Memory,
    Duration,
}

impl ParamTy {
    fn parse(s: &str) -> Option<ParamTy> {
        Some(match s {
            "int" => ParamTy::Int,
            "bool" => ParamTy::Bool,
            "string" => ParamTy::String,
            "cpu" => ParamTy::Cpu,
            "memory" => ParamTy::Memory,
            "duration" => ParamTy::Duration,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            ParamTy::Int => "int",
            ParamTy::Bool => "bool",
            ParamTy::String => "string",
            ParamTy::Cpu => "cpu",
            ParamTy::Memory => "memory",
            ParamTy::Duration => "duration",
        }
    }

    fn schema_ty(self) -> schema::Ty {
        match self {
            ParamTy::Int => schema::Ty::Int,
            ParamTy::Bool => schema::Ty::Bool,
            ParamTy::String => schema::Ty::Str,
            ParamTy::Cpu => schema::Ty::Cpu,
            ParamTy::Memory => schema::Ty::Memory,
            ParamTy::Duration => schema::Ty::Duration,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ParamVal {
    Int(i64),
    Bool(bool),
    Str(String),
    Cpu(u64),
    Memory(u64),
    Duration(u64),
}

impl ParamVal {
    /// A number to compare with bounds (`None` for bool/string).
    fn magnitude(&self) -> Option<i128> {
        match self {
            ParamVal::Int(i) => Some(i128::from(*i)),
            ParamVal::Cpu(c) => Some(i128::from(*c)),
            ParamVal::Memory(m) => Some(i128::from(*m)),
            ParamVal::Duration(d) => Some(i128::from(*d)),
            _ => None,
        }
    }
}

impl std::fmt::Display for ParamVal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParamVal::Int(i) => write!(f, "{i}"),
            ParamVal::Bool(b) => write!(f, "{b}"),
            ParamVal::Str(s) => write!(f, "{s}"),
            ParamVal::Cpu(c) => write!(f, "{}", values::format_cpu(*c)),
            ParamVal::Memory(m) => write!(f, "{}", values::format_memory(*m)),
            ParamVal::Duration(d) => write!(f, "{}", values::format_duration(*d)),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ParamInfo {
    pub ty: ParamTy,
    pub value: ParamVal,
    pub source: ir::ValueSource,
    pub span: Span,
    pub min: Option<(ParamVal, Span)>,
    pub max: Option<(ParamVal, Span)>,
    pub label: Option<String>,
    pub description: Option<String>,
    /// The default as source text.
    pub default: String,
}

pub(crate) struct Analyzer<'a> {
    prog: &'a Program,
    /// The cache kept between checks, for the drafts of unchanged items.
    cache: Option<&'a crate::syntax::ParseCache>,
    /// While an item is read to be kept: what reading it does besides its
    /// draft (see `items::kept`).
    effects: Option<items::kept::Effects>,
    diags: Vec<Diagnostic>,
    /// The names each scope declares (see [`scope::Scopes`]).
    scopes: scope::Scopes<'a>,
    /// Modules imported by user files.
    imported_std: BTreeSet<(FileId, String)>,
    /// (file, module) pairs actually used, for unused-import warnings.
    used_std: BTreeSet<(FileId, String)>,
    params: BTreeMap<String, ParamInfo>,
    used_params: BTreeSet<String>,
    /// Params whose values were read into a field (not a count): the
    /// drafts depend on them.
    field_params: BTreeSet<String>,
    explanations: counts::Counts,
    /// Devices given host names so far (see `counts::MAX_DEVICES`).
    devices_named: u64,
    /// The AWS IoT thing name (a function of the host name, one-to-one up
    /// to 128 characters) of every device named so far, and the index of
    /// its owner in `host_owners`: two devices may not share one.
    things: HashMap<String, u32>,
    /// The sites and clusters that named devices: `(what, span of hosts)`.
    host_owners: Vec<(String, Span)>,
}

impl<'a> Analyzer<'a> {
    fn new(prog: &'a Program) -> Analyzer<'a> {
        Analyzer {
            prog,
            cache: None,
            effects: None,
            diags: Vec::new(),
            scopes: scope::Scopes::default(),
            imported_std: BTreeSet::new(),
            used_std: BTreeSet::new(),
            params: BTreeMap::new(),
            used_params: BTreeSet::new(),
            field_params: BTreeSet::new(),
            explanations: counts::Counts::default(),
            devices_named: 0,
            things: HashMap::default(),
            host_owners: Vec::new(),
        }
    }

    pub(crate) fn item(&self, id: ItemId) -> Option<&'a ast::Item> {
        self.prog.unit(id.0)?.items.get(id.1).map(|i| &**i)
    }

    pub(crate) fn block(&self, id: ItemId) -> Option<&'a ast::Block> {
        match &self.item(id)?.kind {
            ItemKind::Block(b) | ItemKind::Solution(b) => Some(b),
            _ => None,
        }
    }

    /// The checker's pipeline once the program is loaded (stage 1,
    /// [`load::load_with`]): each stage below reads what the one before
    /// produced, and every stage adds its diagnostics to the analyzer's.
    fn run(&mut self, overrides: &Overrides, files: overrides::OverrideFiles) -> Option<ir::Solution> {
        // 2. Names, params and their overrides.
        self.prepare(overrides, files);
        // 3. Items: every field read and typed, counts still expressions.
        let drafts = self.drafts();
        // 4 and 5. Counts, then placement, fit and the IR.
        let solution = self.evaluate(&drafts);
        self.unused_warnings();
        solution
    }

    /// Stages 4 and 5 from the drafts: the only ones a change of param
    /// values used in counts alone re-runs (see [`Prepared`]).
    fn evaluate(&mut self, drafts: &items::Drafts) -> Option<ir::Solution> {
        let counted = self.evaluate_counts(drafts);
        self.place_and_fit(counted)
    }

    /// Stage 2, names, params and their overrides: everything before the
    /// drafts.
    fn prepare(&mut self, overrides: &Overrides, files: overrides::OverrideFiles) {
        self.collect_names();
        for (file, module, _) in &self.prog.std_imports {
            self.imported_std.insert((*file, module.clone()));
        }
        self.collect_params();
        self.apply_overrides(overrides, files);
    }

    /// The state to resume from (see [`Settled`]).
    fn settle(self) -> Settled {
        Settled {
            diags: self.diags,
            imported_std: self.imported_std,
            used_std: self.used_std,
            params: self.params,
            used_params: self.used_params,
            field_params: self.field_params,
            explanations: self.explanations,
            devices_named: self.devices_named,
            things: self.things,
            host_owners: self.host_owners,
        }
    }

    /// An analyzer of `prog` in a settled state.
    fn resume(prog: &'a Program, s: Settled) -> Analyzer<'a> {
        Analyzer {
            prog,
            cache: None,
            effects: None,
            diags: s.diags,
            scopes: scope::Scopes::build(prog).0,
            imported_std: s.imported_std,
            used_std: s.used_std,
            params: s.params,
            used_params: s.used_params,
            field_params: s.field_params,
            explanations: s.explanations,
            devices_named: s.devices_named,
            things: s.things,
            host_owners: s.host_owners,
        }
    }

    /// The end of a check: loading's diagnostics and the analyzer's, sorted,
    /// and the solution only when there is no error.
    fn finish(&mut self, mut diags: Vec<Diagnostic>, solution: Option<ir::Solution>) -> Finished {
        let solution = if self.diags.iter().any(|d| d.is_error()) || diags.iter().any(|d| d.is_error()) {
            None
        } else {
            solution
        };
        diags.append(&mut self.diags);
        diag::sort(&mut diags);
        diags.dedup();
        let solution = if diags.iter().any(|d| d.is_error()) {
            None
        } else {
            solution
        };
        Finished {
            diagnostics: diags,
            solution,
            counts: std::mem::take(&mut self.explanations),
        }
    }

    /// Register every item name; report duplicates.
    fn collect_names(&mut self) {
        let (scopes, duplicates) = scope::Scopes::build(self.prog);
        self.scopes = scopes;
        for dup in duplicates {
            let name = match self.item(dup.again).map(|i| &i.kind) {
                Some(ItemKind::Block(b)) => &b.name,
                Some(ItemKind::Param(p)) => &p.name,
                _ => continue,
            };
            let span = name.span;
            let name = &name.name;
            let prev_span = self.name_span(dup.first).unwrap_or(span);
            self.diags.push(
                Diagnostic::new(Code::E0102, span, format!("`{name}` is defined twice"))
                    .label("defined again here")
                    .with_secondary(prev_span, "first defined here")
                    .help("every item needs its own name; rename one of them"),
            );
        }
    }

    pub(crate) fn name_span(&self, id: ItemId) -> Option<Span> {
        match &self.item(id)?.kind {
            ItemKind::Block(b) | ItemKind::Solution(b) => Some(b.name.span),
            ItemKind::Param(p) => Some(p.name.span),
            _ => None,
        }
    }

    /// What kind of thing an item is, for messages.
    pub(crate) fn item_kind_name(&self, id: ItemId) -> &'static str {
        match self.item(id).map(|i| &i.kind) {
            Some(ItemKind::Block(b)) => {
                if b.template.is_some() {
                    "template"
                } else {
                    b.kind.keyword()
                }
            }
            Some(ItemKind::Param(_)) => "param",
            _ => "item",
        }
    }

    /// Mark param `name` used (and read into a field when `field`).
    pub(crate) fn use_param(&mut self, name: &str, field: bool) {
        self.used_params.insert(name.to_string());
        if field {
            self.field_params.insert(name.to_string());
        }
        if let Some(e) = &mut self.effects {
            e.params.push(name.to_string());
            if field {
                e.field_params.push(name.to_string());
            }
        }
    }

    /// Resolve a path to an item. Reports unknown names with suggestions.
    pub(crate) fn resolve(&mut self, p: &Path, from: FileId) -> Option<ItemId> {
        let names: Vec<&str> = p.segments.iter().map(|s| s.name.as_str()).collect();
        let from_std = self.prog.is_std(from);
        match names.as_slice() {
            [name] => {
                if let Some(id) = self.scopes.single(self.prog, name, from) {
                    if let Some(ItemKind::Param(_)) = self.item(id).map(|i| &i.kind) {
                        self.use_param(name, false);
                    }
                    return Some(id);
                }
                let candidates = self.scopes.candidates(self.prog, from);
                let mut d = Diagnostic::new(Code::E0101, p.span, format!("cannot find `{name}`")).label("not defined");
                d = match suggest(name, candidates.iter().copied()) {
                    Some(s) => d.help(format!("did you mean `{s}`?")),
                    None => {
                        // Perhaps it lives in a stdlib module.
                        match self.scopes.module_declaring(name) {
                            Some(m) => d.help(format!("write `std.{m}.{name}` (with `import std.{m}`)")),
                            None => d.help("declare it, or check the spelling"),
                        }
                    }
                };
                self.diags.push(d);
                None
            }
            ["std", module, name] => {
                let module = *module;
                if !from_std && !self.imported_std.contains(&(from, module.to_string())) {
                    let known = crate::stdlib::module(module).is_some();
                    let mut d = Diagnostic::new(Code::E0101, p.span, format!("`std.{module}` is not imported"))
                        .label("module not imported");
                    d = if known {
                        d.help(format!("add `import std.{module}` at the top of the file"))
                    } else {
                        match suggest(module, crate::stdlib::MODULES.iter().map(|(n, _)| *n)) {
                            Some(s) => d.help(format!("did you mean `std.{s}`?")),
                            None => d.help(
                                "the stdlib modules are std.cloud, std.devices, std.ml, std.runtimes and std.services",
                            ),
                        }
                    };
                    self.diags.push(d);
                    return None;
                }
                self.used_std.insert((from, module.to_string()));
                if let Some(e) = &mut self.effects {
                    e.std.push((from, module.to_string()));
                }
                if let Some(id) = self.scopes.in_module(module, name) {
                    return Some(id);
                }
                let candidates = self.scopes.module_names(module);
                let mut d = Diagnostic::new(Code::E0101, p.span, format!("`std.{module}` has no `{name}`"))
                    .label("not in this module");
                d = match suggest(name, candidates.iter().copied()) {
                    Some(s) => d.help(format!("did you mean `std.{module}.{s}`?")),
                    None => d.help(format!("`std.{module}` has: {}", candidates.join(", "))),
                };
                self.diags.push(d);
                None
            }
            _ => {
                self.diags.push(
                    Diagnostic::new(Code::E0101, p.span, format!("cannot find `{}`", p.text()))
                        .label("not defined")
                        .help("refer to an item by its name, or to a stdlib item as `std.module.name`"),
                );
                None
            }
        }
    }

    /// Resolve and require a block of one of `kinds`.
    pub(crate) fn resolve_kind(
        &mut self,
        p: &Path,
        from: FileId,
        kinds: &[BlockKind],
        expected: &str,
    ) -> Option<ItemId> {
        let id = self.resolve(p, from)?;
        let ok = matches!(self.item(id).map(|i| &i.kind), Some(ItemKind::Block(b)) if kinds.contains(&b.kind) && b.template.is_none());
        if ok {
            return Some(id);
        }
        let kind = self.item_kind_name(id);
        let mut d = Diagnostic::new(
            Code::E0108,
            p.span,
            format!("expected {expected}, found {kind} `{}`", p.text()),
        )
        .label(format!("this is a {kind}"));
        if let Some(span) = self.name_span(id) {
            d = d.with_secondary(span, format!("`{}` is declared as a {kind} here", p.text()));
        }
        self.diags.push(d.help(format!("name {expected} here")));
        None
    }

    fn collect_params(&mut self) {
        let prog = self.prog;
        for file in &prog.user_files {
            let Some(unit) = prog.unit(*file) else { continue };
            for item in &unit.items {
                let ItemKind::Param(p) = &item.kind else { continue };
                self.param(p);
            }
        }
    }

    fn param(&mut self, p: &'a ast::Param) {
        let Some(ty) = ParamTy::parse(&p.ty.name) else {
            let mut d = Diagnostic::new(Code::E0209, p.ty.span, format!("`{}` is not a param type", p.ty.name))
                .label("unknown type");
            d = match suggest(&p.ty.name, schema::PARAM_TYPES.iter().copied()) {
                Some(s) => d.help(format!("did you mean `{s}`?")),
                None => d.help(format!("param types are {}", schema::PARAM_TYPES.join(", "))),
            };
            self.diags.push(d);
            return;
        };
        let sty = ty.schema_ty();
        let mut min = None;
        let mut max = None;
        let mut label = None;
        let mut description = None;
        if let Some(body) = &p.body {
            let view = self.view(body, &schema::PARAM, "a param", p.name.span, None);
            for (which, slot) in [("min", &mut min), ("max", &mut max)] {
                if let Some(a) = view.attr(which) {
                    if matches!(ty, ParamTy::Bool | ParamTy::String) {
                        self.diags.push(
                            Diagnostic::new(
                                Code::E0110,
                                a.key.span,
                                format!("a {} param has no `{which}`", ty.name()),
                            )
                            .label("bounds need a number")
                            .help("remove it"),
                        );
                        continue;
                    }
                    if let Some(s) = self.scalar(&a.value, &sty) {
                        *slot = scalar_to_param(s).map(|v| (v, a.value.span));
                    }
                }
            }
            label = self.get_str(&view, &schema::PARAM, "label").map(|(s, _)| s);
            description = self.get_str(&view, &schema::PARAM, "description").map(|(s, _)| s);
        }
        if let (Some((lo, lo_span)), Some((hi, hi_span))) = (&min, &max) {
            if lo.magnitude() > hi.magnitude() {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0303,
                        *lo_span,
                        format!("`min = {lo}` is greater than `max = {hi}`"),
                    )
                    .label("minimum")
                    .with_secondary(*hi_span, "maximum")
                    .help("swap them, or fix one"),
                );
            }
        }
        let value = match &p.default {
            Some(e) => match self.scalar(e, &sty).and_then(scalar_to_param) {
                Some(v) => v,
                None => return,
            },
            None => {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0106,
                        p.name.span,
                        format!("param `{}` has no default", p.name.name),
                    )
                    .label("no value")
                    .help(format!("write `param {}: {} = VALUE`", p.name.name, ty.name())),
                );
                return;
            }
        };
        let span = p.default.as_ref().map(|e| e.span).unwrap_or(p.name.span);
        self.check_bounds(&value, &min, &max, span, Code::E0202, &p.name.name);
        self.params.insert(
            p.name.name.clone(),
            ParamInfo {
                ty,
                default: value.to_string(),
                value,
                source: ir::ValueSource::Default,
                span,
                min,
                max,
                label,
                description,
            },
        );
    }

    /// Report a value outside its param's bounds.
    fn check_bounds(
        &mut self,
        value: &ParamVal,
        min: &Option<(ParamVal, Span)>,
        max: &Option<(ParamVal, Span)>,
        span: Span,
        code: Code,
        name: &str,
    ) -> bool {
        let m = value.magnitude();
        for (bound, is_min) in [(min, true), (max, false)] {
            let Some((b, bspan)) = bound else { continue };
            let out = if is_min { m < b.magnitude() } else { m > b.magnitude() };
            if out {
                let word = if is_min {
                    "below its minimum"
                } else {
                    "above its maximum"
                };
                self.diags.push(
                    Diagnostic::new(code, span, format!("`{name} = {value}` is {word} {b}"))
                        .label(format!("{word} {b}"))
                        .with_secondary(*bspan, if is_min { "minimum set here" } else { "maximum set here" })
                        .help(format!(
                            "use a value from {} to {}",
                            min.as_ref().map(|(v, _)| v.to_string()).unwrap_or_else(|| "…".into()),
                            max.as_ref().map(|(v, _)| v.to_string()).unwrap_or_else(|| "…".into())
                        )),
                );
                return false;
            }
        }
        true
    }

    fn unused_warnings(&mut self) {
        let mut unused = Vec::new();
        for (file, module, span) in &self.prog.std_imports {
            if !self.used_std.contains(&(*file, module.clone())) && module != crate::stdlib::PRELUDE {
                unused.push(
                    Diagnostic::new(Code::W0101, *span, format!("`std.{module}` is imported but not used"))
                        .label("unused import")
                        .help("remove the import"),
                );
            }
        }
        for (name, info) in &self.params {
            if !self.used_params.contains(name) {
                let span = self
                    .scopes
                    .user(name.as_str())
                    .and_then(|id| self.name_span(id))
                    .unwrap_or(info.span);
                unused.push(
                    Diagnostic::new(Code::W0102, span, format!("param `{name}` is never used"))
                        .label("unused parameter")
                        .help("use it in a count or a field, or remove it"),
                );
            }
        }
        self.diags.extend(unused);
    }
}

fn scalar_to_param(s: body::Scalar) -> Option<ParamVal> {
    Some(match s {
        body::Scalar::Int(i) => ParamVal::Int(i),
        body::Scalar::Bool(b) => ParamVal::Bool(b),
        body::Scalar::Str(s) => ParamVal::Str(s),
        body::Scalar::Cpu(c) => ParamVal::Cpu(c),
        body::Scalar::Memory(m) => ParamVal::Memory(m),
        body::Scalar::Duration(d) => ParamVal::Duration(d),
        body::Scalar::Number(n) => ParamVal::Int(n.parse().ok()?),
        body::Scalar::Word(w) => ParamVal::Str(w),
    })
}
