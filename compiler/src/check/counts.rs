//! Linked scaling: every count (cluster nodes, site gateways, workload
//! replicas) is an exact rational expression over params and other counts,
//! evaluated on demand with cycle detection. Ratios round up; `min`/`max`
//! clamp; the final value must be a whole, non-negative number.

use super::items::{Drafts, Target};
use super::{Analyzer, ParamTy, ParamVal};
use crate::diag::{Code, Diagnostic};
use crate::source::{FileId, Span};
use crate::syntax::ast::{BinOp, CountUnit, Expr, ExprKind, ItemKind};
use rustc_hash::FxHashMap;
use serde::Serialize;
use std::collections::BTreeSet;
use std::sync::Arc;

/// How one count came out, for hover and inlay hints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CountExplanation {
    /// The count expression.
    pub span: Span,
    /// `replicas of ingest`, `gateways of plants.plant_a`, `nodes of cloud`.
    pub subject: Arc<str>,
    /// The site, for per-site counts.
    pub site: Option<Arc<str>>,
    pub value: u32,
    /// The expression with every input replaced by its value.
    pub formula: Arc<str>,
}

/// Every count's explanation, in the order the counts were evaluated.
///
/// A fleet workload's count is explained once per site it runs on (169,000
/// explanations for 650 workloads at 260 sites), and they differ only in
/// the site and, per class of sites with one gateway count
/// ([`SiteClasses`]), the value and formula. They are kept per class, with
/// the fleet's site names and classes shared, and built on demand
/// ([`Counts::iter`]): a check makes no row per workload per site. The
/// explanations, and their order, are exactly those made one by one
/// before.
#[derive(Debug, Clone, Default)]
pub struct Counts {
    entries: Vec<Entry>,
    len: usize,
}

#[derive(Debug, Clone)]
enum Entry {
    One(CountExplanation),
    /// The explanations of one expression at the sites of one fleet, one
    /// per site whose class came out.
    Sites {
        span: Span,
        subject: Arc<str>,
        /// The fleet's site names, by site index.
        names: Arc<[Arc<str>]>,
        classes: Arc<SiteClasses>,
        /// Per class: the value and formula, or `None` when it failed.
        per_class: Vec<Option<(u32, Arc<str>)>>,
    },
}

impl Entry {
    fn span(&self) -> Span {
        match self {
            Entry::One(c) => c.span,
            Entry::Sites { span, .. } => *span,
        }
    }
}

impl Counts {
    /// How many explanations there are.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every explanation, in evaluation order.
    pub fn iter(&self) -> impl Iterator<Item = CountExplanation> + '_ {
        self.entries.iter().flat_map(Counts::explain)
    }

    /// The explanations of the count expressions whose span satisfies
    /// `keep`, in evaluation order, built without building the others.
    pub fn matching(&self, keep: impl Fn(Span) -> bool) -> Vec<CountExplanation> {
        self.entries
            .iter()
            .filter(|e| keep(e.span()))
            .flat_map(Counts::explain)
            .collect()
    }

    /// The explanations one entry stands for.
    fn explain(e: &Entry) -> impl Iterator<Item = CountExplanation> + '_ {
        let (one, rows) = match e {
            Entry::One(c) => (Some(c.clone()), None),
            Entry::Sites {
                span,
                subject,
                names,
                classes,
                per_class,
            } => (
                None,
                Some(classes.iter().filter_map(move |(site, class)| {
                    let (value, formula) = per_class.get(class)?.as_ref()?;
                    Some(CountExplanation {
                        span: *span,
                        subject: subject.clone(),
                        site: names.get(site).cloned(),
                        value: *value,
                        formula: formula.clone(),
                    })
                })),
            ),
        };
        one.into_iter().chain(rows.into_iter().flatten())
    }

    pub(super) fn push(&mut self, c: CountExplanation) {
        self.entries.push(Entry::One(c));
        self.len += 1;
    }

    /// The explanations of `span` (of `subject`) at every site of
    /// `classes`, the fleet's site names being `names`.
    fn push_sites(
        &mut self,
        span: Span,
        subject: Arc<str>,
        names: Arc<[Arc<str>]>,
        classes: Arc<SiteClasses>,
        per_class: Vec<Option<(u32, Arc<str>)>>,
    ) {
        let explained: usize = per_class
            .iter()
            .zip(&classes.members)
            .filter(|(r, _)| r.is_some())
            .map(|(_, n)| *n as usize)
            .sum();
        if explained == 0 {
            return;
        }
        self.len += explained;
        self.entries.push(Entry::Sites {
            span,
            subject,
            names,
            classes,
            per_class,
        });
    }
}

impl PartialEq for Counts {
    fn eq(&self, other: &Counts) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

/// The sites of one fleet a workload runs on, grouped into classes by
/// their gateway count. A count evaluated at a site reads nothing of it but
/// its gateways (`Ctx::Site`), so a fleet workload's count is evaluated
/// once per class, and its value at every site is its class's. Workloads
/// with the same selectors on one fleet share one.
#[derive(Debug)]
pub(super) struct SiteClasses {
    /// The sites, by index in the fleet, in the fleet's order.
    sites: Vec<usize>,
    /// Each site's class (parallel to `sites`), an index into `gateways`.
    class: Vec<u32>,
    /// The gateway count of each class's sites, in order of first
    /// appearance; `None` for the sites whose count failed (reported).
    pub gateways: Vec<Option<u32>>,
    /// The first site of each class (a fleet site index).
    pub first: Vec<usize>,
    /// How many sites each class has.
    pub members: Vec<u32>,
}

impl SiteClasses {
    /// The classes of `sites`, each with its gateway count.
    fn new(sites: impl ExactSizeIterator<Item = (usize, Option<u32>)>) -> SiteClasses {
        let mut of: FxHashMap<Option<u32>, u32> = FxHashMap::default();
        let mut out = SiteClasses {
            sites: Vec::with_capacity(sites.len()),
            class: Vec::with_capacity(sites.len()),
            gateways: Vec::new(),
            first: Vec::new(),
            members: Vec::new(),
        };
        for (s, g) in sites {
            out.sites.push(s);
            let next = u32::try_from(out.gateways.len()).unwrap_or(u32::MAX);
            let c = *of.entry(g).or_insert_with(|| {
                out.gateways.push(g);
                out.first.push(s);
                out.members.push(0);
                next
            });
            if let Some(m) = out.members.get_mut(c as usize) {
                *m += 1;
            }
            out.class.push(c);
        }
        out
    }

    /// Every site with its class, in the fleet's order.
    pub fn iter(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.sites.iter().zip(&self.class).map(|(s, c)| (*s, *c as usize))
    }

    pub fn len(&self) -> usize {
        self.sites.len()
    }

    pub fn classes(&self) -> usize {
        self.gateways.len()
    }
}

/// A fleet workload's count at each of its sites: a value per class of
/// [`SiteClasses`].
#[derive(Debug, Clone)]
pub(super) struct PerSite {
    pub classes: Arc<SiteClasses>,
    /// The value of each class.
    pub values: Arc<[u32]>,
}

impl PerSite {
    /// Every site with its value, in the fleet's order.
    pub fn iter(&self) -> impl Iterator<Item = (usize, u32)> + '_ {
        self.classes
            .iter()
            .map(|(s, c)| (s, self.values.get(c).copied().unwrap_or(0)))
    }
}

/// An exact rational number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Q {
    n: i128,
    d: i128,
}

fn gcd(a: i128, b: i128) -> i128 {
    let (mut a, mut b) = (a.abs(), b.abs());
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

impl Q {
    pub fn int(n: i128) -> Q {
        Q { n, d: 1 }
    }
    fn new(n: i128, d: i128) -> Option<Q> {
        if d == 0 {
            return None;
        }
        let g = gcd(n, d);
        let s = if d < 0 { -1 } else { 1 };
        Some(Q {
            n: s * n / g,
            d: s * d / g,
        })
    }
    fn parse(text: &str) -> Option<Q> {
        if let Ok(n) = text.parse::<i128>() {
            return Some(Q::int(n));
        }
        let (i, f) = text.split_once('.').unwrap_or((text, ""));
        let digits = format!("{i}{f}");
        let n: i128 = digits.parse().ok()?;
        let d = 10i128.checked_pow(u32::try_from(f.len()).ok()?)?;
        Q::new(n, d)
    }
    fn add(self, o: Q) -> Option<Q> {
        Q::new(
            self.n.checked_mul(o.d)?.checked_add(o.n.checked_mul(self.d)?)?,
            self.d.checked_mul(o.d)?,
        )
    }
    fn sub(self, o: Q) -> Option<Q> {
        self.add(Q { n: -o.n, d: o.d })
    }
    fn mul(self, o: Q) -> Option<Q> {
        Q::new(self.n.checked_mul(o.n)?, self.d.checked_mul(o.d)?)
    }
    fn div(self, o: Q) -> Option<Q> {
        Q::new(self.n.checked_mul(o.d)?, self.d.checked_mul(o.n)?)
    }
    fn ceil(self) -> Q {
        Q::int(self.n.div_euclid(self.d) + if self.n.rem_euclid(self.d) == 0 { 0 } else { 1 })
    }
    fn floor(self) -> Q {
        Q::int(self.n.div_euclid(self.d))
    }
    fn is_int(self) -> bool {
        self.d == 1
    }
}

impl std::fmt::Display for Q {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.d == 1 {
            write!(f, "{}", self.n)
        } else {
            write!(f, "{}/{}", self.n, self.d)
        }
    }
}

/// How deep the evaluation of one count may go, in steps: entering another
/// count (`replicas of x`, directly or through others) is
/// [`COUNT_STEP`] steps, entering a bracket, call, ratio or bound is one.
/// Evaluation recurses, so this bounds its stack (a count costs about four
/// times the stack of a bracket); operator chains are evaluated in a loop.
pub const MAX_COUNT_DEPTH: usize = 256;

/// The steps of [`MAX_COUNT_DEPTH`] that entering one count costs.
pub const COUNT_STEP: usize = 4;

/// The largest value of any one count (gateways of a site, nodes of a pool,
/// replicas of a workload). Host names, copies and files are made from
/// counts, so a count is bounded before anything is allocated from it.
pub const MAX_COUNT: u32 = 1_000_000;

/// The most devices (gateways and standby devices of every site, nodes of
/// every bare-metal cluster) one solution may name: each gets a host name.
pub const MAX_DEVICES: u64 = 10_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum CountKey {
    Pool(usize, usize),
    Site(usize, usize),
    Workload(usize),
}

/// The evaluation context of a count expression: what a unit without `of`
/// counts, and the file whose names the expression resolves from.
#[derive(Debug, Clone, Copy)]
pub(super) struct At {
    pub ctx: Ctx,
    pub file: FileId,
}

/// A count word and what it counts: `gateways of plants`, or `gateways` in a
/// ratio without `of`.
#[derive(Debug, Clone, Copy)]
struct UnitRef<'e> {
    unit: CountUnit,
    span: Span,
    of: Option<&'e crate::syntax::ast::Path>,
}

/// Where a count expression is evaluated.
#[derive(Debug, Clone, Copy)]
pub(super) enum Ctx {
    /// A cluster pool's `nodes`.
    PoolDef,
    /// A site's `gateways`.
    SiteDef,
    /// A workload on a cluster.
    Cluster(usize),
    /// A workload on a fleet, at one site.
    Site(usize, usize),
}

#[derive(Debug, Clone)]
pub(super) enum WVal {
    Single(u32),
    PerSite(PerSite),
}

impl WVal {
    pub fn total(&self) -> u32 {
        match self {
            WVal::Single(n) => *n,
            WVal::PerSite(p) => p
                .values
                .iter()
                .zip(&p.classes.members)
                .map(|(v, n)| v.saturating_mul(*n))
                .fold(0u32, |a, b| a.saturating_add(b)),
        }
    }
}

enum Slot {
    InProgress,
    Done(Option<WVal>),
}

/// The evaluation context of every count: the drafts the counts are read
/// from, each count's value once known, and the chain being evaluated.
pub(super) struct Evaluation<'d> {
    pub drafts: &'d Drafts,
    slots: FxHashMap<CountKey, Slot>,
    /// Site names per fleet, shared by every explanation.
    site_names: FxHashMap<usize, Arc<[Arc<str>]>>,
    /// The chain being evaluated: each key with the span that referred to it.
    stack: Vec<(CountKey, Span)>,
    cycles: BTreeSet<Vec<CountKey>>,
    reported: BTreeSet<(Span, Code)>,
    /// How deep evaluation is, in steps (see [`MAX_COUNT_DEPTH`]).
    depth: usize,
    /// Whether E0307 was reported: one is enough.
    too_deep: bool,
    /// Sites each fleet workload runs on, shared by the workloads with one
    /// fleet and selectors.
    pub sites_of: FxHashMap<usize, Arc<[usize]>>,
    /// The classes of those sites, by fleet and list of sites (its
    /// address: one per fleet and selectors), once their gateways are
    /// known.
    classes: FxHashMap<(usize, usize), Arc<SiteClasses>>,
    /// Total gateways of each fleet, once all its sites are known.
    fleet_totals: FxHashMap<usize, u32>,
}

impl<'d> Evaluation<'d> {
    pub fn new(drafts: &'d Drafts) -> Evaluation<'d> {
        Evaluation {
            drafts,
            slots: FxHashMap::default(),
            site_names: FxHashMap::default(),
            stack: Vec::new(),
            cycles: BTreeSet::new(),
            reported: BTreeSet::new(),
            depth: 0,
            too_deep: false,
            sites_of: FxHashMap::default(),
            classes: FxHashMap::default(),
            fleet_totals: FxHashMap::default(),
        }
    }

    pub fn value(&self, key: CountKey) -> Option<&WVal> {
        match self.slots.get(&key) {
            Some(Slot::Done(Some(v))) => Some(v),
            _ => None,
        }
    }
}

type R = Option<(Q, String)>;

impl<'a> Analyzer<'a> {
    /// Stage 4, evaluate counts: which sites each fleet workload runs on,
    /// then every count (a pool's nodes, a site's gateways, a workload's
    /// replicas), memoised in the [`Evaluation`] that placement reads.
    pub(super) fn evaluate_counts<'d>(&mut self, d: &'d Drafts) -> Evaluation<'d> {
        let mut ev = Evaluation::new(d);
        // Which sites each fleet workload runs on: matched once per fleet
        // and selectors.
        let mut matched: FxHashMap<(usize, Vec<&crate::ir::Selector>), Arc<[usize]>> = FxHashMap::default();
        for (w, wl) in d.workloads.iter().enumerate() {
            let Some(Target::Fleet(f)) = wl.target else { continue };
            let Some(fleet) = d.fleets.get(f) else { continue };
            let sites = matched
                .entry((f, wl.selectors.iter().map(|(s, _)| s).collect()))
                .or_insert_with(|| {
                    fleet
                        .sites
                        .iter()
                        .enumerate()
                        .filter(|(_, s)| super::place::matches(&wl.selectors, &s.labels))
                        .map(|(i, _)| i)
                        .collect()
                })
                .clone();
            if sites.is_empty() && !fleet.sites.is_empty() {
                let span = wl.selectors.first().map(|(_, s)| *s).unwrap_or(wl.on_span);
                self.diags.push(
                    Diagnostic::new(
                        Code::W0401,
                        span,
                        format!("`{}` matches no site of fleet `{}`", wl.name, fleet.name.name),
                    )
                    .label("selects nothing")
                    .with_secondary(fleet.name.span, "the fleet's sites and their labels are declared here")
                    .help("add the label to a site's `labels { }`, or fix the selector"),
                );
            }
            ev.sites_of.insert(w, sites);
        }
        // Evaluate every count.
        for (c, cl) in d.clusters.iter().enumerate() {
            for p in 0..cl.pools.len() {
                self.count(CountKey::Pool(c, p), cl.name.span, &mut ev);
            }
        }
        for (f, fl) in d.fleets.iter().enumerate() {
            for (s, site) in fl.sites.iter().enumerate() {
                self.count(CountKey::Site(f, s), site.name.span, &mut ev);
            }
        }
        for (w, wl) in d.workloads.iter().enumerate() {
            if wl.target.is_some() {
                self.count(CountKey::Workload(w), wl.name_span, &mut ev);
            }
        }
        ev
    }

    fn key_name(&self, key: CountKey, d: &Drafts) -> String {
        match key {
            CountKey::Pool(c, p) => {
                let cl = d.clusters.get(c);
                let cname = cl.map(|c| c.name.name.as_str()).unwrap_or("?");
                match cl.and_then(|c| c.pools.get(p)) {
                    Some(pool) if p > 0 => format!("nodes of {cname}.{}", pool.name),
                    _ => format!("nodes of {cname}"),
                }
            }
            CountKey::Site(f, s) => {
                let fl = d.fleets.get(f);
                format!(
                    "gateways of {}.{}",
                    fl.map(|f| f.name.name.as_str()).unwrap_or("?"),
                    fl.and_then(|f| f.sites.get(s))
                        .map(|s| s.name.name.as_str())
                        .unwrap_or("?")
                )
            }
            CountKey::Workload(w) => format!(
                "replicas of {}",
                d.workloads.get(w).map(|w| w.name.as_str()).unwrap_or("?")
            ),
        }
    }

    fn report_once(&mut self, ev: &mut Evaluation<'_>, d: Diagnostic) {
        if ev.reported.insert((d.primary.span, d.code)) {
            self.diags.push(d);
        }
    }

    /// Evaluate a count key (memoised), entering it from `via`.
    /// Its total: a fleet workload's replicas summed over its sites (the
    /// value itself stays in `ev`, read by placement through
    /// [`Evaluation::value`]).
    pub(super) fn count(&mut self, key: CountKey, via: Span, ev: &mut Evaluation<'_>) -> Option<u32> {
        match ev.slots.get(&key) {
            Some(Slot::Done(v)) => return v.as_ref().map(WVal::total),
            Some(Slot::InProgress) => {
                self.report_cycle(key, via, ev);
                return None;
            }
            None => {}
        }
        if ev.depth + COUNT_STEP > MAX_COUNT_DEPTH {
            self.report_too_deep(via, ev);
            return None;
        }
        ev.slots.insert(key, Slot::InProgress);
        ev.stack.push((key, via));
        ev.depth += COUNT_STEP;
        let value = self.compute(key, ev);
        ev.depth -= COUNT_STEP;
        ev.stack.pop();
        let total = value.as_ref().map(WVal::total);
        ev.slots.insert(key, Slot::Done(value));
        total
    }

    /// One E0307 for the whole chain, at the reference that went too deep.
    fn report_too_deep(&mut self, via: Span, ev: &mut Evaluation<'_>) {
        let d = ev.drafts;
        if std::mem::replace(&mut ev.too_deep, true) {
            return;
        }
        let first = ev.stack.first().map(|(k, _)| self.key_name(*k, d)).unwrap_or_default();
        let last = ev.stack.last().map(|(k, _)| self.key_name(*k, d)).unwrap_or_default();
        let mut diag = Diagnostic::new(
            Code::E0307,
            via,
            format!("counts depend on each other too deeply: more than {MAX_COUNT_DEPTH} steps"),
        )
        .label("one step too many")
        .help(format!(
            "evaluating a count takes at most {MAX_COUNT_DEPTH} steps, {COUNT_STEP} for each count it \
             goes through; let these counts depend on a param or a number instead of on each other"
        ));
        if ev.stack.len() > 1 {
            diag = diag.note(format!(
                "the chain runs through {} counts, from `{first}` to `{last}`",
                ev.stack.len()
            ));
        }
        if let Some((_, span)) = ev.stack.first() {
            if *span != via {
                diag = diag.with_secondary(*span, "the chain starts here");
            }
        }
        self.report_once(ev, diag);
    }

    fn report_cycle(&mut self, key: CountKey, via: Span, ev: &mut Evaluation<'_>) {
        let d = ev.drafts;
        let Some(pos) = ev.stack.iter().position(|(k, _)| *k == key) else {
            return;
        };
        let chain: Vec<(CountKey, Span)> = ev.stack.iter().skip(pos).copied().collect();
        let mut keys: Vec<CountKey> = chain.iter().map(|(k, _)| *k).collect();
        keys.sort();
        if !ev.cycles.insert(keys) {
            return;
        }
        let names: Vec<String> = chain.iter().map(|(k, _)| self.key_name(*k, d)).collect();
        let mut path = names.join(" → ");
        path.push_str(" → ");
        path.push_str(&self.key_name(key, d));
        let last = names.last().cloned().unwrap_or_default();
        let mut diag = Diagnostic::new(Code::E0304, via, format!("cycle among counts: {path}"))
            .label(format!("`{last}` uses `{}`", self.key_name(key, d)));
        for (i, (_, span)) in chain.iter().enumerate().skip(1) {
            let from = names.get(i - 1).cloned().unwrap_or_default();
            let to = names.get(i).cloned().unwrap_or_default();
            diag = diag.with_secondary(*span, format!("`{from}` uses `{to}`"));
        }
        self.diags
            .push(diag.help("make one of these counts a number or depend on a param instead"));
    }

    fn compute(&mut self, key: CountKey, ev: &mut Evaluation<'_>) -> Option<WVal> {
        let d = ev.drafts;
        match key {
            CountKey::Pool(c, p) => {
                let pool = d.clusters.get(c)?.pools.get(p)?;
                let file = d.clusters.get(c)?.file;
                let Some(e) = &pool.nodes else {
                    return Some(WVal::Single(1));
                };
                let subject = self.key_name(key, d);
                let v = self.final_count(
                    e,
                    At {
                        ctx: Ctx::PoolDef,
                        file,
                    },
                    ev,
                    &subject,
                    None,
                )?;
                Some(WVal::Single(v))
            }
            CountKey::Site(f, s) => {
                let fleet = d.fleets.get(f)?;
                let e = fleet.sites.get(s)?.gateways.as_ref()?;
                let subject = self.key_name(key, d);
                let v = self.final_count(
                    e,
                    At {
                        ctx: Ctx::SiteDef,
                        file: fleet.file,
                    },
                    ev,
                    &subject,
                    None,
                )?;
                Some(WVal::Single(v))
            }
            CountKey::Workload(w) => {
                let wl = d.workloads.get(w)?;
                let subject = self.key_name(key, d);
                match wl.target? {
                    Target::Cluster(c) => {
                        let v = match &wl.replicas {
                            Some(e) => self.final_count(
                                e,
                                At {
                                    ctx: Ctx::Cluster(c),
                                    file: wl.file,
                                },
                                ev,
                                &subject,
                                None,
                            )?,
                            None => self.default_cluster_replicas(w, c, ev)?,
                        };
                        Some(WVal::Single(v))
                    }
                    Target::Fleet(f) => {
                        let classes = self.site_classes(w, f, wl.name_span, ev);
                        let names = ev
                            .site_names
                            .entry(f)
                            .or_insert_with(|| {
                                d.fleets
                                    .get(f)
                                    .map(|fl| fl.sites.iter().map(|s| Arc::from(s.name.name.as_str())).collect())
                                    .unwrap_or_else(|| Arc::from(Vec::new()))
                            })
                            .clone();
                        let subject: Arc<str> = subject.into();
                        let mut values = Vec::with_capacity(classes.classes());
                        let mut per_class = Vec::new();
                        let mut failed = false;
                        for (&gw, &s) in classes.gateways.iter().zip(&classes.first) {
                            let v = match (wl.kind, wl.replicas.as_ref()) {
                                (crate::ir::WorkloadKind::Daemon, _) => gw,
                                (crate::ir::WorkloadKind::Job | crate::ir::WorkloadKind::Train, _) => Some(1),
                                (_, Some(e)) => {
                                    // The class's first site stands for all
                                    // of them.
                                    let site = names.get(s).map(|n| &**n);
                                    let at = At {
                                        ctx: Ctx::Site(f, s),
                                        file: wl.file,
                                    };
                                    let r = self.evaluate_count(e, at, ev, &subject, site);
                                    let v = r.as_ref().map(|(v, _)| *v);
                                    per_class.push(r);
                                    v
                                }
                                (_, None) => Some(1),
                            };
                            values.push(v.unwrap_or(0));
                            failed |= v.is_none();
                        }
                        if let (Some(e), false) = (wl.replicas.as_ref(), per_class.is_empty()) {
                            self.explanations
                                .push_sites(e.span, subject, names, classes.clone(), per_class);
                        }
                        if failed {
                            None
                        } else {
                            Some(WVal::PerSite(PerSite {
                                classes,
                                values: values.into(),
                            }))
                        }
                    }
                }
            }
        }
    }

    /// The classes of the sites workload `w` (on fleet `f`) runs on,
    /// entering each site's gateway count from `via` (see [`SiteClasses`]).
    /// Kept for the next workload with the same sites once every one of
    /// them was counted before, so that entering them again would neither
    /// evaluate nor report anything.
    fn site_classes(&mut self, w: usize, f: usize, via: Span, ev: &mut Evaluation<'_>) -> Arc<SiteClasses> {
        let sites = ev.sites_of.get(&w).cloned().unwrap_or_else(|| Arc::from(Vec::new()));
        let key = (f, sites.as_ptr() as usize);
        if let Some(c) = ev.classes.get(&key) {
            return c.clone();
        }
        let settled = sites
            .iter()
            .all(|s| matches!(ev.slots.get(&CountKey::Site(f, *s)), Some(Slot::Done(_))));
        let mut gateways = Vec::with_capacity(sites.len());
        for &s in sites.iter() {
            gateways.push(self.count(CountKey::Site(f, s), via, ev));
        }
        let classes = Arc::new(SiteClasses::new(sites.iter().copied().zip(gateways)));
        if settled {
            ev.classes.insert(key, classes.clone());
        }
        classes
    }

    fn default_cluster_replicas(&mut self, w: usize, c: usize, ev: &mut Evaluation<'_>) -> Option<u32> {
        let d = ev.drafts;
        let wl = d.workloads.get(w)?;
        if wl.kind != crate::ir::WorkloadKind::Daemon {
            return Some(1);
        }
        // A daemon runs on every node of the pool it lands on: the same
        // choice placement makes (matching labels; a GPU pool only for GPU
        // work).
        let cluster = d.clusters.get(c)?;
        let matching: Vec<usize> = cluster
            .pools
            .iter()
            .enumerate()
            .filter(|(_, p)| {
                wl.selectors
                    .iter()
                    .all(|(s, _)| (p.labels.get(&s.key) == Some(&s.value)) != s.negated)
            })
            .map(|(i, _)| i)
            .collect();
        let gpu_of = |i: usize| {
            cluster
                .pools
                .get(i)
                .and_then(|p| p.node.as_ref())
                .map(|n| n.gpu)
                .unwrap_or(0)
        };
        let pick = if wl.container.gpu > 0 {
            matching.iter().copied().find(|i| gpu_of(*i) >= wl.container.gpu)
        } else {
            matching
                .iter()
                .copied()
                .find(|i| gpu_of(*i) == 0)
                .or(matching.first().copied())
        }
        .unwrap_or(0);
        let total = self.count(CountKey::Pool(c, pick), wl.name_span, ev)?;
        Some(total)
    }

    /// Evaluate a count expression to a whole, non-negative number and
    /// record how it came out.
    pub(super) fn final_count(
        &mut self,
        e: &Expr,
        at: At,
        ev: &mut Evaluation<'_>,
        subject: &str,
        site: Option<Arc<str>>,
    ) -> Option<u32> {
        let (value, formula) = self.evaluate_count(e, at, ev, subject, site.as_deref())?;
        self.explanations.push(CountExplanation {
            span: e.span,
            subject: subject.into(),
            site,
            value,
            formula,
        });
        Some(value)
    }

    /// Evaluate a count expression to a whole, non-negative number and the
    /// formula that produced it.
    fn evaluate_count(
        &mut self,
        e: &Expr,
        at: At,
        ev: &mut Evaluation<'_>,
        subject: &str,
        site: Option<&str>,
    ) -> Option<(u32, Arc<str>)> {
        let (q, formula) = self.eval(e, at, ev)?;
        let at = site.as_ref().map(|s| format!(" at site `{s}`")).unwrap_or_default();
        if !q.is_int() {
            self.report_once(
                ev,
                Diagnostic::new(Code::E0301, e.span, format!("{subject}{at} is {q}, not a whole number"))
                    .label(format!("= {formula} = {q}"))
                    .help("round with a ratio (`1 per 3 gateways of F` rounds up) or `ceil(…)`/`floor(…)`"),
            );
            return None;
        }
        if q.n < 0 {
            self.report_once(
                ev,
                Diagnostic::new(Code::E0302, e.span, format!("{subject}{at} is {q}, a negative count"))
                    .label(format!("= {formula} = {q}"))
                    .help("counts are zero or more; add `min 0` or change the expression"),
            );
            return None;
        }
        let Some(v) = u32::try_from(q.n).ok().filter(|v| *v <= MAX_COUNT) else {
            self.report_once(
                ev,
                Diagnostic::new(
                    Code::E0202,
                    e.span,
                    format!("{subject}{at} is {q}, more than the maximum of {MAX_COUNT}"),
                )
                .label(if matches!(e.kind, ExprKind::Quantity { .. }) {
                    "too large".to_string()
                } else {
                    format!("= {formula} = {q}")
                })
                .help(format!(
                    "a count is at most {MAX_COUNT}; add a `max` or use smaller numbers"
                )),
            );
            return None;
        };
        let trivial = matches!(e.kind, ExprKind::Quantity { .. });
        Some((v, if trivial { v.to_string().into() } else { formula.into() }))
    }

    fn overflow(&mut self, span: Span, ev: &mut Evaluation<'_>) -> R {
        self.report_once(
            ev,
            Diagnostic::new(Code::E0202, span, "this count is too large to compute")
                .label("overflow")
                .help("use smaller numbers"),
        );
        None
    }

    fn not_a_count(&mut self, e: &Expr, found: String, help: String) -> R {
        self.type_error(e.span, "a count", &found, help);
        None
    }

    pub(super) fn eval(&mut self, e: &Expr, at: At, ev: &mut Evaluation<'_>) -> R {
        if ev.depth >= MAX_COUNT_DEPTH {
            self.report_too_deep(e.span, ev);
            return None;
        }
        ev.depth += 1;
        let r = self.eval_expr(e, at, ev);
        ev.depth -= 1;
        r
    }

    fn eval_expr(&mut self, e: &Expr, at: At, ev: &mut Evaluation<'_>) -> R {
        let d = ev.drafts;
        match &e.kind {
            ExprKind::Quantity { number, suffix } => {
                if !suffix.is_empty() {
                    let found = self.describe_expr(e);
                    return self.not_a_count(e, found, "a count is a plain number; remove the unit".into());
                }
                let q = Q::parse(number)?;
                Some((q, q.to_string()))
            }
            ExprKind::Paren(inner) => {
                let (q, f) = self.eval(inner, at, ev)?;
                Some((q, format!("({f})")))
            }
            ExprKind::Neg(inner) => {
                let (q, f) = self.eval(inner, at, ev)?;
                Some((Q { n: -q.n, d: q.d }, format!("-{f}")))
            }
            ExprKind::Binary { .. } => self.eval_chain(e, at, ev),
            ExprKind::Call { name, args } => {
                let mut vals = Vec::new();
                for a in args {
                    vals.push(self.eval(a, at, ev)?);
                }
                let arity_ok = match name.name.as_str() {
                    "min" | "max" => !vals.is_empty(),
                    "ceil" | "floor" => vals.len() == 1,
                    _ => {
                        let mut dg =
                            Diagnostic::new(Code::E0101, name.span, format!("there is no function `{}`", name.name))
                                .label("unknown function");
                        dg = match crate::diag::suggest(&name.name, ["min", "max", "ceil", "floor"]) {
                            Some(s) => dg.help(format!("did you mean `{s}`?")),
                            None => dg.help("counts can use min(…), max(…), ceil(…) and floor(…)"),
                        };
                        self.diags.push(dg);
                        return None;
                    }
                };
                if !arity_ok {
                    self.diags.push(
                        Diagnostic::new(
                            Code::E0201,
                            e.span,
                            format!(
                                "`{}` takes {}",
                                name.name,
                                if matches!(name.name.as_str(), "min" | "max") {
                                    "one or more values"
                                } else {
                                    "one value"
                                }
                            ),
                        )
                        .label("wrong number of values")
                        .help(format!("write `{}(…)` with the right number of values", name.name)),
                    );
                    return None;
                }
                let shown: Vec<String> = vals.iter().map(|(_, f)| f.clone()).collect();
                let q = match name.name.as_str() {
                    "min" => vals.iter().map(|(q, _)| *q).min_by(|a, b| cmp(*a, *b))?,
                    "max" => vals.iter().map(|(q, _)| *q).max_by(|a, b| cmp(*a, *b))?,
                    "ceil" => vals.first()?.0.ceil(),
                    _ => vals.first()?.0.floor(),
                };
                Some((q, format!("{}({})", name.name, shown.join(", "))))
            }
            ExprKind::Path(p) => {
                if p.segments.len() == 1 {
                    if let Some(name) = p.segments.first().map(|s| s.name.as_str()) {
                        if let Some(info) = self.params.get(name) {
                            let (ty, val) = (info.ty, info.value.clone());
                            self.use_param(name, false);
                            return match (ty, val) {
                                (ParamTy::Int, ParamVal::Int(i)) => Some((Q::int(i128::from(i)), i.to_string())),
                                (ty, _) => self.not_a_count(
                                    e,
                                    format!("the {} param `{name}`", ty.name()),
                                    "only `int` params can be used in counts".into(),
                                ),
                            };
                        }
                    }
                }
                let id = self.resolve(p, at.file)?;
                let (found, help) = if d.fleet_of.contains_key(&id) {
                    (
                        format!("the fleet `{}`", p.text()),
                        format!("write `gateways of {}` or `sites of {}`", p.text(), p.text()),
                    )
                } else if d.cluster_of.contains_key(&id) {
                    (
                        format!("the cluster `{}`", p.text()),
                        format!("write `nodes of {}`", p.text()),
                    )
                } else if d.workloads_of.contains_key(&id) {
                    (format!("`{}`", p.text()), format!("write `replicas of {}`", p.text()))
                } else {
                    (
                        format!("the {} `{}`", self.item_kind_name(id), p.text()),
                        "counts use int params and `gateways|sites|nodes|replicas of NAME`".into(),
                    )
                };
                self.not_a_count(e, found, help)
            }
            ExprKind::CountRef { unit, unit_span, of } => {
                let (v, what) = self.count_of(
                    UnitRef {
                        unit: *unit,
                        span: *unit_span,
                        of: Some(of),
                    },
                    e.span,
                    at,
                    ev,
                )?;
                Some((Q::int(i128::from(v)), format!("{v} {what}")))
            }
            ExprKind::Per {
                amount,
                per,
                unit,
                unit_span,
                of,
                ..
            } => {
                let (a, fa) = self.eval(amount, at, ev)?;
                let (b, fb) = match per {
                    Some(p) => self.eval(p, at, ev)?,
                    None => (Q::int(1), "1".into()),
                };
                if b.n == 0 {
                    let span = per.as_ref().map(|p| p.span).unwrap_or(e.span);
                    self.report_once(
                        ev,
                        Diagnostic::new(Code::E0305, span, "a ratio per zero")
                            .label(format!("{fb} is zero"))
                            .help("the number after `per` must be at least 1"),
                    );
                    return None;
                }
                let (c, what) = self.count_of(
                    UnitRef {
                        unit: *unit,
                        span: *unit_span,
                        of: of.as_ref(),
                    },
                    e.span,
                    at,
                    ev,
                )?;
                let Some(q) = a.mul(Q::int(i128::from(c))).and_then(|x| x.div(b)) else {
                    return self.overflow(e.span, ev);
                };
                Some((q.ceil(), format!("ceil({fa} × {c} {what} ÷ {fb})")))
            }
            ExprKind::Bounded { expr, min, max } => {
                let (mut q, f) = self.eval(expr, at, ev)?;
                let lo = match min {
                    Some(m) => Some((self.eval(m, at, ev)?, m.span)),
                    None => None,
                };
                let hi = match max {
                    Some(m) => Some((self.eval(m, at, ev)?, m.span)),
                    None => None,
                };
                if let (Some(((l, _), ls)), Some(((h, _), hs))) = (&lo, &hi) {
                    if cmp(*l, *h) == std::cmp::Ordering::Greater {
                        self.report_once(
                            ev,
                            Diagnostic::new(Code::E0303, *ls, format!("`min {l}` is greater than `max {h}`"))
                                .label("minimum")
                                .with_secondary(*hs, "maximum")
                                .help("swap the bounds"),
                        );
                        return None;
                    }
                }
                let mut text = f;
                if let Some(((l, _), _)) = &lo {
                    if cmp(q, *l) == std::cmp::Ordering::Less {
                        q = *l;
                        text = format!("{text}, raised to min {l}");
                    }
                }
                if let Some(((h, _), _)) = &hi {
                    if cmp(q, *h) == std::cmp::Ordering::Greater {
                        q = *h;
                        text = format!("{text}, capped at max {h}");
                    }
                }
                Some((q, text))
            }
            _ => {
                let found = self.describe_expr(e);
                self.not_a_count(
                    e,
                    found,
                    "write a number, an int param or a ratio such as `1 per 10 gateways of plants`".into(),
                )
            }
        }
    }

    /// A chain `a + b - c …` (a tree leaning left, as deep as it is long),
    /// evaluated along its left spine with a loop instead of recursion.
    fn eval_chain(&mut self, e: &Expr, at: At, ev: &mut Evaluation<'_>) -> R {
        let mut spine = Vec::new();
        let mut leftmost = e;
        while let ExprKind::Binary { op, lhs, rhs } = &leftmost.kind {
            spine.push((*op, rhs.as_ref(), leftmost.span));
            leftmost = lhs;
        }
        let (mut a, mut formula) = self.eval(leftmost, at, ev)?;
        for (op, rhs, span) in spine.into_iter().rev() {
            let (b, fb) = self.eval(rhs, at, ev)?;
            if op == BinOp::Div && b.n == 0 {
                self.report_once(
                    ev,
                    Diagnostic::new(Code::E0305, rhs.span, "division by zero")
                        .label(format!("`{}` is zero", self.prog.sources.text(rhs.span)))
                        .help("divide by something that is never zero, or use `max(…, 1)`"),
                );
                return None;
            }
            let (r, sym) = match op {
                BinOp::Add => (a.add(b), " + "),
                BinOp::Sub => (a.sub(b), " - "),
                BinOp::Mul => (a.mul(b), " × "),
                BinOp::Div => (a.div(b), " ÷ "),
            };
            let Some(q) = r else {
                return self.overflow(span, ev);
            };
            a = q;
            formula.push_str(sym);
            formula.push_str(&fb);
        }
        Some((a, formula))
    }

    /// The number a unit counts: of a named target, or of the context.
    fn count_of(
        &mut self,
        r: UnitRef<'_>,
        whole: Span,
        at: At,
        ev: &mut Evaluation<'_>,
    ) -> Option<(u32, &'static str)> {
        let d = ev.drafts;
        let UnitRef {
            unit,
            span: unit_span,
            of,
        } = r;
        let At { ctx, file } = at;
        let word = unit.plural();
        let Some(of) = of else {
            return match (ctx, unit) {
                (Ctx::Site(f, s), CountUnit::Gateways | CountUnit::Nodes) => {
                    let v = self.count(CountKey::Site(f, s), whole, ev)?;
                    Some((v, "gateways at the site"))
                }
                (Ctx::Site(..), CountUnit::Sites) => Some((1, "site")),
                (Ctx::Cluster(c), CountUnit::Nodes) => {
                    let pools = d.clusters.get(c)?.pools.len();
                    let mut total = 0u32;
                    for p in 0..pools {
                        total = total.saturating_add(self.count(CountKey::Pool(c, p), whole, ev)?);
                    }
                    Some((total, "nodes"))
                }
                _ => {
                    self.diags.push(
                        Diagnostic::new(
                            Code::E0306,
                            unit_span,
                            format!("which {word}? nothing here has {word} of its own"),
                        )
                        .label(format!("{word} of what?"))
                        .help(format!("name what to count: `… per 10 {word} of NAME`")),
                    );
                    None
                }
            };
        };
        let id = self.resolve(of, file)?;
        let is_model = matches!(self.item(id).map(|i| &i.kind), Some(ItemKind::Block(b)) if b.kind == crate::syntax::ast::BlockKind::Model);
        match unit {
            CountUnit::Gateways | CountUnit::Sites | CountUnit::Nodes if d.fleet_of.contains_key(&id) => {
                let f = *d.fleet_of.get(&id)?;
                let sites = d.fleets.get(f)?.sites.len();
                if unit == CountUnit::Sites {
                    return Some((u32::try_from(sites).unwrap_or(u32::MAX), "sites"));
                }
                if let Some(total) = ev.fleet_totals.get(&f) {
                    return Some((*total, "gateways"));
                }
                let mut total = 0u32;
                for s in 0..sites {
                    total = total.saturating_add(self.count(CountKey::Site(f, s), whole, ev)?);
                }
                // Every site is evaluated now, so the total can be reused
                // without hiding a cycle.
                ev.fleet_totals.insert(f, total);
                Some((total, "gateways"))
            }
            CountUnit::Nodes if d.cluster_of.contains_key(&id) => {
                let c = *d.cluster_of.get(&id)?;
                let pools = d.clusters.get(c)?.pools.len();
                let mut total = 0u32;
                for p in 0..pools {
                    total = total.saturating_add(self.count(CountKey::Pool(c, p), whole, ev)?);
                }
                Some((total, "nodes"))
            }
            CountUnit::Replicas if d.workloads_of.contains_key(&id) => {
                let ws = d.workloads_of.get(&id)?.clone();
                let mut total = 0u32;
                for w in ws {
                    // Models count the replicas of their servers only.
                    if is_model && d.workloads.get(w).map(|x| x.kind) == Some(crate::ir::WorkloadKind::Train) {
                        continue;
                    }
                    total = total.saturating_add(self.count(CountKey::Workload(w), whole, ev)?);
                }
                Some((total, "replicas"))
            }
            _ => {
                let kind = if d.fleet_of.contains_key(&id) {
                    "a fleet, which has gateways, sites and nodes"
                } else if d.cluster_of.contains_key(&id) {
                    "a cluster, which has nodes"
                } else if d.workloads_of.contains_key(&id) {
                    "a workload, which has replicas"
                } else {
                    "not something that can be counted"
                };
                let mut dg = Diagnostic::new(Code::E0306, unit_span, format!("`{}` has no {word}", of.text()))
                    .label(format!("`{}` is {kind}", of.text()));
                if let Some(span) = self.name_span(id) {
                    dg = dg.with_secondary(span, "declared here");
                }
                let help = if d.fleet_of.contains_key(&id) {
                    format!("count `gateways`, `sites` or `nodes` of `{}`", of.text())
                } else if d.cluster_of.contains_key(&id) {
                    format!("count `nodes of {}`", of.text())
                } else {
                    format!("count `replicas of {}`", of.text())
                };
                self.diags.push(dg.help(help));
                None
            }
        }
    }
}

fn cmp(a: Q, b: Q) -> std::cmp::Ordering {
    (a.n * b.d).cmp(&(b.n * a.d))
}

#[cfg(test)]
mod tests {
    use super::Q;

    #[test]
    fn rationals_round_exactly() {
        let q = Q::int(24).div(Q::int(10)).map(|q| q.ceil());
        assert_eq!(q, Some(Q::int(3)));
        assert_eq!(
            Q::parse("0.5").and_then(|h| h.mul(Q::int(3))).map(|q| q.to_string()),
            Some("3/2".into())
        );
        assert_eq!(Q::int(-3).div(Q::int(2)).map(|q| q.ceil()), Some(Q::int(-1)));
    }
}
