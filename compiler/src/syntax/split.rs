//! Splits a file into top-level item chunks so each can be parsed alone.

use super::keywords::{HEADER_WORDS, ITEM_KEYWORDS};
use super::lex::{Lexer, TokenKind};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub start: usize,
    pub end: usize,
    /// Offset of the innermost `{` still open at the end of the chunk.
    pub unclosed: Option<usize>,
}

/// True when the text holds only whitespace and ordinary comments (a doc
/// comment belongs to an item, so it is not blank).
pub fn is_blank(text: &str) -> bool {
    Lexer::new(text).all(|t| match t.kind {
        TokenKind::Comment => true,
        // Whitespace the grammar does not skip (a no-break space) is blank
        // here too: a chunk of it alone is not an item.
        TokenKind::Unknown => text
            .get(t.start..t.end)
            .is_some_and(|s| s.chars().all(char::is_whitespace)),
        _ => false,
    })
}

/// Split `text` into chunks, each starting at a top-level item (including
/// its doc comments). A keyword at the start of a line inside a block that
/// was never closed also starts a new chunk, so a missing `}` costs one item.
/// Reads the text through the lexer, so braces in strings and comments
/// never count.
pub fn split(text: &str) -> Vec<Chunk> {
    let mut starts: Vec<usize> = vec![0];
    let mut opens: Vec<usize> = Vec::new();
    // For each boundary after the first: the open braces of the chunk before.
    let mut unclosed_at: Vec<Option<usize>> = Vec::new();
    let mut doc_start: Option<usize> = None;
    // `template service x`: the kind after `template` continues the item.
    let mut after_template = false;
    // Whether the last token (not counting comments) was a `.`.
    let mut last_was_dot = false;
    let mut tokens = Lexer::new(text).peekable();
    // Where the previous token ended: a line end between it and the next
    // token puts that token at the start of a line.
    let mut prev_end: Option<usize> = None;
    while let Some(t) = tokens.next() {
        let line_start = prev_end.is_none_or(|p| text.get(p..t.start).is_some_and(|gap| gap.contains(['\n', '\r'])));
        prev_end = Some(t.end);
        let token = text.get(t.start..t.end).unwrap_or("");
        match t.kind {
            TokenKind::Comment => continue,
            TokenKind::DocComment => {
                if opens.is_empty() && doc_start.is_none() {
                    doc_start = Some(t.start);
                }
                continue;
            }
            TokenKind::Word => {
                let keyword = ITEM_KEYWORDS.contains(&token);
                // `std.devices`, `service fleet on …`: a keyword after a dot or
                // inside an item's header is a name, not a new item.
                let after_dot = last_was_dot;
                let followed_by_name = tokens.peek().is_some_and(|n| {
                    n.kind == TokenKind::Word
                        && n.start > t.end
                        && text
                            .get(t.end..n.start)
                            .is_some_and(|gap| gap.chars().all(|c| c == ' ' || c == '\t'))
                });
                let starts_item =
                    keyword && !after_template && !after_dot && (opens.is_empty() || (line_start && followed_by_name));
                after_template = opens.is_empty() && !after_dot && HEADER_WORDS.contains(&token);
                if starts_item && t.start > 0 {
                    let boundary = if opens.is_empty() {
                        doc_start.unwrap_or(t.start)
                    } else {
                        t.start
                    };
                    if boundary > *starts.last().unwrap_or(&0) {
                        unclosed_at.push(opens.last().copied());
                        starts.push(boundary);
                    }
                    opens.clear();
                }
                doc_start = None;
                last_was_dot = false;
                continue;
            }
            // `.` keeps the header going (`std.devices`); other tokens end it.
            TokenKind::Punct if token == "." => {
                last_was_dot = true;
                continue;
            }
            TokenKind::Punct if token == "{" => opens.push(t.start),
            TokenKind::Punct if token == "}" => {
                opens.pop();
            }
            _ => {}
        }
        doc_start = None;
        after_template = false;
        last_was_dot = false;
    }
    unclosed_at.push(opens.last().copied());
    let mut chunks = Vec::with_capacity(starts.len());
    for (k, start) in starts.iter().enumerate() {
        let end = starts.get(k + 1).copied().unwrap_or(text.len());
        chunks.push(Chunk {
            start: *start,
            end,
            unclosed: unclosed_at.get(k).copied().flatten(),
        });
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn starts(text: &str) -> Vec<usize> {
        split(text).iter().map(|c| c.start).collect()
    }

    #[test]
    fn splits_at_top_level_keywords_with_docs() {
        let text = "param a: int = 1\n/// doc\nservice s on c { image = \"x\" }\n";
        assert_eq!(starts(text), vec![0, 17]);
    }

    #[test]
    fn keywords_inside_blocks_do_not_split() {
        let text = "fleet f {\n  device = std.devices.rpi4\n  service = 1\n}\n";
        assert_eq!(starts(text), vec![0]);
    }

    #[test]
    fn unclosed_block_splits_at_next_line_keyword() {
        let text = "fleet f {\n  site a {\n}\nservice s on f { }\n";
        let chunks = split(text);
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks.first().and_then(|c| c.unclosed), Some(8));
        assert_eq!(chunks.get(1).and_then(|c| c.unclosed), None);
    }

    #[test]
    fn keywords_as_names_do_not_split() {
        assert_eq!(starts("import std.device\nservice fleet on job { }\n").len(), 2);
        assert_eq!(starts("import \"./a.iot\"\nservice s on f { }\n").len(), 2);
        assert_eq!(starts("x { }\n/// Ends with a dot.\nruntime r { }\n").len(), 2);
    }

    #[test]
    fn template_and_kind_stay_together() {
        assert_eq!(starts("param p: int\ntemplate service s { }\n"), vec![0, 13]);
    }

    #[test]
    fn strings_and_comments_hide_braces() {
        let text = "solution s { x = \"{\" // {\n}\nparam p: int\n";
        assert_eq!(split(text).len(), 2);
        assert!(split(text).iter().all(|c| c.unclosed.is_none()));
    }
}
