//! Reading items into drafts: the solution, device profiles, runtimes,
//! serving runtimes, clusters, fleets, workloads and models. Counts stay as
//! expressions here; `counts` evaluates them and `place` finishes the IR.

use super::body::{BodyView, EnvRefDraft, Scalar};
use super::values as v;
use super::{Analyzer, ItemId};
use crate::diag::{Code, Diagnostic};
use crate::ir;
use crate::schema::{self, Contents, Shape};
use crate::source::{FileId, Span};
use crate::syntax::ast::{self, BlockKind, Expr, ExprKind, ItemKind, NestedBlock, SecretSource};
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

pub(super) struct WorkloadDraft {
    pub name: String,
    pub name_span: Span,
    pub kind: ir::WorkloadKind,
    pub docs: Vec<String>,
    pub target: Option<Target>,
    pub on_span: Span,
    pub selectors: Vec<(ir::Selector, Span)>,
    pub container: ir::Container,
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
    pub autoscale: Option<(Expr, Expr, u32, Span)>,
    pub rollout: ir::Rollout,
    pub labels: BTreeMap<String, String>,
    pub model: Option<ir::ModelRef>,
    pub template: Option<String>,
    pub privileged_span: Option<Span>,
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
}

pub(super) struct Drafts {
    pub solution: Option<SolutionHeader>,
    pub clusters: Vec<ClusterDraft>,
    pub fleets: Vec<FleetDraft>,
    pub workloads: Vec<WorkloadDraft>,
    pub models: Vec<ir::Model>,
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

/// What [`Analyzer::container`] read: the container, and where its
/// resource fields are written (for capacity and device diagnostics).
struct ContainerDraft {
    container: ir::Container,
    /// The `cpu`, `memory` and `gpu` values, or the block when absent.
    cpu_span: Span,
    memory_span: Span,
    gpu_span: Span,
    arch_span: Option<Span>,
    privileged_span: Option<Span>,
    env_refs: Vec<EnvRefDraft>,
}

#[derive(Clone)]
struct ServingInfo {
    name: String,
    image: String,
    formats: Vec<String>,
    port: u16,
    health: Option<String>,
    metrics: Option<String>,
    arch: Vec<String>,
    args: Vec<String>,
}

impl<'a> Analyzer<'a> {
    pub(super) fn drafts(&mut self) -> Drafts {
        let mut d = Drafts {
            solution: None,
            clusters: Vec::new(),
            fleets: Vec::new(),
            workloads: Vec::new(),
            models: Vec::new(),
            externals: Vec::new(),
            external_names: Vec::new(),
            cluster_of: HashMap::default(),
            fleet_of: HashMap::default(),
            workloads_of: HashMap::default(),
        };
        let prog = self.prog;
        let mut solution_span: Option<Span> = None;
        let mut devices = HashMap::default();
        let mut runtimes = HashMap::default();
        let mut servings = HashMap::default();
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
                                if let Some(c) = self.cluster(b, unit.file, &mut devices) {
                                    d.cluster_of.insert(id, d.clusters.len());
                                    d.clusters.push(c);
                                }
                            }
                            BlockKind::Fleet => {
                                if let Some(f) = self.fleet(b, unit.file, &mut devices, &mut runtimes) {
                                    d.fleet_of.insert(id, d.fleets.len());
                                    d.fleets.push(f);
                                }
                            }
                            BlockKind::Device => {
                                self.header_only(b, "a device profile");
                                self.device_item(id, &mut devices);
                            }
                            BlockKind::Runtime => {
                                self.header_only(b, "a runtime");
                                self.runtime_item(id, &mut runtimes);
                            }
                            BlockKind::Serving => {
                                self.header_only(b, "a serving runtime");
                                self.serving_item(id, &mut servings);
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
                                if let Some(w) = self.workload(b, id, item, &d, &mut devices) {
                                    if b.template.is_none() {
                                        d.workloads_of.insert(id, vec![d.workloads.len()]);
                                        d.workloads.push(w);
                                    }
                                }
                            }
                            BlockKind::Model => {
                                self.model(b, id, item, &mut d, &mut servings);
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

    fn check_name(&mut self, name: &str, span: Span, what: &str) {
        if let Err(m) = v::check_dns_label(&v::k8s_name(name)) {
            self.diags.push(
                Diagnostic::new(Code::E0206, span, format!("{what} name `{name}` is not a valid Kubernetes name: {m}"))
                    .label("invalid name")
                    .help("use lowercase ASCII letters, digits and `_` (written as `-` in outputs), starting with a letter, at most 63 characters"),
            );
        }
    }

    fn map_block(&mut self, view: &BodyView<'a>, keyword: &str, labels: bool) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for b in view.blocks_named(keyword).collect::<Vec<_>>() {
            for (k, (val, _)) in self.string_map(b, labels, None) {
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

    fn solution_block(&mut self, b: &'a ast::Block) -> Option<SolutionHeader> {
        let shape = &schema::SOLUTION;
        let view = self.view(&b.body, shape, "`solution`", b.name.span, None);
        self.require(&view, shape, "the solution");
        self.check_name(&b.name.name, b.name.span, "solution");
        let version = self.get_str(&view, shape, "version").map(|(s, span)| {
            if let Err(m) = v::check_label_value(&s) {
                self.diags.push(
                    Diagnostic::new(Code::E0207, span, m)
                        .label("invalid label value")
                        .help("the version becomes the `app.kubernetes.io/version` label: use letters, digits, `-`, `_` and `.`, at most 63 characters, like `1.0.0`"),
                );
            }
            s
        });
        let namespace = self
            .get_str(&view, shape, "namespace")
            .map(|(s, _)| s)
            .unwrap_or_else(|| v::k8s_name(&b.name.name));
        let description = self.get_str(&view, shape, "description").map(|(s, _)| s);
        let labels = self.map_block(&view, "labels", true);
        let registries = self.registries(&view, shape);
        Some(SolutionHeader {
            name: b.name.name.clone(),
            version: version?,
            namespace,
            description,
            labels,
            registries,
        })
    }

    /// The solution's `registry` blocks: a host (E0214), a user name and
    /// one `password` reference the controller can read (E0503); one
    /// registry per host (E0102).
    fn registries(&mut self, view: &BodyView<'a>, shape: &schema::Shape) -> Vec<ir::Registry> {
        let Some(Contents::Fields(rs)) = shape.block("registry").map(|s| s.contents) else {
            return Vec::new();
        };
        let mut out: Vec<ir::Registry> = Vec::new();
        let mut seen: Vec<(String, Span)> = Vec::new();
        for rb in view.blocks_named("registry").collect::<Vec<_>>() {
            let Some(rname) = &rb.name else { continue };
            self.check_name(&rname.name, rname.span, "registry");
            let rv = self.view(&rb.body, rs, "a registry", rname.span, None);
            self.require(&rv, rs, &format!("registry `{}`", rname.name));
            let host = self.get_str(&rv, rs, "host").and_then(|(h, span)| {
                if let Err(m) = crate::names::check_registry_host(&h) {
                    self.diags.push(
                        Diagnostic::new(Code::E0214, span, m)
                            .label("not a registry host")
                            .help("write the host as images name it, e.g. `ghcr.io` or `registry.example.com:5000`"),
                    );
                    return None;
                }
                if let Some((_, prev)) = seen.iter().find(|(p, _)| *p == h) {
                    self.diags.push(
                        Diagnostic::new(Code::E0102, span, format!("two registries for `{h}`"))
                            .label("second registry for this host")
                            .with_secondary(*prev, "first one here")
                            .help("a host has one pull credential: keep one `registry` block for it"),
                    );
                    return None;
                }
                seen.push((h.clone(), span));
                Some(h)
            });
            let username = self.get_str(&rv, rs, "username").map(|(u, _)| u);
            let mut password = None;
            for st in &rv.secrets {
                let Some(secret) = self.secret_ref(st) else { continue };
                let problem = if st.name.name != "password" {
                    Some((
                        st.name.span,
                        format!("a registry's secret is `password`, not `{}`", st.name.name),
                        "write `secret password from env \"VAR\"` or `from vault \"path#key\"`",
                    ))
                } else if secret.source == ir::SecretSource::File {
                    Some((
                        st.name.span,
                        "a registry's password cannot come `from file`".to_string(),
                        "every target's credential is written from the Ansible controller: use `from env` or `from vault`",
                    ))
                } else if password.is_some() {
                    Some((
                        st.name.span,
                        "a registry has one `password`".to_string(),
                        "remove the second one",
                    ))
                } else {
                    None
                };
                match problem {
                    Some((span, m, help)) => self.diags.push(
                        Diagnostic::new(Code::E0503, span, m)
                            .label("invalid registry credential")
                            .help(help),
                    ),
                    None => password = Some(secret),
                }
            }
            if password.is_none() && !rv.secrets.iter().any(|s| s.name.name == "password") {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0503,
                        rname.span,
                        format!("registry `{}` has no pull credential", rname.name),
                    )
                    .label("no `secret password`")
                    .help("add `secret password from env \"VAR\"` or `from vault \"path#key\"`: a reference, never the value"),
                );
            }
            if let (Some(host), Some(username), Some(password)) = (host, username, password) {
                out.push(ir::Registry {
                    name: v::k8s_name(&rname.name),
                    pull_secret: format!("{}-registry", v::k8s_name(&rname.name)),
                    host,
                    username,
                    password,
                });
            }
        }
        out
    }

    fn device_item(
        &mut self,
        id: ItemId,
        cache: &mut HashMap<ItemId, Option<ir::DeviceProfile>>,
    ) -> Option<ir::DeviceProfile> {
        if let Some(c) = cache.get(&id) {
            return c.clone();
        }
        cache.insert(id, None);
        let b = self.block(id)?;
        let shape = &schema::DEVICE;
        let view = self.view(&b.body, shape, "a device profile", b.name.span, None);
        self.require(&view, shape, &format!("device `{}`", b.name.name));
        let arch = self.get_str(&view, shape, "arch").map(|(s, _)| s);
        let cpu = view.attr("cpu").and_then(|a| self.scalar(&a.value, &schema::Ty::Cpu));
        let memory = self.get_memory(&view, shape, "memory");
        let gpu = self.get_u32_or_default(&view, shape, "gpu");
        let accelerator = self.get_str(&view, shape, "accelerator").map(|(s, _)| s);
        let storage = view
            .attr("storage")
            .and_then(|a| match self.scalar(&a.value, &schema::Ty::Memory) {
                Some(Scalar::Memory(m)) => Some(m),
                _ => None,
            });
        let power = self
            .get_str(&view, shape, "power")
            .map(|(s, _)| s)
            .unwrap_or_else(|| "mains".into());
        let instance_type = self.get_str(&view, shape, "instance_type").map(|(s, _)| s);
        self.get_str(&view, shape, "description");
        let (mut rcpu, mut rmem) = (0, 0);
        if let Some(r) = view.block("reserve") {
            if let Contents::Fields(rs) = shape
                .block("reserve")
                .map(|s| s.contents)
                .unwrap_or(Contents::StringMap)
            {
                let rv = self.view(&r.body, rs, "`reserve`", r.kind.span, None);
                rcpu = self.get_cpu(&rv, rs, "cpu");
                rmem = self.get_memory(&rv, rs, "memory").unwrap_or(0);
            }
        }
        let price = self.price_block(&view, shape);
        let profile = match (arch, cpu, memory) {
            (Some(arch), Some(Scalar::Cpu(cpu)), Some(memory)) => Some(ir::DeviceProfile {
                name: self.qualified_name(id),
                arch,
                cpu_millis: cpu,
                memory_bytes: memory,
                gpu,
                accelerator,
                storage_bytes: storage,
                power,
                instance_type,
                reserve_cpu_millis: rcpu,
                reserve_memory_bytes: rmem,
                price,
            }),
            _ => None,
        };
        cache.insert(id, profile.clone());
        profile
    }

    /// The `price { }` block of a device profile, cluster or pool.
    fn price_block(&mut self, view: &BodyView<'a>, shape: &schema::Shape) -> Option<ir::Price> {
        let block = view.block("price")?;
        let Some(Contents::Fields(ps)) = shape.block("price").map(|s| s.contents) else {
            return None;
        };
        let pv = self.view(&block.body, ps, "`price`", block.kind.span, None);
        self.require(&pv, ps, "`price`");
        let hourly = match pv
            .attr("hourly")
            .map(|a| (self.scalar(&a.value, &schema::Ty::Number), a.value.span))
        {
            Some((Some(Scalar::Number(n)), span)) => {
                let price = ir::Price {
                    hourly: n,
                    currency: String::new(),
                    as_of: String::new(),
                    source: None,
                };
                if price.hourly_micros().is_none() {
                    self.diags.push(
                        Diagnostic::new(Code::E0202, span, format!("`{}` is not a price", price.hourly))
                            .label("not a price per hour")
                            .help("write a number of zero or more with at most six decimals, such as `0.192`"),
                    );
                    return None;
                }
                price.hourly
            }
            _ => return None,
        };
        let currency = self
            .get_str(&pv, ps, "currency")
            .map(|(s, _)| s)
            .unwrap_or_else(|| "USD".into());
        let (as_of, as_of_span) = self.get_str(&pv, ps, "as_of")?;
        if !is_date(&as_of) {
            self.diags.push(
                Diagnostic::new(Code::E0202, as_of_span, format!("`{as_of}` is not a date"))
                    .label("expected `YYYY-MM-DD`")
                    .help("write the day the price was read, such as `\"2026-11-01\"`"),
            );
            return None;
        }
        let source = self.get_str(&pv, ps, "source").map(|(s, _)| s);
        Some(ir::Price {
            hourly,
            currency,
            as_of,
            source,
        })
    }

    /// `std.devices.rpi5` for stdlib items, the bare name otherwise.
    fn qualified_name(&self, id: ItemId) -> String {
        let name = self.block(id).map(|b| b.name.name.clone()).unwrap_or_default();
        match self.prog.std_modules.iter().find(|(_, f)| **f == id.0) {
            Some((m, _)) => format!("std.{m}.{name}"),
            None => name,
        }
    }

    fn runtime_item(&mut self, id: ItemId, cache: &mut HashMap<ItemId, Option<ir::Runtime>>) -> Option<ir::Runtime> {
        if let Some(c) = cache.get(&id) {
            return c.clone();
        }
        cache.insert(id, None);
        let b = self.block(id)?;
        let shape = &schema::RUNTIME;
        let view = self.view(&b.body, shape, "a runtime", b.name.span, None);
        self.require(&view, shape, &format!("runtime `{}`", b.name.name));
        let kind = self.get_str(&view, shape, "kind").map(|(s, _)| s);
        let rt = kind.map(|kind| ir::Runtime {
            name: b.name.name.clone(),
            kind,
            standby: self.get_bool(&view, shape, "standby"),
            schedules: self.get_bool(&view, shape, "schedules"),
            autoscale: self.get_bool(&view, shape, "autoscale"),
            daemons: self.get_bool(&view, shape, "daemons"),
            version: self.get_str(&view, shape, "version").map(|(s, _)| s),
        });
        self.get_str(&view, shape, "description");
        cache.insert(id, rt.clone());
        rt
    }

    fn serving_item(&mut self, id: ItemId, cache: &mut HashMap<ItemId, Option<ServingInfo>>) -> Option<ServingInfo> {
        if let Some(c) = cache.get(&id) {
            return c.clone();
        }
        cache.insert(id, None);
        let b = self.block(id)?;
        let shape = &schema::SERVING;
        let view = self.view(&b.body, shape, "a serving runtime", b.name.span, None);
        self.require(&view, shape, &format!("serving runtime `{}`", b.name.name));
        let image = self.get_str(&view, shape, "image").map(|(s, _)| s);
        let formats = self
            .get_list(&view, shape, "formats")
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        let port = self.get_int(&view, shape, "port").map(|(p, _)| p);
        let health = self.get_str(&view, shape, "health").map(|(s, _)| s);
        let metrics = self.get_str(&view, shape, "metrics").map(|(s, _)| s);
        let arch = self
            .get_list(&view, shape, "arch")
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        let args = self
            .get_list(&view, shape, "args")
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        self.get_str(&view, shape, "description");
        let info = match (image, port) {
            (Some(image), Some(port)) => Some(ServingInfo {
                name: self.qualified_name(id),
                image,
                formats,
                port: u16::try_from(port).unwrap_or(0),
                health,
                metrics,
                arch,
                args,
            }),
            _ => None,
        };
        cache.insert(id, info.clone());
        info
    }

    fn profile_ref(
        &mut self,
        view: &BodyView<'a>,
        field: &str,
        file: FileId,
        cache: &mut HashMap<ItemId, Option<ir::DeviceProfile>>,
    ) -> Option<(ir::DeviceProfile, Span)> {
        let a = view.attr(field)?;
        let ExprKind::Path(p) = &a.value.kind else {
            let found = self.describe_expr(&a.value);
            self.type_error(
                a.value.span,
                "a device profile",
                &found,
                "name a device profile, e.g. `std.devices.rpi5`",
            );
            return None;
        };
        let id = self.resolve_kind(p, file, &[BlockKind::Device], "a device profile")?;
        Some((self.device_item(id, cache)?, a.value.span))
    }

    fn cluster(
        &mut self,
        b: &'a ast::Block,
        file: FileId,
        devices: &mut HashMap<ItemId, Option<ir::DeviceProfile>>,
    ) -> Option<ClusterDraft> {
        self.header_only(b, "a cluster");
        let shape = &schema::CLUSTER;
        let what = format!("cluster `{}`", b.name.name);
        let view = self.view(&b.body, shape, "a cluster", b.name.span, None);
        self.require(&view, shape, &what);
        self.check_name(&b.name.name, b.name.span, "cluster");
        let mut provider = None;
        let mut baremetal_pattern = None;
        if let Some(a) = view.attr("provider") {
            (provider, baremetal_pattern) = self.provider(&a.value);
        }
        let distribution = self
            .get_str(&view, shape, "distribution")
            .map(|(s, _)| s)
            .unwrap_or_else(|| "k3s".into());
        if let (Some(ir::Provider::Aws { .. }), Some(a)) = (&provider, view.attr("distribution")) {
            let _ = a;
        }
        let version = self.get_str(&view, shape, "version").map(|(s, _)| s);
        let domain = self.domain(&view, shape);
        let labels = self.map_block(&view, "labels", true);
        let node = self.profile_ref(&view, "node", file, devices).map(|(p, _)| p);
        let node = with_price(node, self.price_block(&view, shape));
        let mut pools = vec![PoolDraft {
            name: "default".into(),
            span: b.name.span,
            node,
            nodes: view.attr("nodes").map(|a| a.value.clone()),
            labels: labels.clone(),
        }];
        for pb in view.blocks_named("pool").collect::<Vec<_>>() {
            let Some(pname) = &pb.name else { continue };
            if pname.name == "default" {
                self.diags.push(
                    Diagnostic::new(Code::E0102, pname.span, "`default` is the cluster's own pool")
                        .label("reserved pool name")
                        .help("pick another name; the cluster's `node` and `nodes` describe the default pool"),
                );
                continue;
            }
            self.check_name(&pname.name, pname.span, "pool");
            let Some(Contents::Fields(ps)) = shape.block("pool").map(|s| s.contents) else {
                continue;
            };
            let pv = self.view(&pb.body, ps, "a pool", pname.span, None);
            self.require(&pv, ps, &format!("pool `{}`", pname.name));
            let node = self.profile_ref(&pv, "node", file, devices).map(|(p, _)| p);
            let node = with_price(node, self.price_block(&pv, ps));
            let mut plabels = labels.clone();
            plabels.extend(self.map_block(&pv, "labels", true));
            pools.push(PoolDraft {
                name: pname.name.clone(),
                span: pname.span,
                node,
                nodes: pv.attr("nodes").map(|a| a.value.clone()),
                labels: plabels,
            });
        }
        Some(ClusterDraft {
            name: b.name.clone(),
            file,
            provider,
            baremetal_pattern,
            distribution,
            version,
            domain,
            labels,
            pools,
        })
    }

    /// `external NAME { host cidr port protocol scheme }`: a dependency
    /// outside the solution, with the addresses policies must allow.
    fn external(&mut self, b: &'a ast::Block, item: &'a ast::Item) -> Option<ir::External> {
        let shape = &schema::EXTERNAL;
        let what = format!("external `{}`", b.name.name);
        let view = self.view(&b.body, shape, "an external dependency", b.name.span, None);
        self.require(&view, shape, &what);
        self.check_name(&b.name.name, b.name.span, "external");
        let mut ok = true;
        let mut checked = |this: &mut Self, field: &str, check: fn(&str) -> Result<(), String>, help: &str| {
            let (s, span) = this.get_str(&view, shape, field)?;
            if let Err(m) = check(&s) {
                this.diags.push(
                    Diagnostic::new(Code::E0213, span, m)
                        .label(format!("invalid `{field}`"))
                        .help(help.to_string()),
                );
                ok = false;
            }
            Some(s)
        };
        let host = checked(
            self,
            "host",
            v::check_host,
            "write a DNS name (`plc.line.local`) or an IPv4 address (`10.20.0.15`)",
        );
        let cidr = checked(
            self,
            "cidr",
            v::check_cidr,
            "write an IPv4 range in canonical form: `10.20.0.0/24`, or `10.20.0.15/32` for one address",
        );
        let scheme = checked(
            self,
            "scheme",
            v::check_scheme,
            "write the scheme without `://`, such as `opc.tcp`, `postgres` or `https`",
        );
        let port = self
            .get_int(&view, shape, "port")
            .and_then(|(p, _)| u16::try_from(p).ok());
        let protocol = self
            .get_str(&view, shape, "protocol")
            .map(|(s, _)| s)
            .unwrap_or_else(|| "tcp".into());
        let description = self.get_str(&view, shape, "description").map(|(s, _)| s);
        let bucket = checked(
            self,
            "bucket",
            v::check_bucket,
            "write the bucket's name only, such as `acme-raw-telemetry` (no `s3://`, no key)",
        );
        let writes = self.get_bool(&view, shape, "writes");
        if let (None, true, Some(a)) = (&bucket, writes, view.attr("writes")) {
            self.diags.push(
                Diagnostic::new(Code::E0213, a.key.span, "`writes` needs a `bucket`")
                    .label("write access to nothing")
                    .help("add `bucket = \"…\"`, or remove `writes`"),
            );
            ok = false;
        }
        let (Some(host), Some(cidr), Some(port), true) = (host, cidr, port, ok) else {
            return None;
        };
        Some(ir::External {
            name: v::k8s_name(&b.name.name),
            docs: item.docs.clone(),
            description,
            endpoint: ir::Endpoint {
                scheme: scheme.unwrap_or_else(|| protocol.clone()),
                host,
                port,
            },
            cidr,
            protocol,
            bucket: bucket.map(|name| ir::Bucket { name, writes }),
        })
    }

    /// Items other than workloads take no `on`, `where`, `from` or `template`.
    fn header_only(&mut self, b: &ast::Block, what: &str) {
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

    fn provider(&mut self, e: &'a Expr) -> (Option<ir::Provider>, Option<(String, Span)>) {
        let ExprKind::Object { path, body } = &e.kind else {
            let found = self.describe_expr(e);
            self.type_error(
                e.span,
                "a provider",
                &found,
                "write `aws { region = \"eu-west-1\" }`, `vsphere { … }` or `baremetal { hosts = \"…\" }`",
            );
            return (None, None);
        };
        let name = path.text();
        let Some((_, shape, _)) = schema::PROVIDERS.iter().find(|(n, _, _)| *n == name) else {
            let names: Vec<&str> = schema::PROVIDERS.iter().map(|(n, _, _)| *n).collect();
            let mut d = Diagnostic::new(Code::E0209, path.span, format!("`{name}` is not a provider"))
                .label("unknown provider");
            d = match crate::diag::suggest(&name, names.iter().copied()) {
                Some(s) => d.help(format!("did you mean `{s}`?")),
                None => d.help(format!("providers are {}", names.join(", "))),
            };
            self.diags.push(d);
            return (None, None);
        };
        let view = self.view(body, shape, &format!("`{name}`"), path.span, None);
        self.require(&view, shape, &format!("provider `{name}`"));
        let s = |a: &mut Self, f: &str| a.get_str(&view, shape, f).map(|(s, _)| s);
        match name.as_str() {
            "aws" => {
                let region = s(self, "region");
                let vpc_cidr = s(self, "vpc_cidr").unwrap_or_else(|| "10.0.0.0/16".into());
                let zones = self.get_u32_or_default(&view, shape, "zones");
                (
                    region.map(|region| ir::Provider::Aws {
                        region,
                        vpc_cidr,
                        zones,
                    }),
                    None,
                )
            }
            "vsphere" => {
                let p = (
                    s(self, "datacenter"),
                    s(self, "cluster"),
                    s(self, "datastore"),
                    s(self, "network"),
                    s(self, "template"),
                );
                let folder = s(self, "folder");
                match p {
                    (Some(datacenter), Some(cluster), Some(datastore), Some(network), Some(template)) => (
                        Some(ir::Provider::Vsphere {
                            datacenter,
                            cluster,
                            datastore,
                            network,
                            template,
                            folder,
                        }),
                        None,
                    ),
                    _ => (None, None),
                }
            }
            _ => {
                let hosts = self.get_str(&view, shape, "hosts");
                (Some(ir::Provider::Baremetal { hosts: Vec::new() }), hosts)
            }
        }
    }

    fn fleet(
        &mut self,
        b: &'a ast::Block,
        file: FileId,
        devices: &mut HashMap<ItemId, Option<ir::DeviceProfile>>,
        runtimes: &mut HashMap<ItemId, Option<ir::Runtime>>,
    ) -> Option<FleetDraft> {
        self.header_only(b, "a fleet");
        let shape = &schema::FLEET;
        let view = self.view(&b.body, shape, "a fleet", b.name.span, None);
        self.require(&view, shape, &format!("fleet `{}`", b.name.name));
        self.check_name(&b.name.name, b.name.span, "fleet");
        let device = self.profile_ref(&view, "device", file, devices);
        let mut runtime = None;
        let mut runtime_span = b.name.span;
        if let Some(a) = view.attr("runtime") {
            runtime_span = a.value.span;
            match &a.value.kind {
                ExprKind::Path(p) => {
                    if let Some(id) = self.resolve_kind(p, file, &[BlockKind::Runtime], "a runtime") {
                        runtime = self.runtime_item(id, runtimes);
                    }
                }
                _ => {
                    let found = self.describe_expr(&a.value);
                    self.type_error(a.value.span, "a runtime", &found, "write `k3s`, `microk8s` or `docker`");
                }
            }
        }
        let server = self.get_str(&view, shape, "server");
        let labels = self.map_block(&view, "labels", true);
        let mut sites = Vec::new();
        for sb in view.blocks_named("site").collect::<Vec<_>>() {
            let Some(sname) = &sb.name else { continue };
            self.check_name(&sname.name, sname.span, "site");
            let Some(Contents::Fields(ss)) = shape.block("site").map(|s| s.contents) else {
                continue;
            };
            let sv = self.view(&sb.body, ss, "a site", sname.span, None);
            self.require(&sv, ss, &format!("site `{}`", sname.name));
            let hosts = self.get_str(&sv, ss, "hosts");
            let standby = self.get_u32_or_default(&sv, ss, "standby");
            let region = self.get_str(&sv, ss, "region").map(|(s, _)| s);
            let hub = self.get_str(&sv, ss, "hub");
            let mut slabels = labels.clone();
            slabels.extend(self.map_block(&sv, "labels", true));
            sites.push(SiteDraft {
                name: sname.clone(),
                gateways: sv.attr("gateways").map(|a| a.value.clone()),
                hosts,
                standby,
                labels: slabels,
                region,
                hub,
            });
        }
        if sites.is_empty() {
            self.diags.push(
                Diagnostic::new(
                    Code::E0106,
                    b.name.span,
                    format!("fleet `{}` has no sites", b.name.name),
                )
                .label("no `site` blocks")
                .help("add `site NAME { gateways = 2  hosts = \"gw{n}.example.internal\" }`"),
            );
        }
        Some(FleetDraft {
            name: b.name.clone(),
            file,
            device: device.as_ref().map(|(d, _)| d.clone()),
            device_span: device.map(|(_, s)| s).unwrap_or(b.name.span),
            runtime,
            runtime_span,
            server,
            labels,
            sites,
        })
    }

    fn target(&mut self, on: &ast::Path, file: FileId, d: &Drafts) -> Option<Target> {
        let id = self.resolve_kind(on, file, &[BlockKind::Cluster, BlockKind::Fleet], "a cluster or fleet")?;
        if let Some(c) = d.cluster_of.get(&id) {
            return Some(Target::Cluster(*c));
        }
        d.fleet_of.get(&id).map(|f| Target::Fleet(*f))
    }

    fn selectors(&mut self, sels: &[ast::Selector]) -> Vec<(ir::Selector, Span)> {
        let mut out = Vec::new();
        for s in sels {
            let value = match &s.value.kind {
                ExprKind::String(v) => v.clone(),
                ExprKind::Bool(b) => b.to_string(),
                ExprKind::Quantity { number, suffix } => format!("{number}{suffix}"),
                _ => continue,
            };
            if let Err(m) = v::check_label_key(&s.key.name) {
                self.diags.push(
                    Diagnostic::new(Code::E0207, s.key.span, m)
                        .label("invalid label key")
                        .help("label keys are `[prefix/]name`"),
                );
                continue;
            }
            if let Err(m) = v::check_label_value(&value) {
                self.diags.push(
                    Diagnostic::new(Code::E0207, s.value.span, m)
                        .label("invalid label value")
                        .help("use letters, digits, `-`, `_` and `.`"),
                );
                continue;
            }
            out.push((
                ir::Selector {
                    key: s.key.name.clone(),
                    value,
                    negated: s.negated,
                },
                s.span,
            ));
        }
        out
    }

    /// A cluster's `domain`: lowercase DNS labels joined by dots.
    fn domain(&mut self, view: &BodyView<'a>, shape: &Shape) -> Option<(String, Span)> {
        let (d, span) = self.get_str(view, shape, "domain")?;
        let bad = if d.len() > 253 {
            Some("at most 253 characters".to_string())
        } else {
            d.split('.').find_map(|l| v::check_dns_label(l).err())
        };
        if let Some(m) = bad {
            self.diags.push(
                Diagnostic::new(Code::E0206, span, format!("`{d}` is not a DNS domain: {m}"))
                    .label("invalid domain")
                    .help("write lowercase labels joined by dots, e.g. \"apps.acme.example\""),
            );
            return None;
        }
        Some((d, span))
    }

    /// Container fields shared by services, daemons, jobs, `train` and `serve`.
    fn container(&mut self, view: &BodyView<'a>, shape: &Shape) -> ContainerDraft {
        let span_of = |f: &str| view.attr(f).map(|a| a.value.span).unwrap_or(view.owner);
        let (cpu_span, memory_span, gpu_span) = (span_of("cpu"), span_of("memory"), span_of("gpu"));
        let image = self.get_str(view, shape, "image").map(|(s, _)| s).unwrap_or_default();
        let cpu = self.get_cpu(view, shape, "cpu");
        let memory = self.get_memory(view, shape, "memory").unwrap_or(0);
        let gpu = self.get_u32_or_default(view, shape, "gpu");
        let arch_span = view.attr("arch").map(|a| a.value.span);
        let arch = self.get_list(view, shape, "arch").into_iter().map(|(s, _)| s).collect();
        let privileged = self.get_bool(view, shape, "privileged");
        let privileged_span = if privileged {
            view.attr("privileged").map(|a| a.value.span)
        } else {
            None
        };
        // `train` and `serve` have no `user` field: they run as the default
        // non-root user too.
        let user = if shape.field("user").is_some() {
            self.get_u32_or_default(view, shape, "user")
        } else {
            10001
        };
        if shape.field("user").is_some() {
            if let Some(a) = view.attr("user") {
                if self.get_int(view, shape, "user").map(|(u, _)| u) == Some(0) {
                    self.diags.push(
                        Diagnostic::new(Code::E0202, a.value.span, "containers never run as root (user 0)")
                            .label("root")
                            .help("use a non-zero user id such as 10001; for device access use `device \"/dev/…\"`"),
                    );
                }
            }
        }
        let port = self
            .get_int(view, shape, "port")
            .and_then(|(p, _)| u16::try_from(p).ok());
        let protocol = self
            .get_str(view, shape, "protocol")
            .map(|(s, _)| s)
            .unwrap_or_else(|| "tcp".into());
        let health = self.get_str(view, shape, "health").map(|(s, _)| s);
        let metrics = self.get_str(view, shape, "metrics").map(|(s, _)| s);
        // What the port speaks: declared, else HTTP when it serves a health
        // or metrics path, else its transport.
        let scheme = match self.get_str(view, shape, "scheme") {
            Some((s, _)) => s,
            None if health.is_some() || metrics.is_some() => "http".into(),
            None => protocol.clone(),
        };
        if let (Some(_), None, Some(a)) = (&health, view.attr("port"), view.attr("health")) {
            if shape.field("port").is_some() {
                self.diags.push(
                    Diagnostic::new(Code::E0106, a.key.span, "`health` needs a `port` to probe")
                        .label("no port to check")
                        .help("add `port = …`"),
                );
            }
        }
        let command = self
            .get_list(view, shape, "command")
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        let args = self.get_list(view, shape, "args").into_iter().map(|(s, _)| s).collect();
        let env_blocks: Vec<&NestedBlock> = view.blocks_named("env").collect();
        let mut env = BTreeMap::new();
        let mut env_refs = Vec::new();
        for b in env_blocks {
            for (k, (val, span)) in self.string_map(b, false, Some(&mut env_refs)) {
                if v::looks_secret(&k) && !val.is_empty() {
                    self.diags.push(
                        Diagnostic::new(
                            Code::W0501,
                            span,
                            format!("`{k}` looks like a secret but is a plain value"),
                        )
                        .label("visible in the generated files")
                        .help(format!("write `secret {k} from env \"…\"` (or `file`/`vault`) instead")),
                    );
                }
                env.entry(k).or_insert(val);
            }
        }
        let mut secrets = Vec::new();
        for s in &view.secrets {
            let Some(secret) = self.secret_ref(s) else { continue };
            if let Err(m) = v::check_env_name(&s.name.name) {
                self.diags.push(
                    Diagnostic::new(Code::E0502, s.name.span, m)
                        .label("invalid name")
                        .help("the secret's name is the environment variable the container sees"),
                );
                continue;
            }
            if env.contains_key(&s.name.name) {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0107,
                        s.name.span,
                        format!("`{}` is both an env var and a secret", s.name.name),
                    )
                    .label("defined twice")
                    .help("remove it from `env`"),
                );
            }
            secrets.push(secret);
        }
        let mut volumes = Vec::new();
        for vb in view.blocks_named("volume").collect::<Vec<_>>() {
            let Some(vname) = &vb.name else { continue };
            self.check_name(&vname.name, vname.span, "volume");
            let Some(Contents::Fields(vs)) = shape.block("volume").map(|s| s.contents) else {
                continue;
            };
            let vv = self.view(&vb.body, vs, "a volume", vname.span, None);
            self.require(&vv, vs, &format!("volume `{}`", vname.name));
            let mount = self.get_str(&vv, vs, "mount").map(|(s, _)| s).unwrap_or_default();
            let size = vv
                .attr("size")
                .and_then(|a| match self.scalar(&a.value, &schema::Ty::Memory) {
                    Some(Scalar::Memory(m)) => Some(m),
                    _ => None,
                });
            let host_path = self.get_str(&vv, vs, "host_path").map(|(s, _)| s);
            if let (Some(_), Some(_), Some(a)) = (size, &host_path, vv.attr("host_path")) {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0110,
                        a.key.span,
                        "a volume has either `size` or `host_path`, not both",
                    )
                    .label("both given")
                    .help("remove one"),
                );
            }
            let read_only = self.get_bool(&vv, vs, "read_only");
            volumes.push(ir::Volume {
                name: vname.name.clone(),
                mount,
                size_bytes: size,
                host_path,
                read_only,
                // Decided once the workload's kind and namespace are known.
                host_dir: None,
            });
        }
        let scratch = self.scratch(view, shape, &volumes);
        let mut devs = Vec::new();
        for d in &view.devices {
            let bad = |p: &str| !p.starts_with("/dev/") || p.len() <= 5;
            if bad(&d.host.value) {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0201,
                        d.host.span,
                        format!("`{}` is not a device path", d.host.value),
                    )
                    .label("expected `/dev/…`")
                    .help("name a device node such as \"/dev/video0\" or \"/dev/ttyUSB0\""),
                );
                continue;
            }
            let container = d
                .container
                .as_ref()
                .map(|c| c.value.clone())
                .unwrap_or_else(|| d.host.value.clone());
            if let Some(c) = &d.container {
                if bad(&c.value) {
                    self.diags.push(
                        Diagnostic::new(Code::E0201, c.span, format!("`{}` is not a device path", c.value))
                            .label("expected `/dev/…`")
                            .help("name the device path inside the container, e.g. \"/dev/camera\""),
                    );
                    continue;
                }
            }
            devs.push(ir::DeviceMount {
                group: super::devices::device_group(&d.host.value),
                host: d.host.value.clone(),
                container,
                // Named across the whole solution once every workload is placed.
                resource: String::new(),
            });
        }
        ContainerDraft {
            container: ir::Container {
                image,
                registry: None,
                command,
                args,
                cpu_millis: cpu,
                cpu_limit_millis: cpu.saturating_mul(2),
                memory_bytes: memory,
                gpu,
                env,
                secrets,
                volumes,
                scratch,
                devices: devs,
                privileged,
                user,
                port,
                scheme,
                protocol,
                health,
                metrics,
                arch,
            },
            cpu_span,
            memory_span,
            gpu_span,
            arch_span,
            privileged_span,
            env_refs,
        }
    }

    /// The folders a container writes outside its volumes
    /// (`ir::Container::scratch`): `/tmp` unless a volume mounts there,
    /// and every declared `writable` path. A `writable` path that is not a
    /// plain folder below `/`, or that a volume already mounts, is an error.
    fn scratch(&mut self, view: &BodyView<'a>, shape: &Shape, volumes: &[ir::Volume]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        if !volumes.iter().any(|v| v.mount == "/tmp") {
            out.push("/tmp".into());
        }
        for (path, span) in self.get_list(view, shape, "writable") {
            let trimmed = path.trim_end_matches('/');
            if trimmed.is_empty() || path.split('/').any(|c| c == ".." || c == ".") || path.contains("//") {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0201,
                        span,
                        format!("`{path}` is not a folder the image can write"),
                    )
                    .label("expected a folder below `/`")
                    .help("name the folder itself, such as \"/var/run/postgresql\""),
                );
                continue;
            }
            if let Some(v) = volumes.iter().find(|v| v.mount.trim_end_matches('/') == trimmed) {
                self.diags.push(
                    Diagnostic::new(
                        Code::E0107,
                        span,
                        format!("`{path}` is already the mount of volume `{}`", v.name),
                    )
                    .label("mounted twice")
                    .help(if v.read_only {
                        "remove it from `writable`, or drop `read_only` from the volume"
                    } else {
                        "remove it from `writable`: the volume is writable and keeps its files"
                    }),
                );
                continue;
            }
            if trimmed == "/tmp" && out.iter().any(|p| p == "/tmp") {
                continue; // every container has a scratch /tmp already
            }
            if out.iter().any(|p| p == trimmed) {
                self.diags.push(
                    Diagnostic::new(Code::E0107, span, format!("`{path}` is listed twice"))
                        .label("again")
                        .help("list each folder once"),
                );
                continue;
            }
            out.push(trimmed.to_string());
        }
        out.sort();
        out
    }

    fn rollout(&mut self, view: &BodyView<'a>, shape: &Shape) -> (ir::Rollout, Option<Span>) {
        let Some(b) = view.block("rollout") else {
            return (
                ir::Rollout {
                    max_unavailable: 0,
                    max_surge: 1,
                },
                None,
            );
        };
        let Some(Contents::Fields(rs)) = shape.block("rollout").map(|s| s.contents) else {
            return (
                ir::Rollout {
                    max_unavailable: 0,
                    max_surge: 1,
                },
                None,
            );
        };
        let rv = self.view(&b.body, rs, "`rollout`", b.kind.span, None);
        let r = ir::Rollout {
            max_unavailable: self.get_u32_or_default(&rv, rs, "max_unavailable"),
            max_surge: self.get_u32_or_default(&rv, rs, "max_surge"),
        };
        if r.max_unavailable == 0 && r.max_surge == 0 {
            self.diags.push(
                Diagnostic::new(
                    Code::E0202,
                    b.kind.span,
                    "a rollout with `max_unavailable = 0` and `max_surge = 0` can never progress",
                )
                .label("no room to replace a pod")
                .help("allow `max_surge = 1` (or `max_unavailable = 1`)"),
            );
        }
        (r, Some(b.kind.span))
    }

    fn workload(
        &mut self,
        b: &'a ast::Block,
        id: ItemId,
        item: &'a ast::Item,
        d: &Drafts,
        _devices: &mut HashMap<ItemId, Option<ir::DeviceProfile>>,
    ) -> Option<WorkloadDraft> {
        let file = id.0;
        let shape = schema::shape(b.kind);
        let kind = match b.kind {
            BlockKind::Service => ir::WorkloadKind::Service,
            BlockKind::Daemon => ir::WorkloadKind::Daemon,
            _ => ir::WorkloadKind::Job,
        };
        let kw = b.kind.keyword();
        // Template base.
        let mut base = None;
        let mut template = None;
        if let Some(from) = &b.from {
            if let Some(tid) = self.resolve(from, file) {
                match self.block(tid) {
                    Some(tb) if tb.template.is_some() && tb.kind == b.kind => {
                        base = Some(&tb.body);
                        template = Some(self.qualified_name(tid));
                    }
                    Some(tb) => {
                        let found = if tb.template.is_some() {
                            format!("a {} template", tb.kind.keyword())
                        } else {
                            format!("{} `{}`", tb.kind.keyword(), tb.name.name)
                        };
                        self.diags.push(
                            Diagnostic::new(
                                Code::E0108,
                                from.span,
                                format!("expected a {kw} template, found {found}"),
                            )
                            .label("not a matching template")
                            .with_secondary(tb.name.span, "declared here")
                            .help(format!("`from` names a `template {kw}`")),
                        );
                    }
                    None => {}
                }
            }
        }
        if let (Some(t), Some(on)) = (b.template, &b.on) {
            self.diags.push(
                Diagnostic::new(Code::E0110, on.span, "a template is not deployed, so it takes no `on`")
                    .label("placement on a template")
                    .with_secondary(t, "declared as a template here")
                    .help(format!(
                        "remove `template` to deploy it, or deploy it with `{kw} NAME on TARGET from {}`",
                        b.name.name
                    )),
            );
        }
        if let (Some(_), Some(from)) = (b.template, &b.from) {
            self.diags.push(
                Diagnostic::new(Code::E0110, from.span, "a template cannot itself use `from`")
                    .label("nested template")
                    .help("copy the fields you need into the template"),
            );
        }
        let what = format!("{kw} `{}`", b.name.name);
        let view = self.view(&b.body, shape, &format!("a {kw}"), b.name.span, base);
        self.require(&view, shape, &what);
        self.check_name(&b.name.name, b.name.span, kw);
        let mut target = None;
        if b.template.is_none() {
            match &b.on {
                Some(on) => target = self.target(on, file, d),
                None => self.diags.push(
                    Diagnostic::new(Code::E0106, b.name.span, format!("{what} has no placement"))
                        .label("where does it run?")
                        .help(format!(
                            "write `{kw} {} on CLUSTER_OR_FLEET {{ … }}`, or mark it `template`",
                            b.name.name
                        )),
                ),
            }
        }
        let selectors = self.selectors(&b.selectors);
        let ContainerDraft {
            container,
            cpu_span,
            memory_span,
            gpu_span,
            arch_span,
            privileged_span,
            env_refs,
        } = self.container(&view, shape);
        let schedule = self.get_str(&view, shape, "schedule").map(|(s, _)| s);
        let critical = if self.get_bool(&view, shape, "critical") {
            view.attr("critical").map(|a| a.value.span)
        } else {
            None
        };
        let public = self.get_bool(&view, shape, "public");
        let talks_to = self.get_list(&view, shape, "talks_to");
        let (rollout, _) = self.rollout(&view, shape);
        let labels = self.map_block(&view, "labels", true);
        let mut autoscale = None;
        if let Some(ab) = view.block("autoscale") {
            if let Some(Contents::Fields(s)) = shape.block("autoscale").map(|s| s.contents) {
                let av = self.view(&ab.body, s, "`autoscale`", ab.kind.span, None);
                self.require(&av, s, "`autoscale`");
                let pct = self.get_u32_or_default(&av, s, "cpu_percent");
                if let Some(a) = av.attr("cpu_percent") {
                    if !(1..=100).contains(&pct) {
                        self.diags.push(
                            Diagnostic::new(Code::E0202, a.value.span, format!("{pct}% is outside 1–100"))
                                .label("not a percentage")
                                .help("use a target between 1 and 100"),
                        );
                    }
                }
                if let (Some(lo), Some(hi)) = (av.attr("min"), av.attr("max")) {
                    autoscale = Some((lo.value.clone(), hi.value.clone(), pct, ab.kind.span));
                }
                if let Some(r) = view.attr("replicas") {
                    self.diags.push(
                        Diagnostic::new(
                            Code::E0110,
                            r.key.span,
                            "`replicas` and `autoscale` both set the replica count",
                        )
                        .label("fixed count")
                        .with_secondary(ab.kind.span, "autoscaled here")
                        .help("remove `replicas`; `autoscale { min max }` bounds the count"),
                    );
                }
            }
        }
        Some(WorkloadDraft {
            name: b.name.name.clone(),
            name_span: b.name.span,
            kind,
            docs: item.docs.clone(),
            target,
            on_span: b.on.as_ref().map(|p| p.span).unwrap_or(b.name.span),
            selectors,
            container,
            cpu_span,
            memory_span,
            gpu_span,
            arch_span,
            replicas: view.attr("replicas").map(|a| a.value.clone()),
            file,
            schedule,
            backoff: self.get_u32_or_default(&view, shape, "backoff"),
            deadline_secs: self.get_duration(&view, shape, "deadline").unwrap_or(3600),
            critical,
            public,
            talks_to,
            env_refs,
            autoscale,
            rollout,
            labels,
            model: None,
            template,
            privileged_span,
        })
    }

    fn model(
        &mut self,
        b: &'a ast::Block,
        id: ItemId,
        item: &'a ast::Item,
        d: &mut Drafts,
        servings: &mut HashMap<ItemId, Option<ServingInfo>>,
    ) {
        self.header_only(b, "a model");
        let file = id.0;
        let shape = &schema::MODEL;
        let view = self.view(&b.body, shape, "a model", b.name.span, None);
        self.require(&view, shape, &format!("model `{}`", b.name.name));
        self.check_name(&b.name.name, b.name.span, "model");
        let format = self.get_str(&view, shape, "format").map(|(s, _)| s);
        let format_span = view.attr("format").map(|a| a.value.span);
        let version = self
            .get_str(&view, shape, "version")
            .map(|(s, span)| {
                if !crate::names::is_path_component(&s) {
                    self.diags.push(
                        Diagnostic::new(
                            Code::E0212,
                            span,
                            format!("model version `{s}` cannot be a folder name"),
                        )
                        .label("unsafe file name")
                        .help("the version names the model's folder on every device: use ASCII letters, digits, `.`, `_` and `-`, not starting with `.` or `-`, like `3` or `2024.06.1`"),
                    );
                }
                s
            })
            .unwrap_or_default();
        let artifact = self
            .get_str(&view, shape, "artifact")
            .map(|(s, _)| s)
            .unwrap_or_default();
        let checksum = self.get_str(&view, shape, "checksum").map(|(s, _)| s);
        let (rollout, _) = self.rollout(&view, shape);
        let mut model = ir::Model {
            name: b.name.name.clone(),
            format: format.clone().unwrap_or_default(),
            version: version.clone(),
            artifact: artifact.clone(),
            checksum: checksum.clone(),
            train: None,
            serve: Vec::new(),
            alerts: Vec::new(),
            monitored: false,
            monitor_interval_secs: 30,
        };
        let model_dir = format!("/models/{}", b.name.name);
        let model_path = format!(
            "{model_dir}/{version}/{}",
            ir::model_file(format.as_deref().unwrap_or_default())
        );
        // The training job's name prefixes its runs' Job names.
        let train_job = v::k8s_name(&format!("{}_train", b.name.name));
        let mref = |serving: Option<String>| ir::ModelRef {
            model: b.name.name.clone(),
            format: format.clone().unwrap_or_default(),
            version: version.clone(),
            artifact: artifact.clone(),
            checksum: checksum.clone(),
            serving,
            data: None,
            dir: model_dir.clone(),
            path: model_path.clone(),
            store: ir::model_store(&artifact, &version, &train_job),
            train_output: format!(
                "{}{}/{}",
                ir::model_store(&artifact, &version, &train_job),
                ir::RUN_PLACEHOLDER,
                ir::model_file(format.as_deref().unwrap_or_default())
            ),
            cache_key: ir::model_cache_key(&version, checksum.as_deref()),
            host_dir: format!(
                "{}/{}/{}",
                ir::MODEL_CACHE_ROOT,
                b.name.name,
                ir::model_cache_key(&version, checksum.as_deref())
            ),
        };
        let mut made = Vec::new();
        if let Some(tb) = view.block("train") {
            if let (Some(Contents::Fields(ts)), Some(on)) = (shape.block("train").map(|s| s.contents), &tb.on) {
                let tv = self.view(&tb.body, ts, "`train`", tb.kind.span, None);
                self.require(&tv, ts, "`train`");
                let target = self.target(on, file, d);
                if let Some(Target::Fleet(_)) = target {
                    self.diags.push(
                        Diagnostic::new(Code::E0108, on.span, "models are trained on a cluster, not on a fleet")
                            .label("a fleet")
                            .help("train on the cloud/data-centre cluster and serve on the fleet"),
                    );
                }
                let ContainerDraft {
                    container,
                    cpu_span,
                    memory_span,
                    gpu_span,
                    arch_span,
                    privileged_span,
                    env_refs,
                } = self.container(&tv, ts);
                let name = format!("{}_train", b.name.name);
                model.train = Some(v::k8s_name(&name));
                made.push(WorkloadDraft {
                    name,
                    name_span: tb.kind.span,
                    kind: ir::WorkloadKind::Train,
                    docs: item.docs.clone(),
                    target,
                    on_span: on.span,
                    selectors: Vec::new(),
                    container,
                    cpu_span,
                    memory_span,
                    gpu_span,
                    arch_span,
                    replicas: None,
                    file,
                    schedule: self.get_str(&tv, ts, "schedule").map(|(s, _)| s),
                    backoff: self.get_u32_or_default(&tv, ts, "backoff"),
                    deadline_secs: self.get_duration(&tv, ts, "deadline").unwrap_or(6 * 3600),
                    critical: None,
                    public: false,
                    talks_to: Vec::new(),
                    env_refs,
                    autoscale: None,
                    rollout: rollout.clone(),
                    labels: BTreeMap::new(),
                    model: Some(ir::ModelRef {
                        data: self.get_str(&tv, ts, "data").map(|(s, _)| s),
                        ..mref(None)
                    }),
                    template: None,
                    privileged_span,
                });
            }
        }
        let serve_blocks: Vec<&NestedBlock> = view.blocks_named("serve").collect();
        let many = serve_blocks.len() > 1;
        for sb in serve_blocks {
            let (Some(Contents::Fields(ss)), Some(on)) = (shape.block("serve").map(|s| s.contents), &sb.on) else {
                continue;
            };
            let sv = self.view(&sb.body, ss, "`serve`", sb.kind.span, None);
            self.require(&sv, ss, "`serve`");
            let target = self.target(on, file, d);
            let mut serving = None;
            if let Some(a) = sv.attr("runtime") {
                match &a.value.kind {
                    ExprKind::Path(p) => {
                        if let Some(sid) = self.resolve_kind(p, file, &[BlockKind::Serving], "a serving runtime") {
                            serving = self.serving_item(sid, servings).map(|s| (s, a.value.span, sid));
                        }
                    }
                    _ => {
                        let found = self.describe_expr(&a.value);
                        self.type_error(
                            a.value.span,
                            "a serving runtime",
                            &found,
                            "name one, e.g. `std.ml.onnxruntime`",
                        );
                    }
                }
            }
            let ContainerDraft {
                mut container,
                cpu_span,
                memory_span,
                gpu_span,
                privileged_span,
                env_refs,
                ..
            } = self.container(&sv, ss);
            let mut arch_span = None;
            if let Some((s, span, sid)) = &serving {
                if let (Some(f), Some(fspan)) = (&format, format_span) {
                    if !s.formats.contains(f) {
                        let mut dg =
                            Diagnostic::new(Code::E0405, *span, format!("`{}` cannot serve {f} models", s.name))
                                .label(format!("serves {}", s.formats.join(", ")))
                                .with_secondary(fspan, format!("the model is {f}"));
                        if let Some(ns) = self.name_span(*sid) {
                            dg = dg.with_secondary(ns, "serving runtime declared here");
                        }
                        let help = match f.as_str() {
                            "onnx" => "use `std.ml.onnxruntime` or `std.ml.triton`, or convert the model",
                            "tflite" => "use `std.ml.tflite`, or convert the model",
                            _ => "pick a serving runtime that lists this format, or convert the model",
                        };
                        self.diags.push(dg.help(help));
                    }
                }
                container.image = s.image.clone();
                container.port = container.port.or(Some(s.port));
                // Every serving runtime answers over HTTP on its port.
                container.scheme = "http".into();
                // The runtime's placeholders: `{model}` the served file,
                // `{model_dir}` its per-model folder, `{model_name}` the name.
                let fill = |a: &str| {
                    a.replace("{model_dir}", &model_dir)
                        .replace("{model_name}", &b.name.name)
                        .replace("{model}", &model_path)
                };
                container.health = s.health.as_deref().map(fill);
                container.metrics = s.metrics.clone();
                container.arch = s.arch.clone();
                arch_span = Some(*span);
                container.args = s.args.iter().map(|a| fill(a)).collect();
            }
            let name = if many {
                format!("{}_serve_{}", b.name.name, on.text().replace('.', "_"))
            } else {
                format!("{}_serve", b.name.name)
            };
            model.serve.push(v::k8s_name(&name));
            made.push(WorkloadDraft {
                name,
                name_span: sb.kind.span,
                kind: ir::WorkloadKind::Serve,
                docs: item.docs.clone(),
                target,
                on_span: on.span,
                selectors: self.selectors(&sb.selectors),
                container,
                cpu_span,
                memory_span,
                gpu_span,
                arch_span,
                replicas: sv.attr("replicas").map(|a| a.value.clone()),
                file,
                schedule: None,
                backoff: 0,
                deadline_secs: 0,
                critical: if self.get_bool(&sv, ss, "critical") {
                    sv.attr("critical").map(|a| a.value.span)
                } else {
                    None
                },
                public: false,
                talks_to: Vec::new(),
                env_refs,
                autoscale: None,
                rollout: rollout.clone(),
                labels: BTreeMap::new(),
                model: Some(mref(serving.as_ref().map(|(s, _, _)| s.name.clone()))),
                template: None,
                privileged_span,
            });
        }
        if let Some(mb) = view.block("monitor") {
            if let Some(Contents::Fields(ms)) = shape.block("monitor").map(|s| s.contents) {
                let mv = self.view(&mb.body, ms, "`monitor`", mb.kind.span, None);
                model.monitored = true;
                model.monitor_interval_secs = self.get_duration(&mv, ms, "interval").unwrap_or(30);
                for a in &mv.alerts {
                    let threshold = match self.scalar(&a.threshold, &schema::Ty::Number) {
                        Some(Scalar::Number(n)) => n,
                        _ => continue,
                    };
                    let for_secs = match &a.duration {
                        Some(e) => match self.scalar(e, &schema::Ty::Duration) {
                            Some(Scalar::Duration(s)) => Some(s),
                            _ => continue,
                        },
                        None => None,
                    };
                    if let Err(m) = v::check_env_name(&a.metric.name) {
                        self.diags.push(
                            Diagnostic::new(Code::E0206, a.metric.span, m)
                                .label("not a metric name")
                                .help("metric names are letters, digits and `_`"),
                        );
                        continue;
                    }
                    model.alerts.push(ir::Alert {
                        metric: a.metric.name.clone(),
                        op: a.op.as_str().to_string(),
                        threshold,
                        for_secs,
                    });
                }
                if model.serve.is_empty() && !mv.alerts.is_empty() {
                    self.diags.push(
                        Diagnostic::new(
                            Code::E0110,
                            mb.kind.span,
                            "`monitor` watches the model's servers, but it is not served",
                        )
                        .label("nothing to monitor")
                        .help("add `serve on FLEET { runtime = … }`"),
                    );
                }
            }
        }
        let mut idxs = Vec::new();
        for w in made {
            idxs.push(d.workloads.len());
            d.workloads.push(w);
        }
        d.workloads_of.insert(id, idxs);
        d.models.push(model);
    }
}

/// A profile with a cluster's or pool's own price in place of its own.
fn with_price(node: Option<ir::DeviceProfile>, price: Option<ir::Price>) -> Option<ir::DeviceProfile> {
    match price {
        Some(p) => node.map(|n| ir::DeviceProfile { price: Some(p), ..n }),
        None => node,
    }
}

/// `YYYY-MM-DD` with a month 01–12 and a day 01–31.
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let num = |r: std::ops::Range<usize>| s.get(r).and_then(|t| t.parse::<u32>().ok()).unwrap_or(0);
    b.len() == 10
        && digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10)
        && (1..=12).contains(&num(5..7))
        && (1..=31).contains(&num(8..10))
}
