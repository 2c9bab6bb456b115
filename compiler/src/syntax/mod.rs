//! Stage 1, parse: source text → [`ast::SourceUnit`] plus diagnostics.
//!
//! pest does not recover from errors, so the file is first split at
//! top-level items by a small scanner that understands strings, comments and
//! braces; each chunk is parsed on its own with the `item_only` rule. A
//! broken item yields one diagnostic and the rest of the file is still
//! parsed. Parsing never fails and never panics.

pub mod ast;
mod build;
mod split;

use crate::diag::{Code, Diagnostic};
use crate::source::{FileId, Span};
use ast::SourceUnit;
use pest::Parser;

#[derive(pest_derive::Parser)]
#[grammar = "../../grammar/iot.pest"]
pub(crate) struct IotParser;

/// Parse one file. Always returns a unit; problems are diagnostics.
pub fn parse(file: FileId, text: &str) -> (SourceUnit, Vec<Diagnostic>) {
    let mut unit = SourceUnit {
        file,
        ..SourceUnit::default()
    };
    let mut diags = Vec::new();
    for chunk in split::split(text) {
        let Some(chunk_text) = text.get(chunk.start..chunk.end) else {
            continue;
        };
        if split::is_blank(chunk_text) {
            continue;
        }
        let chunk_span = Span::new(file, chunk.start, chunk.end);
        if let Some(open) = chunk.unclosed {
            diags.push(
                Diagnostic::new(Code::E0002, Span::new(file, open, open + 1), "unclosed block")
                    .label("this `{` is never closed")
                    .with_secondary(
                        Span::new(file, chunk.end, chunk.end),
                        "the block should end before here",
                    )
                    .help("add the missing `}`"),
            );
            unit.broken.push(chunk_span);
            continue;
        }
        match IotParser::parse(Rule::item_only, chunk_text) {
            Ok(mut pairs) => {
                let built = pairs
                    .next()
                    .and_then(|p| p.into_inner().next())
                    .and_then(|p| build::item(p, file, chunk.start));
                match built {
                    Some(item) => unit.items.push(item),
                    None => {
                        diags.push(
                            Diagnostic::new(Code::E0001, chunk_span, "could not read this item")
                                .label("here"),
                        );
                        unit.broken.push(chunk_span);
                    }
                }
            }
            Err(err) => {
                diags.push(build::syntax_error(&err, file, chunk.start, chunk_text));
                unit.broken.push(chunk_span);
            }
        }
    }
    (unit, diags)
}

#[cfg(test)]
mod tests;
