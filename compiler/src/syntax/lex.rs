//! The lexical tokens of a file, as the grammar (`grammar/iot.pest`) reads
//! them: comments, doc comments, strings, numbers (with their unit suffix),
//! words, operators and punctuation. It never fails: text the grammar has
//! no token for is an [`TokenKind::Unknown`] character, and an unterminated
//! string ends at the end of its line, as the grammar's `string` does.
//! It is the one scanner: the item splitter (`split`), the size limits
//! (`limits`), the formatter's comments (`fmt`) and the language server's
//! cursor context and semantic tokens all read text through [`Lexer`].

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

impl Token {
    /// Whether this is a `//` comment or a `///` doc comment.
    pub fn is_comment(&self) -> bool {
        matches!(self.kind, TokenKind::Comment | TokenKind::DocComment)
    }

    /// Whether this is a string without its closing quote (it ends at the
    /// end of its line or of the text).
    pub fn is_unclosed_string(&self, text: &str) -> bool {
        if self.kind != TokenKind::String {
            return false;
        }
        let body = text.get(self.start + 1..self.end).unwrap_or("");
        let Some(inner) = body.strip_suffix('"') else {
            return true;
        };
        // The last quote closes the string unless a backslash escapes it.
        inner.bytes().rev().take_while(|b| *b == b'\\').count() % 2 == 1
    }
}

/// Every token of `text`, in order, without whitespace.
pub fn tokens(text: &str) -> Vec<Token> {
    Lexer::new(text).collect()
}

/// The tokens of a text, one at a time: the one scanner of the compiler.
/// The item splitter, the size limits, the formatter's comments and the
/// language server's cursor context and semantic tokens all read a text
/// through it, so they agree on where comments, strings and brackets are.
pub struct Lexer<'t> {
    text: &'t str,
    chars: std::iter::Peekable<std::str::CharIndices<'t>>,
}

impl<'t> Lexer<'t> {
    pub fn new(text: &'t str) -> Lexer<'t> {
        Lexer {
            text,
            chars: text.char_indices().peekable(),
        }
    }

    fn end_of_line(&self, from: usize) -> usize {
        self.text
            .get(from..)
            .and_then(|rest| rest.find(['\n', '\r']))
            .map_or(self.text.len(), |n| from + n)
    }
}

impl Iterator for Lexer<'_> {
    type Item = Token;

    fn next(&mut self) -> Option<Token> {
        let text = self.text;
        loop {
            let (start, c) = self.chars.next()?;
            let next = self.chars.peek().map(|(_, c)| *c);
            let (kind, end) = match c {
                ' ' | '\t' | '\n' | '\r' | '\u{feff}' => continue,
                '/' if next == Some('/') => {
                    let rest = text.get(start..).unwrap_or("");
                    let doc = rest.starts_with("///") && !rest.starts_with("////");
                    let end = self.end_of_line(start);
                    (if doc { TokenKind::DocComment } else { TokenKind::Comment }, end)
                }
                '"' => {
                    // As the grammar's `string`: a backslash escapes any one
                    // character, a line end included; an unescaped line end
                    // ends an unterminated string.
                    let mut end = text.len();
                    let mut escaped = false;
                    while let Some(&(i, c)) = self.chars.peek() {
                        if !escaped && (c == '\n' || c == '\r') {
                            end = i;
                            break;
                        }
                        self.chars.next();
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
                    while let Some(&(i, c)) = self.chars.peek() {
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
                        self.chars.next();
                        end = i + c.len_utf8();
                    }
                    (TokenKind::Number, end)
                }
                c if is_word_start(c) => {
                    let mut end = start + c.len_utf8();
                    while let Some(&(i, c)) = self.chars.peek() {
                        if !is_word_continue(c) {
                            break;
                        }
                        self.chars.next();
                        end = i + c.len_utf8();
                    }
                    (TokenKind::Word, end)
                }
                '=' | '!' | '<' | '>' if next == Some('=') => {
                    self.chars.next();
                    (TokenKind::Operator, start + 2)
                }
                '=' | '<' | '>' | '+' | '-' | '*' | '/' => (TokenKind::Operator, start + 1),
                '{' | '}' | '[' | ']' | '(' | ')' | ',' | '.' | ':' => (TokenKind::Punct, start + 1),
                other => (TokenKind::Unknown, start + other.len_utf8()),
            };
            // Skip what the token covers (comments and strings ran ahead above).
            while self.chars.peek().is_some_and(|(i, _)| *i < end) {
                self.chars.next();
            }
            return Some(Token { kind, start, end });
        }
    }
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

    #[test]
    fn a_backslash_escapes_a_line_end_as_in_the_grammar() {
        // `string_inner` is `"\\" ~ ANY`: an escaped line end stays in the string.
        assert_eq!(
            lex("x = \"a\\\nb\" y"),
            vec![
                (K::Word, "x"),
                (K::Operator, "="),
                (K::String, "\"a\\\nb\""),
                (K::Word, "y")
            ]
        );
    }

    #[test]
    fn unclosed_strings_are_told_from_closed_ones() {
        for (text, unclosed) in [
            ("\"", true),
            ("\"ab", true),
            ("\"ab\"", false),
            ("\"a\\\"", true),
            ("\"a\\\\\"", false),
            ("\"é", true),
        ] {
            let t = tokens(text)[0];
            assert_eq!(t.is_unclosed_string(text), unclosed, "{text:?}");
        }
    }
}
