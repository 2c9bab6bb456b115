//! Rendering diagnostics for people (miette, colour only on a terminal) and
//! for machines (JSON with byte offsets and 1-based lines and columns).

use iotc_compiler::diag::{Diagnostic, Severity};
use iotc_compiler::source::{SourceMap, Span};
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic, NamedSource};

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

/// Lines longer than this (in bytes) are shown as a window around their
/// labels: a 1 MB line must not make 1 MB of diagnostics, and miette cannot
/// format columns past 65,535.
pub const MAX_LINE: usize = 160;

/// How much of a long line is shown before the first label on it.
const LEAD: usize = 40;

/// Words in messages longer than this (a 1 MB name quoted in a message)
/// are shown shortened.
const MAX_WORD: usize = 80;

/// `text` with every word longer than [`MAX_WORD`] bytes cut in the middle.
fn shorten(text: &str) -> String {
    if text.len() <= MAX_WORD {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len().min(4096));
    let mut rest = text;
    while !rest.is_empty() {
        let word_len = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let space_len = rest
            .get(word_len..)
            .and_then(|r| r.find(|c: char| !c.is_whitespace()))
            .unwrap_or(rest.len() - word_len);
        let (word, tail) = rest.split_at(word_len);
        if word.len() > MAX_WORD {
            let (_, head) = clamp(word, 0, MAX_WORD / 2);
            let (_, end) = clamp(word, word.len(), 0);
            let (from, _) = clamp(word, word.len() - MAX_WORD / 4, 0);
            out.push_str(word.get(..head).unwrap_or(""));
            out.push_str(&format!("…[{} bytes]…", word.len()));
            out.push_str(word.get(from..end).unwrap_or(""));
        } else {
            out.push_str(word);
        }
        let (space, after) = tail.split_at(space_len.min(tail.len()));
        out.push_str(space);
        rest = after;
    }
    out
}

/// A label's span, clamped to the text and to char boundaries.
fn clamp(text: &str, start: usize, len: usize) -> (usize, usize) {
    let floor = |mut i: usize| {
        i = i.min(text.len());
        while !text.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let a = floor(start);
    (a, floor(start.saturating_add(len)).max(a))
}

/// Line breaks as the compiler sees them (`\n`, `\r\n` and a lone `\r`),
/// as `(start, end)` byte ranges without the break.
fn line_ranges(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'\n' || b == b'\r' {
            out.push((start, i));
            if b == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
                i += 1;
            }
            start = i + 1;
        }
        i += 1;
    }
    out.push((start, text.len()));
    out
}

/// The text miette is shown: the same bytes, with a lone `\r` as `\n` and a
/// byte-order mark inside the file as three spaces, so that what is shown
/// and where carets point agree (miette reads neither).
fn displayable(text: &str) -> String {
    iotc_compiler::source::lone_cr_as_lf(text).replace('\u{feff}', "   ")
}

/// One line of a [`Windowed`] text.
struct WindowLine {
    /// Offset of the line in the windowed text.
    start: usize,
    /// Zero-based line in the file.
    line: usize,
    /// Byte column in the file of the first shown byte.
    column: usize,
    /// Bytes of the `…` marker before the shown part.
    marker: usize,
}

/// The lines around a diagnostic's labels, each cut to a window of at most
/// [`MAX_LINE`] bytes around its labels, with the file's line and column
/// numbers. Groups of lines far apart are separated by blank lines that
/// miette never shows together.
struct Windowed {
    name: String,
    text: String,
    lines: Vec<WindowLine>,
}

impl Windowed {
    /// The window for `text` and `spans` (byte ranges), and each span
    /// mapped into it.
    fn new(name: String, text: &str, spans: &[(usize, usize)]) -> (Windowed, Vec<(usize, usize)>) {
        let lines = line_ranges(text);
        let line_of = |offset: usize| match lines.binary_search_by(|(s, _)| s.cmp(&offset)) {
            Ok(l) => l,
            Err(l) => l.saturating_sub(1),
        };
        // Each span's lines, at most a few, with a line of context each side.
        let mut ranges: Vec<(usize, usize)> = spans
            .iter()
            .map(|(a, b)| {
                let first = line_of(*a);
                let last = line_of(*b).min(first + 4);
                (first.saturating_sub(1), (last + 1).min(lines.len().saturating_sub(1)))
            })
            .collect();
        ranges.sort_unstable();
        let mut groups: Vec<(usize, usize)> = Vec::new();
        for (a, b) in ranges {
            match groups.last_mut() {
                Some(g) if a <= g.1 + 3 => g.1 = g.1.max(b),
                _ => groups.push((a, b)),
            }
        }
        let mut out = Windowed {
            name,
            text: String::new(),
            lines: Vec::new(),
        };
        // Per shown line: (file line start, shown start, shown end).
        let mut shown: Vec<(usize, usize, usize, usize)> = Vec::new();
        for (g, (first, last)) in groups.iter().enumerate() {
            if g > 0 {
                out.text.push_str("\n\n\n\n\n");
            }
            for l in *first..=*last {
                let Some(&(ls, le)) = lines.get(l) else { continue };
                // The primary label decides the window of its line; on other
                // lines, the first label byte does.
                let on_line = |(a, b): &&(usize, usize)| *a <= le && *b >= ls;
                let anchor = spans
                    .first()
                    .filter(on_line)
                    .or_else(|| spans.iter().filter(on_line).min())
                    .map_or(ls, |(a, _)| (*a).max(ls));
                let (mut ws, mut we) = (ls, le);
                if le - ls > MAX_LINE {
                    ws = anchor.saturating_sub(LEAD).max(ls);
                    we = (ws + MAX_LINE).min(le);
                    (ws, we) = clamp(text, ws, we - ws);
                }
                let start = out.text.len();
                let marker = if ws > ls { "…" } else { "" };
                out.text.push_str(marker);
                out.text.push_str(text.get(ws..we).unwrap_or(""));
                if we < le {
                    out.text.push('…');
                }
                out.text.push('\n');
                out.lines.push(WindowLine {
                    start,
                    line: l,
                    column: ws - ls,
                    marker: marker.len(),
                });
                shown.push((ls, ws, we, start + marker.len()));
            }
        }
        let map = |p: usize| -> usize {
            let l = line_of(p);
            let ls = lines.get(l).map(|r| r.0).unwrap_or(0);
            match shown.iter().find(|s| s.0 == ls) {
                Some(&(_, ws, we, at)) => at + p.clamp(ws, we) - ws,
                None => 0,
            }
        };
        let mapped = spans
            .iter()
            .map(|(a, b)| {
                let start = map(*a);
                // A span running past its window ends with the window.
                let end = if line_of(*b) == line_of(*a) {
                    map(*b)
                } else {
                    let ls = lines.get(line_of(*a)).map(|r| r.1).unwrap_or(*a);
                    map(ls)
                };
                (start, end.max(start))
            })
            .collect();
        (out, mapped)
    }
}

impl miette::SourceCode for Windowed {
    fn read_span<'a>(
        &'a self,
        span: &miette::SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let inner = self.text.as_str().read_span(span, before, after)?;
        let first = self.lines.iter().rev().find(|l| l.start <= inner.span().offset());
        let (line, column) = match first {
            Some(l) if inner.column() > 0 => (l.line, l.column + inner.column().saturating_sub(l.marker)),
            Some(l) => (l.line, 0),
            None => (0, 0),
        };
        let shown_lines = inner.data().iter().filter(|b| **b == b'\n').count();
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            *inner.span(),
            line,
            column,
            shown_lines,
        )))
    }
}

/// Render one diagnostic as text.
pub fn render(d: &Diagnostic, sources: &SourceMap, style: Style) -> String {
    let file = sources.get(d.primary.span.file);
    let (name, text) = match file {
        Some(f) => (f.name(), f.text.as_str()),
        None => ("?".to_string(), ""),
    };
    let mut spans = vec![clamp(text, d.primary.span.start as usize, d.primary.span.len())];
    let mut messages = vec![shorten(&d.primary.message)];
    let mut notes = Vec::new();
    for l in &d.secondary {
        if l.span.file == d.primary.span.file {
            spans.push(clamp(text, l.span.start as usize, l.span.len()));
            messages.push(shorten(&l.message));
        } else {
            notes.push(format!("{}: {}", location(sources, l.span), shorten(&l.message)));
        }
    }
    let mut help = shorten(d.help.as_deref().unwrap_or_default());
    for n in notes.iter().chain(d.notes.iter()) {
        if !help.is_empty() {
            help.push('\n');
        }
        help.push_str("note: ");
        help.push_str(&shorten(n));
    }
    // Long lines (or a label that is itself long) are shown as windows.
    let long = spans.iter().any(|(a, b)| {
        let ls = text.get(..*a).and_then(|t| t.rfind(['\n', '\r'])).map_or(0, |i| i + 1);
        let le = text
            .get(*b..)
            .and_then(|t| t.find(['\n', '\r']))
            .map_or(text.len(), |i| b + i);
        le - ls > MAX_LINE || b - a > MAX_LINE
    }) || {
        // The lines of context around the labels too.
        spans.iter().any(|(a, b)| {
            let before = text.get(..*a).unwrap_or("").rsplit(['\n', '\r']).nth(1);
            let after = text.get(*b..).unwrap_or("").split(['\n', '\r']).nth(1);
            before.is_some_and(|l| l.len() > MAX_LINE) || after.is_some_and(|l| l.len() > MAX_LINE)
        })
    };
    let label_text = |m: &str| if m.is_empty() { None } else { Some(m.to_string()) };
    let labels_for = |spans: &[(usize, usize)]| -> Vec<LabeledSpan> {
        spans
            .iter()
            .zip(&messages)
            .enumerate()
            .map(|(i, ((a, b), m))| {
                if i == 0 {
                    LabeledSpan::new_primary_with_span(label_text(m), (*a, b - a))
                } else {
                    LabeledSpan::new_with_span(label_text(m), (*a, b - a))
                }
            })
            .collect()
    };
    let mut md = MietteDiagnostic::new(shorten(&d.message))
        .with_code(d.code.as_str())
        .with_severity(match d.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        });
    if !help.is_empty() {
        md = md.with_help(help);
    }
    let report = if long {
        let (windowed, mapped) = Windowed::new(name, &displayable(text), &spans);
        miette::Report::new(md.with_labels(labels_for(&mapped))).with_source_code(windowed)
    } else {
        miette::Report::new(md.with_labels(labels_for(&spans)))
            .with_source_code(NamedSource::new(name, displayable(text)))
    };
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
    // miette must not take the CLI down with it: any failure, even a panic,
    // falls back to one plain line.
    let rendered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        handler.render_report(&mut out, report.as_ref()).is_ok()
    }));
    if !matches!(rendered, Ok(true)) {
        out = format!(
            "{}: {} [{}]\n",
            location(sources, d.primary.span),
            shorten(&d.message),
            d.code
        );
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
