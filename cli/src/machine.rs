//! Diagnostics for machines: the versioned JSON document of `iotc check
//! --format json` (and of the other commands' diagnostics), and SARIF 2.1.0
//! for code scanning. Lines and columns are 1-based and count characters
//! (Unicode scalar values), not bytes; `start`/`end` are byte offsets.
//! Where the language server offers a quick fix, the diagnostic carries the
//! same edit in `fixes`.

use iotc_compiler::diag::{Diagnostic, Severity};
use iotc_compiler::source::{SourceMap, Span};
use serde::Serialize;
use serde_json::{json, Value};

/// The version of the diagnostics document; raised when a field is removed
/// or changes meaning.
pub const SCHEMA_VERSION: u32 = 1;

/// A range in a file: byte offsets and 1-based character positions.
#[derive(Debug, Clone, Serialize)]
pub struct Range {
    pub file: String,
    pub start: u32,
    pub end: u32,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
}

/// A span with its message.
#[derive(Debug, Clone, Serialize)]
pub struct Label {
    #[serde(flatten)]
    pub range: Range,
    pub message: String,
}

/// A suggested edit: replace `range` with `replacement`.
#[derive(Debug, Clone, Serialize)]
pub struct Fix {
    pub title: String,
    pub range: Range,
    pub replacement: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct JsonDiagnostic {
    pub code: String,
    pub severity: Severity,
    pub message: String,
    pub primary: Label,
    pub secondary: Vec<Label>,
    pub help: Option<String>,
    pub notes: Vec<String>,
    pub fixes: Vec<Fix>,
}

/// The whole document.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub diagnostics: Vec<JsonDiagnostic>,
    pub errors: usize,
    pub warnings: usize,
}

/// 1-based line and character column of a byte offset.
fn position(sources: &SourceMap, span: Span, offset: u32) -> (usize, usize) {
    let Some(f) = sources.get(span.file) else {
        return (0, 0);
    };
    let (line, byte_col) = f.line_col(offset as usize);
    let start = f.line_start(line).unwrap_or(0);
    let text = sources.text(iotc_compiler::source::Span::new(span.file, start, start + byte_col));
    (line + 1, text.chars().count() + 1)
}

pub fn range(sources: &SourceMap, span: Span) -> Range {
    let (line, column) = position(sources, span, span.start);
    let (end_line, end_column) = position(sources, span, span.end);
    Range {
        file: sources.get(span.file).map_or_else(|| "?".to_string(), |f| f.name()),
        start: span.start,
        end: span.end,
        line,
        column,
        end_line,
        end_column,
    }
}

fn label(sources: &SourceMap, l: &iotc_compiler::diag::Label) -> Label {
    Label {
        range: range(sources, l.span),
        message: l.message.clone(),
    }
}

/// The document for these diagnostics.
pub fn report(diags: &[Diagnostic], sources: &SourceMap) -> Report {
    let diagnostics = diags
        .iter()
        .enumerate()
        .map(|(i, d)| JsonDiagnostic {
            code: d.code.as_str().to_string(),
            severity: d.severity,
            message: d.message.clone(),
            primary: label(sources, &d.primary),
            secondary: d.secondary.iter().map(|l| label(sources, l)).collect(),
            help: d.help.clone(),
            notes: d.notes.clone(),
            fixes: iotc_lsp::features::fix_for_diagnostic(sources, d, i)
                .map(|f| Fix {
                    title: f.title,
                    range: range(sources, f.span),
                    replacement: f.replacement,
                })
                .into_iter()
                .collect(),
        })
        .collect();
    let errors = diags.iter().filter(|d| d.severity == Severity::Error).count();
    Report {
        schema_version: SCHEMA_VERSION,
        diagnostics,
        errors,
        warnings: diags.len() - errors,
    }
}

/// Several reports (one per checked file) as one.
pub fn merge(reports: Vec<Report>) -> Report {
    let mut out = Report {
        schema_version: SCHEMA_VERSION,
        diagnostics: Vec::new(),
        errors: 0,
        warnings: 0,
    };
    for r in reports {
        out.diagnostics.extend(r.diagnostics);
        out.errors += r.errors;
        out.warnings += r.warnings;
    }
    out
}

pub fn to_json(r: &Report) -> String {
    serde_json::to_string_pretty(r).unwrap_or_default() + "\n"
}

/// A document (the plan's solution, the graph) with `schema_version` as its
/// first field, then the document's own fields.
#[derive(Serialize)]
struct Versioned<'a, T: Serialize> {
    schema_version: u32,
    #[serde(flatten)]
    doc: &'a T,
}

/// `doc` as pretty JSON with `schema_version` first (`plan --format json`,
/// `graph --format json`).
pub fn versioned_json<T: Serialize>(doc: &T) -> String {
    serde_json::to_string_pretty(&Versioned {
        schema_version: SCHEMA_VERSION,
        doc,
    })
    .unwrap_or_default()
        + "\n"
}

/// SARIF 2.1.0 (one run, tool `iotc`), for GitHub code scanning and other
/// SARIF viewers.
pub fn to_sarif(r: &Report) -> String {
    let mut rules: Vec<&str> = r.diagnostics.iter().map(|d| d.code.as_str()).collect();
    rules.sort_unstable();
    rules.dedup();
    let rules: Vec<Value> = rules
        .iter()
        .map(|code| {
            json!({
                "id": code,
                "help": { "text": format!("Run `iotc explain {code}`.") },
            })
        })
        .collect();
    let region = |x: &Range| {
        json!({
            "startLine": x.line,
            "startColumn": x.column,
            "endLine": x.end_line,
            "endColumn": x.end_column,
        })
    };
    let location = |x: &Range| {
        json!({
            "physicalLocation": {
                "artifactLocation": { "uri": x.file },
                "region": region(x),
            }
        })
    };
    let results: Vec<Value> = r
        .diagnostics
        .iter()
        .map(|d| {
            let mut text = d.message.clone();
            if let Some(h) = &d.help {
                text.push_str("\nhelp: ");
                text.push_str(h);
            }
            let mut v = json!({
                "ruleId": d.code,
                "level": if d.severity == Severity::Error { "error" } else { "warning" },
                "message": { "text": text },
                "locations": [location(&d.primary.range)],
                "relatedLocations": d.secondary.iter().enumerate().map(|(i, l)| {
                    let mut loc = location(&l.range);
                    if let Some(m) = loc.as_object_mut() {
                        m.insert("id".into(), json!(i + 1));
                        m.insert("message".into(), json!({ "text": l.message }));
                    }
                    loc
                }).collect::<Vec<_>>(),
            });
            if let (false, Some(m)) = (d.fixes.is_empty(), v.as_object_mut()) {
                let fixes: serde_json::Value = d
                    .fixes
                    .iter()
                    .map(|f| {
                        json!({
                            "description": { "text": f.title },
                            "artifactChanges": [{
                                "artifactLocation": { "uri": f.range.file },
                                "replacements": [{
                                    "deletedRegion": region(&f.range),
                                    "insertedContent": { "text": f.replacement },
                                }],
                            }],
                        })
                    })
                    .collect();
                m.insert("fixes".into(), fixes);
            }
            v
        })
        .collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "iotc",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }],
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}
