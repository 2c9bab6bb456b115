//! Re-parsing only what changed. [`super::parse`] already reads a file item
//! by item (see `split`); a [`ParseCache`] keeps the tree of every item it
//! parsed, keyed by the file and the item's exact text, built as if the item
//! started at offset 0. A later parse of the same text reuses it, moved to
//! where the item now starts ([`Shift`]). The language server keeps one
//! cache, so typing in one item re-parses that item only.
//!
//! Only items that parsed cleanly are kept: a broken item is parsed again
//! (to rebuild its diagnostic), which is rare and cheap. Entries not used by
//! the latest parse of their file are dropped by [`ParseCache::sweep`].

use super::ast::*;
use crate::source::{FileId, Span};
use rustc_hash::FxHashMap as HashMap;
use std::sync::{Arc, Mutex};

/// What [`ParseCache::sweep`] let go of.
#[derive(Default)]
pub struct Swept {
    trees: Vec<Arc<Item>>,
    entries: Vec<Entry>,
    drafts: Vec<crate::check::items::kept::Gone>,
}

impl Swept {
    /// How many trees and drafts it holds.
    pub fn len(&self) -> usize {
        self.trees.len() + self.entries.len() + self.drafts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Items parsed before, by file and text; and the drafts the checker read
/// from them (see `check::items::kept`), so that this is the one thing an
/// editor keeps between checks.
#[derive(Debug, Default)]
pub struct ParseCache {
    inner: Mutex<Inner>,
    drafts: Mutex<crate::check::items::kept::KeptDrafts>,
}

#[derive(Debug)]
struct Entry {
    /// The text's number, never given to another text.
    key: u64,
    /// The tree at offset 0.
    tree: Item,
    /// The tree where it was last put, and that offset: handed out again,
    /// shared, while the item does not move.
    placed: Option<(usize, Arc<Item>)>,
    /// The generation that last used it.
    used: u64,
}

#[derive(Debug, Default)]
struct Inner {
    /// The trees an item was placed at before it moved, let go of by the
    /// next [`ParseCache::sweep`].
    moved: Vec<Arc<Item>>,
    /// The last number given to a text.
    keys: u64,
    /// file → item text → the entry.
    files: HashMap<FileId, HashMap<String, Entry>>,
    generation: u64,
    hits: u64,
    misses: u64,
}

impl ParseCache {
    pub fn new() -> ParseCache {
        ParseCache::default()
    }

    /// The item parsed from `text` in `file` before, moved to start at
    /// `offset`.
    /// With it, the text's number.
    pub(super) fn get(&self, file: FileId, text: &str, offset: usize) -> Option<(Arc<Item>, u64)> {
        let mut inner = self.inner.lock().ok()?;
        let generation = inner.generation;
        let found = inner.files.get_mut(&file).and_then(|m| m.get_mut(text)).map(|e| {
            e.used = generation;
            match &e.placed {
                Some((at, item)) if *at == offset => ((item.clone(), e.key), None),
                _ => {
                    let mut item = e.tree.clone();
                    item.shift(i64::try_from(offset).unwrap_or(i64::MAX));
                    let item = Arc::new(item);
                    (
                        (item.clone(), e.key),
                        e.placed.replace((offset, item)).map(|(_, old)| old),
                    )
                }
            }
        });
        let found = found.map(|(item, old)| {
            inner.moved.extend(old);
            item
        });
        match found {
            Some(item) => {
                inner.hits += 1;
                Some(item)
            }
            None => {
                inner.misses += 1;
                None
            }
        }
    }

    /// Keep `item`, parsed from `text` at offset 0, and `placed`, the same
    /// moved to `offset`: what the next parse of the same text at the same
    /// offset gets.
    /// The text's number.
    pub(super) fn put(&self, file: FileId, text: &str, item: &Item, offset: usize, placed: &Arc<Item>) -> u64 {
        if let Ok(mut inner) = self.inner.lock() {
            let generation = inner.generation;
            inner.keys += 1;
            let key = inner.keys;
            inner.files.entry(file).or_default().insert(
                text.to_string(),
                Entry {
                    key,
                    tree: item.clone(),
                    placed: Some((offset, placed.clone())),
                    used: generation,
                },
            );
            return key;
        }
        0
    }

    /// Start a new round: entries used in neither this round nor the one
    /// before are dropped (so the cache holds about what the open programs
    /// hold, not every version ever typed). Call before each batch of
    /// analyses. What it lets go of is handed back: after an edit that
    /// moved or changed many items, freeing their trees and drafts takes a
    /// while, and the language server does it on another thread (dropping
    /// the result frees it here).
    pub fn sweep(&self) -> Swept {
        let mut out = Swept::default();
        if let Ok(mut inner) = self.inner.lock() {
            let keep = inner.generation.saturating_sub(1);
            out.trees = std::mem::take(&mut inner.moved);
            for m in inner.files.values_mut() {
                out.entries.extend(m.extract_if(|_, e| e.used < keep).map(|(_, e)| e));
            }
            inner.files.retain(|_, m| !m.is_empty());
            inner.generation += 1;
            if let Ok(mut drafts) = self.drafts.lock() {
                out.drafts = drafts.sweep(keep);
            }
        }
        out
    }

    /// The kept drafts, with the generation to mark them used in.
    pub(crate) fn drafts(&self) -> Option<(std::sync::MutexGuard<'_, crate::check::items::kept::KeptDrafts>, u64)> {
        let generation = self.inner.lock().ok()?.generation;
        Some((self.drafts.lock().ok()?, generation))
    }

    /// Drafts taken back instead of read again so far, and how many are
    /// kept, for tests and benchmarks.
    pub fn draft_stats(&self) -> (u64, usize) {
        self.drafts.lock().map(|d| d.stats()).unwrap_or_default()
    }

    /// (hits, misses) so far, for tests and benchmarks.
    pub fn stats(&self) -> (u64, u64) {
        self.inner.lock().map(|i| (i.hits, i.misses)).unwrap_or_default()
    }

    /// How many items are kept.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .map(|i| i.files.values().map(|m| m.len()).sum())
            .unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Move every span of a tree by `by` bytes (an item parsed at offset 0 put
/// where it now starts; a kept draft moved with its item).
pub(crate) trait Shift {
    fn shift(&mut self, by: i64);
}

impl Shift for Span {
    fn shift(&mut self, by: i64) {
        let moved = |x: u32| u32::try_from((i64::from(x) + by).max(0)).unwrap_or(u32::MAX);
        self.start = moved(self.start);
        self.end = moved(self.end);
    }
}

impl<T: Shift> Shift for Option<T> {
    fn shift(&mut self, by: i64) {
        if let Some(x) = self {
            x.shift(by);
        }
    }
}

impl<T: Shift> Shift for Vec<T> {
    fn shift(&mut self, by: i64) {
        for x in self {
            x.shift(by);
        }
    }
}

impl<T: Shift> Shift for Box<T> {
    fn shift(&mut self, by: i64) {
        (**self).shift(by);
    }
}

/// `Shift` for a struct: shift each of the named fields.
macro_rules! shift_fields {
    ($($ty:ty => [$($field:ident),+];)+) => {
        $(impl Shift for $ty {
            fn shift(&mut self, by: i64) {
                $(self.$field.shift(by);)+
            }
        })+
    };
}

shift_fields! {
    Ident => [span];
    Path => [segments, span];
    StringLit => [span];
    Key => [span];
    Block => [kind_span, template, name, on, selectors, from, body];
    Selector => [key, value, span];
    Body => [stmts, span];
}

impl Shift for Item {
    fn shift(&mut self, by: i64) {
        self.span.shift(by);
        match &mut self.kind {
            ItemKind::Solution(b) | ItemKind::Block(b) => b.shift(by),
            ItemKind::Import(i) => {
                i.span.shift(by);
                match &mut i.target {
                    ImportTarget::Module(p) => p.shift(by),
                    ImportTarget::File(s) => s.shift(by),
                }
            }
            ItemKind::Param(p) => {
                p.name.shift(by);
                p.ty.shift(by);
                p.default.shift(by);
                p.body.shift(by);
            }
        }
    }
}

impl Shift for Stmt {
    fn shift(&mut self, by: i64) {
        self.span.shift(by);
        match &mut self.kind {
            StmtKind::Attr(a) => {
                a.key.shift(by);
                a.value.shift(by);
            }
            StmtKind::Block(b) => {
                b.kind.shift(by);
                b.name.shift(by);
                b.on.shift(by);
                b.selectors.shift(by);
                b.body.shift(by);
            }
            StmtKind::Secret(s) => {
                s.name.shift(by);
                match &mut s.source {
                    SecretSource::From { kind, reference } => {
                        kind.shift(by);
                        reference.shift(by);
                    }
                    SecretSource::Literal(e) => e.shift(by),
                }
            }
            StmtKind::Device(d) => {
                d.host.shift(by);
                d.container.shift(by);
            }
            StmtKind::Alert(a) => {
                a.metric.shift(by);
                a.op_span.shift(by);
                a.threshold.shift(by);
                a.duration.shift(by);
            }
        }
    }
}

impl Shift for Expr {
    fn shift(&mut self, by: i64) {
        self.span.shift(by);
        match &mut self.kind {
            ExprKind::Quantity { .. } | ExprKind::String(_) | ExprKind::Bool(_) => {}
            ExprKind::Path(p) => p.shift(by),
            ExprKind::List(items) => items.shift(by),
            ExprKind::Object { path, body } => {
                path.shift(by);
                body.shift(by);
            }
            ExprKind::Paren(e) | ExprKind::Neg(e) => e.shift(by),
            ExprKind::Binary { lhs, rhs, .. } => {
                lhs.shift(by);
                rhs.shift(by);
            }
            ExprKind::Call { name, args } => {
                name.shift(by);
                args.shift(by);
            }
            ExprKind::CountRef { unit_span, of, .. } => {
                unit_span.shift(by);
                of.shift(by);
            }
            ExprKind::Per {
                amount,
                per,
                unit_span,
                of,
                ..
            } => {
                amount.shift(by);
                per.shift(by);
                unit_span.shift(by);
                of.shift(by);
            }
            ExprKind::Bounded { expr, min, max } => {
                expr.shift(by);
                min.shift(by);
                max.shift(by);
            }
        }
    }
}
