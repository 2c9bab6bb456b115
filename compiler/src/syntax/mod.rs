//! Stage 1, parse: source text → [`ast::SourceUnit`] plus diagnostics.
//!
//! pest does not recover from errors, so the file is first split at
//! top-level items by a small scanner that understands strings, comments and
//! braces; each chunk is parsed on its own with the `item_only` rule. A
//! broken item yields one diagnostic and the rest of the file is still
//! parsed. Parsing never fails and never panics.

pub mod ast;
mod build;
mod cache;
pub mod keywords;
pub mod lex;
pub mod limits;
pub(crate) mod split;

use crate::diag::{Code, Diagnostic};
use crate::source::{FileId, Span};
use ast::SourceUnit;
pub(crate) use cache::Shift;
pub use cache::{ParseCache, Swept};
pub use keywords::ITEM_KEYWORDS;
use pest::Parser;

#[derive(pest_derive::Parser)]
#[grammar = "../../grammar/iot.pest"]
pub(crate) struct IotParser;

/// Parse one file. Always returns a unit; problems are diagnostics.
pub fn parse(file: FileId, text: &str) -> (SourceUnit, Vec<Diagnostic>) {
    parse_with(file, text, None)
}

/// [`parse`], reusing the items of `cache` whose text is unchanged (see
/// [`ParseCache`]).
pub fn parse_with(file: FileId, text: &str, cache: Option<&ParseCache>) -> (SourceUnit, Vec<Diagnostic>) {
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
                        {
                            // The chunk's last character, whole (it may be
                            // several bytes).
                            let body = chunk_text.trim_end();
                            let at = body.char_indices().next_back().map_or(0, |(i, _)| i);
                            Span::new(file, chunk.start + at, chunk.start + body.len())
                        },
                        "the block should end after here",
                    )
                    .help("add the missing `}`"),
            );
            unit.broken.push(chunk_span);
            continue;
        }
        // Only items within the limits are cached (checked below before
        // parsing), and the limits depend on the text alone: a cached item
        // is not checked again.
        if let Some((item, key)) = cache.and_then(|c| c.get(file, chunk_text, chunk.start)) {
            unit.items.push(item);
            unit.keys.push(key);
            continue;
        }
        if let Some(d) = limits::check(file, chunk_text, chunk.start) {
            diags.push(d);
            unit.broken.push(chunk_span);
            continue;
        }
        match IotParser::parse(Rule::item_only, chunk_text) {
            Ok(mut pairs) => {
                let built = pairs
                    .next()
                    .and_then(|p| p.into_inner().next())
                    .and_then(|p| match cache {
                        // Built at offset 0 for the cache, then moved.
                        Some(c) => build::item(p, file, 0).map(|item| {
                            let mut placed = item.clone();
                            placed.shift(i64::try_from(chunk.start).unwrap_or(i64::MAX));
                            let placed = std::sync::Arc::new(placed);
                            let key = c.put(file, chunk_text, &item, chunk.start, &placed);
                            (placed, key)
                        }),
                        None => build::item(p, file, chunk.start).map(|item| (std::sync::Arc::new(item), 0)),
                    });
                match built {
                    Some((item, key)) => {
                        unit.items.push(item);
                        unit.keys.push(key);
                    }
                    None => {
                        diags.push(Diagnostic::new(Code::E0001, chunk_span, "could not read this item").label("here"));
                        unit.broken.push(chunk_span);
                    }
                }
            }
            Err(err) => {
                let tokens = expected_tokens(chunk_text);
                diags.push(build::syntax_error(&err, file, chunk.start, chunk_text, &tokens));
                unit.broken.push(chunk_span);
            }
        }
    }
    for item in &unit.items {
        item_keyword_blocks(item, &mut diags);
    }
    (unit, diags)
}

/// `solution x { }` or `service x { }` inside a block: on a line of its own
/// (as the formatter prints it) such a word starts a new item, so the
/// program would read differently once formatted. Reported wherever it is
/// written, so that one-line and formatted programs agree.
fn item_keyword_blocks(item: &ast::Item, diags: &mut Vec<Diagnostic>) {
    use ast::{ExprKind, ItemKind, StmtKind};
    let mut bodies: Vec<&ast::Body> = match &item.kind {
        ItemKind::Solution(b) | ItemKind::Block(b) => vec![&b.body],
        ItemKind::Param(p) => p.body.iter().collect(),
        ItemKind::Import(_) => Vec::new(),
    };
    while let Some(body) = bodies.pop() {
        for stmt in &body.stmts {
            match &stmt.kind {
                StmtKind::Block(b) => {
                    let word = b.kind.name.as_str();
                    if b.name.is_some() && keywords::ITEM_KEYWORDS.contains(&word) {
                        diags.push(
                            Diagnostic::new(
                                Code::E0110,
                                b.kind.span,
                                format!("`{word}` starts an item; it cannot be inside a block"),
                            )
                            .label("an item keyword inside a block")
                            .help(format!(
                                "move the `{word}` out of the block, to the top level; on a line of its own \
                                 inside a block it would start a new item"
                            )),
                        );
                    }
                    bodies.push(&b.body);
                }
                StmtKind::Attr(a) => {
                    if let ExprKind::Object { body, .. } = &a.value.kind {
                        bodies.push(body);
                    }
                }
                _ => {}
            }
        }
    }
}

/// How many parses need pest's error detail now. pest has one switch for
/// the whole process (`pest::set_error_detail`), read when a parse starts;
/// parses run on several threads at once (the language server, the build's
/// workers), so the switch is on while any of them needs it and goes off
/// with the last one, never under another parse's feet.
static DETAIL_USERS: std::sync::Mutex<usize> = std::sync::Mutex::new(0);

/// Error detail on for as long as the guard lives.
struct ErrorDetail;

impl ErrorDetail {
    fn on() -> ErrorDetail {
        let mut users = DETAIL_USERS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *users += 1;
        pest::set_error_detail(true);
        ErrorDetail
    }
}

impl Drop for ErrorDetail {
    fn drop(&mut self) {
        let mut users = DETAIL_USERS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *users = users.saturating_sub(1);
        if *users == 0 {
            pest::set_error_detail(false);
        }
    }
}

/// The literal tokens (`=`, `{`, `on`, …) pest tried at the furthest point
/// of a failed parse. Collecting them slows parsing, so it is done only
/// again for a chunk that already failed.
fn expected_tokens(chunk: &str) -> Vec<String> {
    let err = {
        let _detail = ErrorDetail::on();
        IotParser::parse(Rule::item_only, chunk).err()
    };
    let Some(attempts) = err.and_then(|e| e.parse_attempts()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for t in attempts.expected_tokens() {
        let token = t.to_string();
        let noise = token
            .trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
            .is_empty()
            || token.starts_with("//")
            || token == "\""
            || token == "\\"
            || token.contains("..")
            || token == "BUILTIN_RULE";
        if !noise && !out.contains(&token) {
            out.push(token);
        }
    }
    out
}

#[cfg(test)]
mod tests;
