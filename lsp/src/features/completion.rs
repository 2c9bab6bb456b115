//! Completion: keywords, fields, blocks, values and names, from the
//! cursor's context and the schema.

use super::hover::{module_summary, statement_doc};
use super::text_of;
use crate::context::{cursor_context, Scope};
use crate::world::Analyzed;
use iotc_compiler::schema::{self, RefKind, Shape, Ty};
use iotc_compiler::source::FileId;
use iotc_compiler::syntax::ast::ItemKind;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// Top-level keywords, in the order completion lists them (the grammar's).
pub use iotc_compiler::syntax::keywords::ITEM_KEYWORDS as TOP_KEYWORDS;

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
    completions_in(a, text_of(a, file), offset)
}

/// The completions at `offset` of `text`, the document as it is now, with
/// the names and schema of `a`, which may be an analysis of an older text
/// of it (the server's answer while a re-check runs): the cursor's context
/// comes from `text` alone.
pub fn completions_in(a: &Analyzed, text: &str, offset: usize) -> Vec<Completion> {
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
    let defs = &a.index().definitions;
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
    for d in &a.index().definitions {
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
