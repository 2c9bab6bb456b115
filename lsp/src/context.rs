//! What surrounds the cursor, read from the raw text so that it works on
//! half-typed, unparseable input: the chain of open blocks (their header
//! text) and the current statement up to the cursor.

use iotc_compiler::schema::{self, Contents, Shape};
use iotc_compiler::syntax::ast::BlockKind;

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

/// Scan `text[..offset]`.
pub fn cursor_context(text: &str, offset: usize) -> CursorContext {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = text.get(..offset).unwrap_or("");
    let mut headers: Vec<String> = Vec::new();
    // Start of the current statement (after the last `{`, `}` or newline).
    let mut stmt_start = 0;
    let mut in_string = false;
    let mut in_comment = false;
    let mut escaped = false;
    for (i, c) in before.char_indices() {
        if in_comment {
            if c == '\n' {
                in_comment = false;
                stmt_start = i + 1;
            }
            continue;
        }
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            } else if c == '\n' {
                // Strings do not span lines; recover.
                in_string = false;
                stmt_start = i + 1;
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '/' if before.get(i + 1..).is_some_and(|r| r.starts_with('/')) => in_comment = true,
            '{' => {
                let header = before.get(stmt_start..i).unwrap_or("").trim().to_string();
                headers.push(header);
                stmt_start = i + 1;
            }
            '}' => {
                headers.pop();
                stmt_start = i + 1;
            }
            '\n' => stmt_start = i + 1,
            _ => {}
        }
    }
    let statement = before.get(stmt_start..).unwrap_or("").trim_start().to_string();
    CursorContext {
        scope: scope_of(&headers),
        headers,
        statement,
        in_string_or_comment: in_string || in_comment,
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
