//! Rendering diagnostics for people (miette, colour only on a terminal) and
//! for machines (JSON with byte offsets and 1-based lines and columns).

use iotc_compiler::diag::{Diagnostic, Severity};
use iotc_compiler::source::{SourceMap, Span};
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic, NamedSource};
use serde::Serialize;

/// How to draw diagnostics.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
    pub width: usize,
}

fn location(sources: &SourceMap, span: Span) -> String {
    match sources.get(span.file) {
        Some(f) => {
            let (l, c) = f.line_col(span.start as usize);
            format!("{}:{}:{}", f.name(), l + 1, c + 1)
        }
        None => "?".into(),
    }
}

/// Render one diagnostic as text.
pub fn render(d: &Diagnostic, sources: &SourceMap, style: Style) -> String {
    let file = sources.get(d.primary.span.file);
    let mut labels = Vec::new();
    let label_text = |m: &str| if m.is_empty() { None } else { Some(m.to_string()) };
    labels.push(LabeledSpan::new_primary_with_span(
        label_text(&d.primary.message),
        (d.primary.span.start as usize, d.primary.span.len()),
    ));
    let mut notes = Vec::new();
    for l in &d.secondary {
        if l.span.file == d.primary.span.file {
            labels.push(LabeledSpan::new_with_span(
                label_text(&l.message),
                (l.span.start as usize, l.span.len()),
            ));
        } else {
            notes.push(format!("{}: {}", location(sources, l.span), l.message));
        }
    }
    let mut help = d.help.clone().unwrap_or_default();
    for n in notes.iter().chain(d.notes.iter()) {
        if !help.is_empty() {
            help.push('\n');
        }
        help.push_str("note: ");
        help.push_str(n);
    }
    let mut md = MietteDiagnostic::new(d.message.clone())
        .with_code(d.code.as_str())
        .with_severity(match d.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
        .with_labels(labels);
    if !help.is_empty() {
        md = md.with_help(help);
    }
    let (name, text) = match file {
        Some(f) => (f.name(), f.text.clone()),
        None => ("?".to_string(), String::new()),
    };
    let report = miette::Report::new(md).with_source_code(NamedSource::new(name, text));
    let theme = if style.color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(style.width)
        .with_links(false)
        .with_context_lines(1);
    let mut out = String::new();
    if handler.render_report(&mut out, report.as_ref()).is_err() {
        out = format!("{}: {} [{}]\n", location(sources, d.primary.span), d.message, d.code);
    }
    out
}

/// Render all diagnostics, then a summary line.
pub fn render_all(diags: &[Diagnostic], sources: &SourceMap, style: Style) -> String {
    let mut out = String::new();
    for d in diags {
        out.push_str(&render(d, sources, style));
        out.push('\n');
    }
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let warnings = diags.len() - errors;
    if !diags.is_empty() {
        out.push_str(&format!("{errors} error(s), {warnings} warning(s)\n"));
    }
    out
}

#[derive(Serialize)]
struct JsonLabel {
    file: String,
    start: u32,
    end: u32,
    line: usize,
    column: usize,
    end_line: usize,
    end_column: usize,
    message: String,
}

#[derive(Serialize)]
struct JsonDiagnostic {
    code: String,
    severity: Severity,
    message: String,
    primary: JsonLabel,
    secondary: Vec<JsonLabel>,
    help: Option<String>,
    notes: Vec<String>,
}

fn json_label(sources: &SourceMap, span: Span, message: &str) -> JsonLabel {
    let (name, (l, c), (el, ec)) = match sources.get(span.file) {
        Some(f) => (f.name(), f.line_col(span.start as usize), f.line_col(span.end as usize)),
        None => ("?".into(), (0, 0), (0, 0)),
    };
    JsonLabel {
        file: name,
        start: span.start,
        end: span.end,
        line: l + 1,
        column: c + 1,
        end_line: el + 1,
        end_column: ec + 1,
        message: message.to_string(),
    }
}

/// Diagnostics as a JSON array.
pub fn to_json(diags: &[Diagnostic], sources: &SourceMap) -> String {
    let v: Vec<JsonDiagnostic> = diags
        .iter()
        .map(|d| JsonDiagnostic {
            code: d.code.as_str().to_string(),
            severity: d.severity,
            message: d.message.clone(),
            primary: json_label(sources, d.primary.span, &d.primary.message),
            secondary: d
                .secondary
                .iter()
                .map(|l| json_label(sources, l.span, &l.message))
                .collect(),
            help: d.help.clone(),
            notes: d.notes.clone(),
        })
        .collect();
    serde_json::to_string_pretty(&v).unwrap_or_else(|_| "[]".into())
}
