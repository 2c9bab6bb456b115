//! What surrounds the cursor, read from the raw text so that it works on
//! half-typed, unparseable input: the chain of open blocks (their header
//! text) and the current statement up to the cursor.

use iotc_compiler::schema::{self, Contents, Shape};
use iotc_compiler::syntax::ast::BlockKind;
use iotc_compiler::syntax::lex::{Lexer, TokenKind};

/// The body the cursor is in.
#[derive(Debug, Clone, Copy)]
pub enum Scope {
    /// Outside every block.
    TopLevel,
    /// A body with fields from a schema shape.
    Shape(&'static Shape),
    /// `env { }` or `labels { }`: free keys.
    StringMap,
    /// A block the schema does not know (a typo, or broken text).
    Unknown,
}

#[derive(Debug, Clone)]
pub struct CursorContext {
    pub scope: Scope,
    /// Header words of the open blocks, outermost first.
    pub headers: Vec<String>,
    /// The statement so far, from its start to the cursor.
    pub statement: String,
    /// The cursor is inside a string or a comment.
    pub in_string_or_comment: bool,
}

/// Read `text[..offset]` through the compiler's lexer (the scanner the
/// item splitter and the formatter use too), so a brace or `//` inside a
/// string, or a quote or brace inside a comment, never counts.
pub fn cursor_context(text: &str, offset: usize) -> CursorContext {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = text.get(..offset).unwrap_or("");
    let mut headers: Vec<String> = Vec::new();
    // Start of the current statement (after the last `{`, `}` or line end).
    let mut stmt_start = 0;
    let mut prev_end = 0;
    let mut last = None;
    let line_end_in = |from: usize, to: usize| {
        before
            .get(from..to)
            .and_then(|gap| gap.rfind(['\n', '\r']))
            .map(|k| from + k + 1)
    };
    for t in Lexer::new(before) {
        if let Some(after) = line_end_in(prev_end, t.start) {
            stmt_start = after;
        }
        prev_end = t.end;
        last = Some(t);
        if t.kind != TokenKind::Punct {
            continue;
        }
        match before.get(t.start..t.end) {
            Some("{") => {
                let header = before.get(stmt_start..t.start).unwrap_or("").trim().to_string();
                headers.push(header);
                stmt_start = t.end;
            }
            Some("}") => {
                headers.pop();
                stmt_start = t.end;
            }
            _ => {}
        }
    }
    if let Some(after) = line_end_in(prev_end, before.len()) {
        stmt_start = after;
    }
    // The cursor is in the last token when that token reaches it and is
    // still open: a comment (it runs to its line's end) or a string
    // without its closing quote.
    let in_string_or_comment =
        last.is_some_and(|t| t.end == before.len() && (t.is_comment() || t.is_unclosed_string(before)));
    let statement = before.get(stmt_start..).unwrap_or("").trim_start().to_string();
    CursorContext {
        scope: scope_of(&headers),
        headers,
        statement,
        in_string_or_comment,
    }
}

/// The shape of the innermost body named by a chain of headers.
pub fn scope_of(headers: &[String]) -> Scope {
    let mut scope = Scope::TopLevel;
    for h in headers {
        let words: Vec<&str> = h.split_whitespace().collect();
        scope = match scope {
            Scope::TopLevel => {
                let kw = match words.as_slice() {
                    ["template", kw, ..] | [kw, ..] => *kw,
                    [] => return Scope::Unknown,
                };
                if kw == "param" {
                    Scope::Shape(&schema::PARAM)
                } else {
                    match BlockKind::from_keyword(kw) {
                        Some(k) => Scope::Shape(schema::shape(k)),
                        None => Scope::Unknown,
                    }
                }
            }
            Scope::Shape(shape) => {
                if h.contains('=') {
                    // `provider = aws {`: an object constructor.
                    let ctor = words.last().copied().unwrap_or("");
                    match schema::PROVIDERS.iter().find(|(n, _, _)| *n == ctor) {
                        Some((_, s, _)) => Scope::Shape(s),
                        None => Scope::Unknown,
                    }
                } else {
                    match words.first().and_then(|kw| shape.block(kw)) {
                        Some(spec) => match spec.contents {
                            Contents::Fields(s) => Scope::Shape(s),
                            Contents::StringMap => Scope::StringMap,
                        },
                        None => Scope::Unknown,
                    }
                }
            }
            Scope::StringMap | Scope::Unknown => Scope::Unknown,
        };
    }
    scope
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn nested_blocks_and_providers_are_followed() {
        let text = "cluster c {\n  provider = aws {\n    reg";
        let cx = cursor_context(text, text.len());
        assert!(matches!(cx.scope, Scope::Shape(s) if s.field("region").is_some()));
        assert_eq!(cx.statement, "reg");
        let text = "fleet f {\n  site a { labels { x = \"{\" }\n  gate";
        let cx = cursor_context(text, text.len());
        assert!(matches!(cx.scope, Scope::Shape(s) if s.field("gateways").is_some()));
    }

    #[test]
    fn strings_and_comments_are_recognised() {
        let text = "service s {\n  image = \"ghcr.io/x";
        assert!(cursor_context(text, text.len()).in_string_or_comment);
        let text = "// service s {\nfl";
        let cx = cursor_context(text, text.len());
        assert!(matches!(cx.scope, Scope::TopLevel));
        assert!(!cx.in_string_or_comment);
    }
}
