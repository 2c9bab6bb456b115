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
//! - the item itself: the same text, by the number the parse cache gives
//!   each text (`SourceUnit::keys`). An item that moved gets its draft
//!   moved with it (every span shifted, [`Shift`]), unless the draft was
//!   read from a template, whose spans are in another item;
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
//! into another workload, which may have moved). Only a plain workload's
//! draft is kept; a template's spans stay where the template is, so the
//! fingerprint has the template's place. What reading had to say
//! beyond the draft, the params and stdlib modules it used, is kept with it
//! and applied again ([`Effects`]). `compiler/tests/incremental.rs` and
//! `bench/tests/incremental.rs` hold every re-check to a check from
//! scratch.

use super::WorkloadDraft;
use crate::check::Analyzer;
use crate::source::FileId;
use crate::syntax::ast::{Item, ItemKind};
use crate::syntax::Shift;
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
    /// Where the item started when the draft was read (or last moved).
    at: u32,
    environment: u64,
    draft: Arc<WorkloadDraft>,
    effects: Effects,
    /// Whether every span of the draft is in its item (no template), so
    /// that it can move with it.
    movable: bool,
    /// The generation of the cache that last used it.
    used: u64,
}

/// A draft no longer kept, to be freed.
pub(crate) struct Gone(#[allow(dead_code)] Arc<WorkloadDraft>);

/// The kept drafts, by their item's text's number in the parse cache
/// (`SourceUnit::keys`).
#[derive(Default)]
pub(crate) struct KeptDrafts {
    entries: FxHashMap<u64, Kept>,
    /// Drafts replaced by their moved copies, let go of by the next sweep.
    moved: Vec<Gone>,
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
    /// The draft read before from the item whose text is number `key`, in
    /// `environment`, moved to where the item now starts (`at`), with what
    /// reading it did.
    pub(in crate::check) fn get(
        &mut self,
        key: u64,
        at: u32,
        environment: u64,
        generation: u64,
    ) -> Option<(Arc<WorkloadDraft>, Effects)> {
        let k = self.entries.get_mut(&key)?;
        if k.environment != environment || (k.at != at && !k.movable) {
            return None;
        }
        if k.at != at {
            let mut draft = WorkloadDraft::clone(&k.draft);
            draft.shift(i64::from(at) - i64::from(k.at));
            let old = std::mem::replace(&mut k.draft, Arc::new(draft));
            self.moved.push(Gone(old));
            k.at = at;
        }
        k.used = generation;
        self.hits += 1;
        Some((k.draft.clone(), k.effects.clone()))
    }

    pub(in crate::check) fn put(
        &mut self,
        key: u64,
        at: u32,
        environment: u64,
        (draft, effects, movable): (Arc<WorkloadDraft>, Effects, bool),
        generation: u64,
    ) {
        let old = self.entries.insert(
            key,
            Kept {
                at,
                environment,
                draft,
                effects,
                movable,
                used: generation,
            },
        );
        self.moved.extend(old.map(|k| Gone(k.draft)));
    }

    /// Let go of the drafts used by neither this generation nor the one
    /// before, and of those replaced (handed back, to be freed where it
    /// costs nothing).
    pub fn sweep(&mut self, keep: u64) -> Vec<Gone> {
        let mut out = std::mem::take(&mut self.moved);
        out.extend(
            self.entries
                .extract_if(|_, k| k.used < keep)
                .map(|(_, k)| Gone(k.draft)),
        );
        out
    }

    /// Drafts taken back so far, and how many are kept.
    pub fn stats(&self) -> (u64, usize) {
        (self.hits, self.entries.len())
    }
}

impl Shift for WorkloadDraft {
    fn shift(&mut self, by: i64) {
        // Every field named, so that a new one is not forgotten here.
        let WorkloadDraft {
            name: _,
            name_span,
            kind: _,
            docs: _,
            target: _,
            on_span,
            selectors,
            container: _,
            cpu_span,
            memory_span,
            gpu_span,
            arch_span,
            replicas,
            file: _,
            schedule: _,
            backoff: _,
            deadline_secs: _,
            critical,
            public: _,
            talks_to,
            env_refs,
            autoscale,
            rollout: _,
            labels: _,
            model: _,
            template: _,
            privileged_span,
        } = self;
        for s in [name_span, on_span, cpu_span, memory_span, gpu_span] {
            s.shift(by);
        }
        for s in [arch_span, critical, privileged_span] {
            s.shift(by);
        }
        selectors.iter_mut().for_each(|(_, s)| s.shift(by));
        talks_to.iter_mut().for_each(|(_, s)| s.shift(by));
        env_refs.iter_mut().for_each(|r| r.target_span.shift(by));
        replicas.shift(by);
        if let Some(a) = autoscale {
            a.min.shift(by);
            a.max.shift(by);
            a.span.shift(by);
        }
    }
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
