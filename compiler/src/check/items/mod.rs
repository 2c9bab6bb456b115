//! Reading items into drafts: the solution, device profiles, runtimes,
//! serving runtimes, clusters, fleets, workloads and models. Counts stay as
//! expressions here; `counts` evaluates them and `place` finishes the IR.
//!
//! This file holds the draft types, the driver ([`Analyzer::drafts`]) and the
//! helpers every kind of item uses; `infra` reads the solution, profiles,
//! runtimes, clusters, fleets and externals, `container` the container fields
//! every workload shares, `workload` services, daemons and jobs, and `model`
//! models with their training and serving workloads.

mod container;
mod infra;
pub(crate) mod kept;
mod model;
mod workload;

use super::body::{BodyView, MapKeys};
use super::values as v;
use super::{Analyzer, ItemId};
use crate::diag::{Code, Diagnostic};
use crate::ir;
use crate::schema;
use crate::source::{FileId, Span};
use crate::syntax::ast::{self, BlockKind, Expr, ItemKind, SecretSource};
use rustc_hash::FxHashMap as HashMap;
use std::collections::BTreeMap;

pub(super) struct PoolDraft {
    pub name: String,
    pub span: Span,
    pub node: Option<ir::DeviceProfile>,
    pub nodes: Option<Expr>,
    pub labels: BTreeMap<String, String>,
}

pub(super) struct ClusterDraft {
    pub name: ast::Ident,
    pub file: FileId,
    pub provider: Option<ir::Provider>,
    pub baremetal_pattern: Option<(String, Span)>,
    pub distribution: String,
    pub version: Option<String>,
    pub domain: Option<(String, Span)>,
    /// `vip = "10.0.0.10"`: a valid IPv4 address (E0213 otherwise).
    pub vip: Option<(String, Span)>,
    pub labels: BTreeMap<String, String>,
    pub pools: Vec<PoolDraft>,
}

pub(super) struct SiteDraft {
    pub name: ast::Ident,
    pub gateways: Option<Expr>,
    pub hosts: Option<(String, Span)>,
    pub standby: u32,
    pub labels: BTreeMap<String, String>,
    pub region: Option<String>,
    /// `hub = "host"`: the gateway that carries the site's services that
    /// are not on every gateway (Docker fleets).
    pub hub: Option<(String, Span)>,
    /// `offline = true`: the site has no route to the internet.
    pub offline: Option<Span>,
    /// `mirror = "host:port"`, a valid registry host (E0214 otherwise).
    pub mirror: Option<(String, Span)>,
}

pub(super) struct FleetDraft {
    pub name: ast::Ident,
    pub file: FileId,
    pub device: Option<ir::DeviceProfile>,
    pub device_span: Span,
    pub runtime: Option<ir::Runtime>,
    pub runtime_span: Span,
    /// `server = "host"`: the first control-plane host of the site it is a
    /// gateway of.
    pub server: Option<(String, Span)>,
    pub labels: BTreeMap<String, String>,
    pub sites: Vec<SiteDraft>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Target {
    Cluster(usize),
    Fleet(usize),
}

#[derive(Clone)]
pub(super) struct WorkloadDraft {
    pub name: String,
    pub name_span: Span,
    pub kind: ir::WorkloadKind,
    pub docs: Vec<String>,
    pub target: Option<Target>,
    pub on_span: Span,
    pub selectors: Vec<(ir::Selector, Span)>,
    /// Shared by a kept draft's moved copies (see [`kept`]).
    pub container: std::sync::Arc<ir::Container>,
    pub cpu_span: Span,
    pub memory_span: Span,
    pub gpu_span: Span,
    pub arch_span: Option<Span>,
    pub replicas: Option<Expr>,
    pub file: FileId,
    pub schedule: Option<String>,
    pub backoff: u32,
    pub deadline_secs: u64,
    pub critical: Option<Span>,
    pub public: bool,
    pub talks_to: Vec<(String, Span)>,
    /// Env values that name another workload's endpoint.
    pub env_refs: Vec<super::body::EnvRefDraft>,
    pub autoscale: Option<AutoscaleDraft>,
    pub rollout: ir::Rollout,
    pub labels: BTreeMap<String, String>,
    pub model: Option<ir::ModelRef>,
    pub template: Option<String>,
    pub privileged_span: Option<Span>,
}

/// The profiles read so far, each once, by the item that declares it:
/// device profiles, runtimes and serving runtimes (`None` when invalid).
#[derive(Default)]
struct Profiles {
    devices: HashMap<ItemId, Option<ir::DeviceProfile>>,
    runtimes: HashMap<ItemId, Option<ir::Runtime>>,
    servings: HashMap<ItemId, Option<infra::ServingInfo>>,
}

/// An `autoscale { min max cpu_percent }` block, its bounds still
/// expressions.
#[derive(Clone)]
pub(super) struct AutoscaleDraft {
    pub min: Expr,
    pub max: Expr,
    pub cpu_percent: u32,
    /// The `autoscale` keyword.
    pub span: Span,
}

/// The solution block.
#[derive(Clone)]
pub(super) struct SolutionHeader {
    pub name: String,
    pub version: String,
    pub namespace: String,
    pub description: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub registries: Vec<ir::Registry>,
    pub admin_networks: Vec<String>,
}

pub(super) struct Drafts {
    pub solution: Option<SolutionHeader>,
    pub clusters: Vec<ClusterDraft>,
    pub fleets: Vec<FleetDraft>,
    /// Shared with the kept drafts of unchanged items (see [`kept`]).
    pub workloads: Vec<std::sync::Arc<WorkloadDraft>>,
    pub models: Vec<ir::Model>,
    /// The `monitor` keyword of each monitored model, by model name.
    pub monitor_spans: HashMap<String, Span>,
    /// Each `metrics_from` entry: (model, workload as written, where).
    pub metrics_from: Vec<(String, String, Span)>,
    /// External dependencies, in source order.
    pub externals: Vec<ir::External>,
    /// Every declared external's name, valid or not (a reference to one
    /// with an invalid address is not reported again).
    pub external_names: Vec<String>,
    pub cluster_of: HashMap<ItemId, usize>,
    pub fleet_of: HashMap<ItemId, usize>,
    /// Workloads made from an item (a model has several).
    pub workloads_of: HashMap<ItemId, Vec<usize>>,
}

impl<'a> Analyzer<'a> {
    /// Stage 3, items: every item's fields read and typed into drafts, in
    /// two passes (clusters and fleets first, so workloads can refer to
    /// them by index).
    pub(in crate::check) fn drafts(&mut self) -> Drafts {
        let mut d = Drafts {
            solution: None,
            clusters: Vec::new(),
            fleets: Vec::new(),
            workloads: Vec::new(),
            models: Vec::new(),
            monitor_spans: HashMap::default(),
            metrics_from: Vec::new(),
            externals: Vec::new(),
            external_names: Vec::new(),
            cluster_of: HashMap::default(),
            fleet_of: HashMap::default(),
            workloads_of: HashMap::default(),
        };
        let prog = self.prog;
        // What every kept draft was read in (only with a cache to keep
        // them in).
        let environment = self.cache.map(|_| kept::environment(self));
        let mut solution_span: Option<Span> = None;
        let mut profiles = Profiles::default();
        // Clusters and fleets first, so workloads can refer to them by index.
        for pass in 0..2 {
            for unit in &prog.units {
                let is_user = prog.user_files.contains(&unit.file);
                for (idx, item) in unit.items.iter().enumerate() {
                    let id = (unit.file, idx);
                    match (&item.kind, pass) {
                        (ItemKind::Solution(b), 0) => {
                            if !is_user {
                                continue;
                            }
                            if let Some(prev) = solution_span {
                                self.diags.push(
                                    Diagnostic::new(Code::E0102, b.name.span, "a program has one `solution` block")
                                        .label("second solution")
                                        .with_secondary(prev, "first solution here")
                                        .help("merge them into one"),
                                );
                                continue;
                            }
                            solution_span = Some(b.name.span);
                            d.solution = self.solution_block(b);
                        }
                        (ItemKind::Block(b), 0) => match b.kind {
                            BlockKind::Cluster => {
                                if let Some(c) = self.cluster(b, unit.file, &mut profiles) {
                                    d.cluster_of.insert(id, d.clusters.len());
                                    d.clusters.push(c);
                                }
                            }
                            BlockKind::Fleet => {
                                if let Some(f) = self.fleet(b, unit.file, &mut profiles) {
                                    d.fleet_of.insert(id, d.fleets.len());
                                    d.fleets.push(f);
                                }
                            }
                            BlockKind::Device => {
                                self.header_only(b, "a device profile");
                                self.device_item(id, &mut profiles.devices);
                            }
                            BlockKind::Runtime => {
                                self.header_only(b, "a runtime");
                                self.runtime_item(id, &mut profiles.runtimes);
                            }
                            BlockKind::Serving => {
                                self.header_only(b, "a serving runtime");
                                self.serving_item(id, &mut profiles.servings);
                            }
                            BlockKind::External => {
                                self.header_only(b, "an external dependency");
                                if is_user {
                                    d.external_names.push(v::k8s_name(&b.name.name));
                                    if let Some(x) = self.external(b, item) {
                                        d.externals.push(x);
                                    }
                                }
                            }
                            _ => {}
                        },
                        (ItemKind::Block(b), 1) => match b.kind {
                            BlockKind::Service | BlockKind::Daemon | BlockKind::Job => {
                                if b.template.is_none() {
                                    if let Some(w) = self.kept_workload(b, id, item, &d, environment) {
                                        d.workloads_of.insert(id, vec![d.workloads.len()]);
                                        d.workloads.push(w);
                                    }
                                } else {
                                    self.workload(b, id, item, &d);
                                }
                            }
                            BlockKind::Model => {
                                self.model(b, id, item, &mut d, &mut profiles.servings);
                            }
                            _ => {}
                        },
                        _ => {}
                    }
                }
            }
        }
        if solution_span.is_none() {
            if let Some(root) = prog.root {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0106,
                        Span::new(root, 0, 0),
                        "the program has no `solution` block",
                    )
                    .label("expected `solution NAME { version = \"…\" }`")
                    .help("add `solution my_solution { version = \"1.0.0\" }` at the top"),
                );
            }
        }
        d
    }

    /// The draft of a plain workload: kept from an earlier check when
    /// nothing it was read from changed (see [`kept`]), else read, and kept
    /// when it was read without a diagnostic.
    fn kept_workload(
        &mut self,
        b: &'a ast::Block,
        id: ItemId,
        item: &'a ast::Item,
        d: &Drafts,
        environment: Option<u64>,
    ) -> Option<std::sync::Arc<WorkloadDraft>> {
        let (Some(cache), Some(environment)) = (self.cache, environment) else {
            return self.workload(b, id, item, d).map(std::sync::Arc::new);
        };
        let key = self
            .prog
            .unit(id.0)
            .and_then(|u| u.keys.get(id.1))
            .copied()
            .unwrap_or(0);
        if key == 0 {
            return self.workload(b, id, item, d).map(std::sync::Arc::new);
        }
        let at = item.span.start;
        if let Some((mut drafts, generation)) = cache.drafts() {
            if let Some((draft, effects)) = drafts.get(key, at, environment, generation) {
                drop(drafts);
                self.apply_effects(effects);
                return Some(draft);
            }
        }
        let before = self.diags.len();
        let outer = self.effects.replace(kept::Effects::default());
        let w = self.workload(b, id, item, d).map(std::sync::Arc::new);
        let effects = std::mem::replace(&mut self.effects, outer).unwrap_or_default();
        if let (Some(w), true) = (&w, self.diags.len() == before) {
            if let Some((mut drafts, generation)) = cache.drafts() {
                // A draft read from a template has spans in it: it can be
                // taken back only where its item and the template are.
                let movable = b.from.is_none();
                drafts.put(key, at, environment, (w.clone(), effects, movable), generation);
            }
        }
        w
    }

    /// Apply again what reading a kept draft did.
    fn apply_effects(&mut self, e: kept::Effects) {
        self.used_params.extend(e.params);
        self.field_params.extend(e.field_params);
        self.used_std.extend(e.std);
    }

    pub(super) fn check_name(&mut self, name: &str, span: Span, what: &str) {
        if let Err(m) = v::check_dns_label(&v::k8s_name(name)) {
            self.diags.push(
                Diagnostic::new(Code::E0206, span, format!("{what} name `{name}` is not a valid Kubernetes name: {m}"))
                    .label("invalid name")
                    .help("use lowercase ASCII letters, digits and `_` (written as `-` in outputs), starting with a letter, at most 63 characters"),
            );
        }
    }

    pub(super) fn map_block(&mut self, view: &BodyView<'a>, keyword: &str, labels: bool) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for b in view.blocks_named(keyword).collect::<Vec<_>>() {
            for (k, (val, _)) in self.string_map(b, if labels { MapKeys::Labels } else { MapKeys::Env }, None) {
                out.entry(k).or_insert(val);
            }
        }
        out
    }

    /// A `secret NAME from SOURCE "ref"` statement as a reference: a
    /// literal value is E0501, a bad source or reference E0502.
    pub(super) fn secret_ref(&mut self, s: &ast::SecretStmt) -> Option<ir::SecretRef> {
        match &s.source {
            SecretSource::Literal(e) => {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0501,
                        e.span,
                        format!("secret `{}` is given a literal value", s.name.name),
                    )
                    .label("a secret value in the source")
                    .help(format!(
                        "write `secret {} from env \"VAR\"`, `from file \"/path\"` or `from vault \"path#key\"`",
                        s.name.name
                    )),
                );
                None
            }
            SecretSource::From { kind, reference } => {
                let source = match kind.name.as_str() {
                    "env" => Some(ir::SecretSource::Env),
                    "file" => Some(ir::SecretSource::File),
                    "vault" => Some(ir::SecretSource::Vault),
                    _ => None,
                };
                let Some(source) = source else {
                    let mut d = Diagnostic::new(
                        Code::E0502,
                        kind.span,
                        format!("`{}` is not a secret source", kind.name),
                    )
                    .label("unknown source");
                    d = match crate::diag::suggest(&kind.name, schema::SECRET_SOURCES.iter().copied()) {
                        Some(x) => d.help(format!("did you mean `{x}`?")),
                        None => d.help("secrets come `from env`, `from file` or `from vault`"),
                    };
                    self.diags.push(d);
                    return None;
                };
                let problem = match source {
                    ir::SecretSource::Env => v::check_env_name(&reference.value).err(),
                    ir::SecretSource::File => (!reference.value.starts_with('/'))
                        .then(|| format!("`{}` is not an absolute path", reference.value)),
                    ir::SecretSource::Vault => match reference.value.split_once('#') {
                        Some((p, k)) if !p.is_empty() && !k.is_empty() => None,
                        _ => Some(format!("`{}` is not `path#key`", reference.value)),
                    },
                };
                if let Some(m) = problem {
                    let help = match source {
                        ir::SecretSource::Env => "name an environment variable, e.g. `DB_PASSWORD`",
                        ir::SecretSource::File => "give an absolute path, e.g. `/run/secrets/db`",
                        ir::SecretSource::Vault => "write `secret/data/app#password`",
                    };
                    self.diags.push(
                        Diagnostic::new(Code::E0502, reference.span, m)
                            .label("invalid reference")
                            .help(help),
                    );
                    return None;
                }
                Some(ir::SecretRef {
                    name: s.name.name.clone(),
                    source,
                    reference: reference.value.clone(),
                })
            }
        }
    }

    /// `std.devices.rpi5` for stdlib items, the bare name otherwise.
    pub(super) fn qualified_name(&self, id: ItemId) -> String {
        let name = self.block(id).map(|b| b.name.name.clone()).unwrap_or_default();
        match self.prog.std_modules.iter().find(|(_, f)| **f == id.0) {
            Some((m, _)) => format!("std.{m}.{name}"),
            None => name,
        }
    }

    /// Items other than workloads take no `on`, `where`, `from` or `template`.
    pub(super) fn header_only(&mut self, b: &ast::Block, what: &str) {
        let mut bad = Vec::new();
        if let Some(on) = &b.on {
            bad.push((on.span, "`on`"));
        }
        if let Some(s) = b.selectors.first() {
            bad.push((s.span, "`where`"));
        }
        if let Some(from) = &b.from {
            bad.push((from.span, "`from`"));
        }
        if let Some(t) = b.template {
            bad.push((t, "`template`"));
        }
        for (span, word) in bad {
            self.diags.push(
                Diagnostic::new(Code::E0110, span, format!("{what} takes no {word}"))
                    .label("not allowed here")
                    .help(format!("remove {word}; only services, daemons and jobs use it")),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{analyzer, block, program, reported};
    use crate::diag::Code;
    use crate::ir;
    use crate::schema::SERVICE;

    #[test]
    fn names_must_become_kubernetes_names() {
        let prog = program("service s on c { }");
        let mut a = analyzer(&prog);
        let span = block(&prog, "s").name.span;
        for ok in ["plant_a", "a", &"x".repeat(63)] {
            a.check_name(ok, span, "site");
            assert!(a.diags.is_empty(), "{ok}: {:#?}", a.diags);
        }
        for bad in ["Plant", "9lives", "é", &"x".repeat(64)] {
            a.check_name(bad, span, "site");
            let d = a.diags.pop().unwrap_or_else(|| panic!("{bad} was accepted"));
            assert_eq!(d.code, Code::E0206);
            assert!(
                d.message
                    .starts_with(&format!("site name `{bad}` is not a valid Kubernetes name: ")),
                "{}",
                d.message
            );
            assert_eq!(d.primary.span, span);
            assert!(a.diags.is_empty());
        }
    }

    #[test]
    fn secret_references_are_read_and_checked() {
        let prog = program(
            "service s on c {
  secret DB from env \"DB_PASSWORD\"
  secret TOKEN from vault \"secret/app#token\"
  secret KEY from file \"/run/secrets/key\"
  secret A from envv \"X\"
  secret B from file \"relative/key\"
  secret C from vault \"no-key\"
  secret F from vault \"path#\"
  secret D from env \"lower-case\"
  secret E = \"hunter2\"
}",
        );
        let mut a = analyzer(&prog);
        let b = block(&prog, "s");
        let view = a.view(&b.body, &SERVICE, "a service", b.name.span, None);
        let read: Vec<_> = view.secrets.iter().filter_map(|s| a.secret_ref(s)).collect();
        assert_eq!(
            read,
            [
                ir::SecretRef {
                    name: "DB".into(),
                    source: ir::SecretSource::Env,
                    reference: "DB_PASSWORD".into()
                },
                ir::SecretRef {
                    name: "TOKEN".into(),
                    source: ir::SecretSource::Vault,
                    reference: "secret/app#token".into()
                },
                ir::SecretRef {
                    name: "KEY".into(),
                    source: ir::SecretSource::File,
                    reference: "/run/secrets/key".into()
                },
            ]
        );
        assert_eq!(
            reported(&prog, &a.diags),
            [
                (
                    Code::E0502,
                    "`envv` is not a secret source".to_string(),
                    "envv".to_string()
                ),
                (
                    Code::E0502,
                    "`relative/key` is not an absolute path".to_string(),
                    "\"relative/key\"".to_string()
                ),
                (
                    Code::E0502,
                    "`no-key` is not `path#key`".to_string(),
                    "\"no-key\"".to_string()
                ),
                (
                    Code::E0502,
                    "`path#` is not `path#key`".to_string(),
                    "\"path#\"".to_string()
                ),
                (
                    Code::E0502,
                    "`lower-case` is not a valid environment variable name".to_string(),
                    "\"lower-case\"".to_string()
                ),
                (
                    Code::E0501,
                    "secret `E` is given a literal value".to_string(),
                    "\"hunter2\"".to_string()
                ),
            ]
        );
        assert_eq!(
            a.diags.first().and_then(|d| d.help.as_deref()),
            Some("did you mean `env`?")
        );
    }

    #[test]
    fn only_workloads_take_a_placement_or_a_template() {
        let prog = program("cluster k on x where zone = \"a\" { }");
        let mut a = analyzer(&prog);
        a.header_only(block(&prog, "k"), "a cluster");
        assert_eq!(
            reported(&prog, &a.diags),
            [
                (Code::E0110, "a cluster takes no `on`".to_string(), "x".to_string()),
                (
                    Code::E0110,
                    "a cluster takes no `where`".to_string(),
                    "zone = \"a\"".to_string()
                ),
            ]
        );
    }
}
