//! Size and depth limits, checked on an item's text before pest sees it.
//!
//! pest, the syntax-tree builder, the count evaluator, the formatter and the
//! checker all recurse over the tree, and a tree's depth is what the input
//! makes it. Rather than make every one of them iterative, the depth of the
//! tree is bounded here, by a single linear scan that itself uses no
//! recursion: a chunk that goes past a limit is one diagnostic and is never
//! parsed. Every tree that reaches the rest of the compiler is therefore at
//! most [`MAX_NESTING`] brackets plus [`MAX_OPERATORS`] operators deep.
//! The values are documented in `docs/language.md` (§ Limits).

use super::lex::{Lexer, TokenKind};
use crate::diag::{Code, Diagnostic};
use crate::source::{FileId, Span};

/// The most brackets (`(`, `[`, `{`) open at once within one item.
pub const MAX_NESTING: usize = 64;

/// The most operators (`+`, `-`, `*`, `/`) in one value, nested parts
/// included.
pub const MAX_OPERATORS: usize = 256;

/// The first limit that `chunk` (at byte `offset` of the file) breaks, or a
/// NUL character in it, as a diagnostic.
pub(crate) fn check(file: FileId, chunk: &str, offset: usize) -> Option<Diagnostic> {
    let span = |a: usize, b: usize| Span::new(file, offset + a, offset + b);
    let bytes = chunk.as_bytes();
    if let Some(at) = bytes.iter().position(|b| *b == 0) {
        return Some(nul(span(at, at + 1), "a NUL character"));
    }
    // Open brackets, innermost last.
    let mut opens: Vec<usize> = Vec::new();
    // Operators counted in the value being read, and where it started.
    let mut ops = 0usize;
    let mut start = 0usize;
    // Saved (ops, start) at each `{`: a block inside a value (an object)
    // continues the count of the value around it.
    let mut saved: Vec<(usize, usize)> = Vec::new();
    // Comments and strings come from the lexer, so a bracket or an operator
    // inside one never counts.
    for t in Lexer::new(chunk) {
        if t.is_comment() {
            continue;
        }
        if t.kind == TokenKind::String {
            if let Some(at) = nul_escape(bytes.get(t.start..t.end).unwrap_or(&[])) {
                let (a, z) = (t.start + at.0, t.start + at.1);
                return Some(nul(span(a, z), "the escape `\\u{0}`"));
            }
            continue;
        }
        for i in t.start..t.end {
            let Some(&b) = bytes.get(i) else { break };
            match b {
                b'(' | b'[' | b'{' => {
                    opens.push(i);
                    if opens.len() > MAX_NESTING {
                        let outer = opens.first().copied().unwrap_or(i);
                        return Some(
                            Diagnostic::new(
                                Code::E0003,
                                span(i, i + 1),
                                format!("nested too deeply: more than {MAX_NESTING} brackets open"),
                            )
                            .label(format!("bracket number {} inside the one below", MAX_NESTING + 1))
                            .with_secondary(span(outer, outer + 1), "the outermost bracket opens here")
                            .help(format!(
                                "at most {MAX_NESTING} `(`, `[` and `{{` can be open at once; \
                             flatten the expression or the blocks, or use a param"
                            )),
                        );
                    }
                    if b == b'{' {
                        saved.push((ops, start));
                        start = i + 1;
                    }
                }
                b')' | b']' => {
                    opens.pop();
                }
                b'}' => {
                    opens.pop();
                    (ops, start) = saved.pop().unwrap_or((0, i + 1));
                }
                b'=' => {
                    // A new field begins: its value counts from zero, plus the
                    // value around the block it is in.
                    ops = saved.last().map(|s| s.0).unwrap_or(0);
                    start = i + 1;
                }
                b'+' | b'-' | b'*' | b'/' => {
                    ops += 1;
                    if ops > MAX_OPERATORS {
                        let from = chunk
                            .get(start..)
                            .map(|r| start + (r.len() - r.trim_start().len()))
                            .unwrap_or(start);
                        return Some(
                            Diagnostic::new(
                                Code::E0004,
                                span(i, i + 1),
                                format!("expression too long: more than {MAX_OPERATORS} operators"),
                            )
                            .label(format!("operator number {}", MAX_OPERATORS + 1))
                            .with_secondary(span(from, (from + 1).min(chunk.len())), "the value starts here")
                            .help(format!(
                                "one value can have at most {MAX_OPERATORS} operators (`+`, `-`, `*`, `/`); \
                             split it with params or use a ratio such as `1 per 10 gateways of F`"
                            )),
                        );
                    }
                }
                _ => {}
            }
        }
    }
    None
}

fn nul(span: Span, what: &str) -> Diagnostic {
    Diagnostic::new(Code::E0005, span, format!("{what} in the source"))
        .label("NUL character")
        .help("remove it: no tool downstream accepts a NUL in a name, label, path or value")
}

/// The byte range of the first `\u{0…}` escape in a string literal.
fn nul_escape(lit: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while let Some(&b) = lit.get(i) {
        if b != b'\\' {
            i += 1;
            continue;
        }
        if lit.get(i + 1) == Some(&b'u') && lit.get(i + 2) == Some(&b'{') {
            let digits = lit.get(i + 3..).unwrap_or(&[]);
            let n = digits.iter().take_while(|c| c.is_ascii_hexdigit()).count();
            if n > 0 && digits.get(n) == Some(&b'}') && digits.iter().take(n).all(|c| *c == b'0') {
                return Some((i, i + 3 + n + 1));
            }
        }
        i += 2;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(text: &str) -> Option<Code> {
        check(FileId(0), text, 0).map(|d| d.code)
    }

    #[test]
    fn nesting_up_to_the_limit_is_accepted() {
        let ok = format!(
            "x {{ a = {}1{} }}",
            "(".repeat(MAX_NESTING - 1),
            ")".repeat(MAX_NESTING - 1)
        );
        assert_eq!(code(&ok), None);
        let deep = format!("x {{ a = {}1{} }}", "(".repeat(MAX_NESTING), ")".repeat(MAX_NESTING));
        assert_eq!(code(&deep), Some(Code::E0003));
    }

    #[test]
    fn nested_blocks_count_as_nesting() {
        let deep = format!(
            "fleet f {}{}",
            "b {".repeat(MAX_NESTING + 1),
            "}".repeat(MAX_NESTING + 1)
        );
        let d = check(FileId(0), &deep, 10).unwrap();
        assert_eq!(d.code, Code::E0003);
        assert_eq!(d.primary.span.start as usize, 10 + deep.rfind('{').unwrap());
    }

    #[test]
    fn operators_count_per_value() {
        let sum = |n: usize| vec!["1"; n + 1].join(" + ");
        assert_eq!(code(&format!("s {{ a = {} }}", sum(MAX_OPERATORS))), None);
        // Many fields each under the limit are fine.
        let many = format!("s {{ a = {}  b = {} }}", sum(MAX_OPERATORS), sum(MAX_OPERATORS));
        assert_eq!(code(&many), None);
        assert_eq!(
            code(&format!("s {{ a = {} }}", sum(MAX_OPERATORS + 1))),
            Some(Code::E0004)
        );
    }

    #[test]
    fn an_object_inside_a_value_continues_its_count() {
        let half = vec!["1"; 200].join(" + ");
        let text = format!("s {{ a = {half} + o {{ b = {half} }} }}");
        assert_eq!(code(&text), Some(Code::E0004));
    }

    #[test]
    fn strings_and_comments_are_skipped() {
        let text = format!("s {{ a = \"{}\" // {}\n}}", "(-".repeat(1000), "[+".repeat(1000));
        assert_eq!(code(&text), None);
    }

    /// Everything the limits let through is parsed and formatted on a
    /// thread with a 2 MiB stack (a debug build, whose frames are largest):
    /// the limits leave the recursion that much room.
    #[test]
    fn the_deepest_accepted_items_parse_and_format_on_a_small_stack() {
        let run = || {
            let n = MAX_NESTING - 1;
            let deepest = [
                format!("service s on f {{ replicas = {}1{} }}\n", "(".repeat(n), ")".repeat(n)),
                format!("service s on f {{ r = {}1{} }}\n", "min(".repeat(n), ")".repeat(n)),
                format!("service s on f {{ r = {}{} }}\n", "[".repeat(n), "]".repeat(n)),
                format!("service s on f {{ {}{} }}\n", "a { ".repeat(n), "}".repeat(n)),
                format!(
                    "service s on f {{ r = {} }}\n",
                    vec!["1"; MAX_OPERATORS + 1].join(" - ")
                ),
                format!(
                    "service s on f {{ r = {}{}{} }}\n",
                    "(1 + ".repeat(n),
                    vec!["1"; MAX_OPERATORS - n + 1].join(" * "),
                    ")".repeat(n)
                ),
            ];
            for text in &deepest {
                let (unit, diags) = crate::syntax::parse(FileId(0), text);
                assert!(diags.is_empty() && unit.items.len() == 1, "{diags:?}");
                assert!(crate::fmt::format_source(text).is_ok());
            }
        };
        let worker = std::thread::Builder::new().stack_size(2 << 20).spawn(run).unwrap();
        assert!(worker.join().is_ok());
    }

    #[test]
    fn nul_characters_and_escapes_are_rejected() {
        assert_eq!(code("s { a = \"x\0y\" }"), Some(Code::E0005));
        let d = check(FileId(0), "s { a = \"x\\u{000}\" }", 0).unwrap();
        assert_eq!(
            (d.code, d.primary.span.start, d.primary.span.end),
            (Code::E0005, 10, 17)
        );
        assert_eq!(code("s { a = \"\\u{10}\\\\u{0}\" }"), None);
    }
}
