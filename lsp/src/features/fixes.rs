//! Code actions: quick fixes from the diagnostics' "did you mean" helps.

use crate::world::Analyzed;
use iotc_compiler::diag::Diagnostic;
use iotc_compiler::source::{FileId, Span};

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
