//! Splits a file into top-level item chunks so each can be parsed alone.

use super::keywords::{HEADER_WORDS, ITEM_KEYWORDS};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub start: usize,
    pub end: usize,
    /// Offset of the innermost `{` still open at the end of the chunk.
    pub unclosed: Option<usize>,
}

/// True when the text holds only whitespace and ordinary comments.
pub fn is_blank(text: &str) -> bool {
    text.split(['\n', '\r']).all(|l| {
        let t = l.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
        t.is_empty() || (t.starts_with("//") && !t.starts_with("///")) || t.starts_with("////")
    })
}

fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_ident_continue(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Split `text` into chunks, each starting at a top-level item (including
/// its doc comments). A keyword at the start of a line inside a block that
/// was never closed also starts a new chunk, so a missing `}` costs one item.
pub fn split(text: &str) -> Vec<Chunk> {
    let bytes = text.as_bytes();
    let mut starts: Vec<usize> = vec![0];
    let mut opens: Vec<usize> = Vec::new();
    // For each boundary after the first: the open braces of the chunk before.
    let mut unclosed_at: Vec<Option<usize>> = Vec::new();
    let mut doc_start: Option<usize> = None;
    let mut line_start = true;
    // `template service x`: the kind after `template` continues the item.
    let mut after_template = false;
    // Whether the last significant character (outside comments) was a `.`.
    let mut last_was_dot = false;
    let mut i = 0;
    while i < bytes.len() {
        let Some(c) = text.get(i..).and_then(|s| s.chars().next()) else {
            break;
        };
        let len = c.len_utf8();
        match c {
            // A lone `\r` ends a line too (old Mac line endings).
            '\n' | '\r' => {
                line_start = true;
                i += 1;
                continue;
            }
            ' ' | '\t' => {
                i += 1;
                continue;
            }
            '/' if bytes.get(i + 1) == Some(&b'/') => {
                let is_doc = bytes.get(i + 2) == Some(&b'/') && bytes.get(i + 3) != Some(&b'/');
                if is_doc && opens.is_empty() && doc_start.is_none() {
                    doc_start = Some(i);
                }
                while bytes.get(i).is_some_and(|b| *b != b'\n' && *b != b'\r') {
                    i += 1;
                }
                continue;
            }
            '"' => {
                doc_start = None;
                after_template = false;
                last_was_dot = false;
                i = string_end(bytes, i);
                line_start = false;
                continue;
            }
            '{' => {
                opens.push(i);
                doc_start = None;
                after_template = false;
            }
            '}' => {
                opens.pop();
                doc_start = None;
                after_template = false;
            }
            c if is_ident_start(c) => {
                let begin = i;
                let mut j = i;
                while let Some(ch) = text.get(j..).and_then(|s| s.chars().next()) {
                    if !is_ident_continue(ch) {
                        break;
                    }
                    j += ch.len_utf8();
                }
                let word = text.get(begin..j).unwrap_or("");
                let keyword = ITEM_KEYWORDS.contains(&word);
                // `std.devices`, `service fleet on …`: a keyword after a dot or
                // inside an item's header is a name, not a new item.
                let after_dot = last_was_dot;
                let starts_item = keyword
                    && !after_template
                    && !after_dot
                    && (opens.is_empty() || (line_start && followed_by_name(text, j)));
                after_template = opens.is_empty() && !after_dot && HEADER_WORDS.contains(&word);
                if starts_item && begin > 0 {
                    let boundary = if opens.is_empty() {
                        doc_start.unwrap_or(begin)
                    } else {
                        begin
                    };
                    if boundary > *starts.last().unwrap_or(&0) {
                        unclosed_at.push(opens.last().copied());
                        starts.push(boundary);
                    }
                    opens.clear();
                }
                doc_start = None;
                line_start = false;
                last_was_dot = false;
                i = j;
                continue;
            }
            // `.` keeps the header going (`std.devices`); other punctuation ends it.
            '.' => {
                last_was_dot = true;
                line_start = false;
                i += 1;
                continue;
            }
            _ => {
                doc_start = None;
                after_template = false;
            }
        }
        line_start = false;
        last_was_dot = false;
        i += len;
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

/// The offset just past the string literal that opens at `start` (a `"`).
/// An unterminated string ends at the end of its line.
pub(crate) fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes.get(i) {
            Some(b'\\') => i += 2,
            Some(b'"') => return i + 1,
            Some(b'\n' | b'\r') => return i,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// `service foo` starts an item; `device = x` inside a block does not.
fn followed_by_name(text: &str, from: usize) -> bool {
    let rest = text.get(from..).unwrap_or("");
    let trimmed = rest.trim_start_matches([' ', '\t']);
    trimmed.len() < rest.len() && trimmed.chars().next().is_some_and(is_ident_start)
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
