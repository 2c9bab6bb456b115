//! The canonical formatter behind `iotc fmt [--check]`.
//!
//! The file is parsed and printed back from the syntax tree; ordinary `//`
//! comments, which the grammar drops, are recovered from the source text in
//! the gaps between nodes. A file with syntax errors is never formatted.
//!
//! The rules:
//!
//! - Two spaces of indentation, one statement per line, `key = value` with
//!   single spaces around `=` (no column alignment: it makes diffs noisy).
//! - Top-level item bodies (`solution`, `cluster`, `service`, …) are always
//!   printed on several lines. An empty body without comments is `{}`.
//! - Every other body (nested blocks such as `env { … }` or `site a { … }`,
//!   objects such as `aws { region = "eu-west-1" }` and `param` bodies) stays
//!   on one line, `{ a = 1  b = 2 }` with two spaces between statements,
//!   when it was written on one line and the resulting line is at most
//!   [`MAX_WIDTH`] characters wide; otherwise it is printed on several lines.
//!   Lists follow the same rule: a list written over several lines (or too
//!   wide for one) gets one element per line with a trailing comma.
//! - Top-level items are separated by one blank line, except that
//!   consecutive `import`s and consecutive `param`s stay together unless the
//!   source had a blank line between them. Elsewhere, one blank line is kept
//!   where the source had one or more; blank lines right after `{` and
//!   before `}` are dropped.
//! - Expressions get canonical spacing (`a + b`, `min(a, b)`, `[a, b]`,
//!   `1 per 10 gateways of plants min 2 max 40`); quantities, unit words
//!   (`gateway` or `gateways`) and parentheses stay as written; strings are
//!   re-escaped from their value; bounds are printed `min` before `max`;
//!   `where` selectors are joined with `, ` (also when written with `and`);
//!   one-line lists lose a trailing comma.
//! - Comments: a comment on its own line stays on its own line, indented to
//!   the current level; a comment after code stays after that code, two
//!   spaces before `//`. Doc comments are printed as `/// text`. A comment in
//!   a place the printer does not handle (inside an item header or an
//!   expression other than a multi-line list) makes the printer keep that
//!   statement or item exactly as written, only re-indented.
//! - The output has no trailing whitespace and ends with exactly one newline
//!   (an empty file stays empty). Formatting is idempotent.

use crate::diag::Diagnostic;
use crate::source::{FileId, Span};
use crate::syntax::ast::{
    Block, Body, Expr, ExprKind, ImportTarget, Item, ItemKind, Key, Param, SecretSource, Selector, Stmt, StmtKind,
};
use crate::syntax::lex::{Lexer, TokenKind};
use crate::syntax::parse;

/// The widest line (in characters, indentation included, trailing comment
/// excluded) that a one-line body or list may produce before it is split.
pub const MAX_WIDTH: usize = 100;

const INDENT: &str = "  ";

/// Format a whole file. Err(diagnostics) when the file has syntax errors
/// (never formats broken input); their spans refer to `text` as
/// [`FileId`]`(0)`.
pub fn format_source(text: &str) -> Result<String, Vec<Diagnostic>> {
    // A lone `\r` ends a line (old Mac line endings); as `\n` it is the same
    // byte, so spans stay valid, and the output has `\n` line ends anyway.
    let text = &*crate::source::lone_cr_as_lf(text);
    let (unit, diags) = parse(FileId(0), text);
    if !diags.is_empty() {
        return Err(diags);
    }
    let out = print(text, &unit.items);
    // Safety net: never hand back text that no longer parses into the same
    // number of items. Should the printer ever get something wrong, the file
    // is left as it was and the caller told (so `fmt --check` fails).
    let (again, diags_again) = parse(FileId(0), &out);
    if !diags_again.is_empty() || again.items.len() != unit.items.len() {
        return Err(vec![Diagnostic::new(
            crate::diag::Code::E0001,
            Span::new(FileId(0), 0, 0),
            "the formatter could not print this file so that it reads back the same",
        )
        .label("left as it is")
        .help("this is a bug in `iotc fmt`; please report it with the file")]);
    }
    Ok(out)
}

/// Print parsed `items` of `text` canonically, with `text`'s comments.
fn print(text: &str, items: &[std::sync::Arc<Item>]) -> String {
    Formatter::new(text).file(items)
}

// ------------------------------------------------------------------ lexing

/// A `//` comment (or a `///` doc comment) in the source.
#[derive(Debug, Clone, Copy)]
struct Comment {
    start: usize,
    end: usize,
    doc: bool,
}

/// Which bytes of the source are code (not whitespace, not comments), and
/// where the comments are, as the lexer reads them (the one scanner the
/// item splitter and the language server use too). Strings are code, so
/// `//` inside one is not a comment.
fn lex(text: &str) -> (Vec<bool>, Vec<Comment>) {
    let mut code = vec![false; text.len()];
    let mut comments = Vec::new();
    for t in Lexer::new(text) {
        if t.is_comment() {
            comments.push(Comment {
                start: t.start,
                end: t.end,
                doc: t.kind == TokenKind::DocComment,
            });
        } else {
            for x in code.iter_mut().take(t.end).skip(t.start) {
                *x = true;
            }
        }
    }
    (code, comments)
}

/// The text of a doc comment as the parser keeps it: after `///`, one
/// leading space removed, trailing whitespace removed.
fn doc_text(comment: &str) -> String {
    let rest = comment.strip_prefix("///").unwrap_or(comment);
    rest.strip_prefix(' ').unwrap_or(rest).trim_end().to_string()
}

fn doc_line(text: &str) -> String {
    if text.is_empty() {
        "///".to_string()
    } else {
        format!("/// {text}")
    }
}

fn indent(level: usize) -> String {
    INDENT.repeat(level)
}

fn too_wide(level: usize, line: &str) -> bool {
    level * INDENT.len() + line.chars().count() > MAX_WIDTH
}

/// A string literal for `value`, escaping what the grammar needs escaped.
fn quote(value: &str) -> String {
    let mut s = String::with_capacity(value.len() + 2);
    s.push('"');
    for c in value.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            c if c.is_control() => s.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

fn key_text(key: &Key) -> String {
    if key.quoted {
        quote(&key.name)
    } else {
        key.name.clone()
    }
}

// ------------------------------------------------------------------- lines

/// Printed text as lines. The first line is relative (the caller puts it
/// after whatever is already on its line); the others carry their own
/// indentation.
#[derive(Debug, Clone)]
struct Lines(Vec<String>);

impl Lines {
    fn new(s: impl Into<String>) -> Lines {
        Lines(vec![s.into()])
    }

    /// Append text to the last line.
    fn push(mut self, s: &str) -> Lines {
        match self.0.last_mut() {
            Some(last) => last.push_str(s),
            None => self.0.push(s.to_string()),
        }
        self
    }

    /// Continue the last line with `other`'s first line, then its others.
    fn cat(mut self, other: Lines) -> Lines {
        let mut it = other.0.into_iter();
        if let Some(first) = it.next() {
            self = self.push(&first);
        }
        self.0.extend(it);
        self
    }

    fn single(&self) -> Option<&str> {
        match self.0.as_slice() {
            [one] => Some(one.as_str()),
            _ => None,
        }
    }
}

/// What lies between two nodes besides whitespace.
#[derive(Debug, Clone, PartialEq)]
enum Trivia {
    /// A comment after code on the same line.
    Trailing(String),
    /// One or more empty lines.
    Blank,
    /// A comment on its own line.
    Comment(String),
    /// A `///` line (text as the parser keeps it).
    Doc(String),
    /// Code the printer did not expect in a gap; kept as its own line.
    Code(String),
}

/// A sequence of lines at one indentation level: a body, a multi-line list
/// or the whole file.
struct Out {
    lines: Vec<String>,
    indent: String,
    /// Whether anything was printed since the opening line.
    content: bool,
    pending_blank: bool,
}

impl Out {
    fn new(opening: Option<&str>, level: usize) -> Out {
        Out {
            lines: opening.map(|s| vec![s.to_string()]).unwrap_or_default(),
            indent: indent(level),
            content: false,
            pending_blank: false,
        }
    }

    fn line(&mut self, s: &str) {
        if self.pending_blank && self.content {
            self.lines.push(String::new());
        }
        self.pending_blank = false;
        self.content = true;
        self.lines.push(format!("{}{}", self.indent, s));
    }

    fn trailing(&mut self, comment: &str) {
        match self.lines.last_mut() {
            Some(last) if !last.is_empty() => {
                last.push_str("  ");
                last.push_str(comment);
            }
            _ => self.line(comment),
        }
    }

    fn node(&mut self, lines: Lines) {
        let mut it = lines.0.into_iter();
        if let Some(first) = it.next() {
            self.line(&first);
        }
        self.lines.extend(it);
    }

    fn events<'d>(&mut self, events: Vec<Trivia>, docs: &mut impl Iterator<Item = &'d String>) {
        for ev in events {
            match ev {
                Trivia::Trailing(c) => self.trailing(&c),
                Trivia::Blank => self.pending_blank = true,
                Trivia::Comment(c) | Trivia::Code(c) => self.line(&c),
                Trivia::Doc(d) => {
                    let text = docs.next().cloned().unwrap_or(d);
                    self.line(&doc_line(&text));
                }
            }
        }
    }

    fn finish(mut self, closing: Option<String>) -> Vec<String> {
        if let Some(c) = closing {
            self.lines.push(c);
        }
        self.lines
    }
}

/// Whether two neighbouring items need a blank line between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    Import,
    Param,
    Other,
}

fn group(item: &Item) -> Group {
    match item.kind {
        ItemKind::Import(_) => Group::Import,
        ItemKind::Param(_) => Group::Param,
        _ => Group::Other,
    }
}

/// Make sure the gap starts (after a trailing comment) with a blank line.
fn ensure_blank(events: &mut Vec<Trivia>) {
    let at = usize::from(matches!(events.first(), Some(Trivia::Trailing(_))));
    if events.get(at) != Some(&Trivia::Blank) {
        events.insert(at.min(events.len()), Trivia::Blank);
    }
}

// --------------------------------------------------------------- printing

struct Formatter<'a> {
    text: &'a str,
    code: Vec<bool>,
    comments: Vec<Comment>,
    emitted: Vec<bool>,
    /// Count of unexpected things met in gaps; a node whose printing raised
    /// it is kept verbatim.
    failures: usize,
}

impl<'a> Formatter<'a> {
    fn new(text: &'a str) -> Formatter<'a> {
        let (code, comments) = lex(text);
        let emitted = vec![false; comments.len()];
        Formatter {
            text,
            code,
            comments,
            emitted,
            failures: 0,
        }
    }

    fn slice(&self, a: usize, b: usize) -> &'a str {
        self.text.get(a..b).unwrap_or("")
    }

    fn is_code(&self, i: usize) -> bool {
        self.code.get(i).copied().unwrap_or(false)
    }

    /// The first code byte at or after `from`.
    fn code_start(&self, from: usize) -> usize {
        (from..self.code.len()).find(|&i| self.is_code(i)).unwrap_or(from)
    }

    /// The end of the last code byte in `start..end` (spans of some nodes
    /// include the whitespace and comments after them).
    fn code_end(&self, start: usize, end: usize) -> usize {
        (start..end.min(self.code.len()))
            .rev()
            .find(|&i| self.is_code(i))
            .map_or(end, |i| i + 1)
    }

    fn has_newline(&self, a: usize, b: usize) -> bool {
        self.slice(a, b).contains('\n')
    }

    /// Indices of the ordinary comments starting in `a..b`.
    fn comments_in(&self, a: usize, b: usize) -> std::ops::Range<usize> {
        let lo = self.comments.partition_point(|c| c.start < a);
        let hi = self.comments.partition_point(|c| c.start < b);
        lo..hi.max(lo)
    }

    fn all_emitted(&self, a: usize, b: usize) -> bool {
        self.comments_in(a, b).all(|i| {
            let doc = self.comments.get(i).is_some_and(|c| c.doc);
            doc || self.emitted.get(i).copied().unwrap_or(false)
        })
    }

    fn mark_all(&mut self, a: usize, b: usize) {
        for i in self.comments_in(a, b) {
            if let Some(e) = self.emitted.get_mut(i) {
                *e = true;
            }
        }
    }

    /// The trivia in `a..b`. `after_code`: whether code precedes `a` on its
    /// line (so a comment right there trails it). `commas`: whether list
    /// separators may appear.
    fn gap(&mut self, a: usize, b: usize, after_code: bool, commas: bool) -> Vec<Trivia> {
        let mut events = Vec::new();
        let mut newlines = 0usize;
        let mut line_code = after_code;
        let mut ci = self.comments.partition_point(|c| c.start < a);
        let mut i = a;
        while i < b {
            if let Some(c) = self.comments.get(ci).copied().filter(|c| c.start == i) {
                let text = self.slice(c.start, c.end).trim_end().to_string();
                if c.doc {
                    if newlines >= 2 {
                        events.push(Trivia::Blank);
                    }
                    events.push(Trivia::Doc(doc_text(&text)));
                } else {
                    if line_code {
                        events.push(Trivia::Trailing(text));
                    } else {
                        if newlines >= 2 {
                            events.push(Trivia::Blank);
                        }
                        events.push(Trivia::Comment(text));
                    }
                    if let Some(e) = self.emitted.get_mut(ci) {
                        *e = true;
                    }
                }
                newlines = 0;
                line_code = true;
                i = c.end.max(i + 1);
                ci += 1;
                continue;
            }
            let byte = self.text.as_bytes().get(i).copied().unwrap_or(b' ');
            if byte == b'\n' {
                newlines += 1;
                line_code = false;
                i += 1;
            } else if self.is_code(i) {
                if commas && byte == b',' {
                    line_code = true;
                    i += 1;
                    continue;
                }
                let s = i;
                while i < b && self.is_code(i) {
                    i += 1;
                }
                self.failures += 1;
                if newlines >= 2 {
                    events.push(Trivia::Blank);
                }
                events.push(Trivia::Code(self.slice(s, i).trim().to_string()));
                newlines = 0;
                line_code = true;
            } else {
                i += 1;
            }
        }
        if newlines >= 2 {
            events.push(Trivia::Blank);
        }
        events
    }

    /// The source of `start..end` as lines, re-indented to `level`.
    fn verbatim(&self, start: usize, end: usize, level: usize) -> Lines {
        let line_start = self.text.get(..start).and_then(|s| s.rfind('\n')).map_or(0, |k| k + 1);
        let base = self
            .slice(line_start, start)
            .bytes()
            .take_while(|b| *b == b' ' || *b == b'\t')
            .count();
        let ind = indent(level);
        let mut lines = Vec::new();
        for (k, line) in self.slice(start, end).split('\n').enumerate() {
            let line = line.trim_end();
            if k == 0 {
                lines.push(line.to_string());
            } else if line.is_empty() {
                lines.push(String::new());
            } else {
                let mut rest = line;
                for _ in 0..base {
                    match rest.strip_prefix([' ', '\t']) {
                        Some(r) => rest = r,
                        None => break,
                    }
                }
                lines.push(format!("{ind}{rest}"));
            }
        }
        Lines(lines)
    }

    // ----------------------------------------------------------- file

    fn file(&mut self, items: &[std::sync::Arc<Item>]) -> String {
        let mut out = Out::new(None, 0);
        let mut prev = 0;
        let mut after_code = false;
        let mut prev_group: Option<Group> = None;
        for item in items {
            let start = self.code_start(item.span.start as usize);
            let mut events = self.gap(prev, start, after_code, false);
            let g = group(item);
            if let Some(pg) = prev_group {
                if pg != g || g == Group::Other {
                    ensure_blank(&mut events);
                }
            }
            let mut docs = item.docs.iter();
            out.events(events, &mut docs);
            for d in docs {
                out.line(&doc_line(d));
            }
            let lines = self.item_checked(item, start);
            out.node(lines);
            prev = self.code_end(start, item.span.end as usize);
            after_code = true;
            prev_group = Some(g);
        }
        let events = self.gap(prev, self.text.len(), after_code, false);
        out.events(events, &mut std::iter::empty());
        let lines = out.finish(None);
        let mut s = lines.join("\n");
        if !s.is_empty() {
            s.push('\n');
        }
        s
    }

    fn item_checked(&mut self, item: &Item, start: usize) -> Lines {
        let end = self.code_end(start, item.span.end as usize);
        let failures = self.failures;
        let mut lines = self.item(item, false);
        if matches!(item.kind, ItemKind::Param(_)) && lines.single().is_some_and(|l| too_wide(0, l)) {
            lines = self.item(item, true);
        }
        if self.failures != failures || !self.all_emitted(start, end) {
            self.failures = failures;
            self.mark_all(start, end);
            return self.verbatim(start, end, 0);
        }
        lines
    }

    fn item(&mut self, item: &Item, expand: bool) -> Lines {
        match &item.kind {
            ItemKind::Solution(b) | ItemKind::Block(b) => {
                let head = self.block_header(b);
                Lines::new(head).cat(self.body(&b.body, 0, false, true))
            }
            ItemKind::Import(i) => match &i.target {
                ImportTarget::Module(p) => Lines::new(format!("import {}", p.text())),
                ImportTarget::File(s) => Lines::new(format!("import {}", quote(&s.value))),
            },
            ItemKind::Param(p) => self.param(p, expand),
        }
    }

    fn block_header(&mut self, b: &Block) -> String {
        let mut h = String::new();
        if b.template.is_some() {
            h.push_str("template ");
        }
        h.push_str(b.kind.keyword());
        h.push(' ');
        h.push_str(&b.name.name);
        if let Some(on) = &b.on {
            h.push_str(" on ");
            h.push_str(&on.text());
        }
        h.push_str(&self.selectors(&b.selectors));
        if let Some(from) = &b.from {
            h.push_str(" from ");
            h.push_str(&from.text());
        }
        h.push(' ');
        h
    }

    fn selectors(&mut self, sels: &[Selector]) -> String {
        let mut parts = Vec::new();
        for s in sels {
            let op = if s.negated { "!=" } else { "=" };
            let value = self.expr(&s.value, 0, false).0.join(" ");
            parts.push(format!("{} {op} {value}", key_text(&s.key)));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!(" where {}", parts.join(", "))
        }
    }

    fn param(&mut self, p: &Param, expand: bool) -> Lines {
        let mut l = Lines::new(format!("param {}: {}", p.name.name, p.ty.name));
        if let Some(d) = &p.default {
            l = l.push(" = ").cat(self.expr(d, 0, false));
        }
        if let Some(b) = &p.body {
            l = l.push(" ").cat(self.body(b, 0, expand, false));
        }
        l
    }

    // ----------------------------------------------------------- bodies

    /// A body `{ … }` whose opening brace sits on a line at `level`.
    /// `always_multi`: item bodies are never put on one line.
    fn body(&mut self, body: &Body, level: usize, expand: bool, always_multi: bool) -> Lines {
        let open = body.span.start as usize;
        let close = (body.span.end as usize).saturating_sub(1);
        if body.stmts.is_empty() {
            let events = self.gap(open + 1, close, true, false);
            if events.iter().all(|e| *e == Trivia::Blank) {
                return Lines::new("{}");
            }
            return self.body_block(body, level);
        }
        if !always_multi && !expand && !self.has_newline(open, close) {
            let mut parts = Vec::new();
            for s in &body.stmts {
                let l = self.stmt(s, level, false);
                match l.single() {
                    Some(one) => parts.push(one.to_string()),
                    None => return self.body_block(body, level),
                }
            }
            return Lines::new(format!("{{ {} }}", parts.join("  ")));
        }
        self.body_block(body, level)
    }

    fn body_block(&mut self, body: &Body, level: usize) -> Lines {
        let open = body.span.start as usize;
        let close = (body.span.end as usize).saturating_sub(1);
        let mut out = Out::new(Some("{"), level + 1);
        let mut prev = open + 1;
        for s in &body.stmts {
            let start = self.code_start(s.span.start as usize);
            let events = self.gap(prev, start, true, false);
            let mut docs = s.docs.iter();
            out.events(events, &mut docs);
            for d in docs {
                out.line(&doc_line(d));
            }
            let lines = self.stmt_checked(s, start, level + 1);
            out.node(lines);
            prev = self.code_end(start, s.span.end as usize);
        }
        let events = self.gap(prev, close, true, false);
        out.events(events, &mut std::iter::empty());
        Lines(out.finish(Some(format!("{}}}", indent(level)))))
    }

    fn stmt_checked(&mut self, s: &Stmt, start: usize, level: usize) -> Lines {
        let end = self.code_end(start, s.span.end as usize);
        let failures = self.failures;
        let mut lines = self.stmt(s, level, false);
        if lines.single().is_some_and(|l| too_wide(level, l)) {
            lines = self.stmt(s, level, true);
        }
        if self.failures != failures || !self.all_emitted(start, end) {
            self.failures = failures;
            self.mark_all(start, end);
            return self.verbatim(start, end, level);
        }
        lines
    }

    /// A statement starting on a line at `level`. `expand`: split this
    /// statement's own bodies and lists over several lines.
    fn stmt(&mut self, s: &Stmt, level: usize, expand: bool) -> Lines {
        match &s.kind {
            StmtKind::Attr(a) => Lines::new(format!("{} = ", key_text(&a.key))).cat(self.expr(&a.value, level, expand)),
            StmtKind::Block(b) => {
                let mut h = b.kind.name.clone();
                if let Some(n) = &b.name {
                    h.push(' ');
                    h.push_str(&n.name);
                }
                if let Some(on) = &b.on {
                    h.push_str(" on ");
                    h.push_str(&on.text());
                }
                h.push_str(&self.selectors(&b.selectors));
                h.push(' ');
                Lines::new(h).cat(self.body(&b.body, level, expand, false))
            }
            StmtKind::Secret(sec) => match &sec.source {
                SecretSource::From { kind, reference } => Lines::new(format!(
                    "secret {} from {} {}",
                    sec.name.name,
                    kind.name,
                    quote(&reference.value)
                )),
                SecretSource::Literal(e) => {
                    Lines::new(format!("secret {} = ", sec.name.name)).cat(self.expr(e, level, expand))
                }
            },
            StmtKind::Device(d) => {
                let mut t = format!("device {}", quote(&d.host.value));
                if let Some(c) = &d.container {
                    t.push_str(" as ");
                    t.push_str(&quote(&c.value));
                }
                Lines::new(t)
            }
            StmtKind::Alert(a) => {
                let mut l = Lines::new(format!("alert {} {} ", a.metric.name, a.op.as_str())).cat(self.expr(
                    &a.threshold,
                    level,
                    expand,
                ));
                if let Some(d) = &a.duration {
                    l = l.push(" for ").cat(self.expr(d, level, expand));
                }
                l
            }
        }
    }

    // ------------------------------------------------------ expressions

    /// An expression starting on a line at `level`.
    fn expr(&mut self, e: &Expr, level: usize, expand: bool) -> Lines {
        match &e.kind {
            ExprKind::Quantity { number, suffix } => Lines::new(format!("{number}{suffix}")),
            ExprKind::String(s) => Lines::new(quote(s)),
            ExprKind::Bool(b) => Lines::new(if *b { "true" } else { "false" }),
            ExprKind::Path(p) => Lines::new(p.text()),
            ExprKind::List(items) => self.list(e.span, items, level, expand),
            ExprKind::Object { path, body } => {
                Lines::new(format!("{} ", path.text())).cat(self.body(body, level, expand, false))
            }
            ExprKind::Paren(inner) => Lines::new("(").cat(self.expr(inner, level, expand)).push(")"),
            ExprKind::Neg(inner) => Lines::new("-").cat(self.expr(inner, level, expand)),
            ExprKind::Binary { op, lhs, rhs } => self
                .expr(lhs, level, expand)
                .push(&format!(" {} ", op.as_str()))
                .cat(self.expr(rhs, level, expand)),
            ExprKind::Call { name, args } => {
                let mut l = Lines::new(format!("{}(", name.name));
                for (k, a) in args.iter().enumerate() {
                    if k > 0 {
                        l = l.push(", ");
                    }
                    l = l.cat(self.expr(a, level, expand));
                }
                l.push(")")
            }
            ExprKind::CountRef { unit, unit_span, of } => {
                let word = self.word_at(*unit_span).unwrap_or_else(|| unit.plural().to_string());
                Lines::new(format!("{word} of {}", of.text()))
            }
            ExprKind::Per {
                amount,
                per,
                unit,
                unit_word,
                of,
                ..
            } => {
                let mut l = self.expr(amount, level, expand).push(" per ");
                if let Some(p) = per {
                    l = l.cat(self.expr(p, level, expand)).push(" ");
                }
                let word = if unit_word.is_empty() {
                    unit.plural()
                } else {
                    unit_word.as_str()
                };
                l = l.push(word);
                if let Some(of) = of {
                    l = l.push(" of ").push(&of.text());
                }
                l
            }
            ExprKind::Bounded { expr, min, max } => {
                let mut l = self.expr(expr, level, expand);
                if let Some(m) = min {
                    l = l.push(" min ").cat(self.expr(m, level, expand));
                }
                if let Some(m) = max {
                    l = l.push(" max ").cat(self.expr(m, level, expand));
                }
                l
            }
        }
    }

    fn word_at(&self, span: Span) -> Option<String> {
        let w = self.text.get(span.range())?;
        (!w.is_empty() && w.chars().all(|c| c.is_alphabetic())).then(|| w.to_string())
    }

    fn list(&mut self, span: Span, items: &[Expr], level: usize, expand: bool) -> Lines {
        let open = span.start as usize;
        let close = (span.end as usize).saturating_sub(1);
        let multi = expand || self.has_newline(open, close);
        if items.is_empty() {
            let events = self.gap(open + 1, close, true, true);
            if events.iter().all(|e| *e == Trivia::Blank) {
                return Lines::new("[]");
            }
        } else if !multi {
            let mut l = Lines::new("[");
            for (k, it) in items.iter().enumerate() {
                if k > 0 {
                    l = l.push(", ");
                }
                l = l.cat(self.expr(it, level, false));
            }
            return l.push("]");
        }
        let mut out = Out::new(Some("["), level + 1);
        let mut prev = open + 1;
        for it in items {
            let start = self.code_start(it.span.start as usize);
            let events = self.gap(prev, start, true, true);
            out.events(events, &mut std::iter::empty());
            let lines = self.expr(it, level + 1, false).push(",");
            out.node(lines);
            prev = self.code_end(start, it.span.end as usize);
        }
        let events = self.gap(prev, close, true, true);
        out.events(events, &mut std::iter::empty());
        Lines(out.finish(Some(format!("{}]", indent(level)))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::parse;

    /// Every construct of the language, in canonical form, with comments
    /// in all the places the printer handles.
    const CANONICAL: &str = r#"// File header comment.
// Second line.

/// The demo solution.
solution demo {
  version = "1.0.0"  // trailing
  labels {
    team = "ops"
    "acme.example/cost-center" = "mfg-4711"
  }
}

import std.devices  // edge profiles
import std.services
import "./common.iot"

/// The knob.
///
/// Second doc paragraph.
param factor: int = 2 { min = 1  max = 20  label = "Scale" }
param offset: int = -1
param größe: string = "Grüße \"quoted\" \\ back\nslash"

param enabled: bool = true {
  // Shown in the UI.
  label = "Enabled"
}

// ---------------------------------------------------------------- cloud

cluster cloud {  // the cloud tier
  provider = aws { region = "eu-west-1" }
  distribution = eks
  nodes = 1 per 8 gateways of plants min 3

  pool gpu {
    node = std.cloud.g5_xlarge
    count = 2 per site of plants max 4
  }
  // Nothing after this.
}

/// Edge.
fleet plants {
  device = std.devices.rpi5
  runtime = k3s
  labels { tier = "edge"  "topology.kubernetes.io/zone" = "a" }

  // Plant A.
  site plant_a {
    gateways = 4 * factor  // four per unit
    hosts = "gw{n}.plant-a.acme.internal"
  }
  site café {
    gateways = (factor + 1) / 2 - -1
    region = "Zürich, CH"
    labels { camera = "yes" }
  }
}

/// Ingest.
service ingest on cloud {
  image = "ghcr.io/acme/ingest:2.3.1"
  replicas = 1 per 10 gateways of plants min 2 max 40
  cpu = 500m  // why
  memory = 256Mi
  talks_to = [broker, ingest]
  env {
    MQTT_URL = "mqtt://broker:1883"
    QUOTE = "say \"hi\"\t"
  }
  /// Documented secret.
  secret DB_PASSWORD from env "FACTORY_DB_PASSWORD"
  secret API_KEY = "literal"
  device "/dev/video0" as "/dev/cam"
  volume spool { mount = "/var/spool"  host_path = "/var/lib/spool" }
  autoscale { min = 2  max = 10  cpu = 70% }
  rollout { max_unavailable = 0  max_surge = 1 }
}

daemon collector on plants where camera = "yes", line != "paint" {
  image = "x"
  device "/dev/video0"
  replicas = gateways of plants
}

job upload on plants {
  schedule = "7,37 * * * *"
  deadline = 20m
  count = min(gateways of plants, 4) + max(1, 2 * factor)
  list = [
    "a",  // first
    // own line
    "b",
  ]
  empty = []
}

template service base on cloud {
  image = "t"
}

service derived on cloud from base {}

model detector {
  train on cloud {
    gpu = 1
    schedule = "0 3 * * 0"
  }
  serve on plants where camera = "yes" {
    replicas = 1 per gateway
  }
  monitor {
    alert accuracy < 0.92 for 1h
    alert latency_p95_ms >= 150
  }
  rollout { max_unavailable = 0 }
}
// Trailing file comment.
"#;

    /// `CANONICAL` written carelessly: odd spacing, tabs, trailing spaces,
    /// extra blank lines, one-line item bodies, `and` in `where`, bounds in
    /// the other order, trailing commas.
    fn messy() -> String {
        r#"

// File header comment.
// Second line.



///The demo solution.
solution   demo{
      version="1.0.0"    // trailing
  labels{
  team   =   "ops"
    "acme.example/cost-center"="mfg-4711"

  }
}
import std.devices // edge profiles
import   std.services
import"./common.iot"
/// The knob.
///
/// Second doc paragraph.<SP><SP>
param factor :int= 2{min=1 max=20 label="Scale"}
param offset: int = - 1
param größe: string = "Grüße \"quoted\" \\ back\nslash"

param enabled: bool = true {
      // Shown in the UI.
  label = "Enabled" }



// ---------------------------------------------------------------- cloud


cluster cloud { // the cloud tier
<TAB>provider = aws {region="eu-west-1"}
<TAB>distribution = eks
<TAB>nodes = 1  per 8 gateways   of plants  min 3


<TAB>pool gpu { node = std.cloud.g5_xlarge
<TAB>  count = 2 per site of plants max 4 }
<TAB>// Nothing after this.

}
/// Edge.
fleet plants { device = std.devices.rpi5  runtime = k3s
  labels {tier="edge" "topology.kubernetes.io/zone"="a"}

  // Plant A.
  site plant_a {
    gateways = 4*factor // four per unit
    hosts = "gw{n}.plant-a.acme.internal" }
  site café {
    gateways = ( factor+1 )/2 - -1
    region = "Zürich, CH"
    labels { camera = "yes" } } }
/// Ingest.
service ingest on cloud {
  image = "ghcr.io/acme/ingest:2.3.1"
  replicas = 1 per 10 gateways of plants max 40 min 2
  cpu = 500m        // why
  memory = 256Mi
  talks_to = [broker,ingest,]
  env {
    MQTT_URL = "mqtt://broker:1883"
    QUOTE = "say \"hi\"\t"
  }
  ///Documented secret.
  secret DB_PASSWORD from env "FACTORY_DB_PASSWORD"
  secret API_KEY = "literal"
  device "/dev/video0" as "/dev/cam"
  volume spool {mount = "/var/spool" host_path = "/var/lib/spool"}
  autoscale { min = 2 max = 10 cpu = 70% }
  rollout { max_unavailable = 0  max_surge = 1 }
}
daemon collector on plants where camera="yes" and line!="paint" { image = "x"  device "/dev/video0"
  replicas = gateways of plants }
job upload on plants {
  schedule = "7,37 * * * *"
  deadline = 20m
  count = min( gateways of plants , 4 )+max(1,2*factor)
  list = ["a", // first
    // own line
    "b"]
  empty = [ ]
}
template service base on cloud { image = "t" }
service derived on cloud from base {

}
model detector {
  train on cloud {
    gpu = 1
    schedule = "0 3 * * 0"
  }
  serve on plants where camera = "yes" {
    replicas = 1 per gateway
  }
  monitor {
    alert accuracy<0.92 for 1h
    alert latency_p95_ms >= 150
  }
  rollout { max_unavailable = 0 }
}
// Trailing file comment.
"#
        .replace("<TAB>", "\t")
        .replace("<SP>", " ")
    }

    fn fmt(text: &str) -> String {
        match format_source(text) {
            Ok(s) => s,
            Err(d) => panic!("unexpected syntax errors in\n{text}\n{d:#?}"),
        }
    }

    /// The ordinary comments of a file, trimmed.
    fn comment_texts(text: &str) -> Vec<String> {
        let (_, comments) = lex(text);
        comments
            .iter()
            .filter(|c| !c.doc)
            .map(|c| text[c.start..c.end].trim_end().to_string())
            .collect()
    }

    /// The syntax tree without byte positions, for comparing meaning.
    fn shape(text: &str) -> String {
        let (unit, diags) = parse(FileId(0), text);
        assert!(diags.is_empty(), "{diags:#?}\n{text}");
        let debug = format!("{:?}", unit.items);
        let mut out = String::new();
        let mut rest = debug.as_str();
        while let Some(at) = rest.find("Span { ") {
            out.push_str(&rest[..at]);
            out.push_str("Span");
            let after = &rest[at..];
            let close = after.find(" }").unwrap() + 2;
            rest = &after[close..];
        }
        out.push_str(rest);
        out
    }

    fn check_all_properties(text: &str) -> String {
        // The printer itself, without `format_source`'s safety net.
        let (unit, diags) = parse(FileId(0), text);
        assert!(diags.is_empty());
        let printed = print(text, &unit.items);
        let (_, diags) = parse(FileId(0), &printed);
        assert!(diags.is_empty(), "printed text does not parse: {diags:#?}\n{printed}");
        let once = fmt(text);
        assert_eq!(once, printed);
        let twice = fmt(&once);
        assert_eq!(once, twice, "not idempotent for\n{text}");
        assert_eq!(shape(text), shape(&once), "meaning changed:\n{once}");
        let mut before = comment_texts(text);
        let mut after = comment_texts(&once);
        assert_eq!(before, after, "comments lost, added or reordered:\n{once}");
        before.sort();
        after.sort();
        assert_eq!(before, after);
        assert!(once.is_empty() || once.ends_with('\n'));
        assert!(!once.ends_with("\n\n"), "more than one final newline:\n{once:?}");
        for line in once.lines() {
            assert_eq!(line, line.trim_end(), "trailing whitespace in {line:?}");
        }
        once
    }

    const EDGE_CASES: &[&str] = &[
        "",
        "\n\n  // only\n\n// comments\n\n",
        "service s on c {\n  count = min(1, // one\n      2)\n  x = 1\n    y = f(\n        a, // c\n          b)  // after\n}\n",
        "service t // header\n  on c {\n    a = 1\n}\n",
        "//// four slashes\n/// doc\n// between\n/// doc2\nservice u on c { x = 1 }\n",
        "// crlf\r\nservice s on c {\r\n  /// d\r\n  a = 1  // x\r\n  b = [\r\n    1, // one\r\n  ]\r\n}\r\n",
        "service s on c {\n  a = \"x\\\ny\"\n  b = [ // c\n  ]\n  o = aws { // inner\n    r = 1 }\n  e = aws {}\n  l = [aws { a = 1 }, gcp {\n b = 2 }]\n}\n",
        "import std.a\nimport std.b\n\nimport std.c\nparam p: int\nparam q: int\n\n\nparam r: int\nservice a on c {}\n// about b\nservice b on c {}  // trailing\n",
        "fleet f {\n  site a { gateways = 1 }  // one\n\n\n  // two\n\n  site b { gateways = 2 }\n\n}\n",
    ];

    #[test]
    fn canonical_sample_is_a_fixed_point() {
        assert_eq!(fmt(CANONICAL), CANONICAL);
    }

    #[test]
    fn messy_sample_formats_to_the_canonical_one() {
        let messy = messy();
        assert!(messy.contains('\t') && messy.contains("  \n"));
        let out = fmt(&messy);
        assert_eq!(out, CANONICAL, "got:\n{out}");
    }

    #[test]
    fn formatting_is_idempotent_keeps_meaning_and_comments() {
        check_all_properties(CANONICAL);
        check_all_properties(&messy());
        for text in EDGE_CASES {
            check_all_properties(text);
        }
    }

    #[test]
    fn every_comment_text_appears_as_often_as_in_the_input() {
        let samples = [CANONICAL.to_string(), messy()];
        for text in samples.iter().map(String::as_str).chain(EDGE_CASES.iter().copied()) {
            let out = fmt(text);
            for c in comment_texts(text) {
                let want = text.matches(c.as_str()).count();
                let got = out.matches(c.as_str()).count();
                assert_eq!(got, want, "comment {c:?} in\n{out}");
            }
        }
        assert_eq!(comment_texts(CANONICAL).len(), 14);
    }

    #[test]
    fn syntax_errors_are_returned_not_formatted() {
        for text in [
            "service a on c { image = }\n",
            "fleet f {\n  site a { gateways = 1 }\n",
            "service s on c { x = 1 }\n///\n",
            "bogus thing {}\n",
        ] {
            let Err(diags) = format_source(text) else {
                panic!("formatted broken input {text:?}");
            };
            assert!(!diags.is_empty());
        }
    }

    #[test]
    fn comment_inside_an_expression_keeps_the_statement_verbatim() {
        let text = "service s on c {\n    count = min(1, // one\n        2)\n  cpu   =   1\n}\n";
        let want = "service s on c {\n  count = min(1, // one\n      2)\n  cpu = 1\n}\n";
        assert_eq!(fmt(text), want);
        assert_eq!(fmt(want), want);
    }

    #[test]
    fn comment_inside_an_item_header_keeps_the_item_verbatim() {
        let text = "param a:int\nservice t // header\n  on c {\n    a   = 1   \n}\nparam b:int\n";
        let want = "param a: int\n\nservice t // header\n  on c {\n    a   = 1\n}\n\nparam b: int\n";
        assert_eq!(fmt(text), want);
    }

    #[test]
    fn one_line_bodies_stay_on_one_line_unless_too_wide() {
        let text = concat!(
            "service s on c { image = \"x\"  env { A = \"1\"  B = \"2\" }\n",
            "  labels { a = \"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"  c = \"dddddddddddddddddddddddddddddddddddddddddd\" }\n",
            "  args = [\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\", \"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\", \"cccccccccccccccccccccccc\"]\n",
            "  provider = aws { region = \"eu-west-1\" }  talks_to = [a, b] }\n",
        );
        let want = concat!(
            "service s on c {\n",
            "  image = \"x\"\n",
            "  env { A = \"1\"  B = \"2\" }\n",
            "  labels {\n",
            "    a = \"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\"\n",
            "    c = \"dddddddddddddddddddddddddddddddddddddddddd\"\n",
            "  }\n",
            "  args = [\n",
            "    \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\n",
            "    \"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\",\n",
            "    \"cccccccccccccccccccccccc\",\n",
            "  ]\n",
            "  provider = aws { region = \"eu-west-1\" }\n",
            "  talks_to = [a, b]\n",
            "}\n",
        );
        assert_eq!(fmt(text), want);
        assert_eq!(fmt(want), want);
    }

    #[test]
    fn bodies_and_lists_written_over_several_lines_stay_so() {
        let text =
            "cluster c {\n  provider = aws {\n    region = \"x\" }\n  pool p {\n  }\n  zones = [\"a\",\n  \"b\"]\n}\n";
        let want = "cluster c {\n  provider = aws {\n    region = \"x\"\n  }\n  pool p {}\n  zones = [\n    \"a\",\n    \"b\",\n  ]\n}\n";
        assert_eq!(fmt(text), want);
    }

    #[test]
    fn blank_lines_between_items_and_statements() {
        let want = concat!(
            "import std.a\n",
            "import std.b\n",
            "\n",
            "import std.c\n",
            "\n",
            "param p: int\n",
            "param q: int\n",
            "\n",
            "param r: int\n",
            "\n",
            "service a on c {}\n",
            "\n",
            "// about b\n",
            "service b on c {}  // trailing\n",
        );
        assert_eq!(fmt(EDGE_CASES[7]), want);
        let want = "fleet f {\n  site a { gateways = 1 }  // one\n\n  // two\n\n  site b { gateways = 2 }\n}\n";
        assert_eq!(fmt(EDGE_CASES[8]), want);
    }

    #[test]
    fn strings_are_re_escaped_and_quantities_and_unit_words_kept() {
        let text = "service s on c { a = \"\\q \\u{e9} \\\" tab\\t\"  b = 0.50  c = 1 per gateway  d = 1 per 2 sites of f  e = nodes of c }\n";
        let want = "service s on c {\n  a = \"\\\\q é \\\" tab\\t\"\n  b = 0.50\n  c = 1 per gateway\n  d = 1 per 2 sites of f\n  e = nodes of c\n}\n";
        assert_eq!(fmt(text), want);
        check_all_properties(text);
    }

    #[test]
    fn empty_and_comment_only_files() {
        assert_eq!(fmt(""), "");
        assert_eq!(fmt("\n \n\t\n"), "");
        assert_eq!(fmt(EDGE_CASES[1]), "// only\n\n// comments\n");
    }

    #[test]
    fn docs_and_comments_keep_their_order() {
        assert_eq!(
            fmt(EDGE_CASES[4]),
            "//// four slashes\n/// doc\n// between\n/// doc2\nservice u on c {\n  x = 1\n}\n"
        );
    }

    #[test]
    fn crlf_input_gives_lf_output() {
        assert_eq!(
            fmt(EDGE_CASES[5]),
            "// crlf\nservice s on c {\n  /// d\n  a = 1  // x\n  b = [\n    1,  // one\n  ]\n}\n"
        );
    }
}
