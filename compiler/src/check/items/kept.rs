//! Reusing the drafts of unchanged workloads between checks.
//!
//! Reading a service, daemon or job into its draft (every field read,
//! typed and checked) is most of stage 3, and an edit changes one item: the
//! language server's next check would read the other thousand again. So
//! the cache it keeps between checks ([`crate::syntax::ParseCache`]) also
//! keeps each workload's draft, and a check takes it back instead of
//! reading the item again when nothing the draft was read from can have
//! changed:
//!
//! - the item itself: the same tree, handed out by the parse cache while
//!   the item's text and place are unchanged (compared by identity, the
//!   kept entry holding the tree so that its address is not reused);
//! - everything else a draft can read, summed up in one fingerprint per
//!   check ([`environment`]): every item's file, place in its file, kind
//!   and name (what names resolve to, and the item ids drafts refer to);
//!   the whole text and place of every item that is not a plain workload
//!   (clusters and fleets that `on` names, templates that `from` names,
//!   params and their declarations, models, imports, the solution, the
//!   stdlib); every param's value after overrides; which files are the
//!   user's.
//!
//! Only drafts read without a diagnostic are kept (a diagnostic could point
//! into another workload, which may have moved). What reading had to say
//! beyond the draft, the params and stdlib modules it used, is kept with it
//! and applied again ([`Effects`]). `compiler/tests/incremental.rs` and
//! `bench/tests/incremental.rs` hold every re-check to a check from
//! scratch.

use super::WorkloadDraft;
use crate::check::Analyzer;
use crate::source::FileId;
use crate::syntax::ast::{Item, ItemKind};
use rustc_hash::FxHashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// What reading an item did besides its draft: the params it read (and
/// whether into a field) and the stdlib modules it used.
#[derive(Debug, Clone, Default)]
pub(crate) struct Effects {
    pub params: Vec<String>,
    pub field_params: Vec<String>,
    pub std: Vec<(FileId, String)>,
}

struct Kept {
    /// The item the draft was read from (kept alive: its address is the key).
    item: Arc<Item>,
    environment: u64,
    draft: Arc<WorkloadDraft>,
    effects: Effects,
    /// The generation of the cache that last used it.
    used: u64,
}

/// The kept drafts, by the address of their item.
#[derive(Default)]
pub(crate) struct KeptDrafts {
    entries: FxHashMap<usize, Kept>,
    hits: u64,
}

impl std::fmt::Debug for KeptDrafts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeptDrafts")
            .field("kept", &self.entries.len())
            .field("hits", &self.hits)
            .finish()
    }
}

impl KeptDrafts {
    /// The draft read from `item` in `environment` before, with what
    /// reading it did.
    pub(in crate::check) fn get(
        &mut self,
        item: &Arc<Item>,
        environment: u64,
        generation: u64,
    ) -> Option<(Arc<WorkloadDraft>, Effects)> {
        let k = self.entries.get_mut(&address(item))?;
        if !Arc::ptr_eq(&k.item, item) || k.environment != environment {
            return None;
        }
        k.used = generation;
        self.hits += 1;
        Some((k.draft.clone(), k.effects.clone()))
    }

    pub(in crate::check) fn put(
        &mut self,
        item: &Arc<Item>,
        environment: u64,
        draft: Arc<WorkloadDraft>,
        effects: Effects,
        generation: u64,
    ) {
        self.entries.insert(
            address(item),
            Kept {
                item: item.clone(),
                environment,
                draft,
                effects,
                used: generation,
            },
        );
    }

    /// Drop the drafts used by neither this generation nor the one before.
    pub fn sweep(&mut self, keep: u64) {
        self.entries.retain(|_, k| k.used >= keep);
    }

    /// Drafts taken back so far, and how many are kept.
    pub fn stats(&self) -> (u64, usize) {
        (self.hits, self.entries.len())
    }
}

fn address(item: &Arc<Item>) -> usize {
    Arc::as_ptr(item) as usize
}

/// Whether `item` is a plain workload: a service, daemon or job that is
/// not a template (what [`KeptDrafts`] keeps).
pub(crate) fn plain_workload(item: &Item) -> bool {
    use crate::syntax::ast::BlockKind;
    matches!(&item.kind, ItemKind::Block(b)
        if b.template.is_none() && matches!(b.kind, BlockKind::Service | BlockKind::Daemon | BlockKind::Job))
}

/// Everything a workload's draft can read besides its own item, as one
/// fingerprint (see the module's documentation).
pub(crate) fn environment(a: &Analyzer<'_>) -> u64 {
    let prog = a.prog;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for unit in &prog.units {
        unit.file.0.hash(&mut h);
        unit.items.len().hash(&mut h);
        for item in &unit.items {
            match &item.kind {
                ItemKind::Block(b) if plain_workload(item) => {
                    0u8.hash(&mut h);
                    b.kind.keyword().hash(&mut h);
                    b.name.name.hash(&mut h);
                }
                _ => {
                    1u8.hash(&mut h);
                    item.span.start.hash(&mut h);
                    prog.sources.text(item.span).hash(&mut h);
                }
            }
        }
    }
    for (name, p) in &a.params {
        name.hash(&mut h);
        format!("{p:?}").hash(&mut h);
    }
    prog.user_files.iter().for_each(|f| f.0.hash(&mut h));
    prog.root.map(|f| f.0).hash(&mut h);
    h.finish()
}
