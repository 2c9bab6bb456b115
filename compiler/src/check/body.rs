//! Reading a block body against its [`Shape`]: unknown, duplicate, missing
//! and misplaced fields, and typed values with units.

use super::values as v;
use super::{Analyzer, ParamTy, ParamVal};
use crate::diag::{suggest, Code, Diagnostic};
use crate::ir;
use crate::schema::{Contents, Field, RefKind, Shape, Ty};
use crate::source::Span;
use crate::syntax::ast::*;
use std::collections::BTreeMap;

/// A body's statements, indexed by the shape. Own fields override the
/// template's (`from`).
#[derive(Default)]
pub struct BodyView<'a> {
    pub attrs: BTreeMap<&'a str, &'a Attr>,
    pub blocks: Vec<&'a NestedBlock>,
    pub secrets: Vec<&'a SecretStmt>,
    pub devices: Vec<&'a DeviceStmt>,
    pub alerts: Vec<&'a AlertStmt>,
    /// Span to point at when something is missing.
    pub owner: Span,
}

impl<'a> BodyView<'a> {
    pub fn attr(&self, name: &str) -> Option<&'a Attr> {
        self.attrs.get(name).copied()
    }

    pub fn blocks_named<'s>(&'s self, keyword: &'s str) -> impl Iterator<Item = &'a NestedBlock> + 's {
        self.blocks.iter().copied().filter(move |b| b.kind.name == keyword)
    }

    pub fn block(&self, keyword: &str) -> Option<&'a NestedBlock> {
        self.blocks_named(keyword).next()
    }
}

/// A typed scalar read from a field.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Int(i64),
    Number(String),
    Cpu(u64),
    Memory(u64),
    Duration(u64),
    Str(String),
    Bool(bool),
    Word(String),
}

impl<'a> Analyzer<'a> {
    /// Index `body` by `shape`, reporting what does not belong. `base` is a
    /// template body whose fields apply where `body` has none.
    pub fn view(
        &mut self,
        body: &'a Body,
        shape: &Shape,
        what: &str,
        owner: Span,
        base: Option<&'a Body>,
    ) -> BodyView<'a> {
        let mut view = BodyView {
            owner,
            ..BodyView::default()
        };
        self.index_body(&mut view, body, shape, what, true);
        if let Some(base) = base {
            let mut base_view = BodyView::default();
            self.index_body(&mut base_view, base, shape, what, false);
            for (k, a) in base_view.attrs {
                view.attrs.entry(k).or_insert(a);
            }
            for b in base_view.blocks {
                let kw = b.kind.name.as_str();
                let repeated = shape.block(kw).map(|s| s.repeated).unwrap_or(false);
                let overridden = view.blocks.iter().any(|o| {
                    o.kind.name == kw
                        && (!repeated || o.name.as_ref().map(|n| &n.name) == b.name.as_ref().map(|n| &n.name))
                });
                let is_map = matches!(shape.block(kw).map(|s| s.contents), Some(Contents::StringMap));
                if !overridden || is_map {
                    view.blocks.push(b);
                }
            }
            for s in base_view.secrets {
                if !view.secrets.iter().any(|o| o.name.name == s.name.name) {
                    view.secrets.push(s);
                }
            }
            view.devices.extend(base_view.devices);
        }
        view
    }

    fn index_body(&mut self, view: &mut BodyView<'a>, body: &'a Body, shape: &Shape, what: &str, report: bool) {
        for stmt in &body.stmts {
            match &stmt.kind {
                StmtKind::Attr(a) => {
                    if shape.field(&a.key.name).is_none() {
                        if report {
                            self.unknown_field(&a.key.name, a.key.span, shape, what);
                        }
                        continue;
                    }
                    if let Some(prev) = view.attrs.get(a.key.name.as_str()) {
                        if report {
                            self.diags.push(
                                Diagnostic::new(Code::E0107, a.key.span, format!("`{}` is set twice", a.key.name))
                                    .label("set again here")
                                    .with_secondary(prev.key.span, "first set here")
                                    .help("remove one of them"),
                            );
                        }
                        continue;
                    }
                    view.attrs.insert(a.key.name.as_str(), a);
                }
                StmtKind::Block(b) => {
                    let Some(spec) = shape.block(&b.kind.name) else {
                        if report {
                            if shape.field(&b.kind.name).is_some() {
                                self.diags.push(
                                    Diagnostic::new(
                                        Code::E0110,
                                        b.kind.span,
                                        format!("`{}` is a field, not a block", b.kind.name),
                                    )
                                    .label("written as a block")
                                    .help(format!("write `{} = value`", b.kind.name)),
                                );
                            } else {
                                self.unknown_field(&b.kind.name, b.kind.span, shape, what);
                            }
                        }
                        continue;
                    };
                    if report {
                        if spec.named && b.name.is_none() {
                            self.diags.push(
                                Diagnostic::new(Code::E0110, b.kind.span, format!("`{}` needs a name", spec.keyword))
                                    .label("no name")
                                    .help(format!("write `{} NAME {{ … }}`", spec.keyword)),
                            );
                            continue;
                        }
                        if let (false, Some(n)) = (spec.named, &b.name) {
                            self.diags.push(
                                Diagnostic::new(Code::E0110, n.span, format!("`{}` takes no name", spec.keyword))
                                    .label("unexpected name")
                                    .help(format!("write `{} {{ … }}`", spec.keyword)),
                            );
                        }
                        if let (false, Some(on)) = (spec.placed, &b.on) {
                            self.diags.push(
                                Diagnostic::new(Code::E0110, on.span, format!("`{}` takes no `on`", spec.keyword))
                                    .label("unexpected placement")
                                    .help("remove `on …`"),
                            );
                        }
                        if spec.placed && b.on.is_none() {
                            self.diags.push(
                                Diagnostic::new(
                                    Code::E0106,
                                    b.kind.span,
                                    format!("`{}` needs a placement", spec.keyword),
                                )
                                .label("no `on`")
                                .help(format!("write `{} on CLUSTER_OR_FLEET {{ … }}`", spec.keyword)),
                            );
                        }
                        if !spec.repeated {
                            if let Some(prev) = view.blocks.iter().find(|o| o.kind.name == b.kind.name) {
                                self.diags.push(
                                    Diagnostic::new(
                                        Code::E0107,
                                        b.kind.span,
                                        format!("`{}` is written twice", b.kind.name),
                                    )
                                    .label("again here")
                                    .with_secondary(prev.kind.span, "first here")
                                    .help("merge the two blocks"),
                                );
                                continue;
                            }
                        } else if let Some(n) = &b.name {
                            if let Some(prev) = view.blocks.iter().find(|o| {
                                o.kind.name == b.kind.name && o.name.as_ref().map(|x| &x.name) == Some(&n.name)
                            }) {
                                let prev_span = prev.name.as_ref().map(|x| x.span).unwrap_or(prev.kind.span);
                                self.diags.push(
                                    Diagnostic::new(
                                        Code::E0102,
                                        n.span,
                                        format!("{} `{}` is defined twice", spec.keyword, n.name),
                                    )
                                    .label("defined again here")
                                    .with_secondary(prev_span, "first defined here")
                                    .help("rename one of them"),
                                );
                                continue;
                            }
                        }
                        if !b.selectors.is_empty() && b.kind.name != "serve" {
                            if let Some(s) = b.selectors.first() {
                                self.diags.push(
                                    Diagnostic::new(
                                        Code::E0110,
                                        s.span,
                                        format!("`{}` takes no `where`", spec.keyword),
                                    )
                                    .label("unexpected selector")
                                    .help("only workloads and `serve` select labelled sites or nodes"),
                                );
                            }
                        }
                    }
                    view.blocks.push(b);
                }
                StmtKind::Secret(s) => {
                    if shape.statements.secret {
                        view.secrets.push(s);
                    } else if report {
                        self.misplaced(stmt.span, "secret", what);
                    }
                }
                StmtKind::Device(d) => {
                    if shape.statements.device {
                        view.devices.push(d);
                    } else if report {
                        self.misplaced(stmt.span, "device", what);
                    }
                }
                StmtKind::Alert(a) => {
                    if shape.statements.alert {
                        view.alerts.push(a);
                    } else if report {
                        self.misplaced(stmt.span, "alert", what);
                    }
                }
            }
        }
    }

    fn misplaced(&mut self, span: Span, stmt: &str, what: &str) {
        let help = match stmt {
            "secret" => "secrets belong in a service, daemon, job, `train`, `serve` or `registry` block",
            "device" => "device access belongs in a service, daemon, job or `serve` block (write `device = …` for a fleet's profile)",
            _ => "alerts belong in a model's `monitor { }` block",
        };
        self.diags.push(
            Diagnostic::new(Code::E0110, span, format!("`{stmt}` is not allowed in {what}"))
                .label("not allowed here")
                .help(help),
        );
    }

    pub fn unknown_field(&mut self, name: &str, span: Span, shape: &Shape, what: &str) {
        let names = shape.names();
        let mut d = Diagnostic::new(Code::E0105, span, format!("{what} has no field `{name}`")).label("unknown field");
        d = match suggest(name, names.iter().copied()) {
            Some(s) => d.help(format!("did you mean `{s}`?")),
            None => d.help(format!("the fields of {what} are: {}", names.join(", "))),
        };
        self.diags.push(d);
    }

    /// Report every required field of `shape` that `view` lacks.
    pub fn require(&mut self, view: &BodyView<'a>, shape: &Shape, what: &str) {
        for f in shape.fields.iter().filter(|f| f.required) {
            if view.attr(f.name).is_none() {
                self.diags.push(
                    Diagnostic::new(Code::E0106, view.owner, format!("{what} has no `{}`", f.name))
                        .label(format!("`{}` is required", f.name))
                        .help(format!("add `{} = …` ({}): {}", f.name, f.ty.describe(), f.doc)),
                );
            }
        }
    }

    pub fn type_error(&mut self, span: Span, expected: &str, found: &str, help: impl Into<String>) {
        self.diags.push(
            Diagnostic::new(Code::E0201, span, format!("expected {expected}, found {found}"))
                .label(format!("expected {expected}"))
                .help(help),
        );
    }

    /// Describe a value for "found X".
    pub fn describe_expr(&self, e: &Expr) -> String {
        match &e.kind {
            ExprKind::Quantity { number, suffix } => match v::unit_family(suffix) {
                Some(v::UnitFamily::Plain) => format!("the number `{number}`"),
                Some(v::UnitFamily::Cpu | v::UnitFamily::CpuOrDuration) => {
                    format!("the quantity `{number}{suffix}`")
                }
                Some(v::UnitFamily::Memory) => format!("the memory size `{number}{suffix}`"),
                Some(v::UnitFamily::Duration) => format!("the duration `{number}{suffix}`"),
                None => format!("`{number}{suffix}`"),
            },
            ExprKind::String(s) => format!("the string \"{s}\""),
            ExprKind::Bool(b) => format!("`{b}`"),
            ExprKind::Path(p) => format!("`{}`", p.text()),
            ExprKind::List(_) => "a list".into(),
            ExprKind::Object { path, .. } => format!("`{} {{ … }}`", path.text()),
            ExprKind::Per { .. } | ExprKind::Bounded { .. } => "a ratio".into(),
            ExprKind::CountRef { .. } => "a count".into(),
            _ => "an expression".into(),
        }
    }

    /// Resolve a bare name to a param value, if it is one. Marks it used.
    fn param_value(&mut self, p: &Path) -> Option<(ParamTy, ParamVal)> {
        if p.segments.len() != 1 {
            return None;
        }
        let name = p.segments.first()?.name.as_str();
        let info = self.params.get(name)?;
        let out = (info.ty, info.value.clone());
        self.use_param(name, true);
        Some(out)
    }

    /// Read a scalar of type `ty` (not counts, lists, refs or providers).
    pub fn scalar(&mut self, e: &Expr, ty: &Ty) -> Option<Scalar> {
        if let ExprKind::Paren(inner) = &e.kind {
            return self.scalar(inner, ty);
        }
        if let ExprKind::Path(p) = &e.kind {
            if let Some((pty, val)) = self.param_value(p) {
                let ok = matches!(
                    (pty, ty),
                    (ParamTy::Int, Ty::Int | Ty::Number | Ty::Port | Ty::Count)
                        | (ParamTy::Bool, Ty::Bool)
                        | (ParamTy::Cpu, Ty::Cpu)
                        | (ParamTy::Memory, Ty::Memory)
                        | (ParamTy::Duration, Ty::Duration)
                        | (
                            ParamTy::String,
                            Ty::Str
                                | Ty::Image
                                | Ty::Cron
                                | Ty::HostPattern
                                | Ty::Artifact
                                | Ty::Checksum
                                | Ty::HttpPath
                                | Ty::AbsPath
                                | Ty::DnsName
                        )
                );
                if !ok {
                    self.type_error(
                        e.span,
                        &ty.describe(),
                        &format!("the {} param `{}`", pty.name(), p.text()),
                        "use a param of the right type, or write the value",
                    );
                    return None;
                }
                return Some(match val {
                    ParamVal::Int(i) => match ty {
                        Ty::Number => Scalar::Number(i.to_string()),
                        _ => Scalar::Int(i),
                    },
                    ParamVal::Bool(b) => Scalar::Bool(b),
                    ParamVal::Cpu(c) => Scalar::Cpu(c),
                    ParamVal::Memory(m) => Scalar::Memory(m),
                    ParamVal::Duration(d) => Scalar::Duration(d),
                    ParamVal::Str(s) => {
                        // The param's value must suit the field it is used in.
                        if !self.valid_string(ty, &s, e.span) {
                            return None;
                        }
                        Scalar::Str(s)
                    }
                });
            }
        }
        match ty {
            Ty::Int | Ty::Port | Ty::Count => self.int_literal(e, ty).map(Scalar::Int),
            Ty::Number => match &e.kind {
                ExprKind::Quantity { number, suffix } if suffix.is_empty() => Some(Scalar::Number(number.clone())),
                ExprKind::Neg(inner) => match &inner.kind {
                    ExprKind::Quantity { number, suffix } if suffix.is_empty() => {
                        Some(Scalar::Number(format!("-{number}")))
                    }
                    _ => self.mismatch(e, ty),
                },
                _ => self.mismatch(e, ty),
            },
            Ty::Cpu | Ty::Memory | Ty::Duration => {
                let ExprKind::Quantity { number, suffix } = &e.kind else {
                    return self.mismatch(e, ty);
                };
                self.quantity(e.span, number, suffix, ty)
            }
            Ty::Bool => match &e.kind {
                ExprKind::Bool(b) => Some(Scalar::Bool(*b)),
                _ => self.mismatch(e, ty),
            },
            Ty::Enum(variants) => match &e.kind {
                ExprKind::Path(p) if p.segments.len() == 1 => {
                    let w = p.text();
                    if variants.contains(&w.as_str()) {
                        Some(Scalar::Word(w))
                    } else {
                        let mut d = Diagnostic::new(
                            Code::E0209,
                            e.span,
                            format!("`{w}` is not one of {}", variants.join(", ")),
                        )
                        .label("unknown variant");
                        d = match suggest(&w, variants.iter().copied()) {
                            Some(s) => d.help(format!("did you mean `{s}`?")),
                            None => d.help(format!("write one of {}", variants.join(", "))),
                        };
                        self.diags.push(d);
                        None
                    }
                }
                ExprKind::String(s) if variants.contains(&s.as_str()) => {
                    self.type_error(
                        e.span,
                        &ty.describe(),
                        &format!("the string \"{s}\""),
                        format!("write `{s}` without quotes"),
                    );
                    None
                }
                _ => self.mismatch(e, ty),
            },
            _ => {
                let ExprKind::String(s) = &e.kind else {
                    return self.mismatch(e, ty);
                };
                if !self.valid_string(ty, s, e.span) {
                    return None;
                }
                Some(Scalar::Str(s.clone()))
            }
        }
    }

    /// Check the format of a string field (image, cron, artifact, …).
    fn valid_string(&mut self, ty: &Ty, s: &str, span: Span) -> bool {
        let checked = match ty {
            Ty::Image => v::check_image(s).map_err(|m| (Code::E0205, m, "pin a tag or digest: `registry/name:1.2.3`")),
            Ty::Cron => {
                v::check_cron(s).map_err(|m| {
                    let help = if m.contains("both the day of month") {
                        "keep one of the two day fields `*`; for \"the first Monday\", run on days 1-7 and check the weekday in the job"
                    } else if m.contains("Sunday") {
                        "write `0` or `sun` for Sunday"
                    } else {
                        "write five fields: `*/30 * * * *` is every 30 minutes"
                    };
                    (Code::E0204, m, help)
                })
            }
            Ty::Artifact => v::check_artifact(s).map_err(|m| {
                (
                    Code::E0211,
                    m,
                    "write `s3://bucket/key`, `oci://registry/repo:tag` or `https://…`",
                )
            }),
            Ty::Checksum => v::check_checksum(s)
                .map_err(|m| (Code::E0211, m, "write `sha256:` and the 64 hex digits of the artifact")),
            Ty::HttpPath | Ty::AbsPath if !s.starts_with('/') => Err((
                Code::E0201,
                format!("`{s}` does not start with `/`"),
                "write an absolute path such as `/healthz`",
            )),
            Ty::DnsName => v::check_dns_label(s).map_err(|m| (Code::E0206, m, "use lowercase letters, digits and `-`")),
            _ => Ok(()),
        };
        match checked {
            Ok(()) => true,
            Err((code, msg, help)) => {
                self.diags
                    .push(Diagnostic::new(code, span, msg).label(code.title()).help(help));
                false
            }
        }
    }

    fn mismatch(&mut self, e: &Expr, ty: &Ty) -> Option<Scalar> {
        let found = self.describe_expr(e);
        let help = match (&e.kind, ty) {
            (ExprKind::Quantity { number, .. }, Ty::Str | Ty::Image | Ty::Cron | Ty::HttpPath | Ty::AbsPath) => {
                format!("write it as a string: \"{number}\"")
            }
            (ExprKind::String(s), Ty::Cpu | Ty::Memory | Ty::Duration | Ty::Int | Ty::Port) => {
                format!("write the value without quotes: {s}")
            }
            (ExprKind::Path(p), Ty::Str) => format!("write it as a string: \"{}\"", p.text()),
            _ => format!("write {}", ty.describe()),
        };
        self.type_error(e.span, &ty.describe(), &found, help);
        None
    }

    fn quantity(&mut self, span: Span, number: &str, suffix: &str, ty: &Ty) -> Option<Scalar> {
        let Some(family) = v::unit_family(suffix) else {
            let mut d = Diagnostic::new(Code::E0203, span, format!("`{suffix}` is not a unit")).label("unknown unit");
            let expected = match ty {
                Ty::Cpu => "CPU is written in cores (`2`, `0.5`) or millicores (`500m`)",
                Ty::Memory => "memory units are `Ki`, `Mi`, `Gi`, `Ti` (or `k`, `M`, `G`, `T`)",
                _ => "durations are written with `ms`, `s`, `m`, `h` or `d`",
            };
            d = match v::suggest_suffix(suffix).or_else(|| {
                suggest(suffix, v::ALL_SUFFIXES.iter().copied())
                    .and_then(|s| v::ALL_SUFFIXES.iter().copied().find(|x| *x == s))
            }) {
                Some(s) => d.help(format!("did you mean `{number}{s}`? {expected}")),
                None => d.help(expected.to_string()),
            };
            self.diags.push(d);
            return None;
        };
        let result = match (ty, family) {
            (Ty::Cpu, v::UnitFamily::Plain | v::UnitFamily::Cpu | v::UnitFamily::CpuOrDuration) => {
                v::cpu_millis(number, suffix).map(Scalar::Cpu)
            }
            (Ty::Memory, v::UnitFamily::Memory) => v::memory_bytes(number, suffix).map(Scalar::Memory),
            (Ty::Memory, v::UnitFamily::Plain) => {
                self.diags.push(
                    Diagnostic::new(Code::E0203, span, format!("`{number}` has no unit"))
                        .label("a memory size needs a unit")
                        .help(format!("write `{number}Mi` or `{number}Gi`")),
                );
                return None;
            }
            (Ty::Duration, v::UnitFamily::Duration | v::UnitFamily::CpuOrDuration) => {
                v::duration_secs(number, suffix).map(Scalar::Duration)
            }
            (Ty::Duration, v::UnitFamily::Plain) => {
                self.diags.push(
                    Diagnostic::new(Code::E0203, span, format!("`{number}` has no unit"))
                        .label("a duration needs a unit")
                        .help(format!("write `{number}s`, `{number}m` or `{number}h`")),
                );
                return None;
            }
            _ => {
                let found = match family {
                    v::UnitFamily::Memory => format!("the memory size `{number}{suffix}`"),
                    v::UnitFamily::Duration => format!("the duration `{number}{suffix}`"),
                    _ => format!("`{number}{suffix}`"),
                };
                self.type_error(
                    span,
                    &ty.describe(),
                    &found,
                    format!("this field takes {}", ty.describe()),
                );
                return None;
            }
        };
        match result {
            Ok(s) => Some(s),
            Err(m) => {
                self.diags.push(
                    Diagnostic::new(Code::E0202, span, m)
                        .label("cannot be represented")
                        .help("round it to a whole unit"),
                );
                None
            }
        }
    }

    /// A whole number literal (optionally negative); ports are range-checked.
    pub fn int_literal(&mut self, e: &Expr, ty: &Ty) -> Option<i64> {
        let (neg, inner) = match &e.kind {
            ExprKind::Neg(i) => (true, i.as_ref()),
            _ => (false, e),
        };
        if let ExprKind::Path(p) = &inner.kind {
            if let Some((ParamTy::Int, ParamVal::Int(i))) = self.param_value(p) {
                return Some(if neg { -i } else { i });
            }
        }
        let ExprKind::Quantity { number, suffix } = &inner.kind else {
            self.mismatch(e, ty);
            return None;
        };
        if !suffix.is_empty() {
            self.mismatch(e, ty);
            return None;
        }
        let Ok(n) = number.parse::<i64>() else {
            self.diags.push(
                Diagnostic::new(
                    Code::E0201,
                    e.span,
                    format!("expected a whole number, found `{number}`"),
                )
                .label("not a whole number")
                .help("write a whole number"),
            );
            return None;
        };
        let n = if neg { -n } else { n };
        if *ty == Ty::Port && !(1..=65535).contains(&n) {
            self.diags.push(
                Diagnostic::new(Code::E0202, e.span, format!("port {n} is outside 1–65535"))
                    .label("not a port")
                    .help("use a port between 1 and 65535"),
            );
            return None;
        }
        if n < 0 && *ty != Ty::Number {
            self.diags.push(
                Diagnostic::new(Code::E0202, e.span, format!("{n} is negative"))
                    .label("must be zero or more")
                    .help("use a number that is zero or more"),
            );
            return None;
        }
        Some(n)
    }

    // Convenience getters over a view. Each returns `None` when the field is
    // absent or wrong (the latter already reported).

    pub fn get(&mut self, view: &BodyView<'a>, field: &Field) -> Option<(Scalar, Span)> {
        let a = view.attr(field.name)?;
        let s = self.scalar(&a.value, &field.ty)?;
        Some((s, a.value.span))
    }

    pub fn get_str(&mut self, view: &BodyView<'a>, shape: &Shape, name: &str) -> Option<(String, Span)> {
        let field = shape.field(name)?;
        match self.get(view, field)? {
            (Scalar::Str(s) | Scalar::Word(s), span) => Some((s, span)),
            _ => None,
        }
    }

    pub fn get_int(&mut self, view: &BodyView<'a>, shape: &Shape, name: &str) -> Option<(i64, Span)> {
        let field = shape.field(name)?;
        match self.get(view, field)? {
            (Scalar::Int(i), span) => Some((i, span)),
            _ => None,
        }
    }

    pub fn get_u32_or_default(&mut self, view: &BodyView<'a>, shape: &Shape, name: &str) -> u32 {
        match self.get_int(view, shape, name) {
            Some((i, _)) => u32::try_from(i).unwrap_or(u32::MAX),
            None => default_of(shape, name).and_then(|d| d.parse().ok()).unwrap_or(0),
        }
    }

    pub fn get_bool(&mut self, view: &BodyView<'a>, shape: &Shape, name: &str) -> bool {
        let Some(field) = shape.field(name) else {
            return false;
        };
        match self.get(view, field) {
            Some((Scalar::Bool(b), _)) => b,
            _ => default_of(shape, name) == Some("true"),
        }
    }

    pub fn get_cpu(&mut self, view: &BodyView<'a>, shape: &Shape, name: &str) -> u64 {
        let Some(field) = shape.field(name) else {
            return 0;
        };
        match self.get(view, field) {
            Some((Scalar::Cpu(c), _)) => c,
            _ => default_of(shape, name)
                .and_then(|d| {
                    let split = d.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(d.len());
                    let (n, s) = d.split_at(split);
                    v::cpu_millis(n, s).ok()
                })
                .unwrap_or(0),
        }
    }

    pub fn get_memory(&mut self, view: &BodyView<'a>, shape: &Shape, name: &str) -> Option<u64> {
        let field = shape.field(name)?;
        match self.get(view, field) {
            Some((Scalar::Memory(m), _)) => Some(m),
            _ => default_of(shape, name).and_then(|d| {
                let split = d.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(d.len());
                let (n, s) = d.split_at(split);
                if s.is_empty() {
                    return Some(0);
                }
                v::memory_bytes(n, s).ok()
            }),
        }
    }

    pub fn get_duration(&mut self, view: &BodyView<'a>, shape: &Shape, name: &str) -> Option<u64> {
        let field = shape.field(name)?;
        match self.get(view, field) {
            Some((Scalar::Duration(d), _)) => Some(d),
            _ => default_of(shape, name).and_then(|d| {
                let split = d.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(d.len());
                let (n, s) = d.split_at(split);
                v::duration_secs(n, s).ok()
            }),
        }
    }

    /// A list of strings or words.
    pub fn get_list(&mut self, view: &BodyView<'a>, shape: &Shape, name: &str) -> Vec<(String, Span)> {
        let Some(field) = shape.field(name) else {
            return Vec::new();
        };
        let Some(a) = view.attr(name) else {
            return Vec::new();
        };
        let Ty::List(elem) = field.ty else {
            return Vec::new();
        };
        let ExprKind::List(items) = &a.value.kind else {
            self.mismatch(&a.value, &field.ty);
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items {
            if let Ty::Ref(RefKind::Workload) = elem {
                match &item.kind {
                    ExprKind::Path(p) => out.push((p.text(), item.span)),
                    _ => {
                        self.mismatch(item, elem);
                    }
                }
                continue;
            }
            match self.scalar(item, elem) {
                Some(Scalar::Str(s) | Scalar::Word(s)) => out.push((s, item.span)),
                Some(Scalar::Int(i)) => out.push((i.to_string(), item.span)),
                _ => {}
            }
        }
        out
    }

    /// A `key = "value"` map block (`env`, `labels`). In `env`, a value may
    /// be an endpoint reference (`ingest.url`, `.host`, `.port`); those go to
    /// `refs` and are resolved once the workloads are placed.
    pub fn string_map(
        &mut self,
        block: &'a NestedBlock,
        keys: MapKeys,
        mut refs: Option<&mut Vec<EnvRefDraft>>,
    ) -> BTreeMap<String, (String, Span)> {
        // Labels and files hold strings only; env values may be numbers
        // and booleans too, and endpoint references.
        let labels = keys != MapKeys::Env;
        let mut out: BTreeMap<String, (String, Span)> = BTreeMap::new();
        let mut seen: BTreeMap<String, Span> = BTreeMap::new();
        for stmt in &block.body.stmts {
            let StmtKind::Attr(a) = &stmt.kind else {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0110,
                        stmt.span,
                        format!("`{}` holds only `key = value` entries", block.kind.name),
                    )
                    .label("not an entry")
                    .help("write `KEY = \"value\"`"),
                );
                continue;
            };
            if let Some(prev) = seen.get(&a.key.name) {
                self.diags.push(
                    Diagnostic::new(Code::E0107, a.key.span, format!("`{}` is set twice", a.key.name))
                        .label("set again here")
                        .with_secondary(*prev, "first set here")
                        .help("remove one of them"),
                );
                continue;
            }
            seen.insert(a.key.name.clone(), a.key.span);
            let value = match &a.value.kind {
                ExprKind::String(s) => Some(s.clone()),
                ExprKind::Quantity { number, suffix } if !labels => Some(format!("{number}{suffix}")),
                ExprKind::Bool(b) if !labels => Some(b.to_string()),
                ExprKind::Path(p) => match self.param_value(p) {
                    Some((_, val)) => Some(val.to_string()),
                    None if !labels && p.segments.len() == 2 && refs.is_some() => {
                        let (Some(target), Some(part)) = (p.segments.first(), p.segments.get(1)) else {
                            continue;
                        };
                        match ir::EndpointPart::ALL.iter().find(|(n, _)| *n == part.name) {
                            Some((_, part_kind)) => {
                                if let Some(r) = refs.as_deref_mut() {
                                    r.push(EnvRefDraft {
                                        name: a.key.name.clone(),
                                        target: target.name.clone(),
                                        target_span: target.span,
                                        part: *part_kind,
                                    });
                                }
                            }
                            None => self.diags.push(
                                Diagnostic::new(
                                    Code::E0105,
                                    part.span,
                                    format!("an endpoint has no part `{}`", part.name),
                                )
                                .label("unknown endpoint part")
                                .help(format!(
                                    "write `{}.url`, `{}.host` or `{}.port`",
                                    target.name, target.name, target.name
                                )),
                            ),
                        }
                        None
                    }
                    None => {
                        let found = self.describe_expr(&a.value);
                        self.type_error(a.value.span, "a string", &found, format!("quote it: \"{}\"", p.text()));
                        None
                    }
                },
                _ => {
                    let found = self.describe_expr(&a.value);
                    let help = match &a.value.kind {
                        ExprKind::Quantity { number, suffix } => {
                            format!("label values are strings: \"{number}{suffix}\"")
                        }
                        ExprKind::Bool(b) => format!("label values are strings: \"{b}\""),
                        _ => "write a string".to_string(),
                    };
                    self.type_error(a.value.span, "a string", &found, help);
                    None
                }
            };
            let Some(value) = value else { continue };
            if keys == MapKeys::Files {
                if let Err(why) = v::check_config_file_path(&a.key.name) {
                    self.diags.push(
                        Diagnostic::new(Code::E0212, a.key.span, format!("`{}` cannot be a mounted file: {why}", a.key.name))
                            .label("unsafe file name")
                            .help("name a file in a folder of its own under `/etc`, like `\"/etc/tfserving/monitoring.config\"`"),
                    );
                    continue;
                }
            } else if labels {
                if let Err(m) = v::check_label_key(&a.key.name) {
                    self.diags.push(
                        Diagnostic::new(Code::E0207, a.key.span, m)
                            .label("invalid label key")
                            .help("label keys are `[prefix/]name`, e.g. `camera` or `example.com/zone`"),
                    );
                    continue;
                }
                if let Err(m) = v::check_label_value(&value) {
                    self.diags.push(
                        Diagnostic::new(Code::E0207, a.value.span, m)
                            .label("invalid label value")
                            .help("use letters, digits, `-`, `_` and `.`"),
                    );
                    continue;
                }
            } else if let Err(m) = v::check_env_name(&a.key.name) {
                self.diags.push(
                    Diagnostic::new(Code::E0207, a.key.span, m)
                        .label("invalid name")
                        .help("use letters, digits and `_`, not starting with a digit"),
                );
                continue;
            }
            out.insert(a.key.name.clone(), (value, a.value.span));
        }
        out
    }
}

/// What the keys of a `key = "value"` map block are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapKeys {
    /// Environment variable (or metric) names; values may be numbers,
    /// booleans and endpoint references too.
    Env,
    /// Kubernetes label keys; string values that are label values.
    Labels,
    /// Absolute paths of mounted files (`v::check_config_file_path`);
    /// string values.
    Files,
}

/// An env value that names another workload's endpoint (`ingest.url`).
#[derive(Debug, Clone)]
pub struct EnvRefDraft {
    /// The environment variable.
    pub name: String,
    /// The workload or model named.
    pub target: String,
    pub target_span: Span,
    pub part: ir::EndpointPart,
}

pub fn default_of(shape: &Shape, name: &str) -> Option<&'static str> {
    shape.field(name).and_then(|f| f.default)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{analyzer, block, program, reported};
    use crate::diag::Code;
    use crate::schema::{JOB, SERVICE};

    const MI: u64 = 1024 * 1024;

    #[test]
    fn typed_getters_read_what_is_written() {
        let prog = program(
            "service s on c {\n  image = \"ghcr.io/acme/x:1.0\"  protocol = udp\n  cpu = 1.5  memory = 1Gi  public = true  user = 2000\n}\n",
        );
        let mut a = analyzer(&prog);
        let b = block(&prog, "s");
        let view = a.view(&b.body, &SERVICE, "a service", b.name.span, None);
        let (image, span) = a.get_str(&view, &SERVICE, "image").expect("image");
        assert_eq!(image, "ghcr.io/acme/x:1.0");
        assert_eq!(prog.sources.text(span), "\"ghcr.io/acme/x:1.0\"");
        // An enum field is a word, read as a string.
        assert_eq!(
            a.get_str(&view, &SERVICE, "protocol").map(|(s, _)| s).as_deref(),
            Some("udp")
        );
        assert_eq!(a.get_cpu(&view, &SERVICE, "cpu"), 1500);
        assert_eq!(a.get_memory(&view, &SERVICE, "memory"), Some(1024 * MI));
        assert!(a.get_bool(&view, &SERVICE, "public"));
        assert_eq!(a.get_u32_or_default(&view, &SERVICE, "user"), 2000);
        assert!(a.diags.is_empty(), "{:#?}", a.diags);
    }

    #[test]
    fn absent_fields_take_the_schema_default() {
        let prog = program("service s on c { image = \"x:1\" }\njob j on c { image = \"x:1\" }\n");
        let mut a = analyzer(&prog);
        let s = block(&prog, "s");
        let view = a.view(&s.body, &SERVICE, "a service", s.name.span, None);
        assert_eq!(a.get_cpu(&view, &SERVICE, "cpu"), 100);
        assert_eq!(a.get_memory(&view, &SERVICE, "memory"), Some(128 * MI));
        assert!(!a.get_bool(&view, &SERVICE, "public"));
        assert_eq!(a.get_u32_or_default(&view, &SERVICE, "user"), 10001);
        // `get_str` has no default to fall back to, and a field the shape
        // does not have reads as nothing.
        assert_eq!(a.get_str(&view, &SERVICE, "protocol"), None);
        assert_eq!(a.get_str(&view, &SERVICE, "no_such_field"), None);
        assert_eq!(a.get_cpu(&view, &SERVICE, "no_such_field"), 0);
        let j = block(&prog, "j");
        let view = a.view(&j.body, &JOB, "a job", j.name.span, None);
        assert_eq!(a.get_u32_or_default(&view, &JOB, "backoff"), 3);
        assert_eq!(a.get_duration(&view, &JOB, "deadline"), Some(3600));
        assert!(a.diags.is_empty(), "{:#?}", a.diags);
    }

    #[test]
    fn a_wrong_cpu_is_reported_and_read_as_the_default() {
        for (value, code, message) in [
            (
                "256Mi",
                Code::E0201,
                "expected a CPU quantity (`500m`, `2`), found the memory size `256Mi`",
            ),
            (
                "\"2\"",
                Code::E0201,
                "expected a CPU quantity (`500m`, `2`), found the string \"2\"",
            ),
            ("5x", Code::E0203, "`x` is not a unit"),
        ] {
            let prog = program(&format!("service s on c {{ image = \"x:1\"  cpu = {value} }}\n"));
            let mut a = analyzer(&prog);
            let b = block(&prog, "s");
            let view = a.view(&b.body, &SERVICE, "a service", b.name.span, None);
            assert_eq!(a.get_cpu(&view, &SERVICE, "cpu"), 100, "{value}");
            assert_eq!(
                reported(&prog, &a.diags),
                vec![(code, message.to_string(), value.to_string())]
            );
        }
    }

    #[test]
    fn get_bool_reports_a_string_and_falls_back_to_the_default() {
        let prog = program("service s on c { image = \"x:1\"  public = \"yes\" }\n");
        let mut a = analyzer(&prog);
        let b = block(&prog, "s");
        let view = a.view(&b.body, &SERVICE, "a service", b.name.span, None);
        assert!(!a.get_bool(&view, &SERVICE, "public"));
        assert_eq!(
            reported(&prog, &a.diags),
            vec![(
                Code::E0201,
                "expected `true` or `false`, found the string \"yes\"".to_string(),
                "\"yes\"".to_string()
            )]
        );
    }

    #[test]
    fn whole_numbers_are_range_checked() {
        let prog = program(
            "job j on c { image = \"x:1\"  backoff = -1  user = 2.5 }\nservice s on c { image = \"x:1\"  port = 70000 }\n",
        );
        let mut a = analyzer(&prog);
        let j = block(&prog, "j");
        let view = a.view(&j.body, &JOB, "a job", j.name.span, None);
        assert_eq!(a.get_u32_or_default(&view, &JOB, "backoff"), 3);
        assert_eq!(a.get_u32_or_default(&view, &JOB, "user"), 10001);
        let s = block(&prog, "s");
        let view = a.view(&s.body, &SERVICE, "a service", s.name.span, None);
        assert_eq!(a.get_int(&view, &SERVICE, "port"), None);
        assert_eq!(
            reported(&prog, &a.diags),
            vec![
                (Code::E0202, "-1 is negative".to_string(), "-1".to_string()),
                (
                    Code::E0201,
                    "expected a whole number, found `2.5`".to_string(),
                    "2.5".to_string()
                ),
                (
                    Code::E0202,
                    "port 70000 is outside 1–65535".to_string(),
                    "70000".to_string()
                ),
            ]
        );
    }

    #[test]
    fn memory_and_durations_need_a_unit() {
        let prog = program("job j on c { image = \"x:1\"  memory = 512  deadline = 30 }\n");
        let mut a = analyzer(&prog);
        let j = block(&prog, "j");
        let view = a.view(&j.body, &JOB, "a job", j.name.span, None);
        // Reported, then read as the default.
        assert_eq!(a.get_memory(&view, &JOB, "memory"), Some(128 * MI));
        assert_eq!(a.get_duration(&view, &JOB, "deadline"), Some(3600));
        assert_eq!(
            reported(&prog, &a.diags),
            vec![
                (Code::E0203, "`512` has no unit".to_string(), "512".to_string()),
                (Code::E0203, "`30` has no unit".to_string(), "30".to_string()),
            ]
        );
        let helps: Vec<_> = a.diags.iter().map(|d| d.help.clone().unwrap_or_default()).collect();
        assert_eq!(helps, ["write `512Mi` or `512Gi`", "write `30s`, `30m` or `30h`"]);
    }

    #[test]
    fn the_view_reports_unknown_and_repeated_fields() {
        let prog = program("service s on c { image = \"x:1\"  memroy = 1Gi  cpu = 1  cpu = 2 }\n");
        let mut a = analyzer(&prog);
        let b = block(&prog, "s");
        let view = a.view(&b.body, &SERVICE, "a service", b.name.span, None);
        // The first `cpu` is the one read.
        assert_eq!(a.get_cpu(&view, &SERVICE, "cpu"), 1000);
        assert_eq!(
            reported(&prog, &a.diags),
            vec![
                (
                    Code::E0105,
                    "a service has no field `memroy`".to_string(),
                    "memroy".to_string()
                ),
                (Code::E0107, "`cpu` is set twice".to_string(), "cpu".to_string()),
            ]
        );
        assert_eq!(
            a.diags.first().and_then(|d| d.help.clone()).as_deref(),
            Some("did you mean `memory`?")
        );
        // Pointing back at the first one.
        let twice = a.diags.get(1).expect("E0107");
        let first = twice.secondary.first().expect("a secondary label").span;
        assert_eq!(prog.sources.text(first), "cpu");
        assert!(first.start < twice.primary.span.start);
    }

    #[test]
    fn require_points_at_the_owner() {
        let prog = program("service s on c { cpu = 1 }\n");
        let mut a = analyzer(&prog);
        let b = block(&prog, "s");
        let view = a.view(&b.body, &SERVICE, "a service", b.name.span, None);
        a.require(&view, &SERVICE, "service `s`");
        assert_eq!(
            reported(&prog, &a.diags),
            vec![(Code::E0106, "service `s` has no `image`".to_string(), "s".to_string())]
        );
    }

    #[test]
    fn a_template_fills_in_what_the_item_leaves_out() {
        let prog = program(
            "template service t { image = \"x:1\"  cpu = 2  memory = 1Gi }\nservice s on c from t { cpu = 1 }\n",
        );
        let mut a = analyzer(&prog);
        let (t, s) = (block(&prog, "t"), block(&prog, "s"));
        let view = a.view(&s.body, &SERVICE, "a service", s.name.span, Some(&t.body));
        assert_eq!(a.get_cpu(&view, &SERVICE, "cpu"), 1000);
        assert_eq!(a.get_memory(&view, &SERVICE, "memory"), Some(1024 * MI));
        assert_eq!(
            a.get_str(&view, &SERVICE, "image").map(|(i, _)| i).as_deref(),
            Some("x:1")
        );
        assert!(a.diags.is_empty(), "{:#?}", a.diags);
    }

    #[test]
    fn lists_and_maps_read_their_entries() {
        let prog = program(
            "service s on c {\n  image = \"x:1\"  arch = [arm64, amd64]\n  env { A = \"1\"  B = 2  ON = true  A = \"x\"  \"MY-VAR\" = \"y\" }\n}\nservice u on c { image = \"x:1\"  arch = arm64 }\n",
        );
        let mut a = analyzer(&prog);
        let s = block(&prog, "s");
        let view = a.view(&s.body, &SERVICE, "a service", s.name.span, None);
        let arch = a.get_list(&view, &SERVICE, "arch");
        let texts: Vec<_> = arch
            .iter()
            .map(|(v, span)| (v.as_str(), prog.sources.text(*span)))
            .collect();
        assert_eq!(texts, [("arm64", "arm64"), ("amd64", "amd64")]);
        let env = a.string_map(view.block("env").expect("env"), super::MapKeys::Env, None);
        let env: Vec<_> = env.iter().map(|(k, (v, _))| (k.as_str(), v.as_str())).collect();
        assert_eq!(env, [("A", "1"), ("B", "2"), ("ON", "true")]);
        let u = block(&prog, "u");
        let view = a.view(&u.body, &SERVICE, "a service", u.name.span, None);
        assert!(a.get_list(&view, &SERVICE, "arch").is_empty());
        assert_eq!(
            reported(&prog, &a.diags),
            vec![
                (Code::E0107, "`A` is set twice".to_string(), "A".to_string()),
                (
                    Code::E0207,
                    "`MY-VAR` is not a valid environment variable name".to_string(),
                    "\"MY-VAR\"".to_string()
                ),
                (
                    Code::E0201,
                    "expected a list of one of amd64, arm64, armv7, found `arm64`".to_string(),
                    "arm64".to_string()
                ),
            ]
        );
    }
}
