//! The editor features, in compiler terms: byte offsets and spans in, text
//! and spans out. No LSP types here, so the engine is tested without
//! JSON-RPC; `server` converts at the edge.

pub mod semantic_tokens;

use crate::context::{cursor_context, Scope};
use crate::world::Analyzed;
use iotc_compiler::check::CountExplanation;
use iotc_compiler::diag::Diagnostic;
use iotc_compiler::ide::Definition;
use iotc_compiler::schema::{self, Contents, Field, RefKind, Shape, Ty};
use iotc_compiler::source::{FileId, Origin, Span};
use iotc_compiler::syntax::ast::{Body, ExprKind, ImportTarget, ItemKind, StmtKind};
use iotc_compiler::syntax::keywords;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// Top-level keywords, in the order completion lists them (the grammar's).
pub use iotc_compiler::syntax::keywords::ITEM_KEYWORDS as TOP_KEYWORDS;

/// The file of an analysis with this document key.
pub fn file_of(a: &Analyzed, origin: &Origin) -> Option<FileId> {
    a.analysis.program.sources.find(origin)
}

fn text_of(a: &Analyzed, file: FileId) -> &str {
    a.analysis
        .program
        .sources
        .get(file)
        .map(|f| f.text.as_str())
        .unwrap_or("")
}

// ------------------------------------------------------------------ hover

/// A hover: markdown and the span it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoverInfo {
    pub markdown: String,
    pub span: Span,
}

pub fn hover(a: &Analyzed, file: FileId, offset: usize) -> Option<HoverInfo> {
    let ix = &a.index;
    if let Some(r) = ix.reference_at(file, offset) {
        let markdown = if r.module {
            let module = module_name(a, r.target.file).unwrap_or_default();
            format!("```iot\nimport std.{module}\n```\n\n{}", module_summary(&module))
        } else {
            let d = ix.definition(r.target)?;
            let mut md = definition_markdown(a, d);
            append_counts(&mut md, &counts_for_definition(a, d));
            md
        };
        return Some(HoverInfo { markdown, span: r.span });
    }
    if let Some(d) = ix.definition_at(file, offset) {
        let mut md = definition_markdown(a, d);
        append_counts(&mut md, &counts_for_definition(a, d));
        return Some(HoverInfo {
            markdown: md,
            span: d.name_span,
        });
    }
    if let Some(hit) = schema_hit(a, file, offset) {
        let mut md = match (hit.field, hit.nested) {
            (Some(f), _) => field_markdown(f),
            (None, Some((kw, doc))) => format!("```iot\n{kw} {{ … }}\n```\n\n{doc}"),
            (None, None) => String::new(),
        };
        if let Some(value) = hit.value {
            let counts: Vec<&CountExplanation> = a
                .analysis
                .counts
                .iter()
                .filter(|c| c.span.file == file && c.span.start >= value.start && c.span.end <= value.end)
                .collect();
            append_counts_named(&mut md, &hit.key, &counts);
        }
        if !md.is_empty() {
            return Some(HoverInfo {
                markdown: md,
                span: hit.span,
            });
        }
    }
    let text = text_of(a, file);
    let (word, start, end) = word_at(text, offset)?;
    let doc = schema::keyword_doc(word).or_else(|| statement_doc(word))?;
    Some(HoverInfo {
        markdown: format!("```iot\n{word}\n```\n\n{doc}"),
        span: Span::new(file, start, end),
    })
}

fn statement_doc(word: &str) -> Option<&'static str> {
    Some(match word {
        "device" => "`device \"/dev/video0\" [as \"/dev/cam\"]` passes a host device into the container.",
        "for" => "`alert metric < threshold for 1h`: how long the condition must hold.",
        "of" => "`gateways of F`, `nodes of C`, `replicas of W`: another count.",
        _ => return None,
    })
}

fn module_name(a: &Analyzed, file: FileId) -> Option<String> {
    match &a.analysis.program.sources.get(file)?.origin {
        Origin::Std(m) => Some(m.clone()),
        _ => None,
    }
}

fn module_summary(module: &str) -> String {
    let items: Vec<String> = std_items()
        .iter()
        .filter(|i| i.module == module)
        .map(|i| format!("`{}`", i.name))
        .collect();
    format!("The stdlib module `std.{module}`: {}.", items.join(", "))
}

fn definition_markdown(a: &Analyzed, d: &Definition) -> String {
    let mut md = String::from("```iot\n");
    let qualified = match module_name(a, d.name_span.file) {
        Some(m) if d.parent.is_none() => format!("std.{m}.{}", d.name),
        _ => d.name.clone(),
    };
    md.push_str(&format!("{} {qualified}", d.kind));
    if d.kind == "param" {
        // The declaration line says the type and default.
        let text = text_of(a, d.full_span.file);
        if let Some(line) = text
            .get(d.full_span.range())
            .and_then(|t| t.lines().find(|l| l.contains("param")))
        {
            md = format!("```iot\n{}", line.trim().trim_end_matches('{').trim_end());
        }
    }
    md.push_str("\n```");
    if !d.docs.is_empty() {
        md.push_str("\n\n");
        md.push_str(&d.docs.iter().map(|l| l.trim()).collect::<Vec<_>>().join("\n"));
    }
    let summary = block_summary(a, d);
    if !summary.is_empty() {
        md.push_str("\n\n");
        md.push_str(&summary);
    }
    md
}

/// Key facts of a stdlib profile (device, runtime, serving): its fields.
fn block_summary(a: &Analyzed, d: &Definition) -> String {
    if !matches!(d.kind.as_str(), "device" | "runtime" | "serving") {
        return String::new();
    }
    let Some(unit) = a.analysis.program.unit(d.name_span.file) else {
        return String::new();
    };
    let text = text_of(a, d.name_span.file);
    let mut out = Vec::new();
    for item in &unit.items {
        let ItemKind::Block(b) = &item.kind else { continue };
        if b.name.span != d.name_span {
            continue;
        }
        for stmt in &b.body.stmts {
            if let StmtKind::Attr(attr) = &stmt.kind {
                if attr.key.name != "description" {
                    out.push(format!(
                        "`{} = {}`",
                        attr.key.name,
                        text.get(attr.value.span.range()).unwrap_or("")
                    ));
                }
            }
        }
    }
    out.join(" · ")
}

fn field_markdown(f: &Field) -> String {
    let mut md = format!("```iot\n{} = …\n```\n\n{}\n\nType: {}", f.name, f.doc, f.ty.describe());
    if f.required {
        md.push_str(" · required");
    }
    if let Some(d) = f.default {
        md.push_str(&format!(" · default `{d}`"));
    }
    md
}

fn counts_for_definition<'a>(a: &'a Analyzed, d: &Definition) -> Vec<&'a CountExplanation> {
    // A site's or pool's own count, shown on its name.
    let Some(unit) = a.analysis.program.unit(d.name_span.file) else {
        return Vec::new();
    };
    let mut spans = Vec::new();
    let full = d.full_span;
    for item in &unit.items {
        if !(item.span.start <= full.start && full.end <= item.span.end) {
            continue;
        }
        if let ItemKind::Block(b) = &item.kind {
            collect_count_fields(&b.body, full, &mut spans);
        }
    }
    a.analysis.counts.iter().filter(|c| spans.contains(&c.span)).collect()
}

fn collect_count_fields(body: &Body, within: Span, out: &mut Vec<Span>) {
    for stmt in &body.stmts {
        match &stmt.kind {
            StmtKind::Attr(a)
                if matches!(a.key.name.as_str(), "gateways" | "nodes")
                    && within.start <= stmt.span.start
                    && stmt.span.end <= within.end =>
            {
                out.push(a.value.span)
            }
            // Only the definition's own body, not its children.
            StmtKind::Block(nb) if stmt.span == within => collect_count_fields(&nb.body, within, out),
            _ => {}
        }
    }
}

fn append_counts(md: &mut String, counts: &[&CountExplanation]) {
    append_counts_named(md, "", counts);
}

/// `replicas: 12 = ceil(1 × 120 ÷ 10)`, one line per site for per-site counts.
fn append_counts_named(md: &mut String, key: &str, counts: &[&CountExplanation]) {
    let lines = count_lines(key, counts);
    if lines.is_empty() {
        return;
    }
    if !md.is_empty() {
        md.push_str("\n\n---\n\n");
    }
    md.push_str(&lines.join("\n"));
}

pub fn count_lines(key: &str, counts: &[&CountExplanation]) -> Vec<String> {
    let mut seen: Vec<(Option<&str>, u32, &str, &str)> = Vec::new();
    for c in counts {
        let entry = (c.site.as_deref(), c.value, &*c.formula, &*c.subject);
        if !seen.contains(&entry) {
            seen.push(entry);
        }
    }
    let mut lines = Vec::new();
    let mut total = 0u64;
    let per_site = seen.iter().filter(|e| e.0.is_some()).count();
    for (site, value, formula, subject) in &seen {
        let name = if key.is_empty() { subject } else { &key };
        let trivial = formula.trim() == value.to_string();
        let rhs = if trivial {
            format!("{value}")
        } else {
            format!("{value} = {formula}")
        };
        total += u64::from(*value);
        lines.push(match site {
            Some(s) => format!("- `{name}` at site `{s}`: `{rhs}`"),
            None => format!("`{name}: {rhs}`"),
        });
    }
    if per_site > 1 {
        lines.push(format!("- total: `{total}`"));
    }
    lines
}

/// What the schema says about the spot under the cursor.
struct SchemaHit {
    key: String,
    field: Option<&'static Field>,
    nested: Option<(&'static str, &'static str)>,
    /// The value of the field, when the cursor is on a field.
    value: Option<Span>,
    span: Span,
}

fn schema_hit(a: &Analyzed, file: FileId, offset: usize) -> Option<SchemaHit> {
    let unit = a.analysis.program.unit(file)?;
    for item in &unit.items {
        if !item.span.contains(offset) {
            continue;
        }
        match &item.kind {
            ItemKind::Block(b) | ItemKind::Solution(b) => {
                return body_hit(&b.body, Some(schema::shape(b.kind)), offset);
            }
            ItemKind::Param(p) => {
                return p.body.as_ref().and_then(|b| body_hit(b, Some(&schema::PARAM), offset));
            }
            ItemKind::Import(_) => return None,
        }
    }
    None
}

fn body_hit(body: &Body, shape: Option<&'static Shape>, offset: usize) -> Option<SchemaHit> {
    for stmt in &body.stmts {
        // Statement spans may take in trailing blanks; use what was written.
        let written = match &stmt.kind {
            StmtKind::Attr(attr) => attr.key.span.to(attr.value.span),
            StmtKind::Block(nb) => nb.kind.span.to(nb.body.span),
            _ => stmt.span,
        };
        if !written.contains(offset) {
            continue;
        }
        match &stmt.kind {
            StmtKind::Attr(attr) => {
                let field = shape.and_then(|s| s.field(&attr.key.name));
                if let ExprKind::Object { path, body } = &attr.value.kind {
                    if body.span.contains(offset) && !path.span.contains(offset) {
                        let inner = schema::PROVIDERS
                            .iter()
                            .find(|(n, _, _)| *n == path.text())
                            .map(|(_, s, _)| *s);
                        return body_hit(body, inner, offset);
                    }
                    if path.span.contains(offset) {
                        let (name, _, doc) = schema::PROVIDERS.iter().find(|(n, _, _)| *n == path.text())?;
                        return Some(SchemaHit {
                            key: attr.key.name.clone(),
                            field: None,
                            nested: Some((name, doc)),
                            value: None,
                            span: path.span,
                        });
                    }
                }
                let on_key = attr.key.span.contains(offset);
                return Some(SchemaHit {
                    key: attr.key.name.clone(),
                    field,
                    nested: None,
                    value: Some(attr.value.span),
                    span: if on_key { attr.key.span } else { attr.value.span },
                });
            }
            StmtKind::Block(nb) => {
                let spec = shape.and_then(|s| s.block(&nb.kind.name));
                if nb.kind.span.contains(offset) {
                    return Some(SchemaHit {
                        key: nb.kind.name.clone(),
                        field: None,
                        nested: spec.map(|s| (s.keyword, s.doc)),
                        value: None,
                        span: nb.kind.span,
                    });
                }
                let inner = match spec.map(|s| s.contents) {
                    Some(Contents::Fields(s)) => Some(s),
                    _ => None,
                };
                return body_hit(&nb.body, inner, offset);
            }
            _ => return None,
        }
    }
    None
}

/// The identifier under (or just before) the cursor.
fn word_at(text: &str, offset: usize) -> Option<(&str, usize, usize)> {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let offset = offset.min(text.len());
    let mut start = offset;
    while let Some(c) = text.get(..start).and_then(|t| t.chars().next_back()) {
        if !is_word(c) {
            break;
        }
        start -= c.len_utf8();
    }
    let mut end = offset;
    while let Some(c) = text.get(end..).and_then(|t| t.chars().next()) {
        if !is_word(c) {
            break;
        }
        end += c.len_utf8();
    }
    let w = text.get(start..end)?;
    (!w.is_empty()).then_some((w, start, end))
}

// ------------------------------------------------------------- completion

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompletionKind {
    Keyword,
    Field,
    Block,
    Value,
    Reference,
    Module,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub label: String,
    pub kind: CompletionKind,
    pub detail: Option<String>,
    pub doc: Option<String>,
    /// Text to insert instead of the label (a snippet when it has `$`).
    pub insert: Option<String>,
}

impl Completion {
    fn new(label: impl Into<String>, kind: CompletionKind) -> Completion {
        Completion {
            label: label.into(),
            kind,
            detail: None,
            doc: None,
            insert: None,
        }
    }

    fn detail(mut self, d: impl Into<String>) -> Completion {
        self.detail = Some(d.into());
        self
    }

    fn doc(mut self, d: impl Into<String>) -> Completion {
        self.doc = Some(d.into());
        self
    }

    fn insert(mut self, s: impl Into<String>) -> Completion {
        self.insert = Some(s.into());
        self
    }
}

/// An item of the embedded stdlib.
#[derive(Debug, Clone)]
pub struct StdItem {
    pub module: &'static str,
    pub name: String,
    pub kind: String,
    pub docs: String,
}

/// Every stdlib item, parsed once.
pub fn std_items() -> &'static [StdItem] {
    static ITEMS: OnceLock<Vec<StdItem>> = OnceLock::new();
    ITEMS.get_or_init(|| {
        let mut out = Vec::new();
        for (module, text) in iotc_compiler::stdlib::MODULES {
            let (unit, _) = iotc_compiler::syntax::parse(FileId(0), text);
            for item in unit.items {
                if let ItemKind::Block(b) = &item.kind {
                    let kind = match b.template {
                        Some(_) => format!("template {}", b.kind.keyword()),
                        None => b.kind.keyword().to_string(),
                    };
                    out.push(StdItem {
                        module,
                        name: b.name.name.clone(),
                        kind,
                        docs: item.docs.iter().map(|d| d.trim()).collect::<Vec<_>>().join("\n"),
                    });
                }
            }
        }
        out
    })
}

pub fn completions(a: &Analyzed, file: FileId, offset: usize) -> Vec<Completion> {
    let text = text_of(a, file);
    let cx = cursor_context(text, offset);
    if cx.in_string_or_comment {
        return Vec::new();
    }
    let stmt = cx.statement.as_str();
    // A dotted name being typed: `std.`, `std.devices.`, `plants.`.
    let tail: String = {
        let rev: String = stmt
            .chars()
            .rev()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
            .collect();
        rev.chars().rev().collect()
    };
    if let Some(dot) = tail.rfind('.') {
        let qualifier = tail.get(..dot).unwrap_or("");
        return member_completions(a, qualifier, stmt.trim_start().starts_with("import"));
    }
    let words: Vec<&str> = stmt.split_whitespace().collect();
    let typing_word = !stmt.is_empty() && !stmt.ends_with(char::is_whitespace);
    // The words before the one being typed.
    let done: &[&str] = match words.split_last() {
        Some((_, rest)) if typing_word => rest,
        _ => &words,
    };
    if done.first() == Some(&"import") {
        return std_module_completions(true);
    }
    // Item headers: `service x on |`, `… from |`.
    match done.last() {
        Some(&"on") => return declared(a, |k| matches!(k, "cluster" | "fleet")),
        Some(&"from") if !stmt.contains('=') && done.first().is_none_or(|w| *w != "secret") => {
            let mut v = declared(a, |k| k.starts_with("template"));
            v.extend(
                std_items()
                    .iter()
                    .filter(|i| i.kind.starts_with("template"))
                    .map(std_completion),
            );
            return v;
        }
        Some(&"from") => {
            return schema::SECRET_SOURCES
                .iter()
                .map(|s| Completion::new(*s, CompletionKind::Value))
                .collect()
        }
        _ => {}
    }
    if let Some(eq) = stmt.find('=') {
        let key = stmt.get(..eq).unwrap_or("").trim().trim_matches('"');
        return match cx.scope {
            Scope::Shape(shape) => match shape.field(key) {
                Some(f) => value_completions(a, &f.ty),
                None => Vec::new(),
            },
            _ => Vec::new(),
        };
    }
    if done.is_empty() {
        return match cx.scope {
            Scope::TopLevel => TOP_KEYWORDS
                .iter()
                .map(|k| {
                    let mut c = Completion::new(*k, CompletionKind::Keyword);
                    if let Some(d) = schema::keyword_doc(k) {
                        c = c.doc(d);
                    }
                    c
                })
                .collect(),
            Scope::Shape(shape) => statement_completions(shape),
            Scope::StringMap | Scope::Unknown => Vec::new(),
        };
    }
    // After a count operator and elsewhere in expressions: names.
    declared(a, |_| true)
}

fn statement_completions(shape: &'static Shape) -> Vec<Completion> {
    let mut out = Vec::new();
    for f in shape.fields {
        let mut detail = f.ty.describe();
        if f.required {
            detail.push_str(" (required)");
        } else if let Some(d) = f.default {
            detail.push_str(&format!(" (default {d})"));
        }
        out.push(
            Completion::new(f.name, CompletionKind::Field)
                .detail(detail)
                .doc(f.doc)
                .insert(format!("{} = ", f.name)),
        );
    }
    for b in shape.blocks {
        let insert = if b.named {
            format!("{} ${{1:name}} {{\n  $0\n}}", b.keyword)
        } else if b.placed {
            format!("{} on ${{1:target}} {{\n  $0\n}}", b.keyword)
        } else {
            format!("{} {{\n  $0\n}}", b.keyword)
        };
        out.push(
            Completion::new(b.keyword, CompletionKind::Block)
                .detail("block")
                .doc(b.doc)
                .insert(insert),
        );
    }
    let st = shape.statements;
    for (on, word, insert) in [
        (st.secret, "secret", "secret ${1:NAME} from ${2|env,file,vault|} \"$3\""),
        (st.device, "device", "device \"${1:/dev/video0}\""),
        (st.alert, "alert", "alert ${1:metric} ${2:<} ${3:threshold} for ${4:1h}"),
    ] {
        if on {
            let mut c = Completion::new(word, CompletionKind::Keyword).insert(insert);
            if let Some(d) = schema::keyword_doc(word).or_else(|| statement_doc(word)) {
                c = c.doc(d);
            }
            out.push(c);
        }
    }
    out
}

fn value_completions(a: &Analyzed, ty: &Ty) -> Vec<Completion> {
    match ty {
        Ty::Enum(vs) => vs.iter().map(|v| Completion::new(*v, CompletionKind::Value)).collect(),
        Ty::List(inner) => value_completions(a, inner),
        Ty::Bool => ["true", "false"]
            .iter()
            .map(|v| Completion::new(*v, CompletionKind::Value))
            .collect(),
        Ty::Provider => schema::PROVIDERS
            .iter()
            .map(|(n, _, doc)| {
                Completion::new(*n, CompletionKind::Value)
                    .doc(*doc)
                    .insert(format!("{n} {{ $0 }}"))
            })
            .collect(),
        Ty::Ref(kind) => {
            let want = match kind {
                RefKind::Device => "device",
                RefKind::Runtime => "runtime",
                RefKind::Serving => "serving",
                RefKind::Workload => "workload",
            };
            let fits = |k: &str| match want {
                "workload" => matches!(k, "service" | "daemon" | "job" | "model" | "external"),
                w => k == w,
            };
            let mut v = declared(a, fits);
            for i in std_items().iter().filter(|i| fits(&i.kind)) {
                if i.module == iotc_compiler::stdlib::PRELUDE {
                    let mut c = Completion::new(&i.name, CompletionKind::Reference).detail(&i.kind);
                    if !i.docs.is_empty() {
                        c = c.doc(&i.docs);
                    }
                    v.push(c);
                } else {
                    v.push(std_completion(i));
                }
            }
            v
        }
        Ty::Count | Ty::Int | Ty::Number => {
            let mut v = declared(a, |k| k == "param");
            for (word, insert) in [
                ("per", "${1:1} per ${2:10} ${3:gateways} of ${4:fleet}"),
                ("gateways of", "gateways of ${1:fleet}"),
                ("sites of", "sites of ${1:fleet}"),
                ("nodes of", "nodes of ${1:cluster}"),
                ("replicas of", "replicas of ${1:workload}"),
            ] {
                v.push(
                    Completion::new(word, CompletionKind::Keyword)
                        .insert(insert)
                        .doc(schema::keyword_doc(word).unwrap_or("A linked count.")),
                );
            }
            v
        }
        _ => Vec::new(),
    }
}

fn std_completion(i: &StdItem) -> Completion {
    let mut c = Completion::new(format!("std.{}.{}", i.module, i.name), CompletionKind::Reference).detail(&i.kind);
    if !i.docs.is_empty() {
        c = c.doc(&i.docs);
    }
    c
}

fn std_module_completions(qualified: bool) -> Vec<Completion> {
    iotc_compiler::stdlib::MODULES
        .iter()
        .map(|(m, _)| {
            let label = if qualified { format!("std.{m}") } else { m.to_string() };
            Completion::new(label, CompletionKind::Module).doc(module_summary(m))
        })
        .collect()
}

fn member_completions(a: &Analyzed, qualifier: &str, in_import: bool) -> Vec<Completion> {
    if qualifier == "std" {
        return std_module_completions(false);
    }
    if in_import {
        return Vec::new();
    }
    if let Some(module) = qualifier.strip_prefix("std.") {
        return std_items()
            .iter()
            .filter(|i| i.module == module)
            .map(|i| {
                let mut c = Completion::new(&i.name, CompletionKind::Reference).detail(&i.kind);
                if !i.docs.is_empty() {
                    c = c.doc(&i.docs);
                }
                c
            })
            .collect();
    }
    // `plants.`: the sites (or pools) of a user item.
    let defs = &a.index.definitions;
    let Some(parent) = defs.iter().position(|d| d.parent.is_none() && d.name == qualifier) else {
        return Vec::new();
    };
    defs.iter()
        .filter(|d| d.parent == Some(parent))
        .map(|d| Completion::new(&d.name, CompletionKind::Reference).detail(&d.kind))
        .collect()
}

/// Names declared in user files whose kind passes `keep`.
fn declared(a: &Analyzed, keep: impl Fn(&str) -> bool) -> Vec<Completion> {
    let prog = &a.analysis.program;
    let mut seen = BTreeMap::new();
    for d in &a.index.definitions {
        if d.parent.is_some() || !prog.user_files.contains(&d.name_span.file) || d.kind == "solution" {
            continue;
        }
        if keep(&d.kind) && !seen.contains_key(&d.name) {
            let mut c = Completion::new(&d.name, CompletionKind::Reference).detail(&d.kind);
            if !d.docs.is_empty() {
                c = c.doc(d.docs.iter().map(|l| l.trim()).collect::<Vec<_>>().join("\n"));
            }
            seen.insert(d.name.clone(), c);
        }
    }
    seen.into_values().collect()
}

// ----------------------------------------------- definition and references

/// Where the name (or import) under the cursor is defined.
pub fn definition(a: &Analyzed, file: FileId, offset: usize) -> Option<Span> {
    if let Some(r) = a.index.reference_at(file, offset) {
        return Some(r.target);
    }
    if let Some(d) = a.index.definition_at(file, offset) {
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
    if let Some(r) = a.index.reference_at(file, offset) {
        return (!r.module).then_some(r.target);
    }
    a.index.definition_at(file, offset).map(|d| d.name_span)
}

/// Every reference to `target`, with the declaration first if asked.
pub fn references(a: &Analyzed, target: Span, include_declaration: bool) -> Vec<Span> {
    let mut out = Vec::new();
    if include_declaration {
        out.push(target);
    }
    out.extend(a.index.references_to(target).map(|r| r.span));
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

// ---------------------------------------------------------------- symbols

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
    build(&a.index.definitions, None, file)
}

// ------------------------------------------------------------ inlay hints

/// An inlay hint: text shown after a byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    pub offset: usize,
    pub label: String,
    pub tooltip: String,
}

/// The evaluated value of every linked count in `file` (a literal number
/// gets none): per site and in total for fleet workloads.
pub fn inlay_hints(a: &Analyzed, file: FileId) -> Vec<Hint> {
    let mut by_span: BTreeMap<(u32, u32), Vec<&CountExplanation>> = BTreeMap::new();
    for c in &a.analysis.counts {
        if c.span.file == file {
            by_span.entry((c.span.start, c.span.end)).or_default().push(c);
        }
    }
    let mut out = Vec::new();
    for ((_, end), counts) in by_span {
        let mut per_site: Vec<(String, u32)> = Vec::new();
        let mut whole: Option<u32> = None;
        let mut linked = false;
        for c in &counts {
            linked |= c.formula.trim() != c.value.to_string();
            match &c.site {
                Some(s) => {
                    if !per_site.iter().any(|(n, _)| n.as_str() == &**s) {
                        per_site.push((s.to_string(), c.value));
                    }
                }
                None => whole = Some(c.value),
            }
        }
        if !linked {
            continue;
        }
        let label = if per_site.is_empty() {
            match whole {
                Some(v) => format!(" = {v}"),
                None => continue,
            }
        } else {
            let total: u64 = per_site.iter().map(|(_, v)| u64::from(*v)).sum();
            let sites: Vec<String> = per_site.iter().map(|(s, v)| format!("{s} {v}")).collect();
            format!(" = {} (total {total})", sites.join(", "))
        };
        // Expression spans can take in the blanks after them.
        let text = text_of(a, file);
        let written = text
            .get(..end as usize)
            .map(|t| t.trim_end().len())
            .unwrap_or(end as usize);
        out.push(Hint {
            offset: written,
            label,
            tooltip: count_lines("", &counts).join("\n"),
        });
    }
    out
}

// ----------------------------------------------------------- code actions

/// A quick fix: replace `span` with `replacement`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fix {
    pub title: String,
    pub span: Span,
    pub replacement: String,
    /// The diagnostic it fixes (index into the analysis's diagnostics).
    pub diagnostic: usize,
}

/// "did you mean `x`?" helps whose span can simply be replaced.
pub fn fixes(a: &Analyzed, file: FileId, start: usize, end: usize) -> Vec<Fix> {
    let mut out = Vec::new();
    for (i, d) in a.analysis.diagnostics.iter().enumerate() {
        let span = d.primary.span;
        if span.file != file || (span.end as usize) < start || (span.start as usize) > end {
            continue;
        }
        if let Some(fix) = fix_for(a, d, i) {
            out.push(fix);
        }
    }
    out
}

fn fix_for(a: &Analyzed, d: &Diagnostic, index: usize) -> Option<Fix> {
    fix_for_diagnostic(&a.analysis.program.sources, d, index)
}

/// The quick fix for one diagnostic, if it has one (also used by `iotc
/// check --format json`, so the command line offers the same edits).
pub fn fix_for_diagnostic(sources: &iotc_compiler::source::SourceMap, d: &Diagnostic, index: usize) -> Option<Fix> {
    let help = d.help.as_deref()?;
    let rest = help.strip_prefix("did you mean `")?;
    let suggestion = rest.get(..rest.find('`')?)?;
    let written = sources.text(d.primary.span);
    if written.is_empty() || written.contains(char::is_whitespace) || written.contains('"') {
        return None;
    }
    // `std.devicez.rpi5` with "did you mean `std.devices`?": replace the
    // written segments the suggestion covers.
    let mut span = d.primary.span;
    let want = suggestion.matches('.').count() + 1;
    if written.matches('.').count() + 1 > want {
        let cut: usize = written.split('.').take(want).map(|s| s.len() + 1).sum::<usize>() - 1;
        span = Span::new(span.file, span.start as usize, span.start as usize + cut);
    }
    Some(Fix {
        title: format!("replace with `{suggestion}`"),
        span,
        replacement: suggestion.to_string(),
        diagnostic: index,
    })
}
