//! Turns pest pairs of one chunk into AST nodes, shifting spans by the
//! chunk's offset. Every function returns `None` only if the tree does not
//! have the shape the grammar promises; the caller reports that as E0001.

use super::ast::*;
use super::lex::{self, Token, TokenKind};
use super::Rule;
use crate::diag::{Code, Diagnostic};
use crate::source::{FileId, Span};
use pest::iterators::Pair;
use std::ops::Range;

#[derive(Clone, Copy)]
struct Cx {
    file: FileId,
    offset: usize,
}

impl Cx {
    fn span(&self, p: &Pair<Rule>) -> Span {
        let s = p.as_span();
        Span::new(self.file, self.offset + s.start(), self.offset + s.end())
    }
}

pub(super) fn item(p: Pair<Rule>, file: FileId, offset: usize) -> Option<Item> {
    let cx = Cx { file, offset };
    let span = cx.span(&p);
    let mut inner = p.into_inner();
    let docs = docs(inner.next()?);
    let body = inner.next()?;
    let kind = match body.as_rule() {
        Rule::solution => {
            let mut it = body.into_inner();
            let kw = it.next()?;
            let name = ident(cx, it.next()?);
            let b = block_body(cx, it.next()?)?;
            ItemKind::Solution(Block {
                kind: BlockKind::Solution,
                kind_span: cx.span(&kw),
                template: None,
                name,
                on: None,
                selectors: Vec::new(),
                from: None,
                body: b,
            })
        }
        Rule::import_decl => {
            let s = cx.span(&body);
            let mut it = body.into_inner();
            let _kw = it.next()?;
            let t = it.next()?;
            let target = match t.as_rule() {
                Rule::string => ImportTarget::File(string(cx, t)),
                _ => ImportTarget::Module(path(cx, t)),
            };
            ItemKind::Import(Import { target, span: s })
        }
        Rule::param_decl => {
            let mut it = body.into_inner();
            let _kw = it.next()?;
            let name = ident(cx, it.next()?);
            let ty = ident(cx, it.next()?);
            let mut default = None;
            let mut b = None;
            for p in it {
                match p.as_rule() {
                    Rule::param_default => default = Some(param_default(cx, p)?),
                    Rule::body => b = Some(block_body(cx, p)?),
                    _ => return None,
                }
            }
            ItemKind::Param(Param {
                name,
                ty,
                default,
                body: b,
            })
        }
        Rule::block_item => ItemKind::Block(block_item(cx, body)?),
        _ => return None,
    };
    Some(Item { docs, kind, span })
}

fn docs(p: Pair<Rule>) -> Vec<String> {
    p.into_inner()
        .filter_map(|d| d.into_inner().next())
        .map(|t| {
            let s = t.as_str();
            s.strip_prefix(' ').unwrap_or(s).trim_end().to_string()
        })
        .collect()
}

fn block_item(cx: Cx, p: Pair<Rule>) -> Option<Block> {
    let mut it = p.into_inner().peekable();
    let mut template = None;
    if it.peek().map(|p| p.as_rule()) == Some(Rule::kw_template) {
        template = it.next().map(|p| cx.span(&p));
    }
    let kind_pair = it.next()?;
    let kind = BlockKind::from_keyword(kind_pair.as_str())?;
    let name = ident(cx, it.next()?);
    let mut on = None;
    let mut selectors = Vec::new();
    let mut from = None;
    let mut body = None;
    for p in it {
        match p.as_rule() {
            Rule::on_clause => on = Some(path(cx, p.into_inner().nth(1)?)),
            Rule::where_clause => selectors = where_clause(cx, p)?,
            Rule::from_clause => from = Some(path(cx, p.into_inner().nth(1)?)),
            Rule::body => body = Some(block_body(cx, p)?),
            _ => return None,
        }
    }
    Some(Block {
        kind,
        kind_span: cx.span(&kind_pair),
        template,
        name,
        on,
        selectors,
        from,
        body: body?,
    })
}

fn where_clause(cx: Cx, p: Pair<Rule>) -> Option<Vec<Selector>> {
    let mut out = Vec::new();
    for s in p.into_inner() {
        if s.as_rule() != Rule::selector {
            continue;
        }
        let span = cx.span(&s);
        let mut it = s.into_inner();
        let key = key(cx, it.next()?)?;
        let op = it.next()?;
        let value = primary(cx, it.next()?)?;
        out.push(Selector {
            key,
            negated: op.as_str() == "!=",
            value,
            span,
        });
    }
    Some(out)
}

fn block_body(cx: Cx, p: Pair<Rule>) -> Option<Body> {
    let span = cx.span(&p);
    let mut stmts = Vec::new();
    for s in p.into_inner() {
        stmts.push(stmt(cx, s)?);
    }
    Some(Body { stmts, span })
}

fn stmt(cx: Cx, p: Pair<Rule>) -> Option<Stmt> {
    let span = cx.span(&p);
    let mut it = p.into_inner();
    let docs = docs(it.next()?);
    let s = it.next()?;
    // The statement's span starts after its doc comments.
    let span = Span::new(cx.file, cx.span(&s).start as usize, span.end as usize);
    let kind = match s.as_rule() {
        Rule::attr => {
            let mut a = s.into_inner();
            let key = key(cx, a.next()?)?;
            let value = expr(cx, a.next()?)?;
            StmtKind::Attr(Attr { key, value })
        }
        Rule::nested_block => {
            let mut a = s.into_inner();
            let kind = ident(cx, a.next()?);
            let mut name = None;
            let mut on = None;
            let mut selectors = Vec::new();
            let mut body = None;
            for p in a {
                match p.as_rule() {
                    Rule::ident => name = Some(ident(cx, p)),
                    Rule::on_clause => on = Some(path(cx, p.into_inner().nth(1)?)),
                    Rule::where_clause => selectors = where_clause(cx, p)?,
                    Rule::body => body = Some(block_body(cx, p)?),
                    _ => return None,
                }
            }
            StmtKind::Block(NestedBlock {
                kind,
                name,
                on,
                selectors,
                body: body?,
            })
        }
        Rule::secret_stmt => {
            let mut a = s.into_inner();
            let _kw = a.next()?;
            let name = ident(cx, a.next()?);
            let src = a.next()?;
            let source = match src.as_rule() {
                Rule::secret_from => {
                    let mut f = src.into_inner();
                    let _from = f.next()?;
                    let kind = ident(cx, f.next()?);
                    let reference = string(cx, f.next()?);
                    SecretSource::From { kind, reference }
                }
                _ => SecretSource::Literal(expr(cx, src.into_inner().next()?)?),
            };
            StmtKind::Secret(SecretStmt { name, source })
        }
        Rule::device_stmt => {
            let mut a = s.into_inner();
            let _kw = a.next()?;
            let host = string(cx, a.next()?);
            let container = match (a.next(), a.next()) {
                (Some(_as), Some(c)) => Some(string(cx, c)),
                _ => None,
            };
            StmtKind::Device(DeviceStmt { host, container })
        }
        Rule::alert_stmt => {
            let mut a = s.into_inner();
            let _kw = a.next()?;
            let metric = ident(cx, a.next()?);
            let op_pair = a.next()?;
            let op = match op_pair.as_str() {
                "<" => CmpOp::Lt,
                "<=" => CmpOp::Le,
                ">" => CmpOp::Gt,
                ">=" => CmpOp::Ge,
                "==" => CmpOp::Eq,
                _ => CmpOp::Ne,
            };
            let threshold = expr(cx, a.next()?)?;
            let duration = match (a.next(), a.next()) {
                (Some(_for), Some(d)) => Some(expr(cx, d)?),
                _ => None,
            };
            StmtKind::Alert(AlertStmt {
                metric,
                op,
                op_span: cx.span(&op_pair),
                threshold,
                duration,
            })
        }
        _ => return None,
    };
    Some(Stmt { docs, kind, span })
}

fn key(cx: Cx, p: Pair<Rule>) -> Option<Key> {
    let span = cx.span(&p);
    let inner = p.into_inner().next()?;
    Some(match inner.as_rule() {
        Rule::string => Key {
            name: string(cx, inner).value,
            quoted: true,
            span,
        },
        _ => Key {
            name: inner.as_str().to_string(),
            quoted: false,
            span,
        },
    })
}

fn ident(cx: Cx, p: Pair<Rule>) -> Ident {
    Ident {
        name: p.as_str().to_string(),
        span: cx.span(&p),
    }
}

fn path(cx: Cx, p: Pair<Rule>) -> Path {
    let span = cx.span(&p);
    Path {
        segments: p.into_inner().map(|s| ident(cx, s)).collect(),
        span,
    }
}

fn string(cx: Cx, p: Pair<Rule>) -> StringLit {
    let span = cx.span(&p);
    let raw = p.into_inner().next().map(|i| i.as_str()).unwrap_or("");
    StringLit {
        value: unescape(raw),
        span,
    }
}

/// Resolve `\"`, `\\`, `\n`, `\t`, `\r` and `\u{…}`; other escapes stay as
/// written.
pub fn unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('"') => out.push('"'),
            Some('\\') => out.push('\\'),
            Some('u') => match unicode_escape(chars.as_str()) {
                Some((n, ch)) => {
                    out.push(ch);
                    for _ in 0..n {
                        chars.next();
                    }
                }
                None => out.push_str("\\u"),
            },
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// The character of a `{hex}` escape body at the start of `rest` (after
/// `\u`) and how many characters it takes. Looks at no more than the
/// longest valid body, so decoding a string stays linear in its length.
fn unicode_escape(rest: &str) -> Option<(usize, char)> {
    let body = rest.strip_prefix('{')?;
    let hex_len = body.bytes().take(7).take_while(|b| b.is_ascii_hexdigit()).count();
    if hex_len == 0 || hex_len > 6 || body.as_bytes().get(hex_len) != Some(&b'}') {
        return None;
    }
    let value = u32::from_str_radix(body.get(..hex_len)?, 16).ok()?;
    Some((hex_len + 2, char::from_u32(value)?))
}

fn param_default(cx: Cx, p: Pair<Rule>) -> Option<Expr> {
    let span = cx.span(&p);
    let mut it = p.into_inner();
    let first = it.next()?;
    if first.as_rule() == Rule::neg {
        let inner = primary(cx, it.next()?)?;
        return Some(Expr {
            kind: ExprKind::Neg(Box::new(inner)),
            span,
        });
    }
    primary(cx, first)
}

fn expr(cx: Cx, p: Pair<Rule>) -> Option<Expr> {
    // value = arith ~ per_tail? ~ bound*
    let span = cx.span(&p);
    let mut it = p.into_inner();
    let mut e = arith(cx, it.next()?)?;
    let mut min = None;
    let mut max = None;
    for p in it {
        match p.as_rule() {
            Rule::per_tail => {
                let tail_span = cx.span(&p);
                let mut t = p.into_inner();
                let _kw = t.next()?;
                let mut per = None;
                let mut next = t.next()?;
                if next.as_rule() == Rule::per_qty {
                    per = Some(Box::new(primary(cx, next.into_inner().next()?)?));
                    next = t.next()?;
                }
                let unit_word = next.as_str().to_string();
                let unit = CountUnit::from_word(&unit_word)?;
                let unit_span = cx.span(&next);
                let of = match t.next() {
                    Some(o) => Some(path(cx, o.into_inner().nth(1)?)),
                    None => None,
                };
                e = Expr {
                    span: e.span.to(tail_span),
                    kind: ExprKind::Per {
                        amount: Box::new(e),
                        per,
                        unit,
                        unit_word,
                        unit_span,
                        of,
                    },
                };
            }
            Rule::bound => {
                let mut b = p.into_inner();
                let kw = b.next()?;
                let v = arith(cx, b.next()?)?;
                if kw.as_str() == "min" {
                    min = Some(Box::new(v));
                } else {
                    max = Some(Box::new(v));
                }
            }
            _ => return None,
        }
    }
    if min.is_some() || max.is_some() {
        e = Expr {
            kind: ExprKind::Bounded {
                expr: Box::new(e),
                min,
                max,
            },
            span,
        };
    }
    Some(e)
}

fn arith(cx: Cx, p: Pair<Rule>) -> Option<Expr> {
    binary_chain(cx, p, term)
}

fn term(cx: Cx, p: Pair<Rule>) -> Option<Expr> {
    binary_chain(cx, p, factor)
}

fn binary_chain(cx: Cx, p: Pair<Rule>, operand: fn(Cx, Pair<Rule>) -> Option<Expr>) -> Option<Expr> {
    let mut it = p.into_inner();
    let mut lhs = operand(cx, it.next()?)?;
    while let Some(op) = it.next() {
        let op = match op.as_str() {
            "+" => BinOp::Add,
            "-" => BinOp::Sub,
            "*" => BinOp::Mul,
            _ => BinOp::Div,
        };
        let rhs = operand(cx, it.next()?)?;
        lhs = Expr {
            span: lhs.span.to(rhs.span),
            kind: ExprKind::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            },
        };
    }
    Some(lhs)
}

fn factor(cx: Cx, p: Pair<Rule>) -> Option<Expr> {
    let span = cx.span(&p);
    let mut it = p.into_inner();
    let first = it.next()?;
    if first.as_rule() == Rule::neg {
        let inner = primary(cx, it.next()?)?;
        return Some(Expr {
            kind: ExprKind::Neg(Box::new(inner)),
            span,
        });
    }
    primary(cx, first)
}

fn primary(cx: Cx, p: Pair<Rule>) -> Option<Expr> {
    let span = cx.span(&p);
    let kind = match p.as_rule() {
        Rule::paren => ExprKind::Paren(Box::new(expr(cx, p.into_inner().next()?)?)),
        Rule::list => {
            let mut items = Vec::new();
            for v in p.into_inner() {
                items.push(expr(cx, v)?);
            }
            ExprKind::List(items)
        }
        Rule::string => ExprKind::String(string(cx, p).value),
        Rule::boolean => ExprKind::Bool(p.as_str() == "true"),
        Rule::quantity => {
            let text = p.as_str();
            let split = text
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(text.len());
            let (number, suffix) = text.split_at(split);
            ExprKind::Quantity {
                number: number.to_string(),
                suffix: suffix.to_string(),
            }
        }
        Rule::call => {
            let mut it = p.into_inner();
            let name = ident(cx, it.next()?);
            let mut args = Vec::new();
            for a in it {
                args.push(expr(cx, a)?);
            }
            ExprKind::Call { name, args }
        }
        Rule::count_ref => {
            let mut it = p.into_inner();
            let u = it.next()?;
            let unit = CountUnit::from_word(u.as_str())?;
            let of = path(cx, it.next()?.into_inner().nth(1)?);
            ExprKind::CountRef {
                unit,
                unit_span: cx.span(&u),
                of,
            }
        }
        Rule::object => {
            let mut it = p.into_inner();
            let path = path(cx, it.next()?);
            let body = block_body(cx, it.next()?)?;
            ExprKind::Object { path, body }
        }
        Rule::path => ExprKind::Path(path(cx, p)),
        _ => return None,
    };
    Some(Expr { kind, span })
}

/// Describe a grammar rule for "expected X" messages.
fn describe(rule: &Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::ident => "a name",
        Rule::path => "a name",
        Rule::value | Rule::arith | Rule::term | Rule::factor | Rule::param_default => "a value",
        Rule::string => "a string",
        Rule::quantity => "a number",
        Rule::body => "`{`",
        Rule::stmt | Rule::attr | Rule::nested_block | Rule::key => "a field",
        Rule::item | Rule::item_kind | Rule::kw_solution | Rule::kw_import | Rule::kw_param => {
            "an item (`solution`, `import`, `param`, `cluster`, `fleet`, `service`, `daemon`, `job`, `model`, …)"
        }
        Rule::kw_template => "`template`",
        Rule::on_clause | Rule::kw_on => "`on`",
        Rule::where_clause | Rule::kw_where => "`where`",
        Rule::from_clause | Rule::kw_from => "`from`",
        Rule::per_tail | Rule::kw_per => "`per`",
        Rule::of_clause | Rule::kw_of => "`of`",
        Rule::bound | Rule::bound_kw => "`min` or `max`",
        Rule::unit_word => "`gateways`, `sites`, `nodes` or `replicas`",
        Rule::add_op | Rule::mul_op => "an operator",
        Rule::cmp_op => "a comparison (`<`, `<=`, `>`, `>=`, `==`, `!=`)",
        Rule::sel_op => "`=` or `!=`",
        Rule::selector => "a label selector (`key = \"value\"`)",
        Rule::secret_from | Rule::secret_literal => "`from env|file|vault \"…\"`",
        Rule::kw_as => "`as`",
        Rule::kw_for => "`for`",
        Rule::EOI => "end of file",
        Rule::doc_comment | Rule::docs => "a doc comment",
        Rule::neg => "`-`",
        Rule::boolean => "`true` or `false`",
        Rule::list => "a list",
        Rule::call => "a call",
        _ => return None,
    })
}

/// The token found at `pos`, for "found X", and the byte range it covers.
/// Read with the lexer (`lexed` is `lex::tokens(text)`), as the parser reads
/// the text: whitespace and comments before it are skipped, a string is one
/// token however long, a path (`std.devices.rpi4`) is one name and a
/// character no token starts with is itself. At the end of the text it is
/// "end of file", an empty range at `pos`.
fn found_at(text: &str, lexed: &[Token], pos: usize) -> (String, Range<usize>) {
    // Tokens are in order: skip those that end at or before `pos`.
    let first = lexed.partition_point(|t| t.end <= pos);
    let mut rest = lexed
        .get(first..)
        .unwrap_or_default()
        .iter()
        .enumerate()
        .filter(|(_, t)| t.kind != TokenKind::Comment);
    let Some((k, t)) = rest.next() else {
        return ("end of file".to_string(), pos..pos);
    };
    match t.kind {
        TokenKind::String => return ("a string".to_string(), pos.max(t.start)..t.end),
        TokenKind::DocComment => return ("a doc comment".to_string(), pos.max(t.start)..t.end),
        _ => {}
    }
    if t.start < pos {
        // `pos` is inside a word, a number or an operator (`x == 1` stops
        // at the second `=`): what the parser sees there is what the text
        // from `pos` reads as. None of these can hold a comment or a string,
        // so reading from `pos` agrees with reading the whole text.
        let from = text.get(pos..).unwrap_or_default();
        let (found, range) = found_at(from, &lex::tokens(from), 0);
        return (found, pos + range.start..pos + range.end);
    }
    let mut end = t.end;
    if matches!(t.kind, TokenKind::Word | TokenKind::Number) {
        // `a.b.c` (or `1.2.3`), with nothing between the parts.
        let mut after = lexed.get(first + k + 1..).unwrap_or_default().iter();
        while let (Some(dot), Some(part)) = (after.next(), after.next()) {
            let joined = dot.start == end
                && text.get(dot.start..dot.end) == Some(".")
                && part.start == dot.end
                && matches!(part.kind, TokenKind::Word | TokenKind::Number);
            if !joined {
                break;
            }
            end = part.end;
        }
    }
    let word = text.get(t.start..end).unwrap_or_default();
    (format!("`{word}`"), t.start..end)
}

/// True when `pos` is in a workload's header, before its first `{`: an item
/// keyword has been read and no `{` yet. Braces and words inside comments
/// and strings do not count (`lexed` is `lex::tokens(text)`).
fn is_header_error(text: &str, lexed: &[Token], pos: usize) -> bool {
    let mut kind_seen = false;
    for t in lexed.iter().take_while(|t| t.end <= pos) {
        let word = text.get(t.start..t.end).unwrap_or_default();
        match t.kind {
            TokenKind::Punct if word == "{" => return false,
            TokenKind::Word if matches!(word, "service" | "daemon" | "job" | "cluster" | "fleet" | "model") => {
                kind_seen = true;
            }
            _ => {}
        }
    }
    kind_seen
}

pub(super) fn syntax_error(
    err: &pest::error::Error<Rule>,
    file: FileId,
    offset: usize,
    text: &str,
    tokens: &[String],
) -> Diagnostic {
    let pos = match err.location {
        pest::error::InputLocation::Pos(p) => p,
        pest::error::InputLocation::Span((s, _)) => s,
    };
    let lexed = lex::tokens(text);
    let (found, found_range) = found_at(text, &lexed, pos);
    // Literal tokens first: they say exactly what to type.
    let quoted: Vec<String> = tokens.iter().map(|t| format!("`{t}`")).collect();
    let mut expected: Vec<&str> = quoted.iter().map(|s| s.as_str()).collect();
    if let pest::error::ErrorVariant::ParsingError { positives, .. } = &err.variant {
        for r in positives {
            if let Some(d) = describe(r) {
                if !expected.contains(&d) {
                    expected.push(d);
                }
            }
        }
    }
    let expected_text = match expected.len() {
        0 => "something else".to_string(),
        1 => expected.first().copied().unwrap_or("").to_string(),
        n => {
            let (last, init) = expected.split_at(n - 1);
            format!("{} or {}", init.join(", "), last.first().copied().unwrap_or(""))
        }
    };
    let span = Span::new(file, offset + found_range.start, offset + found_range.end);
    let mut d = Diagnostic::new(Code::E0001, span, format!("expected {expected_text}, found {found}"))
        .label(format!("expected {expected_text}"));
    let before = text.get(..pos).map(|t| t.trim_end()).unwrap_or("");
    // An `=` where it does not belong, or an `==` (one token) that starts there.
    let equals = found == "`=`" || found == "`==`";
    if equals && before.ends_with('=') {
        d = d.help("set a field with one `=`; `==` only compares, in an `alert`");
    } else if equals && expected.contains(&"a value") {
        d = d.help("a value is missing before this `=`");
    } else if tokens.iter().any(|t| t == "=") && !equals && expected.contains(&"`{`") {
        d = d.help("write `name = value` for a field, or `name { … }` for a block");
    } else if is_header_error(text, &lexed, pos) {
        d = d.help(
            "an item's header is `KIND NAME [on CLUSTER_OR_FLEET] [where key = \"value\"] [from TEMPLATE] { … }`",
        );
    } else if found == "end of file" {
        d = d.help("the item ends too early; finish it or remove it");
    } else if expected.contains(&"a field") && expected.contains(&"`}`") {
        d = d.help("write `name = value`, a nested block, or close the block with `}`");
    } else {
        d = d.help(format!("write {expected_text} here"));
    }
    d
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing)]
    use super::{found_at, is_header_error};
    use crate::diag::{Code, Diagnostic};
    use crate::source::FileId;
    use crate::syntax::lex::tokens;

    fn found(text: &str, pos: usize) -> (String, std::ops::Range<usize>) {
        found_at(text, &tokens(text), pos)
    }

    /// Whether the error at the first `at` of `text` is in an item's header.
    fn header(text: &str, at: &str) -> bool {
        let pos = text.find(at).unwrap_or_else(|| panic!("{at:?} is not in {text:?}"));
        is_header_error(text, &tokens(text), pos)
    }

    /// The one syntax error of `text`.
    fn syntax_error(text: &str) -> Diagnostic {
        let (_, diags) = crate::syntax::parse(FileId(0), text);
        assert_eq!(diags.len(), 1, "{diags:#?}");
        let d = diags.into_iter().next().unwrap_or_else(|| unreachable!());
        assert_eq!(d.code, Code::E0001);
        d
    }

    const HEADER_HELP: &str =
        "an item's header is `KIND NAME [on CLUSTER_OR_FLEET] [where key = \"value\"] [from TEMPLATE] { … }`";

    #[test]
    fn a_brace_in_a_comment_does_not_end_the_header() {
        assert!(header(
            "service broker on plants // see {docs}\n  where zone oops { }",
            "oops"
        ));
        assert!(header("fleet f // {\n//// {\n  where 1 { }", "1"));
    }

    #[test]
    fn a_brace_in_a_string_does_not_end_the_header() {
        assert!(header("daemon d on plants where zone = \"{north}\" oops { }", "oops"));
        // The `{` that opens the body still ends it.
        assert!(!header("daemon d on plants where zone = \"{north}\" { x y }", "y"));
    }

    #[test]
    fn keywords_in_comments_and_strings_are_not_item_kinds() {
        assert!(!header("// the service below\nparam p int = 2", "int"));
        assert!(!header(
            "/// One knob for every fleet and model\nparam p int = 2",
            "int"
        ));
        assert!(!header("import \"service\" oops", "oops"));
        // A real kind keyword still counts, whatever follows in a comment.
        assert!(header("job j // no body yet\n oops", "oops"));
    }

    #[test]
    fn a_keyword_in_a_doc_comment_gets_no_header_help() {
        let d = syntax_error("/// Scales every service on the plants.\nparam p: int =\n");
        assert_eq!(d.message, "expected a value or `-`, found end of file");
        assert_eq!(
            d.help.as_deref(),
            Some("the item ends too early; finish it or remove it")
        );
        assert_eq!(d.primary.span.range(), 55..55);
    }

    #[test]
    fn a_brace_in_a_comment_keeps_the_header_help() {
        let d = syntax_error("service broker on plants // see {docs}\n  oops { }\n");
        assert_eq!(d.help.as_deref(), Some(HEADER_HELP));
    }

    #[test]
    fn found_a_string_covers_the_whole_string() {
        let text = "  image \"eclipse-mosquitto:2.0.18\" }";
        assert_eq!(found(text, 8), ("a string".to_string(), 8..34));
        // A `//` in a string is not a comment; an unclosed string ends at its line.
        assert_eq!(found("\"http://x\" y", 0), ("a string".to_string(), 0..10));
        assert_eq!(found("\"open\ny", 0), ("a string".to_string(), 0..5));
        let d = syntax_error("service s on c {\n  image \"x:1\"\n}\n");
        assert_eq!(d.message, "expected a name or `=`, found a string");
        assert_eq!(d.primary.span.range(), 25..30);
    }

    #[test]
    fn found_a_path_is_one_name_without_a_trailing_dot() {
        assert_eq!(
            found("std.devices.rpi4 }", 0),
            ("`std.devices.rpi4`".to_string(), 0..16)
        );
        assert_eq!(found("x = plants.north. }", 4), ("`plants.north`".to_string(), 4..16));
        assert_eq!(found("a . b", 0), ("`a`".to_string(), 0..1));
        assert_eq!(found("1.2.3 x", 0), ("`1.2.3`".to_string(), 0..5));
        assert_eq!(found("256Mi}", 0), ("`256Mi`".to_string(), 0..5));
    }

    #[test]
    fn found_end_of_file_after_whitespace_and_comments() {
        assert_eq!(found("x =", 3), ("end of file".to_string(), 3..3));
        assert_eq!(found("x = // nothing yet\n  ", 4), ("end of file".to_string(), 4..4));
        assert_eq!(found("x\n\n", 1), ("end of file".to_string(), 1..1));
    }

    #[test]
    fn found_skips_whitespace_and_comments_to_the_next_token() {
        let text = "x = \n  // { \"s\"\n  runtime = k3s";
        assert_eq!(found(text, 3), ("`runtime`".to_string(), 18..25));
        // A doc comment is not skipped: the grammar reads it.
        assert_eq!(found("x\n/// doc\n}", 1), ("a doc comment".to_string(), 2..9));
    }

    #[test]
    fn found_non_ascii_characters_whole() {
        assert_eq!(found("café.größe }", 0), ("`café.größe`".to_string(), 0..13));
        assert_eq!(found("€ x", 0), ("`€`".to_string(), 0..3));
        // Not an ASCII digit, so not a number: one character the grammar has no token for.
        assert_eq!(found("٣٤ }", 0), ("`٣`".to_string(), 0..2));
        // A byte order mark is whitespace to the grammar.
        assert_eq!(found("\u{feff}}", 0), ("`}`".to_string(), 3..4));
        // Inside a character: no panic.
        assert_eq!(found("é", 1).0, "end of file");
    }

    #[test]
    fn found_inside_or_at_an_operator() {
        // `cpu == 1` stops at the second `=`.
        assert_eq!(found("cpu == 1", 5), ("`=`".to_string(), 5..6));
        assert_eq!(found("x = == 1", 4), ("`==`".to_string(), 4..6));
        let d = syntax_error("service s on c { cpu == 1 }\n");
        assert_eq!(d.message, "expected a value or `(`, found `=`");
        assert_eq!(
            d.help.as_deref(),
            Some("set a field with one `=`; `==` only compares, in an `alert`")
        );
        let d = syntax_error("service s on c { cpu = == 1 }\n");
        assert_eq!(d.message, "expected a value or `(`, found `==`");
        assert_eq!(
            d.help.as_deref(),
            Some("set a field with one `=`; `==` only compares, in an `alert`")
        );
    }
}
