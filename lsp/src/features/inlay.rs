//! Inlay hints: the evaluated value of linked counts.

use super::hover::count_lines;
use super::text_of;
use crate::world::Analyzed;
use iotc_compiler::check::CountExplanation;
use iotc_compiler::source::FileId;
use std::collections::BTreeMap;

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
    inlay_hints_in(a, file, 0, usize::MAX)
}

/// [`inlay_hints`] placed from byte `lo` to `hi` (an editor asks for the
/// lines it shows): only the counts there are explained.
pub fn inlay_hints_in(a: &Analyzed, file: FileId, lo: usize, hi: usize) -> Vec<Hint> {
    let mut by_span: BTreeMap<(u32, u32), Vec<CountExplanation>> = BTreeMap::new();
    // A hint sits within its expression's span.
    let near = |s: iotc_compiler::source::Span| s.file == file && s.start as usize <= hi && s.end as usize >= lo;
    for c in a.analysis.counts.matching(near) {
        by_span.entry((c.span.start, c.span.end)).or_default().push(c);
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
        if written < lo || written > hi {
            continue;
        }
        out.push(Hint {
            offset: written,
            label,
            tooltip: count_lines("", &counts).join("\n"),
        });
    }
    out
}
