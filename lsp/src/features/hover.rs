//! Hover: the markdown for the name, field, block or keyword under the
//! cursor, with the evaluated counts where the spot has one.

use super::completion::std_items;
use super::text_of;
use crate::world::Analyzed;
use iotc_compiler::check::CountExplanation;
use iotc_compiler::ide::Definition;
use iotc_compiler::schema::{self, Contents, Field, Shape};
use iotc_compiler::source::{FileId, Origin, Span};
use iotc_compiler::syntax::ast::{Body, ExprKind, ItemKind, StmtKind};

/// A hover: markdown and the span it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoverInfo {
    pub markdown: String,
    pub span: Span,
}

pub fn hover(a: &Analyzed, file: FileId, offset: usize) -> Option<HoverInfo> {
    let ix = &a.index();
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
            let counts = a
                .analysis
                .counts
                .matching(|s| s.file == file && s.start >= value.start && s.end <= value.end);
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

pub(super) fn statement_doc(word: &str) -> Option<&'static str> {
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

pub(super) fn module_summary(module: &str) -> String {
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

fn counts_for_definition(a: &Analyzed, d: &Definition) -> Vec<CountExplanation> {
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
    a.analysis.counts.matching(|s| spans.contains(&s))
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

fn append_counts(md: &mut String, counts: &[CountExplanation]) {
    append_counts_named(md, "", counts);
}

/// `replicas: 12 = ceil(1 × 120 ÷ 10)`, one line per site for per-site counts.
fn append_counts_named(md: &mut String, key: &str, counts: &[CountExplanation]) {
    let lines = count_lines(key, counts);
    if lines.is_empty() {
        return;
    }
    if !md.is_empty() {
        md.push_str("\n\n---\n\n");
    }
    md.push_str(&lines.join("\n"));
}

pub fn count_lines(key: &str, counts: &[CountExplanation]) -> Vec<String> {
    // Each distinct line once, in order (a fleet workload's count has one
    // explanation per site: a set, not a scan per line).
    let mut seen: Vec<(Option<&str>, u32, &str, &str)> = Vec::new();
    let mut known = std::collections::HashSet::new();
    for c in counts {
        let entry = (c.site.as_deref(), c.value, &*c.formula, &*c.subject);
        if known.insert(entry) {
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
