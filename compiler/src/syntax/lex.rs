//! The lexical tokens of a file, as the grammar (`grammar/iot.pest`) reads
//! them: comments, doc comments, strings, numbers (with their unit suffix),
//! words, operators and punctuation. It never fails: text the grammar has
//! no token for is an [`TokenKind::Unknown`] character, and an unterminated
//! string ends at the end of its line, as the grammar's `string` does. Used
//! by the language server's semantic tokens, which need every token of
//! every item, including the items that did not parse.

/// What a token is, lexically. Which word is a keyword, a field or a name
/// is the parser's and the resolver's business, not the lexer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// `// …` or `//// …`, to the end of the line.
    Comment,
    /// `/// …`, to the end of the line.
    DocComment,
    /// `"…"`, escapes included; without its closing quote it ends at the
    /// end of its line.
    String,
    /// `3`, `0.5`, `500m`, `256Mi`, `30s`, `50%`.
    Number,
    /// An identifier or a keyword.
    Word,
    /// `=`, `==`, `!=`, `<`, `<=`, `>`, `>=`, `+`, `-`, `*`, `/`.
    Operator,
    /// `{ } [ ] ( ) , . :`
    Punct,
    /// A character no token of the grammar starts with.
    Unknown,
}

/// One token: its kind and its byte range in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    pub start: usize,
    pub end: usize,
}

fn is_word_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_word_continue(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Every token of `text`, in order, without whitespace.
pub fn tokens(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    let end_of_line = |from: usize| {
        text.get(from..)
            .and_then(|rest| rest.find(['\n', '\r']))
            .map_or(text.len(), |n| from + n)
    };
    while let Some((start, c)) = chars.next() {
        let next = chars.peek().map(|(_, c)| *c);
        let (kind, end) = match c {
            ' ' | '\t' | '\n' | '\r' | '\u{feff}' => continue,
            '/' if next == Some('/') => {
                let rest = text.get(start..).unwrap_or("");
                let doc = rest.starts_with("///") && !rest.starts_with("////");
                let end = end_of_line(start);
                (if doc { TokenKind::DocComment } else { TokenKind::Comment }, end)
            }
            '"' => {
                let mut end = text.len();
                let mut escaped = false;
                while let Some(&(i, c)) = chars.peek() {
                    if c == '\n' || c == '\r' {
                        end = i;
                        break;
                    }
                    chars.next();
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        end = i + 1;
                        break;
                    }
                }
                (TokenKind::String, end)
            }
            '0'..='9' => {
                let mut end = start + 1;
                let mut seen_dot = false;
                let mut in_suffix = false;
                while let Some(&(i, c)) = chars.peek() {
                    let more = if in_suffix {
                        c.is_ascii_alphanumeric()
                    } else if c.is_ascii_digit() {
                        true
                    } else if c == '.' && !seen_dot {
                        // `1.5`, but not `1.` followed by a word.
                        let digit_after = text.get(i + 1..).and_then(|r| r.chars().next());
                        seen_dot = true;
                        digit_after.is_some_and(|d| d.is_ascii_digit())
                    } else if c.is_ascii_alphabetic() || c == '%' {
                        in_suffix = true;
                        true
                    } else {
                        false
                    };
                    if !more {
                        break;
                    }
                    chars.next();
                    end = i + c.len_utf8();
                }
                (TokenKind::Number, end)
            }
            c if is_word_start(c) => {
                let mut end = start + c.len_utf8();
                while let Some(&(i, c)) = chars.peek() {
                    if !is_word_continue(c) {
                        break;
                    }
                    chars.next();
                    end = i + c.len_utf8();
                }
                (TokenKind::Word, end)
            }
            '=' | '!' | '<' | '>' if next == Some('=') => {
                chars.next();
                (TokenKind::Operator, start + 2)
            }
            '=' | '<' | '>' | '+' | '-' | '*' | '/' => (TokenKind::Operator, start + 1),
            '{' | '}' | '[' | ']' | '(' | ')' | ',' | '.' | ':' => (TokenKind::Punct, start + 1),
            other => (TokenKind::Unknown, start + other.len_utf8()),
        };
        // Skip what the token covers (comments and strings ran ahead above).
        while chars.peek().is_some_and(|(i, _)| *i < end) {
            chars.next();
        }
        out.push(Token { kind, start, end });
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing)]
    use super::{tokens, TokenKind as K};

    fn lex(text: &str) -> Vec<(K, &str)> {
        tokens(text).iter().map(|t| (t.kind, &text[t.start..t.end])).collect()
    }

    #[test]
    fn every_kind_of_token() {
        assert_eq!(
            lex("/// Docs.\nservice a on b { x = \"s\\\"q\" // note\n cpu = 500m  n = 1.5 * -2 }"),
            vec![
                (K::DocComment, "/// Docs."),
                (K::Word, "service"),
                (K::Word, "a"),
                (K::Word, "on"),
                (K::Word, "b"),
                (K::Punct, "{"),
                (K::Word, "x"),
                (K::Operator, "="),
                (K::String, "\"s\\\"q\""),
                (K::Comment, "// note"),
                (K::Word, "cpu"),
                (K::Operator, "="),
                (K::Number, "500m"),
                (K::Word, "n"),
                (K::Operator, "="),
                (K::Number, "1.5"),
                (K::Operator, "*"),
                (K::Operator, "-"),
                (K::Number, "2"),
                (K::Punct, "}"),
            ]
        );
    }

    #[test]
    fn comparisons_paths_and_odd_characters() {
        assert_eq!(
            lex("a <= 1 != b.c ==//// x\r@é"),
            vec![
                (K::Word, "a"),
                (K::Operator, "<="),
                (K::Number, "1"),
                (K::Operator, "!="),
                (K::Word, "b"),
                (K::Punct, "."),
                (K::Word, "c"),
                (K::Operator, "=="),
                (K::Comment, "//// x"),
                (K::Unknown, "@"),
                (K::Word, "é"),
            ]
        );
    }

    #[test]
    fn an_unterminated_string_ends_at_its_line() {
        assert_eq!(
            lex("x = \"open\ny 50%"),
            vec![
                (K::Word, "x"),
                (K::Operator, "="),
                (K::String, "\"open"),
                (K::Word, "y"),
                (K::Number, "50%"),
            ]
        );
        assert_eq!(lex("\"a\\"), vec![(K::String, "\"a\\")]);
    }
}
