//! Syntax tree: what the parser produces. Every node carries its byte span.
//! The tree is generic over block kinds (like HCL): which fields a block may
//! have is the checker's business (see `schema`), so the parser stays small
//! and every field gets the same "did you mean" treatment.

use crate::source::{FileId, Span};

#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A dotted name: `plants`, `std.devices.jetson_orin_nano`.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    pub segments: Vec<Ident>,
    pub span: Span,
}

impl Path {
    pub fn text(&self) -> String {
        let mut s = String::new();
        for (i, seg) in self.segments.iter().enumerate() {
            if i > 0 {
                s.push('.');
            }
            s.push_str(&seg.name);
        }
        s
    }

    pub fn last(&self) -> Option<&Ident> {
        self.segments.last()
    }
}

/// A parsed file: its items and the spans of items that failed to parse.
#[derive(Debug, Clone, Default)]
pub struct SourceUnit {
    pub file: FileId,
    /// Shared with the parse cache while unchanged and in place
    /// ([`crate::syntax::ParseCache`]).
    pub items: Vec<std::sync::Arc<Item>>,
    /// Each item's text's number in the parse cache it came through (the
    /// same for the same text wherever it is; 0 without a cache): what the
    /// checker keeps a draft by (`check::items::kept`).
    pub keys: Vec<u64>,
    /// Spans of top-level chunks that did not parse (already reported).
    pub broken: Vec<Span>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub docs: Vec<String>,
    pub kind: ItemKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ItemKind {
    Solution(Block),
    Import(Import),
    Param(Param),
    Block(Block),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Import {
    pub target: ImportTarget,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ImportTarget {
    /// `import std.devices`
    Module(Path),
    /// `import "./common.iot"`
    File(StringLit),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: Ident,
    pub ty: Ident,
    pub default: Option<Expr>,
    pub body: Option<Body>,
}

/// The kinds of top-level blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BlockKind {
    Solution,
    Cluster,
    Fleet,
    Service,
    Daemon,
    Job,
    Model,
    Device,
    Runtime,
    Serving,
    /// A dependency outside the solution (a PLC, a database, an object store).
    External,
}

impl BlockKind {
    pub fn keyword(self) -> &'static str {
        match self {
            BlockKind::Solution => "solution",
            BlockKind::Cluster => "cluster",
            BlockKind::Fleet => "fleet",
            BlockKind::Service => "service",
            BlockKind::Daemon => "daemon",
            BlockKind::Job => "job",
            BlockKind::Model => "model",
            BlockKind::Device => "device",
            BlockKind::Runtime => "runtime",
            BlockKind::Serving => "serving",
            BlockKind::External => "external",
        }
    }

    /// Every kind, in declaration order.
    pub const ALL: [BlockKind; 11] = [
        BlockKind::Solution,
        BlockKind::Cluster,
        BlockKind::Fleet,
        BlockKind::Service,
        BlockKind::Daemon,
        BlockKind::Job,
        BlockKind::Model,
        BlockKind::Device,
        BlockKind::Runtime,
        BlockKind::Serving,
        BlockKind::External,
    ];

    /// The kind whose [`keyword`](BlockKind::keyword) is `s`: the words are
    /// written once, in `keyword`.
    pub fn from_keyword(s: &str) -> Option<BlockKind> {
        BlockKind::ALL.into_iter().find(|k| k.keyword() == s)
    }

    pub fn is_workload(self) -> bool {
        matches!(self, BlockKind::Service | BlockKind::Daemon | BlockKind::Job)
    }
}

/// `[template] kind name [on target] [where sel] [from template] { body }`
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub kind: BlockKind,
    pub kind_span: Span,
    pub template: Option<Span>,
    pub name: Ident,
    pub on: Option<Path>,
    pub selectors: Vec<Selector>,
    pub from: Option<Path>,
    pub body: Body,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    pub key: Key,
    pub negated: bool,
    pub value: Expr,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Body {
    pub stmts: Vec<Stmt>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Stmt {
    pub docs: Vec<String>,
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StmtKind {
    /// `key = value`
    Attr(Attr),
    /// `site plant_a { ... }`, `train on cloud { ... }`, `env { ... }`
    Block(NestedBlock),
    /// `secret NAME from env "VAR"` or the rejected `secret NAME = "literal"`
    Secret(SecretStmt),
    /// `device "/dev/video0" [as "/dev/cam"]`
    Device(DeviceStmt),
    /// `alert accuracy < 0.92 for 1h`
    Alert(AlertStmt),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Attr {
    pub key: Key,
    pub value: Expr,
}

/// A field or map key: an identifier, or a quoted string for keys such as
/// `"topology.kubernetes.io/zone"`.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub name: String,
    pub quoted: bool,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NestedBlock {
    pub kind: Ident,
    pub name: Option<Ident>,
    pub on: Option<Path>,
    pub selectors: Vec<Selector>,
    pub body: Body,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SecretStmt {
    pub name: Ident,
    pub source: SecretSource,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SecretSource {
    From { kind: Ident, reference: StringLit },
    Literal(Expr),
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeviceStmt {
    pub host: StringLit,
    pub container: Option<StringLit>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlertStmt {
    pub metric: Ident,
    pub op: CmpOp,
    pub op_span: Span,
    pub threshold: Expr,
    pub duration: Option<Expr>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl CmpOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct StringLit {
    /// The value with escapes resolved.
    pub value: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
}

impl BinOp {
    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
        }
    }
}

/// What a ratio or a count reference counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CountUnit {
    Gateways,
    Sites,
    Nodes,
    Replicas,
}

impl CountUnit {
    pub fn from_word(w: &str) -> Option<CountUnit> {
        Some(match w {
            "gateway" | "gateways" => CountUnit::Gateways,
            "site" | "sites" => CountUnit::Sites,
            "node" | "nodes" => CountUnit::Nodes,
            "replica" | "replicas" => CountUnit::Replicas,
            _ => return None,
        })
    }

    pub fn plural(self) -> &'static str {
        match self {
            CountUnit::Gateways => "gateways",
            CountUnit::Sites => "sites",
            CountUnit::Nodes => "nodes",
            CountUnit::Replicas => "replicas",
        }
    }

    pub fn singular(self) -> &'static str {
        match self {
            CountUnit::Gateways => "gateway",
            CountUnit::Sites => "site",
            CountUnit::Nodes => "node",
            CountUnit::Replicas => "replica",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// A number with an optional unit suffix, as written: `3`, `0.5`,
    /// `500m`, `256Mi`, `30s`. Interpreted by the checker from context.
    Quantity {
        number: String,
        suffix: String,
    },
    String(String),
    Bool(bool),
    Path(Path),
    List(Vec<Expr>),
    /// `aws { region = "eu-west-1" }`
    Object {
        path: Path,
        body: Body,
    },
    Paren(Box<Expr>),
    Neg(Box<Expr>),
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    Call {
        name: Ident,
        args: Vec<Expr>,
    },
    /// `gateways of plants`
    CountRef {
        unit: CountUnit,
        unit_span: Span,
        of: Path,
    },
    /// `A per [B] unit [of target]`
    Per {
        amount: Box<Expr>,
        per: Option<Box<Expr>>,
        unit: CountUnit,
        unit_word: String,
        unit_span: Span,
        of: Option<Path>,
    },
    /// `expr min A max B`
    Bounded {
        expr: Box<Expr>,
        min: Option<Box<Expr>>,
        max: Option<Box<Expr>>,
    },
}
