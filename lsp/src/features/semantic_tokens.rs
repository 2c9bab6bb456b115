//! Semantic tokens: every token of a file classified from the syntax tree
//! and the resolver (`ide::Index`), rust-analyzer style. The compiler's
//! lexer (`syntax::lex`) gives the tokens; the tree says what each word is
//! (a field, a block word, a call, a parameter type, a keyword of the
//! grammar) and the index says what a name declares or refers to. Words of
//! an item that did not parse are keywords when they are reserved words,
//! else plain variables, so half-typed text is still highlighted.

use crate::world::Analyzed;
use iotc_compiler::ide::{Definition, Reference};
use iotc_compiler::source::{FileId, Span};
use iotc_compiler::syntax::ast::{
    Body, Expr, ExprKind, ImportTarget, ItemKind, Key, NestedBlock, Path, SecretSource, Selector, StmtKind,
};
use iotc_compiler::syntax::keywords;
use iotc_compiler::syntax::lex::{self, TokenKind};
use std::collections::HashMap;

/// Token types, in the order of the legend the server announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenType {
    /// Solutions, clusters, fleets, stdlib modules.
    Namespace,
    /// Devices, runtimes, servings, parameter types.
    Type,
    /// Workloads: services, daemons, jobs.
    Class,
    /// Templates.
    Interface,
    /// Models.
    Struct,
    Parameter,
    /// Sites, pools, volumes and other named nested blocks.
    Variable,
    /// Fields and alert metrics.
    Property,
    /// Values named by a word: `k3s`, `aws`, `arm64`.
    EnumMember,
    /// `ceil(…)` and other calls.
    Function,
    Keyword,
    Comment,
    String,
    Number,
    Operator,
}

impl TokenType {
    pub const ALL: [TokenType; 15] = [
        TokenType::Namespace,
        TokenType::Type,
        TokenType::Class,
        TokenType::Interface,
        TokenType::Struct,
        TokenType::Parameter,
        TokenType::Variable,
        TokenType::Property,
        TokenType::EnumMember,
        TokenType::Function,
        TokenType::Keyword,
        TokenType::Comment,
        TokenType::String,
        TokenType::Number,
        TokenType::Operator,
    ];

    /// The LSP name of the type (all are standard ones).
    pub fn name(self) -> &'static str {
        match self {
            TokenType::Namespace => "namespace",
            TokenType::Type => "type",
            TokenType::Class => "class",
            TokenType::Interface => "interface",
            TokenType::Struct => "struct",
            TokenType::Parameter => "parameter",
            TokenType::Variable => "variable",
            TokenType::Property => "property",
            TokenType::EnumMember => "enumMember",
            TokenType::Function => "function",
            TokenType::Keyword => "keyword",
            TokenType::Comment => "comment",
            TokenType::String => "string",
            TokenType::Number => "number",
            TokenType::Operator => "operator",
        }
    }

    /// The type's index in the legend.
    pub fn index(self) -> u32 {
        TokenType::ALL.iter().position(|t| *t == self).map_or(0, |i| i as u32)
    }
}

/// Token modifiers, as bits in the order of the legend.
pub mod modifier {
    /// The name being defined, not a use of it.
    pub const DECLARATION: u32 = 1;
    /// A `///` doc comment.
    pub const DOCUMENTATION: u32 = 1 << 1;
    /// A name the stdlib defines.
    pub const DEFAULT_LIBRARY: u32 = 1 << 2;
    /// The legend, bit by bit.
    pub const NAMES: [&str; 3] = ["declaration", "documentation", "defaultLibrary"];
}

/// One classified token, in byte offsets of its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SemanticToken {
    pub start: usize,
    pub end: usize,
    pub ty: TokenType,
    /// [`modifier`] bits.
    pub modifiers: u32,
}

/// The token type of a definition, by its kind.
pub fn type_of_definition(kind: &str) -> TokenType {
    match kind {
        "param" => TokenType::Parameter,
        "solution" | "cluster" | "fleet" => TokenType::Namespace,
        "service" | "daemon" | "job" => TokenType::Class,
        "model" => TokenType::Struct,
        "device" | "runtime" | "serving" => TokenType::Type,
        k if k.starts_with("template") => TokenType::Interface,
        _ => TokenType::Variable,
    }
}

/// What the tree and the index say about the words of one file, by span.
struct Words<'a> {
    a: &'a Analyzed,
    known: HashMap<(usize, usize), (TokenType, u32)>,
    definitions: HashMap<Span, &'a Definition>,
    references: HashMap<Span, &'a Reference>,
}

impl Words<'_> {
    fn put(&mut self, span: Span, ty: TokenType, modifiers: u32) {
        self.known
            .entry((span.start as usize, span.end as usize))
            .or_insert((ty, modifiers));
    }

    fn library(&self, span: Span) -> u32 {
        if self.a.analysis.program.is_std(span.file) {
            modifier::DEFAULT_LIBRARY
        } else {
            0
        }
    }

    /// A name that declares something: its kind from the index.
    fn declaration(&mut self, span: Span) {
        let ty = self
            .definitions
            .get(&span)
            .map_or(TokenType::Variable, |d| type_of_definition(&d.kind));
        let lib = self.library(span);
        self.put(span, ty, modifier::DECLARATION | lib);
    }

    /// A path: each segment is what it resolves to, else a value (`k3s`).
    fn path(&mut self, path: &Path) {
        for (i, seg) in path.segments.iter().enumerate() {
            let (ty, mods) = match self.references.get(&seg.span) {
                Some(r) if r.module => (TokenType::Namespace, modifier::DEFAULT_LIBRARY),
                Some(r) => (
                    self.definitions
                        .get(&r.target)
                        .map_or(TokenType::Variable, |d| type_of_definition(&d.kind)),
                    self.library(r.target),
                ),
                None if i == 0 && seg.name == "std" && path.segments.len() > 1 => {
                    (TokenType::Namespace, modifier::DEFAULT_LIBRARY)
                }
                None => (TokenType::EnumMember, 0),
            };
            self.put(seg.span, ty, mods);
        }
    }

    fn key(&mut self, key: &Key) {
        self.put(key.span, TokenType::Property, 0);
    }

    fn selectors(&mut self, selectors: &[Selector]) {
        for s in selectors {
            self.key(&s.key);
            self.expr(&s.value);
        }
    }

    fn body(&mut self, body: &Body) {
        for stmt in &body.stmts {
            match &stmt.kind {
                StmtKind::Attr(attr) => {
                    self.key(&attr.key);
                    self.expr(&attr.value);
                }
                StmtKind::Block(b) => self.nested(b),
                StmtKind::Secret(s) => {
                    self.put(s.name.span, TokenType::Variable, modifier::DECLARATION);
                    match &s.source {
                        SecretSource::From { kind, .. } => self.put(kind.span, TokenType::EnumMember, 0),
                        SecretSource::Literal(e) => self.expr(e),
                    }
                }
                StmtKind::Device(_) => {}
                StmtKind::Alert(alert) => {
                    self.put(alert.metric.span, TokenType::Property, 0);
                    self.expr(&alert.threshold);
                    if let Some(d) = &alert.duration {
                        self.expr(d);
                    }
                }
            }
        }
    }

    fn nested(&mut self, b: &NestedBlock) {
        self.put(b.kind.span, TokenType::Keyword, 0);
        if let Some(name) = &b.name {
            self.declaration(name.span);
        }
        if let Some(on) = &b.on {
            self.path(on);
        }
        self.selectors(&b.selectors);
        self.body(&b.body);
    }

    fn expr(&mut self, e: &Expr) {
        match &e.kind {
            ExprKind::Quantity { .. } | ExprKind::String(_) => {}
            ExprKind::Bool(_) => self.put(e.span, TokenType::Keyword, 0),
            ExprKind::Path(p) => self.path(p),
            ExprKind::List(items) => items.iter().for_each(|i| self.expr(i)),
            ExprKind::Object { path, body } => {
                self.path(path);
                self.body(body);
            }
            ExprKind::Paren(inner) | ExprKind::Neg(inner) => self.expr(inner),
            ExprKind::Binary { lhs, rhs, .. } => {
                self.expr(lhs);
                self.expr(rhs);
            }
            ExprKind::Call { name, args } => {
                self.put(name.span, TokenType::Function, 0);
                args.iter().for_each(|a| self.expr(a));
            }
            ExprKind::CountRef { unit_span, of, .. } => {
                self.put(*unit_span, TokenType::Keyword, 0);
                self.path(of);
            }
            ExprKind::Per {
                amount,
                per,
                unit_span,
                of,
                ..
            } => {
                self.expr(amount);
                if let Some(p) = per {
                    self.expr(p);
                }
                self.put(*unit_span, TokenType::Keyword, 0);
                if let Some(of) = of {
                    self.path(of);
                }
            }
            ExprKind::Bounded { expr, min, max } => {
                self.expr(expr);
                for b in [min, max].into_iter().flatten() {
                    self.expr(b);
                }
            }
        }
    }
}

/// Every token of `file` in `a`, sorted, none overlapping. Words the tree
/// does not name in an item that parsed are the grammar's keywords (`on`,
/// `where`, `per`, `min`, …): the parser accepts no other word there.
pub fn semantic_tokens(a: &Analyzed, file: FileId) -> Vec<SemanticToken> {
    let program = &a.analysis.program;
    let Some(src) = program.sources.get(file) else {
        return Vec::new();
    };
    let text = src.text.as_str();
    let mut words = Words {
        a,
        known: HashMap::new(),
        definitions: a.index().definitions.iter().map(|d| (d.name_span, d)).collect(),
        references: a.index().references.iter().map(|r| (r.span, r)).collect(),
    };
    let mut broken: Vec<Span> = Vec::new();
    if let Some(unit) = program.unit(file) {
        broken.clone_from(&unit.broken);
        for item in &unit.items {
            match &item.kind {
                ItemKind::Solution(b) | ItemKind::Block(b) => {
                    words.put(b.kind_span, TokenType::Keyword, 0);
                    if let Some(t) = b.template {
                        words.put(t, TokenType::Keyword, 0);
                    }
                    words.declaration(b.name.span);
                    for p in [&b.on, &b.from].into_iter().flatten() {
                        words.path(p);
                    }
                    words.selectors(&b.selectors);
                    words.body(&b.body);
                }
                ItemKind::Import(i) => {
                    if let ImportTarget::Module(p) = &i.target {
                        words.path(p);
                    }
                }
                ItemKind::Param(p) => {
                    words.declaration(p.name.span);
                    words.put(p.ty.span, TokenType::Type, modifier::DEFAULT_LIBRARY);
                    if let Some(d) = &p.default {
                        words.expr(d);
                    }
                    if let Some(b) = &p.body {
                        words.body(b);
                    }
                }
            }
        }
    }
    let in_broken = |at: usize| broken.iter().any(|s| (s.start as usize) <= at && at < s.end as usize);
    lex::tokens(text)
        .into_iter()
        .filter_map(|t| {
            let (ty, modifiers) = match t.kind {
                TokenKind::Comment => (TokenType::Comment, 0),
                TokenKind::DocComment => (TokenType::Comment, modifier::DOCUMENTATION),
                TokenKind::String => words
                    .known
                    .get(&(t.start, t.end))
                    .copied()
                    .unwrap_or((TokenType::String, 0)),
                TokenKind::Number => (TokenType::Number, 0),
                TokenKind::Operator => (TokenType::Operator, 0),
                TokenKind::Punct | TokenKind::Unknown => return None,
                TokenKind::Word => match words.known.get(&(t.start, t.end)) {
                    Some(known) => *known,
                    None => {
                        let word = text.get(t.start..t.end).unwrap_or("");
                        if !in_broken(t.start) || keywords::is_reserved(word) {
                            (TokenType::Keyword, 0)
                        } else {
                            (TokenType::Variable, 0)
                        }
                    }
                },
            };
            Some(SemanticToken {
                start: t.start,
                end: t.end,
                ty,
                modifiers,
            })
        })
        .collect()
}

/// The tokens of `tokens` that overlap the byte range `lo..hi`.
pub fn in_range(tokens: &[SemanticToken], lo: usize, hi: usize) -> Vec<SemanticToken> {
    tokens.iter().filter(|t| t.start < hi && t.end > lo).copied().collect()
}
